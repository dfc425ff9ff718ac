import NIOCore

/// Decompresses the records section of a record batch with the batch's codec.
public enum RecordDecompressor {
  /// The default cap on a batch's decompressed records: a guard against decompression bombs.
  public static let defaultMaxDecompressedBytes = 64 * 1024 * 1024

  /// `compressed` decoded with `codec` (`.none` returns it as it is), producing at most
  /// `maxDecompressedBytes` bytes. Corrupt, truncated or oversized input throws
  /// `.invalidRecord` naming the codec.
  public static func decompress(
    _ compressed: ByteBuffer, codec: CompressionType,
    maxDecompressedBytes: Int = defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> ByteBuffer {
    switch codec {
    case .none: return compressed
    case .gzip: return try GzipCodec.decompress(compressed, maxOutputBytes: maxDecompressedBytes)
    case .snappy:
      return try SnappyCodec.decompress(compressed, maxOutputBytes: maxDecompressedBytes)
    case .lz4: return try LZ4Codec.decompress(compressed, maxOutputBytes: maxDecompressedBytes)
    case .zstd: return try ZstdCodec.decompress(compressed, maxOutputBytes: maxDecompressedBytes)
    }
  }
}

extension RecordBatch {
  /// The batch's codec; throws `.invalidRecord` for the unassigned codec ids 5, 6 and 7.
  public func compressionType() throws(RecordBatchError) -> CompressionType {
    let bits = header.attributes.compressionBits
    guard let type = CompressionType(rawValue: Int8(bits)) else {
      throw .invalidRecord("unknown compression codec \(bits)")
    }
    return type
  }

  /// The records section, decompressed if the batch is compressed.
  public func decompressedRecordsBytes(
    maxDecompressedBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> ByteBuffer {
    try RecordDecompressor.decompress(
      recordsBytes, codec: compressionType(), maxDecompressedBytes: maxDecompressedBytes)
  }

  /// An iterator over the batch's records whether or not the batch is compressed. A
  /// compressed batch is decompressed up front (at most `maxDecompressedBytes`).
  public func decompressedRecords(
    maxDecompressedBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> RecordIterator {
    RecordIterator(
      records: try decompressedRecordsBytes(maxDecompressedBytes: maxDecompressedBytes),
      count: header.recordCount)
  }
}
