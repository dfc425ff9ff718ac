import NIOCore

extension SnappyCodec {
  /// The uncompressed bytes per xerial block, as snappy-java's `SnappyOutputStream` (and so the
  /// Java producer) writes them.
  static let xerialBlockSize = 32 * 1024

  /// Compresses `input` in the xerial framing the Java client writes and every Kafka client
  /// reads: the 16-byte header, then one length-prefixed raw Snappy block per 32 KiB.
  public static func compress(_ input: ByteBuffer) -> ByteBuffer {
    input.withUnsafeReadableBytes { source in
      var output = ByteBufferAllocator().buffer(
        capacity: xerialHeaderSize + maxCompressedLength(source.count) + 4
          * (source.count / xerialBlockSize + 1))
      output.writeBytes(xerialMagic)
      output.writeInteger(Int32(1))
      output.writeInteger(Int32(1))
      var position = 0
      while position < source.count {
        let count = min(xerialBlockSize, source.count - position)
        let block = UnsafeRawBufferPointer(rebasing: source[position..<(position + count)])
        let lengthIndex = output.writerIndex
        output.writeInteger(Int32(0))
        let written = appendRawBlock(block, to: &output)
        output.setInteger(Int32(written), at: lengthIndex)
        position += count
      }
      return output
    }
  }

  /// Compresses `input` as one raw Snappy block (no framing).
  public static func compressRaw(_ input: ByteBuffer) -> ByteBuffer {
    input.withUnsafeReadableBytes { source in
      var output = ByteBufferAllocator().buffer(capacity: maxCompressedLength(source.count))
      appendRawBlock(source, to: &output)
      return output
    }
  }

  /// Snappy's bound on a block's compressed size.
  static func maxCompressedLength(_ count: Int) -> Int { 32 + count + count / 6 }

  /// Writes one raw Snappy block (varint length, then elements) for `source`; returns its size.
  @discardableResult
  static func appendRawBlock(_ source: UnsafeRawBufferPointer, to output: inout ByteBuffer) -> Int {
    let start = output.writerIndex
    var length = source.count
    while length >= 0x80 {
      output.writeInteger(UInt8(truncatingIfNeeded: length) | 0x80)
      length >>= 7
    }
    output.writeInteger(UInt8(length))
    // Fragments of 64 KiB keep every copy offset within 16 bits, as the reference encoder does.
    var table = [Int32](repeating: -1, count: 1 << 14)
    var fragment = 0
    while fragment < source.count {
      let end = min(source.count, fragment + 65_536)
      compressFragment(source, from: fragment, to: end, table: &table, output: &output)
      fragment = end
    }
    return output.writerIndex - start
  }

  private static func compressFragment(
    _ source: UnsafeRawBufferPointer, from start: Int, to end: Int, table: inout [Int32],
    output: inout ByteBuffer
  ) {
    for index in table.indices { table[index] = -1 }
    var literalStart = start
    var position = start
    // A match needs 4 bytes to compare.
    while position + 4 <= end {
      let word = source.le32(at: position)
      let slot = Int((word &* 0x1E35_A7BD) >> 18)
      let candidate = Int(table[slot])
      table[slot] = Int32(position - start)
      let candidatePosition = start + candidate
      guard candidate >= 0, position - candidatePosition <= 65_535,
        source.le32(at: candidatePosition) == word
      else {
        position += 1
        continue
      }
      var matchLength = 4
      while position + matchLength < end
        && source[position + matchLength] == source[candidatePosition + matchLength]
      {
        matchLength += 1
      }
      if literalStart < position {
        emitLiteral(source, from: literalStart, to: position, output: &output)
      }
      emitCopy(offset: position - candidatePosition, length: matchLength, output: &output)
      position += matchLength
      literalStart = position
    }
    if literalStart < end {
      emitLiteral(source, from: literalStart, to: end, output: &output)
    }
  }

  private static func emitLiteral(
    _ source: UnsafeRawBufferPointer, from start: Int, to end: Int, output: inout ByteBuffer
  ) {
    let n = end - start - 1
    if n < 60 {
      output.writeInteger(UInt8(n << 2))
    } else {
      var bytes = 0
      var rest = n
      while rest > 0 {
        bytes += 1
        rest >>= 8
      }
      output.writeInteger(UInt8((59 + bytes) << 2))
      for index in 0..<bytes { output.writeInteger(UInt8(truncatingIfNeeded: n >> (8 * index))) }
    }
    output.writeBytes(UnsafeRawBufferPointer(rebasing: source[start..<end]))
  }

  private static func emitCopy(offset: Int, length: Int, output: inout ByteBuffer) {
    var length = length
    // Copy-2 elements take at most 64 bytes; keep at least 4 for the last one.
    while length >= 68 {
      emitCopyUpTo64(offset: offset, length: 64, output: &output)
      length -= 64
    }
    if length > 64 {
      emitCopyUpTo64(offset: offset, length: 60, output: &output)
      length -= 60
    }
    emitCopyUpTo64(offset: offset, length: length, output: &output)
  }

  private static func emitCopyUpTo64(offset: Int, length: Int, output: inout ByteBuffer) {
    if length >= 4, length < 12, offset < 2048 {
      output.writeInteger(UInt8(1 | ((length - 4) << 2) | ((offset >> 8) << 5)))
      output.writeInteger(UInt8(truncatingIfNeeded: offset))
    } else {
      output.writeInteger(UInt8(2 | ((length - 1) << 2)))
      output.writeInteger(UInt8(truncatingIfNeeded: offset))
      output.writeInteger(UInt8(truncatingIfNeeded: offset >> 8))
    }
  }
}
