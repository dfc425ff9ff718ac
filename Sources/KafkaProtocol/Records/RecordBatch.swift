import NIOCore

/// One v2 record batch: its parsed header and the bytes of the whole batch, header included,
/// as a slice of the buffer it came from (no copy).
public struct RecordBatch: Sendable, Hashable {
  public var header: RecordBatchHeader
  /// Exactly `header.totalSize` readable bytes, starting with `baseOffset`.
  public var bytes: ByteBuffer

  public init(header: RecordBatchHeader, bytes: ByteBuffer) {
    self.header = header
    self.bytes = bytes
  }

  /// Reads the batch at the reader index of `buffer`, which must hold all of it; bytes after
  /// the batch are ignored. Does not check the CRC (see `verifyChecksum()`).
  public init(_ buffer: ByteBuffer) throws(RecordBatchError) {
    let header = try RecordBatchHeader(peeking: buffer, at: buffer.readerIndex)
    guard let bytes = buffer.getSlice(at: buffer.readerIndex, length: header.totalSize) else {
      throw .truncated
    }
    self.init(header: header, bytes: bytes)
  }

  /// The records section: everything after the 61-byte header (compressed if the batch is).
  public var recordsBytes: ByteBuffer {
    let start = bytes.readerIndex + RecordBatchHeader.size
    let length = max(0, bytes.readableBytes - RecordBatchHeader.size)
    return bytes.getSlice(at: start, length: length) ?? ByteBuffer()
  }

  /// CRC32C of the bytes the header's `crc` covers (`attributes` to the end of the batch).
  public var computedChecksum: UInt32 {
    CRC32C.checksum(
      bytes, at: bytes.readerIndex + RecordBatchHeader.crcCoverageStart,
      length: max(0, bytes.readableBytes - RecordBatchHeader.crcCoverageStart)) ?? 0
  }

  public var isChecksumValid: Bool { computedChecksum == header.crc }

  /// Throws `.crcMismatch` when the stored CRC does not match the batch's bytes.
  public func verifyChecksum() throws(RecordBatchError) {
    let actual = computedChecksum
    guard actual == header.crc else { throw .crcMismatch(expected: header.crc, actual: actual) }
  }

  /// An iterator over the records of an uncompressed batch. Compressed batches throw
  /// `.invalidRecord`: decompress `recordsBytes` and use `RecordIterator(records:count:)`.
  public func records() throws(RecordBatchError) -> RecordIterator {
    let bits = header.attributes.compressionBits
    guard bits == CompressionType.none.rawValue else {
      let name = CompressionType(rawValue: Int8(bits))?.name ?? "unknown codec \(bits)"
      throw .invalidRecord("batch is compressed (\(name)); decompress its records first")
    }
    return RecordIterator(records: recordsBytes, count: header.recordCount)
  }

  /// Absolute offset of a record of this batch.
  public func offset(of record: Record) -> Int64 { header.offset(of: record) }

  /// Timestamp of a record of this batch, honouring LogAppendTime.
  public func timestamp(of record: Record) -> Int64 { header.timestamp(of: record) }
}

extension RecordBatchHeader {
  /// Absolute offset of a record of this batch: `baseOffset + offsetDelta`.
  public func offset(of record: Record) -> Int64 { baseOffset &+ Int64(record.offsetDelta) }

  /// Timestamp of a record of this batch: the batch's `maxTimestamp` under LogAppendTime,
  /// otherwise `baseTimestamp + timestampDelta`, as Kafka consumers read it.
  public func timestamp(of record: Record) -> Int64 {
    attributes.timestampType == .logAppendTime
      ? maxTimestamp : baseTimestamp &+ record.timestampDelta
  }
}

/// Walks the batches of a records buffer (a produce payload, a fetch response's records, a log
/// segment slice), yielding each batch's header and a slice of its bytes without copying.
public struct RecordBatchIterator: Sendable {
  private var buffer: ByteBuffer
  private let allowsPartialTrailingBatch: Bool

  /// With `allowsPartialTrailingBatch` (fetch responses cut at `max_bytes`), an incomplete
  /// batch at the end ends the iteration; without it (produce), it throws `.truncated`.
  public init(_ buffer: ByteBuffer, allowsPartialTrailingBatch: Bool = false) {
    self.buffer = buffer
    self.allowsPartialTrailingBatch = allowsPartialTrailingBatch
  }

  /// Bytes not yet consumed: after the last batch, the partial trailing batch (if allowed).
  public var remainingBytes: Int { buffer.readableBytes }

  /// The next complete batch, or nil at the end. Does not check CRCs.
  public mutating func next() throws(RecordBatchError) -> RecordBatch? {
    guard buffer.readableBytes > 0 else { return nil }
    let header: RecordBatchHeader
    do throws(RecordBatchError) {
      header = try RecordBatchHeader(peeking: buffer, at: buffer.readerIndex)
    } catch .truncated where allowsPartialTrailingBatch {
      return nil
    }
    guard let bytes = buffer.readSlice(length: header.totalSize) else {
      if allowsPartialTrailingBatch { return nil }
      throw .truncated
    }
    return RecordBatch(header: header, bytes: bytes)
  }
}
