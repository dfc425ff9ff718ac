import KafkaProtocol
import NIOCore
import SkeinCluster
import SkeinStorage

/// The controller's metadata log: metadata records in an ordinary partition log
/// (`__cluster_metadata-0`), one batch per change, flushed before the change is acknowledged.
final class MetadataLog: Sendable {
  static let topicPartition = TopicPartition("__cluster_metadata", 0)
  let log: PartitionLog

  init(logManager: LogManager) throws {
    var config = LogConfig()
    config.retentionMs = -1
    config.retentionBytes = -1
    log = try logManager.getOrCreateLog(
      Self.topicPartition, topicId: nil, config: config, nowMs: currentTimeMillis())
  }

  /// Every record in the log, in order.
  func replay() throws -> [MetadataRecord] {
    var records: [MetadataRecord] = []
    var offset = log.logStartOffset
    let end = log.logEndOffset
    while offset < end {
      let data = try log.read(offset: offset, maxBytes: 1 << 20, minOneBatch: true)
      if data.isEmpty { break }
      var batches = RecordBatchIterator(try data.readBytes())
      while let batch = try batches.next() {
        var iterator = try batch.records()
        while let record = try iterator.next() {
          guard var value = record.value else { continue }
          if let decoded = try MetadataRecord.decode(from: &value) { records.append(decoded) }
        }
        offset = batch.header.nextOffset
      }
    }
    return records
  }

  /// Appends one batch holding `records` and flushes it to disk.
  func append(_ records: [MetadataRecord]) throws {
    guard !records.isEmpty else { return }
    let now = currentTimeMillis()
    var builder = RecordBatchBuilder()
    for record in records {
      var value = ByteBuffer()
      record.encode(to: &value)
      builder.append(key: nil, value: value, timestamp: now)
    }
    var batch = builder.build()
    try log.appendAsLeader(nowMs: now) { logEndOffset in
      _ = try RecordBatchValidator.assignOffsets(
        in: &batch, firstOffset: logEndOffset, partitionLeaderEpoch: 0)
      return batch
    }
    _ = log.updateHighWatermark(log.logEndOffset)
    try log.flush(nowMs: now)
  }
}
