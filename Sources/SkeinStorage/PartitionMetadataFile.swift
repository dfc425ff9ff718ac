import KafkaProtocol

/// `partition.metadata` in a partition directory: Kafka's text file holding the topic id,
/// `version: 0\ntopic_id: <base64 id>\n`.
public struct PartitionMetadataFile: Sendable {
  public static let fileName = "partition.metadata"

  public let path: String

  public init(directory: String) {
    self.path = FileSystem.join(directory, Self.fileName)
  }

  /// The recorded topic id; nil when the file does not exist.
  public func read() throws(StorageError) -> KafkaUuid? {
    guard let bytes = try FileSystem.read(path) else { return nil }
    let lines = String(decoding: bytes, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: true)
    guard lines.count == 2 else {
      throw .corruptLog(path: path, reason: "expected 2 lines, found \(lines.count)")
    }
    guard Self.value(of: "version", in: lines[0]) == "0" else {
      throw .corruptLog(path: path, reason: "unsupported version line '\(lines[0])'")
    }
    guard let text = Self.value(of: "topic_id", in: lines[1]), let id = KafkaUuid(text) else {
      throw .corruptLog(path: path, reason: "invalid topic id line '\(lines[1])'")
    }
    return id
  }

  public func write(topicId: KafkaUuid) throws(StorageError) {
    try FileSystem.writeAtomically(path, Array("version: 0\ntopic_id: \(topicId)\n".utf8))
  }

  private static func value(of key: String, in line: Substring) -> String? {
    guard let colon = line.firstIndex(of: ":"), line[..<colon] == key else { return nil }
    return line[line.index(after: colon)...].filter { $0 != " " && $0 != "\r" }
  }
}
