import KafkaProtocol
import NIOCore

/// One pass over the batch headers of an append (never the records): bounds, offsets, sizes,
/// optionally CRCs, and the max timestamp.
struct AppendAnalysis {
  var firstOffset: Int64 = -1
  var lastOffset: Int64 = -1
  var maxTimestamp: Int64 = -1
  var offsetOfMaxTimestamp: Int64 = -1
  var batchCount = 0
  var bytes = 0
  /// Some batch carries a producer id (idempotent or transactional).
  var hasProducerIds = false
  /// Some batch's partition leader epoch is above `latestLeaderEpoch`: the leader epoch
  /// cache gets an entry.
  var startsNewLeaderEpoch = false

  /// - Parameters:
  ///   - contiguous: each batch must start right after the previous one (leader path).
  ///   - verifyChecksums: check each batch's CRC32C (follower path; the leader path was
  ///     validated by the produce handler).
  ///   - maxMessageBytes: the largest batch accepted, nil for no limit.
  ///   - latestLeaderEpoch: the newest epoch in the log's leader epoch cache, -1 for none.
  init(
    _ records: ByteBuffer, contiguous: Bool, verifyChecksums: Bool, maxMessageBytes: Int?,
    latestLeaderEpoch: Int32 = -1
  ) throws(StorageError) {
    var batches = BatchHeaderCursor(records)
    while let (header, index) = try batches.next() {
      let size = header.totalSize
      guard size <= records.writerIndex - index else { throw .invalidBatch(.truncated) }
      if let maxMessageBytes, size > maxMessageBytes {
        throw .messageTooLarge(size: size, max: maxMessageBytes)
      }
      guard header.lastOffsetDelta >= 0, header.baseOffset >= 0,
        header.lastOffset >= header.baseOffset
      else { throw .invalidBatch(.invalidRecord("invalid offsets in batch header")) }
      if batchCount == 0 {
        firstOffset = header.baseOffset
      } else if contiguous ? header.baseOffset != lastOffset + 1 : header.baseOffset <= lastOffset {
        throw .offsetsOutOfOrder(
          "batch at offset \(header.baseOffset) follows a batch ending at \(lastOffset)")
      }
      if verifyChecksums {
        let start = RecordBatchHeader.crcCoverageStart
        let crc = CRC32C.checksum(records, at: index + start, length: size - start)
        guard crc == header.crc else {
          throw .invalidBatch(.crcMismatch(expected: header.crc, actual: crc ?? 0))
        }
      }
      if header.maxTimestamp > maxTimestamp {
        maxTimestamp = header.maxTimestamp
        offsetOfMaxTimestamp = header.lastOffset
      }
      lastOffset = header.lastOffset
      hasProducerIds = hasProducerIds || header.producerId >= 0
      startsNewLeaderEpoch = startsNewLeaderEpoch || header.partitionLeaderEpoch > latestLeaderEpoch
      batchCount += 1
    }
    bytes = batches.index - records.readerIndex
  }
}
