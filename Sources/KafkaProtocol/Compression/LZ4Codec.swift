import NIOCore

/// LZ4 as Kafka v2 batches carry it, in pure Swift: one or more LZ4 frames (magic 0x184D2204,
/// skippable frames allowed), with linked or independent blocks, stored (uncompressed) blocks,
/// and the optional content size, block checksums and content checksum, all verified.
public enum LZ4Codec {
  static let frameMagic: UInt32 = 0x184D_2204
  static let skippableMagicMask: UInt32 = 0xFFFF_FFF0
  static let skippableMagic: UInt32 = 0x184D_2A50
  /// The window a linked block may reach back into: LZ4 offsets are 16-bit.
  static let maximumOffset = 65_535

  /// Decompresses the LZ4 frames in `input`, producing at most `maxOutputBytes` bytes.
  public static func decompress(
    _ input: ByteBuffer, maxOutputBytes: Int = RecordDecompressor.defaultMaxDecompressedBytes
  ) throws(RecordBatchError) -> ByteBuffer {
    do throws(DecompressionFailure) {
      return try input.withUnsafeReadableBytes { (source) throws(DecompressionFailure) in
        try decompressFrames(source, maxOutputBytes: max(0, maxOutputBytes))
      }
    } catch {
      throw error.recordBatchError(codec: .lz4, limit: maxOutputBytes)
    }
  }

  /// Decompresses one raw LZ4 block (no frame) whose output is at most `maxOutputBytes`.
  public static func decompressBlock(
    _ input: ByteBuffer, maxOutputBytes: Int
  ) throws(RecordBatchError) -> ByteBuffer {
    do throws(DecompressionFailure) {
      return try input.withUnsafeReadableBytes { (source) throws(DecompressionFailure) in
        var output = ByteBufferAllocator().buffer(capacity: 0)
        try appendBlock(
          source, to: &output, limit: max(0, maxOutputBytes), overflow: .tooLarge,
          historyStart: 0)
        return output
      }
    } catch {
      throw error.recordBatchError(codec: .lz4, limit: maxOutputBytes)
    }
  }

  static func decompressFrames(
    _ source: UnsafeRawBufferPointer, maxOutputBytes: Int
  ) throws(DecompressionFailure) -> ByteBuffer {
    guard !source.isEmpty else { throw .truncated }
    var output = ByteBufferAllocator().buffer(capacity: min(maxOutputBytes, source.count * 4))
    var position = 0
    while position < source.count {
      guard source.count - position >= 4 else { throw .truncated }
      let magic = source.le32(at: position)
      if magic & skippableMagicMask == skippableMagic {
        guard source.count - position >= 8 else { throw .truncated }
        let size = Int(source.le32(at: position + 4))
        guard size <= source.count - position - 8 else { throw .truncated }
        position += 8 + size
        continue
      }
      guard magic == frameMagic else {
        throw .corrupt("bad frame magic 0x\(String(magic, radix: 16))")
      }
      position = try decodeFrame(
        source, at: position + 4, into: &output, maxOutputBytes: maxOutputBytes)
    }
    return output
  }

  /// Decodes the frame whose descriptor starts at `start` (after the magic); returns the
  /// position after the frame.
  static func decodeFrame(
    _ source: UnsafeRawBufferPointer, at start: Int, into output: inout ByteBuffer,
    maxOutputBytes: Int
  ) throws(DecompressionFailure) -> Int {
    guard source.count - start >= 3 else { throw .truncated }
    let flags = source[start]
    let blockDescriptor = source[start + 1]
    guard flags >> 6 == 1 else { throw .corrupt("unsupported frame version \(flags >> 6)") }
    guard flags & 0x02 == 0, blockDescriptor & 0x8F == 0 else {
      throw .corrupt("reserved frame descriptor bits are set")
    }
    let independentBlocks = flags & 0x20 != 0
    let hasBlockChecksums = flags & 0x10 != 0
    let hasContentSize = flags & 0x08 != 0
    let hasContentChecksum = flags & 0x04 != 0
    let hasDictionaryID = flags & 0x01 != 0
    let blockMaximum: Int
    switch blockDescriptor >> 4 {
    case 4: blockMaximum = 64 << 10
    case 5: blockMaximum = 256 << 10
    case 6: blockMaximum = 1 << 20
    case 7: blockMaximum = 4 << 20
    default: throw .corrupt("invalid block maximum size code \(blockDescriptor >> 4)")
    }
    let descriptorLength = 2 + (hasContentSize ? 8 : 0) + (hasDictionaryID ? 4 : 0)
    guard source.count - start >= descriptorLength + 1 else { throw .truncated }
    let descriptor = UnsafeRawBufferPointer(rebasing: source[start..<(start + descriptorLength)])
    let headerChecksum = UInt8(truncatingIfNeeded: XXHash32.hash(descriptor) >> 8)
    guard source[start + descriptorLength] == headerChecksum else {
      throw .corrupt("frame header checksum mismatch")
    }
    var contentSize: UInt64?
    if hasContentSize {
      let size = source.le64(at: start + 2)
      guard size <= UInt64(maxOutputBytes - output.writerIndex) else { throw .tooLarge }
      contentSize = size
    }
    // A dictionary ID names a dictionary the decoder would need; blocks referring into it fail
    // the offset check below, as there is no history before the frame.
    var position = start + descriptorLength + 1
    let frameStart = output.writerIndex
    while true {
      guard source.count - position >= 4 else { throw .truncated }
      let word = source.le32(at: position)
      position += 4
      if word == 0 { break }  // EndMark
      let isStored = word & 0x8000_0000 != 0
      let size = Int(word & 0x7FFF_FFFF)
      guard size <= blockMaximum else {
        throw .corrupt("block of \(size) bytes exceeds the frame's \(blockMaximum)-byte maximum")
      }
      guard size <= source.count - position else { throw .truncated }
      let block = UnsafeRawBufferPointer(rebasing: source[position..<(position + size)])
      position += size
      if hasBlockChecksums {
        guard source.count - position >= 4 else { throw .truncated }
        guard source.le32(at: position) == XXHash32.hash(block) else {
          throw .corrupt("block checksum mismatch")
        }
        position += 4
      }
      if isStored {
        guard size <= maxOutputBytes - output.writerIndex else { throw .tooLarge }
        output.writeBytes(block)
      } else {
        let blockEnd = output.writerIndex + blockMaximum
        try appendBlock(
          block, to: &output, limit: min(blockEnd, maxOutputBytes),
          overflow: blockEnd <= maxOutputBytes
            ? .corrupt("block decodes past the frame's block maximum") : .tooLarge,
          historyStart: independentBlocks ? output.writerIndex : frameStart)
      }
    }
    let produced = output.writerIndex - frameStart
    if hasContentChecksum {
      guard source.count - position >= 4 else { throw .truncated }
      let expected = source.le32(at: position)
      position += 4
      let actual =
        output.withUnsafeReadableBytes {
          XXHash32.hash(UnsafeRawBufferPointer(rebasing: $0[frameStart...]))
        }
      guard actual == expected else { throw .corrupt("content checksum mismatch") }
    }
    if let contentSize, contentSize != UInt64(produced) {
      throw .corrupt("frame declares \(contentSize) bytes but decodes to \(produced)")
    }
    return position
  }

