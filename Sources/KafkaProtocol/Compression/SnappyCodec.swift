import NIOCore

/// Snappy as Kafka uses it, in pure Swift: the xerial "snappy-java" block framing that the Java
/// client and librdkafka write, or else a single raw Snappy block.
///
/// Xerial framing: an 8-byte magic (`0x82 "SNAPPY" 0x00`), a big-endian int32 version and
/// minimum compatible version, then blocks of a big-endian int32 length and a raw Snappy block.
/// snappy-java also reads streams concatenated with their magic repeated, and so does this.
public enum SnappyCodec {
  static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
  static let xerialHeaderSize = 16

  /// Decompresses `input` (xerial-framed or one raw block), producing at most
  /// `maxOutputBytes` bytes.
  public static func decompress(
    _ input: ByteBuffer, maxOutputBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> ByteBuffer {
    do throws(DecompressionFailure) {
      return try input.withUnsafeReadableBytes { (source) throws(DecompressionFailure) in
        try decompress(source, maxOutputBytes: max(0, maxOutputBytes))
      }
    } catch {
      throw error.recordBatchError(codec: .snappy, limit: maxOutputBytes)
    }
  }

  static func hasXerialHeader(_ source: UnsafeRawBufferPointer, at index: Int) -> Bool {
    guard source.count - index >= xerialHeaderSize else { return false }
    for (offset, byte) in xerialMagic.enumerated() where source[index + offset] != byte {
      return false
    }
    return true
  }

  static func decompress(
    _ source: UnsafeRawBufferPointer, maxOutputBytes: Int
  ) throws(DecompressionFailure) -> ByteBuffer {
    guard hasXerialHeader(source, at: 0) else {
      var output = ByteBuffer()
      try appendBlock(source, to: &output, maxOutputBytes: maxOutputBytes)
      return output
    }
    // Version and compatible version are not checked: some producers write them little-endian,
    // and there has only ever been one framing.
    var position = xerialHeaderSize
    var output = ByteBufferAllocator().buffer(capacity: min(maxOutputBytes, source.count * 4))
    while position < source.count {
      if hasXerialHeader(source, at: position) {
        position += xerialHeaderSize
        continue
      }
      guard source.count - position >= 4 else { throw .truncated }
      let length = Int(source.be32(at: position))
      position += 4
      // Lengths with the top bit set are negative int32s in Java: corrupt.
      guard length <= Int(Int32.max) else { throw .corrupt("negative xerial block length") }
      guard length <= source.count - position else { throw .truncated }
      let block = UnsafeRawBufferPointer(rebasing: source[position..<(position + length)])
      try appendBlock(block, to: &output, maxOutputBytes: maxOutputBytes)
      position += length
    }
    return output
  }

  /// Decodes one raw Snappy block (varint uncompressed length, then tagged elements) onto the
  /// end of `output`.
  static func appendBlock(
    _ block: UnsafeRawBufferPointer, to output: inout ByteBuffer, maxOutputBytes: Int
  ) throws(DecompressionFailure) {
    var position = 0
    var length = 0
    var shift = 0
    while true {
      guard position < block.count else { throw .truncated }
      let byte = block[position]
      position += 1
      guard shift < 32 else { throw .corrupt("uncompressed length varint is too long") }
      length |= Int(byte & 0x7F) << shift
      shift += 7
      if byte & 0x80 == 0 { break }
    }
    guard length <= UInt32.max else { throw .corrupt("uncompressed length is too large") }
    guard length <= maxOutputBytes - output.readableBytes else { throw .tooLarge }
    let body = UnsafeRawBufferPointer(rebasing: block[position...])
    guard length > 0 else {
      guard body.isEmpty else { throw .corrupt("data after an empty block") }
      return
    }
    try output.writeWithUnsafeMutableBytes(minimumWritableBytes: length) {
      (target) throws(DecompressionFailure) -> Int in
      try decodeElements(
        body, into: UnsafeMutableRawBufferPointer(rebasing: target[0..<length]))
      return length
    }
  }

  /// Decodes the elements of a block into `target`, which must come out exactly full.
  static func decodeElements(
    _ source: UnsafeRawBufferPointer, into target: UnsafeMutableRawBufferPointer
  ) throws(DecompressionFailure) {
    guard let base = target.baseAddress else { throw .corrupt("empty output") }
    let end = source.count
    let capacity = target.count
    var ip = 0
    var op = 0
    while ip < end {
      let tag = source[ip]
      ip += 1
      let length: Int
      let offset: Int
      switch tag & 0x3 {
      case 0:
        var literal = Int(tag >> 2)
        if literal >= 60 {
          let extra = literal - 59
          guard end - ip >= extra else { throw .truncated }
          literal = 0
          for index in 0..<extra { literal |= Int(source[ip + index]) << (8 * index) }
          ip += extra
        }
        literal += 1
        guard literal <= end - ip else { throw .truncated }
        guard literal <= capacity - op else { throw .corrupt("literal overruns the block") }
        if let from = source.baseAddress {
          (base + op).copyMemory(from: from + ip, byteCount: literal)
        }
        ip += literal
        op += literal
        continue
      case 1:
        guard ip < end else { throw .truncated }
        length = 4 + Int((tag >> 2) & 0x7)
        offset = Int(tag >> 5) << 8 | Int(source[ip])
        ip += 1
      case 2:
        guard end - ip >= 2 else { throw .truncated }
        length = 1 + Int(tag >> 2)
        offset = source.le16(at: ip)
        ip += 2
      default:
        guard end - ip >= 4 else { throw .truncated }
        length = 1 + Int(tag >> 2)
        offset = Int(source.le32(at: ip))
        ip += 4
      }
      guard offset > 0, offset <= op else { throw .corrupt("copy offset \(offset) out of range") }
      guard length <= capacity - op else { throw .corrupt("copy overruns the block") }
      copyMatch(base, at: op, offset: offset, length: length)
      op += length
    }
    guard op == capacity else {
      throw .corrupt("block decodes to \(op) bytes instead of \(capacity)")
    }
  }
}
