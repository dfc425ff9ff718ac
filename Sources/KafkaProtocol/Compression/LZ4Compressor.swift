import NIOCore

extension LZ4Codec {
  /// The block size Kafka's Java client (`KafkaLZ4BlockOutputStream`) writes: 64 KiB.
  static let compressionBlockSize = 64 * 1024

  /// Compresses `input` into one LZ4 frame as the Java client writes it and librdkafka and
  /// the Java client read it: version 1, independent 64 KiB blocks, no block or content
  /// checksum, no content size, the header checksum over the descriptor alone (KIP-57).
  /// A block that does not shrink is stored uncompressed.
  public static func compress(_ input: ByteBuffer) -> ByteBuffer {
    input.withUnsafeReadableBytes { source in
      let blocks = source.count / compressionBlockSize + 1
      var output = ByteBufferAllocator().buffer(
        capacity: 11 + source.count + source.count / 255 + blocks * 20)
      output.writeInteger(frameMagic, endianness: .little)
      let descriptor: [UInt8] = [0x60, 0x40]
      output.writeBytes(descriptor)
      let checksum = descriptor.withUnsafeBytes { XXHash32.hash($0) }
      output.writeInteger(UInt8(truncatingIfNeeded: checksum >> 8))
      var table = [Int32](repeating: -1, count: 1 << 12)
      var position = 0
      while position < source.count {
        let count = min(compressionBlockSize, source.count - position)
        let block = UnsafeRawBufferPointer(rebasing: source[position..<(position + count)])
        let sizeIndex = output.writerIndex
        output.writeInteger(UInt32(0), endianness: .little)
        let written = compressBlock(block, table: &table, into: &output)
        if written >= count {
          output.moveWriterIndex(to: sizeIndex + 4)
          output.writeBytes(block)
          output.setInteger(UInt32(count) | 0x8000_0000, at: sizeIndex, endianness: .little)
        } else {
          output.setInteger(UInt32(written), at: sizeIndex, endianness: .little)
        }
        position += count
      }
      output.writeInteger(UInt32(0), endianness: .little)  // EndMark
      return output
    }
  }

  /// Compresses `input` as one raw LZ4 block (no frame).
  public static func compressBlock(_ input: ByteBuffer) -> ByteBuffer {
    input.withUnsafeReadableBytes { source in
      var output = ByteBufferAllocator().buffer(capacity: source.count + source.count / 255 + 16)
      var table = [Int32](repeating: -1, count: 1 << 12)
      compressBlock(source, table: &table, into: &output)
      return output
    }
  }

  /// The LZ4 block format with a hash-table matcher. The format's end rules hold: the last 5
  /// bytes are literals and no match starts within the last 12 bytes. Returns the bytes written.
  @discardableResult
  static func compressBlock(
    _ source: UnsafeRawBufferPointer, table: inout [Int32], into output: inout ByteBuffer
  ) -> Int {
    let start = output.writerIndex
    let end = source.count
    for index in table.indices { table[index] = -1 }
    let matchLimit = end - 12
    let lastLiterals = end - 5
    var anchor = 0
    var position = 0
    while position < matchLimit {
      let word = source.le32(at: position)
      let slot = Int((word &* 2_654_435_761) >> 20)
      let candidate = Int(table[slot])
      table[slot] = Int32(position)
      guard candidate >= 0, position - candidate <= maximumOffset,
        source.le32(at: candidate) == word
      else {
        position += 1
        continue
      }
      var matchLength = 4
      while position + matchLength < lastLiterals
        && source[position + matchLength] == source[candidate + matchLength]
      {
        matchLength += 1
      }
      writeSequence(
        source, literalsFrom: anchor, to: position, offset: position - candidate,
        matchLength: matchLength, output: &output)
      position += matchLength
      anchor = position
    }
    // The last sequence: literals only.
    let literalLength = end - anchor
    writeLength(high: literalLength, low: 0, output: &output)
    if literalLength > 0 {
      output.writeBytes(UnsafeRawBufferPointer(rebasing: source[anchor..<end]))
    }
    return output.writerIndex - start
  }

  private static func writeSequence(
    _ source: UnsafeRawBufferPointer, literalsFrom anchor: Int, to position: Int, offset: Int,
    matchLength: Int, output: inout ByteBuffer
  ) {
    let literalLength = position - anchor
    let matchCode = matchLength - 4
    output.writeInteger(UInt8(min(literalLength, 15) << 4 | min(matchCode, 15)))
    if literalLength >= 15 { writeExtraLength(literalLength - 15, output: &output) }
    if literalLength > 0 {
      output.writeBytes(UnsafeRawBufferPointer(rebasing: source[anchor..<position]))
    }
    output.writeInteger(UInt16(offset), endianness: .little)
    if matchCode >= 15 { writeExtraLength(matchCode - 15, output: &output) }
  }

  /// A literals-only token for the last sequence.
  private static func writeLength(high: Int, low: Int, output: inout ByteBuffer) {
    output.writeInteger(UInt8(min(high, 15) << 4 | low))
    if high >= 15 { writeExtraLength(high - 15, output: &output) }
  }

  private static func writeExtraLength(_ value: Int, output: inout ByteBuffer) {
    var rest = value
    while rest >= 255 {
      output.writeInteger(UInt8(255))
      rest -= 255
    }
    output.writeInteger(UInt8(rest))
  }
}
