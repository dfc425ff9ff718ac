import NIOCore

extension RecordBatchHeader {
  /// The batch's delete horizon (KIP-534): set by the log cleaner on a batch holding
  /// tombstones, carried in `baseTimestamp` with attribute bit 6. Nil when not set.
  public var deleteHorizonMs: Int64? {
    attributes.hasDeleteHorizon ? baseTimestamp : nil
  }

  /// A record's timestamp as written (`baseTimestamp + timestampDelta`), ignoring
  /// LogAppendTime: what a rewrite must preserve.
  func writtenTimestamp(of record: Record) -> Int64 { baseTimestamp &+ record.timestampDelta }
}

/// Rewrites a record batch with fewer records, as the log cleaner does: base offset, last
/// offset delta, producer id, epoch, base sequence, leader epoch, attributes and codec all stay
/// as they were, so kept records keep their offsets and the producer's sequence range stays
/// whole; each record keeps its offset delta and timestamp.
public enum RecordBatchRewriter {
  /// The batch `original` holding only `records` (some of its own, in order), compressed with
  /// the original's codec. With `deleteHorizonMs` the batch carries that delete horizon in
  /// `baseTimestamp` (timestamp deltas are taken from it). With no records it is an empty
  /// batch: the header alone, uncompressed, still covering the original's offsets.
  public static func rewrite(
    _ original: RecordBatchHeader, keeping records: [Record], deleteHorizonMs: Int64? = nil
  ) throws(RecordBatchError) -> ByteBuffer {
    var attributes = original.attributes
    if deleteHorizonMs != nil { attributes.rawValue |= 0x40 }
    let baseTimestamp: Int64
    var maxTimestamp: Int64
    if records.isEmpty {
      attributes.compression = .none
      baseTimestamp = deleteHorizonMs ?? original.baseTimestamp
      maxTimestamp = original.maxTimestamp
    } else {
      baseTimestamp = deleteHorizonMs ?? original.writtenTimestamp(of: records[0])
      maxTimestamp = Int64.min
      for record in records {
        maxTimestamp = max(maxTimestamp, original.writtenTimestamp(of: record))
      }
      if attributes.timestampType == .logAppendTime { maxTimestamp = original.maxTimestamp }
    }
    var body = ByteBufferAllocator().buffer(capacity: 0)
    for record in records {
      let delta = original.writtenTimestamp(of: record) &- baseTimestamp
      let bodySize = Record.bodySize(
        timestampDelta: delta, offsetDelta: record.offsetDelta, key: record.key,
        value: record.value, headers: record.headers)
      Record.write(
        to: &body, bodySize: bodySize, timestampDelta: delta, offsetDelta: record.offsetDelta,
        key: record.key, value: record.value, headers: record.headers)
    }
    let codec = attributes.compression
    let section = try RecordCompressor.compress(body, codec: codec)
    var header = original
    header.attributes = attributes
    header.baseTimestamp = baseTimestamp
    header.maxTimestamp = maxTimestamp
    header.recordCount = Int32(records.count)
    return assemble(header, section)
  }

  /// `batch` (an uncompressed v2 batch) with its records section compressed by `codec`.
  public static func compressed(_ batch: ByteBuffer, codec: CompressionType)
    throws(RecordBatchError) -> ByteBuffer
  {
    let parsed = try RecordBatch(batch)
    guard codec != .none, parsed.header.recordCount > 0 else { return parsed.bytes }
    guard parsed.header.attributes.compression == .none else {
      throw .invalidRecord("batch is already compressed")
    }
    var header = parsed.header
    header.attributes.compression = codec
    return assemble(header, try RecordCompressor.compress(parsed.recordsBytes, codec: codec))
  }

  /// Header plus records section, with `batchLength` and the CRC32C filled in.
  static func assemble(_ header: RecordBatchHeader, _ section: ByteBuffer) -> ByteBuffer {
    var header = header
    header.batchLength = Int32(
      RecordBatchHeader.size - RecordBatchHeader.logOverhead + section.readableBytes)
    header.crc = 0
    var buffer = ByteBufferAllocator().buffer(
      capacity: RecordBatchHeader.size + section.readableBytes)
    header.write(to: &buffer)
    buffer.writeImmutableBuffer(section)
    let coverage = RecordBatchHeader.crcCoverageStart
    let crc = CRC32C.checksum(buffer, at: coverage, length: buffer.writerIndex - coverage) ?? 0
    buffer.setInteger(crc, at: RecordBatchHeader.Field.crc)
    return buffer
  }
}

extension RecordBatchValidator {
  /// Whether every record of the batches in `records` has a key, decompressing compressed
  /// batches (at most `maxDecompressedBytes` each): a compacted topic refuses keyless records
  /// (INVALID_RECORD). Reads each record's fixed prefix up to the key length only, without
  /// materialising records. Malformed batches throw `.invalidRecord`.
  public static func allRecordsHaveKeys(
    _ records: ByteBuffer,
    maxDecompressedBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> Bool {
    var batches = RecordBatchIterator(records)
    while let batch = try batches.next() {
      if batch.header.attributes.isControl { continue }
      var section = try batch.decompressedRecordsBytes(maxDecompressedBytes: maxDecompressedBytes)
      let count = Int(batch.header.recordCount)
      guard count >= 0 else { throw .invalidRecord("invalid record count \(count)") }
      do throws(DecodeError) {
        for _ in 0..<count {
          let length = Int(try section.readVarint())
          guard length >= 0, var body = section.readSlice(length: length) else {
            throw .invalid("record length \(length) exceeds the batch")
          }
          _ = try body.readKafka(Int8.self)  // attributes
          _ = try body.readVarlong()  // timestamp delta
          _ = try body.readVarint()  // offset delta
          if try body.readVarint() < 0 { return false }
        }
      } catch {
        throw .invalidRecord("malformed record: \(error)")
      }
    }
    return true
  }
}
