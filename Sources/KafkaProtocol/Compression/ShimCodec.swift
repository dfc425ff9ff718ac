import CSkeinCompression
import NIOCore

/// Calls one of the C shims that return a malloc'd buffer, copying it into a ByteBuffer.
enum ShimCodec {
  typealias Function = (
    UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
    UnsafeMutablePointer<Int>?
  ) -> Int32

  static func run(
    _ input: ByteBuffer, _ function: Function
  ) throws(DecompressionFailure) -> ByteBuffer {
    var output: UnsafeMutablePointer<UInt8>?
    var outputLength = 0
    let status = input.withUnsafeReadableBytes { source in
      function(
        source.baseAddress?.assumingMemoryBound(to: UInt8.self), source.count, &output,
        &outputLength)
    }
    defer { skein_codec_free(output) }
    switch status {
    case Int32(SKEIN_CODEC_OK):
      return ByteBuffer.copying(output, count: outputLength)
    case Int32(SKEIN_CODEC_TRUNCATED): throw .truncated
    case Int32(SKEIN_CODEC_TOO_LARGE): throw .tooLarge
    case Int32(SKEIN_CODEC_NO_MEMORY): throw .outOfMemory
    case Int32(SKEIN_CODEC_UNAVAILABLE): throw .unavailable
    case Int32(SKEIN_CODEC_TRAILING_DATA): throw .corrupt("unexpected data after the stream")
    default: throw .corrupt("the stream does not decode")
    }
  }
}
