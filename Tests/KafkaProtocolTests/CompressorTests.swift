import NIOCore
import Testing

@testable import KafkaProtocol

/// Inputs that stress a matcher: empty, tiny, text, long runs, noise, and sizes around the
/// codecs' block boundaries (32 KiB xerial blocks, 64 KiB LZ4 blocks and Snappy fragments).
private let inputs: [(String, [UInt8])] = {
  var text: [UInt8] = []
  for index in 0..<4000 {
    text += Array("key-\(index % 37) value \(index * 7919 % 1000) the quick brown fox\n".utf8)
  }
  var state: UInt32 = 99
  var noise: [UInt8] = []
  for _ in 0..<70_000 {
    state = state &* 1_664_525 &+ 1_013_904_223
    noise.append(UInt8(truncatingIfNeeded: state >> 24))
  }
  return [
    ("empty", []), ("one byte", [7]), ("twelve bytes", Array("abcdabcdabcd".utf8)),
    ("text", text), ("run of zeros", [UInt8](repeating: 0, count: 200_000)),
    ("noise", noise), ("32 KiB", Array(text.prefix(32 * 1024))),
    ("64 KiB + 1", Array((text + text).prefix(64 * 1024 + 1))),
    ("mixed", Array(text.prefix(5000)) + noise.prefix(3000) + text.prefix(9000)),
  ]
}()

private func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

@Suite("Compressors")
struct CompressorTests {
  @Test("snappy: xerial framing round-trips and shrinks text", arguments: inputs.map(\.0))
  func snappyRoundTrip(name: String) throws {
    let input = try #require(inputs.first { $0.0 == name }).1
    let compressed = SnappyCodec.compress(ByteBuffer(bytes: input))
    #expect(Array(bytes(compressed).prefix(8)) == SnappyCodec.xerialMagic)
    #expect(bytes(try SnappyCodec.decompress(compressed)) == input)
    let raw = SnappyCodec.compressRaw(ByteBuffer(bytes: input))
    #expect(bytes(try SnappyCodec.decompress(raw)) == input)
    if name == "text" || name == "run of zeros" {
      #expect(compressed.readableBytes < input.count / 3)
    }
  }

  @Test("lz4: Kafka's frame round-trips and shrinks text", arguments: inputs.map(\.0))
  func lz4RoundTrip(name: String) throws {
    let input = try #require(inputs.first { $0.0 == name }).1
    let compressed = LZ4Codec.compress(ByteBuffer(bytes: input))
    // Magic, FLG version 1 with independent blocks, BD 64 KiB, checksum of FLG+BD only.
    #expect(Array(bytes(compressed).prefix(6)) == [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40])
    #expect(bytes(try LZ4Codec.decompress(compressed)) == input)
    if !input.isEmpty {
      let block = LZ4Codec.compressBlock(ByteBuffer(bytes: input))
      #expect(
        bytes(try LZ4Codec.decompressBlock(block, maxOutputBytes: input.count)) == input)
    }
    if name == "text" || name == "run of zeros" {
      #expect(compressed.readableBytes < input.count / 3)
    }
    if name == "noise" {
      // Incompressible blocks are stored: barely larger than the input.
      #expect(compressed.readableBytes < input.count + 32)
    }
  }

  @Test("every codec round-trips through RecordCompressor", arguments: CompressionType.allCases)
  func dispatch(codec: CompressionType) throws {
    for (_, input) in inputs {
      let compressed = try RecordCompressor.compress(ByteBuffer(bytes: input), codec: codec)
      let back = try RecordDecompressor.decompress(compressed, codec: codec)
      #expect(bytes(back) == input)
    }
  }

  @Test(
    "the builder compresses with a codec; records read back", arguments: CompressionType.allCases)
  func builderCodec(codec: CompressionType) throws {
    var builder = RecordBatchBuilder(producerId: 7, producerEpoch: 1, baseSequence: 10)
    for index in 0..<50 {
      builder.append(
        key: ByteBuffer(string: "k\(index % 5)"), value: ByteBuffer(string: "value \(index)"),
        headers: [RecordHeader(key: "h", value: ByteBuffer(string: "x"))],
        timestamp: 1_000 + Int64(index))
    }
    let built = try builder.build(compression: codec)
    let batch = try RecordBatch(built)
    try batch.verifyChecksum()
    #expect(batch.header.attributes.compression == codec)
    #expect(batch.header.recordCount == 50 && batch.header.lastOffsetDelta == 49)
    #expect(batch.header.baseSequence == 10 && batch.header.producerId == 7)
    _ = try RecordBatchValidator.validate(built)
    var iterator = try batch.decompressedRecords()
    var index = 0
    while let record = try iterator.next() {
      #expect(record.value == ByteBuffer(string: "value \(index)"))
      #expect(batch.timestamp(of: record) == 1_000 + Int64(index))
      index += 1
    }
    #expect(index == 50)
  }
}

