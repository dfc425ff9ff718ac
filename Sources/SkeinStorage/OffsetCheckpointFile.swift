import KafkaProtocol

/// Kafka's offset checkpoint files in a data dir (`recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint`): a version line `0`, a line with the entry count, then one
/// `topic partition offset` line per partition. Replaced atomically.
public struct OffsetCheckpointFile: Sendable {
  public static let recoveryPointFileName = "recovery-point-offset-checkpoint"
  public static let logStartOffsetFileName = "log-start-offset-checkpoint"

  public let path: String

  public init(path: String) {
    self.path = path
  }

  /// The recorded offsets; empty when the file does not exist.
  public func read() throws(StorageError) -> [TopicPartition: Int64] {
    guard let bytes = try FileSystem.read(path) else { return [:] }
    let lines = String(decoding: bytes, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: true)
    guard lines.count >= 2, lines[0] == "0" else {
      throw .corruptLog(path: path, reason: "missing or unsupported version line")
    }
    guard let count = Int(lines[1]), count == lines.count - 2 else {
      throw .corruptLog(path: path, reason: "entry count does not match the entries")
    }
    var offsets: [TopicPartition: Int64] = [:]
    for line in lines.dropFirst(2) {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count == 3, let partition = Int32(fields[1]), let offset = Int64(fields[2])
      else { throw .corruptLog(path: path, reason: "malformed entry '\(line)'") }
      offsets[TopicPartition(String(fields[0]), partition)] = offset
    }
    return offsets
  }

  public func write(_ offsets: [TopicPartition: Int64]) throws(StorageError) {
    var text = "0\n\(offsets.count)\n"
    for (partition, offset) in offsets.sorted(by: { $0.key < $1.key }) {
      text += "\(partition.topic) \(partition.partition) \(offset)\n"
    }
    try FileSystem.writeAtomically(path, Array(text.utf8))
  }
}
