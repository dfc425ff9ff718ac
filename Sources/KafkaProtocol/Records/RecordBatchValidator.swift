import NIOCore

/// What one validating pass over a records buffer found, read from the batch headers alone.
/// Offsets in it are relative to the append's first offset, which the log assigns later.
public struct RecordBatchesSummary: Sendable, Hashable {
  public var batchCount: Int
  /// Offsets the batches take: the sum of `lastOffsetDelta + 1` (the record count for the
  /// non-compacted batches clients write).
  public var recordCount: Int64
  /// Offset of the last record, counted from the first offset (`recordCount - 1` for client
  /// appends; from the first batch's `baseOffset` for replication).
  public var lastOffsetDelta: Int64
  /// The largest batch `maxTimestamp`, or -1 (Kafka's NO_TIMESTAMP) when no batch has one.
  public var maxTimestamp: Int64
  /// Where `maxTimestamp` sits, from the first offset: the last offset of the first batch that
  /// reaches it (Kafka's shallow offset, as the time index records it); -1 when none.
  public var offsetDeltaOfMaxTimestamp: Int64
  /// Bytes of all batches together (the whole buffer).
  public var byteCount: Int
  /// Size of the largest batch, to compare with `max.message.bytes` (MESSAGE_TOO_LARGE).
  public var largestBatchSize: Int
  public var containsTransactional: Bool
  public var containsControl: Bool
  /// Header of the first batch: producer id, epoch and sequence for idempotence checks.
  public var firstBatch: RecordBatchHeader

  public var compression: CompressionType { firstBatch.attributes.compression }
  public var producerId: Int64 { firstBatch.producerId }
  public var producerEpoch: Int16 { firstBatch.producerEpoch }
  public var baseSequence: Int32 { firstBatch.baseSequence }
}

/// The result of assigning offsets to validated batches on the leader's append path.
public struct OffsetAssignment: Sendable, Hashable {
  public var firstOffset: Int64
  /// Offset of the last record; `firstOffset - 1` when the buffer held no batch.
  public var lastOffset: Int64
  /// Largest batch `maxTimestamp` after assignment (the append time under LogAppendTime).
  public var maxTimestamp: Int64
  /// Absolute offset where `maxTimestamp` sits (see `RecordBatchesSummary`); -1 when none.
  public var offsetOfMaxTimestamp: Int64

  public var nextOffset: Int64 { lastOffset &+ 1 }
}

/// Checks and rewrites v2 record batches on the append path without decoding any record:
/// one pass over the headers plus a CRC32C over each batch, as Kafka's log validator does for
/// uncompressed in-place appends.
public enum RecordBatchValidator {
  /// Who is appending, which decides how strict validation is (Kafka's `AppendOrigin`).
  public enum Origin: Sendable, Hashable {
    /// A Produce request: base offset 0, consistent counts, no control batches, sequence set
    /// with a producer id, CreateTime only.
    case client
    /// The broker itself (group and transaction coordinators): control batches allowed.
    case coordinator
    /// A follower copying the leader's batches: offsets are already assigned and compacted
    /// batches (fewer records than offsets, even none) are allowed.
    case replication
  }

  /// Validates `records` (the readable bytes: one or more concatenated v2 batches) and
  /// summarises them. A trailing partial batch is `.truncated` (CORRUPT_MESSAGE), a CRC that
  /// does not match `.crcMismatch`, magic 0 or 1 `.unsupportedMagic`, inconsistent headers
  /// `.invalidRecord`. Kafka accepts exactly one batch per partition in a produce request:
  /// pass `requireSingleBatch: true` there.
  public static func validate(
    _ records: ByteBuffer, origin: Origin = .client, requireSingleBatch: Bool = false
  ) throws(RecordBatchError) -> RecordBatchesSummary {
    let end = records.writerIndex
    var index = records.readerIndex
    guard index < end else { throw .invalidRecord("no record batches") }

    var first: RecordBatchHeader?
    var batchCount = 0
    var offsetCount: Int64 = 0
    var lastOffsetDelta: Int64 = -1
    var maxTimestamp: Int64 = -1
    var offsetDeltaOfMaxTimestamp: Int64 = -1
    var largestBatchSize = 0
    var containsTransactional = false
    var containsControl = false

    while index < end {
      if requireSingleBatch && batchCount == 1 {
        throw .invalidRecord("a produce request may carry only one record batch per partition")
      }
      let header = try RecordBatchHeader(peeking: records, at: index)
      let size = header.totalSize
      guard size <= end - index else { throw .truncated }
      let coverage = RecordBatchHeader.crcCoverageStart
      guard let crc = CRC32C.checksum(records, at: index + coverage, length: size - coverage)
      else { throw .truncated }
      guard crc == header.crc else { throw .crcMismatch(expected: header.crc, actual: crc) }
      try checkHeader(header, origin: origin)

      // Offset of this batch's last record, counted from the append's first offset.
      let batchLast: Int64
      if origin == .replication {
        let firstBase = first?.baseOffset ?? header.baseOffset
        if first != nil, header.baseOffset <= firstBase &+ lastOffsetDelta {
          throw .invalidRecord(
            "batch base offset \(header.baseOffset) does not follow offset"
              + " \(firstBase &+ lastOffsetDelta)")
        }
        batchLast = header.baseOffset + Int64(header.lastOffsetDelta) - firstBase
      } else {
        batchLast = offsetCount + Int64(header.lastOffsetDelta)
      }
      if header.maxTimestamp > maxTimestamp {
        maxTimestamp = header.maxTimestamp
        offsetDeltaOfMaxTimestamp = batchLast
      }
      if first == nil { first = header }
      batchCount += 1
      offsetCount += Int64(header.lastOffsetDelta) + 1
      lastOffsetDelta = batchLast
      largestBatchSize = max(largestBatchSize, size)
      containsTransactional = containsTransactional || header.attributes.isTransactional
      containsControl = containsControl || header.attributes.isControl
      index += size
    }

    guard let first else { throw .invalidRecord("no record batches") }
    return RecordBatchesSummary(
      batchCount: batchCount, recordCount: offsetCount, lastOffsetDelta: lastOffsetDelta,
      maxTimestamp: maxTimestamp, offsetDeltaOfMaxTimestamp: offsetDeltaOfMaxTimestamp,
      byteCount: end - records.readerIndex, largestBatchSize: largestBatchSize,
      containsTransactional: containsTransactional, containsControl: containsControl,
      firstBatch: first)
  }