  /// Decodes a raw LZ4 block onto the end of `output` (a buffer whose reader index is 0),
  /// never letting `output` grow past `limit` bytes (throwing `overflow` instead). Matches may
  /// reach back to `historyStart`.
  static func appendBlock(
    _ source: UnsafeRawBufferPointer, to output: inout ByteBuffer, limit: Int,
    overflow: DecompressionFailure, historyStart: Int
  ) throws(DecompressionFailure) {
    let start = output.writerIndex
    guard !source.isEmpty else { throw .corrupt("empty block") }
    // Room for the whole block up front: the decoder writes through one stable pointer.
    let room = max(0, limit - start)
    output.reserveCapacity(minimumWritableBytes: room)
    let end = try output.withVeryUnsafeMutableBytes {
      (storage) throws(DecompressionFailure) -> Int in
      guard let base = storage.baseAddress else { throw .outOfMemory }
      return try decodeSequences(
        source, base: base, start: start, limit: min(limit, storage.count), overflow: overflow,
        historyStart: historyStart)
    }
    output.moveWriterIndex(to: end)
  }

  /// The LZ4 block format: sequences of a token, literals, a 16-bit offset and a match length;
  /// the last sequence has literals only. Returns the output position after the block.
  @inline(__always)
  static func decodeSequences(
    _ source: UnsafeRawBufferPointer, base: UnsafeMutableRawPointer, start: Int, limit: Int,
    overflow: DecompressionFailure, historyStart: Int
  ) throws(DecompressionFailure) -> Int {
    let end = source.count
    var ip = 0
    var op = start
    while true {
      guard ip < end else { throw .truncated }
      let token = source[ip]
      ip += 1
      var literalLength = Int(token >> 4)
      if literalLength == 15 {
        while true {
          guard ip < end else { throw .truncated }
          let byte = source[ip]
          ip += 1
          literalLength += Int(byte)
          guard literalLength <= end else { throw .corrupt("literal run overruns the block") }
          if byte != 255 { break }
        }
      }
      guard literalLength <= end - ip else { throw .truncated }
      guard literalLength <= limit - op else { throw overflow }
      if literalLength > 0, let from = source.baseAddress {
        (base + op).copyMemory(from: from + ip, byteCount: literalLength)
      }
      ip += literalLength
      op += literalLength
      if ip == end { return op }  // The last sequence: literals only.
      guard end - ip >= 2 else { throw .truncated }
      let offset = source.le16(at: ip)
      ip += 2
      guard offset > 0, offset <= op - historyStart else {
        throw .corrupt("match offset \(offset) out of range")
      }
      var matchLength = Int(token & 0xF)
      if matchLength == 15 {
        while true {
          guard ip < end else { throw .truncated }
          let byte = source[ip]
          ip += 1
          matchLength += Int(byte)
          // 255 bytes of output per input byte at most: bounded by the limit check below.
          if matchLength > limit { throw overflow }
          if byte != 255 { break }
        }
      }
      matchLength += 4
      guard matchLength <= limit - op else { throw overflow }
      copyMatch(base, at: op, offset: offset, length: matchLength)
      op += matchLength
    }
  }
}
