import CSkeinCompression
import NIOCore

/// gzip through the system zlib: inflate with gzip/zlib header detection, reading
/// concatenated gzip members as Java's `GZIPInputStream` does.
public enum GzipCodec {
  /// Decompresses `input`, producing at most `maxOutputBytes` bytes.
  public static func decompress(
    _ input: ByteBuffer, maxOutputBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> ByteBuffer {
    let limit = max(0, maxOutputBytes)
    do throws(DecompressionFailure) {
      return try ShimCodec.run(input) { source, count, output, outputLength in
        skein_gzip_decompress(source, count, limit, output, outputLength)
      }
    } catch {
      throw error.recordBatchError(codec: .gzip, limit: maxOutputBytes)
    }
  }

  /// Compresses `input` into one gzip member; `level` is zlib's 0...9, or -1 for its default.
  public static func compress(_ input: ByteBuffer, level: Int = -1) throws(RecordBatchError)
    -> ByteBuffer
  {
    let level = Int32(clamping: level)
    do throws(DecompressionFailure) {
      return try ShimCodec.run(input) { source, count, output, outputLength in
        skein_gzip_compress(source, count, level, output, outputLength)
      }
    } catch {
      throw .invalidRecord("gzip: compression failed (\(error))")
    }
  }
}
