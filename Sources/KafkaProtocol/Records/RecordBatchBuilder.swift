import NIOCore

/// Builds one uncompressed v2 record batch straight into a single ByteBuffer: records are
/// appended as they come, and `build()` fills in the header, lengths and CRC32C.
public struct RecordBatchBuilder: Sendable {
  public var baseOffset: Int64 = 0
  public var partitionLeaderEpoch: Int32 = -1
  public var producerId: Int64
  public var producerEpoch: Int16
  public var baseSequence: Int32
  public var isTransactional: Bool
  public var isControl: Bool
  public var timestampType: TimestampType = .createTime

  /// Records appended so far.
  public private(set) var recordCount: Int32 = 0
  private var baseTimestamp: Int64 = -1
  private var maxTimestamp: Int64 = -1
  private var buffer: ByteBuffer

  /// Bytes the batch takes so far, header included; what `build()` returns has this size.
  public var sizeInBytes: Int { buffer.writerIndex }

  public init(
    producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
    isTransactional: Bool = false, isControl: Bool = false, initialCapacity: Int = 1024
  ) {
    self.producerId = producerId
    self.producerEpoch = producerEpoch
    self.baseSequence = baseSequence
    self.isTransactional = isTransactional
    self.isControl = isControl
    buffer = ByteBufferAllocator().buffer(capacity: max(initialCapacity, RecordBatchHeader.size))
    buffer.writeRepeatingByte(0, count: RecordBatchHeader.size)
  }

  /// Appends a record at the next offset delta. The first record's timestamp becomes the
  /// batch's base timestamp, as the Java producer does.
  public mutating func append(
    key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64
  ) {
    precondition(recordCount < Int32.max, "a record batch holds at most Int32.max records")
    if recordCount == 0 {
      baseTimestamp = timestamp
      maxTimestamp = timestamp
    } else {
      maxTimestamp = max(maxTimestamp, timestamp)
    }
    let timestampDelta = timestamp &- baseTimestamp
    let bodySize = Record.bodySize(
      timestampDelta: timestampDelta, offsetDelta: recordCount, key: key, value: value,
      headers: headers)
    precondition(
      bodySize <= Int(Int32.max) - buffer.writerIndex, "a record batch is limited to 2 GiB")
    buffer.reserveCapacity(minimumWritableBytes: bodySize + 5)
    Record.write(
      to: &buffer, bodySize: bodySize, timestampDelta: timestampDelta, offsetDelta: recordCount,
      key: key, value: value, headers: headers)
    recordCount += 1
  }

  /// The finished batch, or an empty buffer when no record was appended (Kafka writes no
  /// empty batches from producers).
  public consuming func build() -> ByteBuffer {
    guard recordCount > 0 else { return ByteBuffer() }
    var attributes = RecordBatchAttributes()
    attributes.compression = .none
    attributes.timestampType = timestampType
    attributes.isTransactional = isTransactional
    attributes.isControl = isControl
    let header = RecordBatchHeader(
      baseOffset: baseOffset,
      batchLength: Int32(buffer.writerIndex - RecordBatchHeader.logOverhead),
      partitionLeaderEpoch: partitionLeaderEpoch, magic: 2, crc: 0, attributes: attributes,
      lastOffsetDelta: recordCount - 1, baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp,
      producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence,
      recordCount: recordCount)
    let end = buffer.writerIndex
    buffer.moveWriterIndex(to: 0)
    header.write(to: &buffer)
    buffer.moveWriterIndex(to: end)
    let coverage = RecordBatchHeader.crcCoverageStart
    let crc = CRC32C.checksum(buffer, at: coverage, length: end - coverage) ?? 0
    buffer.setInteger(crc, at: RecordBatchHeader.Field.crc)
    return buffer
  }

  /// The finished batch with its records compressed by `codec` (Kafka's producers compress
  /// the records section, the header stays plain). Empty when no record was appended.
  public consuming func build(compression codec: CompressionType) throws(RecordBatchError)
    -> ByteBuffer
  {
    let batch = build()
    guard batch.readableBytes > 0 else { return batch }
    return try RecordBatchRewriter.compressed(batch, codec: codec)
  }
}
