import KafkaProtocol

/// Kafka's offset checkpoint files in a data dir (`recovery-point-offset-checkpoint`,
/// `log-start-offset-checkpoint`, `replication-offset-checkpoint`): a version line `0`, a line
/// with the entry count, then one `topic partition offset` line per partition. Replaced
/// atomically.
public struct OffsetCheckpointFile: Sendable {
  public static let recoveryPointFileName = "recovery-point-offset-checkpoint"
  public static let logStartOffsetFileName = "log-start-offset-checkpoint"
  /// Each log's high watermark (Kafka's `replication-offset-checkpoint`).
  public static let replicationOffsetFileName = "replication-offset-checkpoint"

  public let path: String

  public init(path: String) {
    self.path = path
  }

  /// The recorded offsets; empty when the file does not exist.
  public func read() throws(StorageError) -> [TopicPartition: Int64] {
    var offsets: [TopicPartition: Int64] = [:]
    for fields in try CheckpointFile.read(path, fieldCount: 3) ?? [] {
      guard let partition = Int32(fields[1]), let offset = Int64(fields[2]) else {
        throw .corruptLog(path: path, reason: "malformed entry '\(fields.joined(separator: " "))'")
      }
      offsets[TopicPartition(String(fields[0]), partition)] = offset
    }
    return offsets
  }

  public func write(_ offsets: [TopicPartition: Int64]) throws(StorageError) {
    try CheckpointFile.write(
      path,
      offsets.sorted(by: { $0.key < $1.key }).map {
        "\($0.key.topic) \($0.key.partition) \($0.value)"
      })
  }
}
