import NIOCore

/// Compresses the records section of a record batch with a codec, as producers and the log
/// cleaner (which rewrites a batch with its own codec) do.
public enum RecordCompressor {
  /// `records` encoded with `codec` (`.none` returns it as it is). Throws `.invalidRecord`
  /// when the codec's library is missing (zstd) or fails.
  public static func compress(_ records: ByteBuffer, codec: CompressionType)
    throws(RecordBatchError) -> ByteBuffer
  {
    switch codec {
    case .none: return records
    case .gzip: return try GzipCodec.compress(records)
    case .snappy: return SnappyCodec.compress(records)
    case .lz4: return LZ4Codec.compress(records)
    case .zstd: return try ZstdCodec.compress(records)
    }
  }
}
