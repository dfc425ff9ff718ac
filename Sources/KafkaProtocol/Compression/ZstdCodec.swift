import CSkeinCompression
import NIOCore

/// zstd through libzstd loaded at runtime (`dlopen("libzstd.so.1")`): no headers or link-time
/// dependency. Where the library is missing, every call throws instead.
public enum ZstdCodec {
  /// Whether libzstd could be loaded on this system.
  public static var isAvailable: Bool { skein_zstd_available() != 0 }

  /// Decompresses the zstd frames in `input`, producing at most `maxOutputBytes` bytes.
  public static func decompress(
    _ input: ByteBuffer, maxOutputBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> ByteBuffer {
    let limit = max(0, maxOutputBytes)
    do throws(DecompressionFailure) {
      return try ShimCodec.run(input) { source, count, output, outputLength in
        skein_zstd_decompress(source, count, limit, output, outputLength)
      }
    } catch {
      throw error.recordBatchError(codec: .zstd, limit: maxOutputBytes)
    }
  }

  /// Compresses `input` into one zstd frame at `level` (3 is zstd's default).
  public static func compress(_ input: ByteBuffer, level: Int = 3) throws(RecordBatchError)
    -> ByteBuffer
  {
    let level = Int32(clamping: level)
    do throws(DecompressionFailure) {
      return try ShimCodec.run(input) { source, count, output, outputLength in
        skein_zstd_compress(source, count, level, output, outputLength)
      }
    } catch .unavailable {
      throw .invalidRecord("zstd is not available on this system")
    } catch {
      throw .invalidRecord("zstd: compression failed (\(error))")
    }
  }
}