@Suite("RecordBatchRewriter")
struct RecordBatchRewriterTests {
  private func batch(_ codec: CompressionType, tombstoneAt: Int? = nil) throws -> RecordBatch {
    var builder = RecordBatchBuilder(producerId: 3, producerEpoch: 0, baseSequence: 100)
    builder.baseOffset = 500
    for index in 0..<10 {
      builder.append(
        key: ByteBuffer(string: "k\(index)"),
        value: index == tombstoneAt ? nil : ByteBuffer(string: "v\(index)"),
        timestamp: 10_000 + Int64(index) * 3)
    }
    return try RecordBatch(try builder.build(compression: codec))
  }

  @Test(
    "kept records keep offsets and timestamps, the header its offsets, sequence and codec",
    arguments: CompressionType.allCases)
  func rewrite(codec: CompressionType) throws {
    let original = try batch(codec)
    var all: [Record] = []
    var iterator = try original.decompressedRecords()
    while let record = try iterator.next() { all.append(record) }
    let kept = [all[2], all[5], all[7]]
    let rewritten = try RecordBatch(
      RecordBatchRewriter.rewrite(original.header, keeping: kept))
    try rewritten.verifyChecksum()
    let header = rewritten.header
    #expect(header.baseOffset == 500 && header.lastOffset == 509 && header.recordCount == 3)
    #expect(header.producerId == 3 && header.baseSequence == 100)
    #expect(header.attributes.compression == codec)
    #expect(header.deleteHorizonMs == nil)
    #expect(header.baseTimestamp == 10_006 && header.maxTimestamp == 10_021)
    _ = try RecordBatchValidator.validate(rewritten.bytes, origin: .replication)
    var records = try rewritten.decompressedRecords()
    var seen: [(Int64, Int64, String)] = []
    while let record = try records.next() {
      seen.append(
        (
          rewritten.offset(of: record), rewritten.timestamp(of: record),
          String(buffer: record.value ?? ByteBuffer())
        ))
    }
    #expect(seen.map(\.0) == [502, 505, 507])
    #expect(seen.map(\.1) == [10_006, 10_015, 10_021])
    #expect(seen.map(\.2) == ["v2", "v5", "v7"])
  }

  @Test("a delete horizon goes in the base timestamp; record timestamps stay")
  func deleteHorizon() throws {
    let original = try batch(.lz4, tombstoneAt: 4)
    var all: [Record] = []
    var iterator = try original.decompressedRecords()
    while let record = try iterator.next() { all.append(record) }
    let rewritten = try RecordBatch(
      RecordBatchRewriter.rewrite(
        original.header, keeping: [all[4], all[9]], deleteHorizonMs: 99_999))
    #expect(rewritten.header.deleteHorizonMs == 99_999)
    #expect(rewritten.header.attributes.hasDeleteHorizon)
    var records = try rewritten.decompressedRecords()
    let first = try #require(try records.next())
    #expect(first.value == nil && rewritten.timestamp(of: first) == 10_012)
    let second = try #require(try records.next())
    #expect(rewritten.timestamp(of: second) == 10_027)
  }

  @Test("no records left: an empty batch still covering the original offsets")
  func empty() throws {
    let original = try batch(.zstd)
    let rewritten = try RecordBatch(RecordBatchRewriter.rewrite(original.header, keeping: []))
    try rewritten.verifyChecksum()
    #expect(rewritten.header.recordCount == 0)
    #expect(rewritten.header.baseOffset == 500 && rewritten.header.lastOffset == 509)
    #expect(rewritten.header.baseSequence == 100)
    #expect(rewritten.bytes.readableBytes == RecordBatchHeader.size)
  }

  @Test(
    "keyless records are found in plain and compressed batches", arguments: CompressionType.allCases
  )
  func keys(codec: CompressionType) throws {
    #expect(try RecordBatchValidator.allRecordsHaveKeys(try batch(codec).bytes))
    var builder = RecordBatchBuilder()
    builder.append(key: ByteBuffer(string: "a"), value: ByteBuffer(string: "1"), timestamp: 1)
    builder.append(key: nil, value: ByteBuffer(string: "2"), timestamp: 1)
    let keyless = try builder.build(compression: codec)
    #expect(try !RecordBatchValidator.allRecordsHaveKeys(keyless))
    // An empty key is a key; a tombstone has one.
    var keyed = RecordBatchBuilder()
    keyed.append(key: ByteBuffer(), value: ByteBuffer(string: "1"), timestamp: 1)
    keyed.append(key: ByteBuffer(string: "t"), value: nil, timestamp: 1)
    #expect(try RecordBatchValidator.allRecordsHaveKeys(try keyed.build(compression: codec)))
  }

  @Test("a records section that does not hold its records fails the key check")
  func malformedKeys() throws {
    var builder = RecordBatchBuilder()
    builder.append(key: ByteBuffer(string: "a"), value: ByteBuffer(string: "1"), timestamp: 1)
    var batch = builder.build()
    batch.setInteger(Int32(2), at: 57)  // two records declared, one present
    #expect(throws: RecordBatchError.self) {
      _ = try RecordBatchValidator.allRecordsHaveKeys(batch)
    }
  }
}