  /// Kafka's per-batch checks that need only the header.
  private static func checkHeader(
    _ header: RecordBatchHeader, origin: Origin
  ) throws(RecordBatchError) {
    let bits = header.attributes.compressionBits
    guard CompressionType(rawValue: Int8(bits)) != nil else {
      throw .invalidRecord("unknown compression codec id \(bits)")
    }
    let delta = header.lastOffsetDelta
    let count = header.recordCount
    guard delta >= 0 else { throw .invalidRecord("invalid last offset delta \(delta)") }
    switch origin {
    case .client, .coordinator:
      guard count > 0 else { throw .invalidRecord("invalid record count \(count)") }
      guard Int64(count) == Int64(delta) + 1 else {
        throw .invalidRecord("last offset delta \(delta) does not match record count \(count)")
      }
    case .replication:
      guard count >= 0, Int64(count) <= Int64(delta) + 1 else {
        throw .invalidRecord("record count \(count) exceeds the offset range of delta \(delta)")
      }
      guard header.baseOffset >= 0, header.baseOffset <= Int64.max - Int64(delta) - 1 else {
        throw .invalidRecord("invalid base offset \(header.baseOffset)")
      }
    }
    guard origin == .client else { return }
    guard header.baseOffset == 0 else {
      throw .invalidRecord(
        "the base offset of a produced batch must be 0, not \(header.baseOffset)")
    }
    guard !header.attributes.isControl else {
      throw .invalidRecord("clients may not write control batches")
    }
    guard header.producerId < 0 || header.baseSequence >= 0 else {
      throw .invalidRecord(
        "invalid sequence \(header.baseSequence) for producer id \(header.producerId)")
    }
    guard header.attributes.timestampType == .createTime else {
      throw .invalidRecord("producers may not set the LogAppendTime timestamp type")
    }
  }

  /// Assigns offsets in place on the leader's append path: each batch's `baseOffset` follows
  /// the previous batch's last offset starting at `firstOffset`, and `partitionLeaderEpoch` is
  /// stamped (neither is covered by the CRC). With `logAppendTime` (topics using
  /// LogAppendTime), each batch gets the LogAppendTime attribute and `maxTimestamp =
  /// logAppendTime`, and its CRC is recomputed; record deltas stay as written, as in Kafka.
  /// Expects a buffer `validate` accepted; still throws rather than trapping on a bad one.
  public static func assignOffsets(
    in records: inout ByteBuffer, firstOffset: Int64, partitionLeaderEpoch: Int32,
    logAppendTime: Int64? = nil
  ) throws(RecordBatchError) -> OffsetAssignment {
    typealias Field = RecordBatchHeader.Field
    let end = records.writerIndex
    var index = records.readerIndex
    var nextOffset = firstOffset
    var maxTimestamp: Int64 = -1
    var offsetOfMaxTimestamp: Int64 = -1

    while index < end {
      let header = try RecordBatchHeader(peeking: records, at: index)
      let size = header.totalSize
      guard size <= end - index else { throw .truncated }
      guard header.lastOffsetDelta >= 0 else {
        throw .invalidRecord("invalid last offset delta \(header.lastOffsetDelta)")
      }
      let lastOffset = nextOffset &+ Int64(header.lastOffsetDelta)
      records.setInteger(nextOffset, at: index + Field.baseOffset)
      records.setInteger(partitionLeaderEpoch, at: index + Field.partitionLeaderEpoch)

      if let logAppendTime {
        var attributes = header.attributes
        attributes.timestampType = .logAppendTime
        if attributes != header.attributes || header.maxTimestamp != logAppendTime {
          records.setInteger(attributes.rawValue, at: index + Field.attributes)
          records.setInteger(logAppendTime, at: index + Field.maxTimestamp)
          let coverage = RecordBatchHeader.crcCoverageStart
          guard let crc = CRC32C.checksum(records, at: index + coverage, length: size - coverage)
          else { throw .truncated }
          records.setInteger(crc, at: index + Field.crc)
        }
      } else if header.maxTimestamp > maxTimestamp {
        maxTimestamp = header.maxTimestamp
        offsetOfMaxTimestamp = lastOffset
      }
      nextOffset = lastOffset &+ 1
      index += size
    }

    if let logAppendTime, nextOffset != firstOffset {
      // Kafka (v2): under LogAppendTime the max timestamp belongs to the append's last offset.
      maxTimestamp = logAppendTime
      offsetOfMaxTimestamp = nextOffset &- 1
    }
    return OffsetAssignment(
      firstOffset: firstOffset, lastOffset: nextOffset &- 1, maxTimestamp: maxTimestamp,
      offsetOfMaxTimestamp: offsetOfMaxTimestamp)
  }
}
