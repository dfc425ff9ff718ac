import NIOCore

/// Why a codec could not decode its input, before it becomes a `RecordBatchError`.
enum DecompressionFailure: Error, Equatable {
  /// The input is not valid for the codec.
  case corrupt(String)
  /// The input ends in the middle of the compressed stream.
  case truncated
  /// The output would exceed the caller's limit (a decompression bomb, or just too big).
  case tooLarge
  /// The codec's library is not present on this system.
  case unavailable
  case outOfMemory

  func recordBatchError(codec: CompressionType, limit: Int) -> RecordBatchError {
    let name = codec.name
    switch self {
    case .corrupt(let reason): return .invalidRecord("\(name): corrupt compressed data: \(reason)")
    case .truncated: return .invalidRecord("\(name): compressed data is truncated")
    case .tooLarge:
      return .invalidRecord("\(name): decompressed records exceed the limit of \(limit) bytes")
    case .unavailable: return .invalidRecord("\(name) is not available on this system")
    case .outOfMemory: return .invalidRecord("\(name): out of memory while decompressing")
    }
  }
}

/// Little-endian and big-endian loads from untrusted input; callers check bounds first.
extension UnsafeRawBufferPointer {
  @inline(__always)
  func le16(at index: Int) -> Int {
    Int(self[index]) | Int(self[index + 1]) << 8
  }

  @inline(__always)
  func le32(at index: Int) -> UInt32 {
    UInt32(self[index]) | UInt32(self[index + 1]) << 8 | UInt32(self[index + 2]) << 16
      | UInt32(self[index + 3]) << 24
  }

  @inline(__always)
  func be32(at index: Int) -> UInt32 {
    UInt32(self[index]) << 24 | UInt32(self[index + 1]) << 16 | UInt32(self[index + 2]) << 8
      | UInt32(self[index + 3])
  }

  @inline(__always)
  func le64(at index: Int) -> UInt64 {
    UInt64(le32(at: index)) | UInt64(le32(at: index + 4)) << 32
  }
}

/// LZ77 back-reference copy shared by the Snappy and LZ4 decoders: `length` bytes at `op` from
/// `offset` bytes back, where the ranges may overlap (a repeating pattern). The caller has
/// checked `0 < offset <= op` and that `op + length` fits the buffer.
@inline(__always)
func copyMatch(_ base: UnsafeMutableRawPointer, at op: Int, offset: Int, length: Int) {
  let from = op - offset
  if offset >= length {
    (base + op).copyMemory(from: base + from, byteCount: length)
    return
  }
  // Overlapping: the bytes from `from` to the write position repeat with period `offset`, so
  // copying that whole prefix again keeps the period while doubling the copied run each time.
  var written = 0
  while written < length {
    let chunk = min(length - written, op + written - from)
    (base + op + written).copyMemory(from: base + from, byteCount: chunk)
    written += chunk
  }
}

extension ByteBuffer {
  /// A fresh buffer holding a copy of `count` bytes at `pointer` (nil when `count` is 0).
  static func copying(_ pointer: UnsafeRawPointer?, count: Int) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: count)
    if let pointer, count > 0 {
      buffer.writeBytes(UnsafeRawBufferPointer(start: pointer, count: count))
    }
    return buffer
  }
}
