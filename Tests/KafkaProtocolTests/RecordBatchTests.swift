import NIOCore
import Testing

@testable import KafkaProtocol

// Batches here are written byte by byte from the layout in Kafka's documentation
// (https://kafka.apache.org/documentation/#recordbatch), with their own big-endian, zigzag and
// CRC32C code, so the library is checked against something it did not produce itself.

/// Big-endian integers and zigzag varints appended to a byte array by hand.
private struct Wire {
  var bytes: [UInt8] = []

  mutating func int8(_ value: Int8) { bytes.append(UInt8(bitPattern: value)) }
  mutating func int16(_ value: Int16) { bigEndian(UInt64(UInt16(bitPattern: value)), count: 2) }
  mutating func int32(_ value: Int32) { bigEndian(UInt64(UInt32(bitPattern: value)), count: 4) }
  mutating func uint32(_ value: UInt32) { bigEndian(UInt64(value), count: 4) }
  mutating func int64(_ value: Int64) { bigEndian(UInt64(bitPattern: value), count: 8) }
  mutating func raw(_ more: [UInt8]) { bytes += more }

  mutating func varlong(_ value: Int64) {
    var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
    while zigzag >= 0x80 {
      bytes.append(UInt8(zigzag & 0x7F) | 0x80)
      zigzag >>= 7
    }
    bytes.append(UInt8(zigzag))
  }

  mutating func varint(_ value: Int32) { varlong(Int64(value)) }

  /// Varint length then bytes; nil is length -1.
  mutating func nullableBytes(_ value: [UInt8]?) {
    guard let value else { return varint(-1) }
    varint(Int32(value.count))
    raw(value)
  }

  private mutating func bigEndian(_ value: UInt64, count: Int) {
    for shift in stride(from: (count - 1) * 8, through: 0, by: -8) {
      bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
    }
  }
}

/// One record in the v2 layout: length, attributes, deltas, key, value, headers.
private struct HandRecord {
  var timestampDelta: Int64 = 0
  var offsetDelta: Int32
  var key: [UInt8]?
  var value: [UInt8]?
  var headers: [(key: String, value: [UInt8]?)] = []

  var encoded: [UInt8] {
    var body = Wire()
    body.int8(0)
    body.varlong(timestampDelta)
    body.varint(offsetDelta)
    body.nullableBytes(key)
    body.nullableBytes(value)
    body.varint(Int32(headers.count))
    for header in headers {
      body.nullableBytes(Array(header.key.utf8))
      body.nullableBytes(header.value)
    }
    var record = Wire()
    record.varint(Int32(body.bytes.count))
    record.raw(body.bytes)
    return record.bytes
  }
}

/// A v2 batch; fields left nil are derived from the records the way clients derive them.
private struct HandBatch {
  var baseOffset: Int64 = 0
  var partitionLeaderEpoch: Int32 = -1
  var magic: Int8 = 2
  var attributes: Int16 = 0
  var lastOffsetDelta: Int32?
  var baseTimestamp: Int64 = 1_700_000_000_000
  var maxTimestamp: Int64?
  var producerId: Int64 = -1
  var producerEpoch: Int16 = -1
  var baseSequence: Int32 = -1
  var recordCount: Int32?
  var records: [HandRecord] = []
  var recordBytes: [UInt8]?
  var crc: UInt32?

  /// Attributes through the last record: what the CRC covers.
  var covered: [UInt8] {
    var wire = Wire()
    wire.int16(attributes)
    wire.int32(lastOffsetDelta ?? Int32(records.count - 1))
    wire.int64(baseTimestamp)
    wire.int64(maxTimestamp ?? baseTimestamp + (records.map(\.timestampDelta).max() ?? 0))
    wire.int64(producerId)
    wire.int16(producerEpoch)
    wire.int32(baseSequence)
    wire.int32(recordCount ?? Int32(records.count))
    wire.raw(recordBytes ?? records.flatMap(\.encoded))
    return wire.bytes
  }

  var bytes: [UInt8] {
    let covered = covered
    var wire = Wire()
    wire.int64(baseOffset)
    wire.int32(Int32(4 + 1 + 4 + covered.count))
    wire.int32(partitionLeaderEpoch)
    wire.int8(magic)
    wire.uint32(crc ?? bitwiseCRC32C(covered))
    wire.raw(covered)
    return wire.bytes
  }
}

private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

private func bytes(_ buffer: ByteBuffer?) -> [UInt8]? {
  buffer.map { Array($0.readableBytesView) }
}

private func validationError(
  _ bytes: [UInt8], origin: RecordBatchValidator.Origin = .client
) -> RecordBatchError? {
  do throws(RecordBatchError) {
    _ = try RecordBatchValidator.validate(buffer(bytes), origin: origin)
    return nil
  } catch {
    return error
  }
}

private func isInvalidRecord(_ error: RecordBatchError?) -> Bool {
  if case .invalidRecord = error { return true }
  return false
}

private func allRecords(_ batch: RecordBatch) throws -> [Record] {
  var iterator = try batch.records()
  var records: [Record] = []
  while let record = try iterator.next() { records.append(record) }
  return records
}

private func allRecords(records: [UInt8], count: Int32) throws -> [Record] {
  var iterator = RecordIterator(records: buffer(records), count: count)
  var result: [Record] = []
  while let record = try iterator.next() { result.append(record) }
  return result
}

/// Three records exercising null keys and values, empty values and headers.
private let sampleRecords: [HandRecord] = [
  HandRecord(
    timestampDelta: 0, offsetDelta: 0, key: Array("k1".utf8), value: Array("hello".utf8)),
  HandRecord(
    timestampDelta: 7, offsetDelta: 1, key: nil, value: nil,
    headers: [("trace-id", [0xAB, 0xCD]), ("empty", []), ("none", nil)]),
  HandRecord(
    timestampDelta: -3, offsetDelta: 2, key: [], value: [UInt8](repeating: 0x5A, count: 300),
    headers: [("ключ", Array("значение".utf8))]),
]

@Suite struct RecordBatchTests {
  // MARK: vectors from another client

  /// A single uncompressed record with key, value and one header, as IBM/sarama's test suite
  /// encodes it (CRC included), so the CRC check is tied to a third party's bytes.
  static let saramaUncompressed: [UInt8] = [
    0, 0, 0, 0, 0, 0, 0, 0,  // base offset
    0, 0, 0, 70,  // batch length
    0, 0, 0, 0,  // partition leader epoch
    2,  // magic
    84, 121, 97, 253,  // crc
    0, 0,  // attributes
    0, 0, 0, 0,  // last offset delta
    0, 0, 1, 88, 141, 205, 89, 56,  // base timestamp 1479847795000
    0, 0, 0, 0, 0, 0, 0, 0,  // max timestamp
    0, 0, 0, 0, 0, 0, 0, 0,  // producer id
    0, 0,  // producer epoch
    0, 0, 0, 0,  // base sequence
    0, 0, 0, 1,  // record count
    40, 0, 10, 0,  // length 20, attributes, timestamp delta 5, offset delta 0
    8, 1, 2, 3, 4,  // key
    6, 5, 6, 7,  // value
    2, 6, 8, 9, 10, 4, 11, 12,  // one header
  ]

  /// The same record gzip-compressed (attributes = 1), from the same suite.
  static let saramaGzip: [UInt8] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 95, 0, 0, 0, 0, 2, 231, 74, 206, 165, 0, 1, 0, 0, 0, 0,
    0, 0, 1, 88, 141, 205, 89, 56, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 1,
    31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 0, 21, 0, 234, 255, 40, 0, 10, 0, 8, 1, 2,
    3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12, 3, 0, 173, 201, 88, 103, 21, 0, 0, 0,
  ]

  /// An empty control batch (attributes = 0x20), from the same suite.
  static let saramaEmptyControl: [UInt8] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49, 0, 0, 0, 0, 2, 81, 46, 67, 217, 0, 32, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
  ]

  @Test func thirdPartyUncompressedBatchParsesAndIterates() throws {
    let batch = try RecordBatch(buffer(Self.saramaUncompressed))
    #expect(batch.header.batchLength == 70)
    #expect(batch.header.totalSize == Self.saramaUncompressed.count)
    #expect(batch.header.crc == 0x5479_61FD)
    #expect(batch.header.baseTimestamp == 1_479_847_795_000)
    #expect(batch.header.recordCount == 1)
    #expect(batch.isChecksumValid)
    try batch.verifyChecksum()

    let records = try allRecords(batch)
    #expect(records.count == 1)
    let record = try #require(records.first)
    #expect(record.timestampDelta == 5)
    #expect(record.offsetDelta == 0)
    #expect(bytes(record.key) == [1, 2, 3, 4])
    #expect(bytes(record.value) == [5, 6, 7])
    #expect(record.headers.count == 1)
    #expect(record.headers.first?.key == "\u{8}\u{9}\u{A}")
    #expect(bytes(record.headers.first?.value) == [11, 12])
    #expect(batch.timestamp(of: record) == 1_479_847_795_005)
    #expect(batch.offset(of: record) == 0)

    let summary = try RecordBatchValidator.validate(buffer(Self.saramaUncompressed))
    #expect(summary.batchCount == 1)
    #expect(summary.recordCount == 1)
    #expect(summary.compression == CompressionType.none)
  }

  @Test func thirdPartyGzipBatchValidatesButRecordsNeedDecompression() throws {
    let batch = try RecordBatch(buffer(Self.saramaGzip))
    #expect(batch.header.attributes.compression == .gzip)
    #expect(batch.header.crc == 0xE74A_CEA5)
    #expect(batch.isChecksumValid)
    #expect(bytes(batch.recordsBytes)?.prefix(2) == [31, 139])
    #expect(throws: RecordBatchError.self) { try batch.records() }

    let summary = try RecordBatchValidator.validate(buffer(Self.saramaGzip))
    #expect(summary.compression == .gzip)
    #expect(summary.recordCount == 1)
  }

  @Test func thirdPartyEmptyControlBatch() throws {
    let batch = try RecordBatch(buffer(Self.saramaEmptyControl))
    #expect(batch.header.attributes.isControl)
    #expect(batch.isChecksumValid)
    #expect(try allRecords(batch).isEmpty)
    // No records: a produce request may not carry it, but a follower may copy it.
    #expect(isInvalidRecord(validationError(Self.saramaEmptyControl)))
    #expect(isInvalidRecord(validationError(Self.saramaEmptyControl, origin: .coordinator)))
    #expect(validationError(Self.saramaEmptyControl, origin: .replication) == nil)
  }

  // MARK: parsing and iteration

  @Test func handBuiltBatchHeaderAndRecords() throws {
    let hand = HandBatch(
      partitionLeaderEpoch: 4, producerId: 9001, producerEpoch: 3, baseSequence: 42,
      records: sampleRecords)
    let batch = try RecordBatch(buffer(hand.bytes))
    let header = batch.header
    #expect(header.baseOffset == 0)
    #expect(header.totalSize == hand.bytes.count)
    #expect(header.partitionLeaderEpoch == 4)
    #expect(header.magic == 2)
    #expect(header.lastOffsetDelta == 2)
    #expect(header.baseTimestamp == 1_700_000_000_000)
    #expect(header.maxTimestamp == 1_700_000_000_007)
    #expect(header.producerId == 9001)
    #expect(header.producerEpoch == 3)
    #expect(header.baseSequence == 42)
    #expect(header.recordCount == 3)
    #expect(header.attributes.timestampType == .createTime)
    #expect(batch.isChecksumValid)

    let records = try allRecords(batch)
    #expect(records.count == 3)
    #expect(bytes(records[0].key) == Array("k1".utf8))
    #expect(bytes(records[0].value) == Array("hello".utf8))
    #expect(records[0].headers.isEmpty)

    #expect(records[1].key == nil)
    #expect(records[1].value == nil)
    #expect(records[1].headers.map(\.key) == ["trace-id", "empty", "none"])
    #expect(bytes(records[1].headers[0].value) == [0xAB, 0xCD])
    #expect(bytes(records[1].headers[1].value) == [])
    #expect(records[1].headers[2].value == nil)
    #expect(batch.timestamp(of: records[1]) == 1_700_000_000_007)
    #expect(batch.offset(of: records[1]) == 1)

    #expect(bytes(records[2].key) == [])
    #expect(bytes(records[2].value) == [UInt8](repeating: 0x5A, count: 300))
    #expect(records[2].headers.first?.key == "ключ")
    #expect(bytes(records[2].headers.first?.value) == Array("значение".utf8))
    #expect(records[2].timestampDelta == -3)
    #expect(batch.timestamp(of: records[2]) == 1_699_999_999_997)
  }

  @Test func recordSlicesShareTheBatchStorage() throws {
    let batch = try RecordBatch(buffer(HandBatch(records: sampleRecords).bytes))
    var iterator = try batch.records()
    let record = try #require(try iterator.next())
    let key = try #require(record.key)
    // A slice, not a copy: the key's bytes lie inside the batch's bytes.
    let batchStart = batch.bytes.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    let keyStart = key.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
    #expect(batchStart != 0)
    #expect(keyStart > batchStart)
    #expect(keyStart < batchStart + UInt(batch.bytes.readableBytes))
  }

  @Test func batchIteratorWalksConcatenatedBatches() throws {
    let first = HandBatch(baseOffset: 10, records: Array(sampleRecords.prefix(2))).bytes
    let second = HandBatch(baseOffset: 12, records: [sampleRecords[2]]).bytes
    var iterator = RecordBatchIterator(buffer(first + second))
    let a = try #require(try iterator.next())
    let b = try #require(try iterator.next())
    #expect(try iterator.next() == nil)
    #expect(a.header.baseOffset == 10)
    #expect(bytes(a.bytes) == first)
    #expect(b.header.baseOffset == 12)
    #expect(bytes(b.bytes) == second)
    #expect(try allRecords(b).count == 1)
  }

  @Test func batchIteratorPartialTrailingBatch() throws {
    let first = HandBatch(records: sampleRecords).bytes
    let second = HandBatch(records: sampleRecords).bytes
    for cut in [1, 11, 12, 16, 17, 60, 61, second.count - 1] {
      let data = first + second.prefix(cut)
      var lenient = RecordBatchIterator(buffer(data), allowsPartialTrailingBatch: true)
      #expect(try lenient.next() != nil)
      #expect(try lenient.next() == nil, "cut \(cut)")
      #expect(lenient.remainingBytes == cut)

      var strict = RecordBatchIterator(buffer(data))
      #expect(try strict.next() != nil)
      #expect(throws: RecordBatchError.truncated) { try strict.next() }
    }
  }

  @Test func recordIteratorOnDecompressedBytes() throws {
    let section = sampleRecords.flatMap(\.encoded)
    let records = try allRecords(records: section, count: 3)
    #expect(records.map(\.offsetDelta) == [0, 1, 2])
  }

  // MARK: malformed records

  @Test func malformedRecordsThrowInvalidRecord() {
    let good = sampleRecords[0].encoded
    var negativeHeaderCount = Wire()
    negativeHeaderCount.raw([0, 0, 0])  // attributes, timestamp delta, offset delta
    negativeHeaderCount.varint(-1)  // key
    negativeHeaderCount.varint(-1)  // value
    negativeHeaderCount.varint(-2)  // header count
    var negativeHeaderKey = Wire()
    negativeHeaderKey.raw([0, 0, 0])
    negativeHeaderKey.varint(-1)
    negativeHeaderKey.varint(-1)
    negativeHeaderKey.varint(1)
    negativeHeaderKey.varint(-1)  // header key length
    negativeHeaderKey.varint(-1)
    var hugeHeaderCount = Wire()
    hugeHeaderCount.raw([0, 0, 0])
    hugeHeaderCount.varint(-1)
    hugeHeaderCount.varint(-1)
    hugeHeaderCount.varint(Int32.max)
    func framed(_ body: [UInt8], lengthAdjust: Int32 = 0) -> [UInt8] {
      var wire = Wire()
      wire.varint(Int32(body.count) + lengthAdjust)
      wire.raw(body)
      return wire.bytes
    }
    let goodBody = Array(good.dropFirst())  // the length fits in one byte
    let cases: [(String, [UInt8], Int32)] = [
      ("fewer records than the count", good, 2),
      ("bytes after the last record", good + [0], 1),
      ("record length beyond the section", framed(goodBody, lengthAdjust: 5), 1),
      ("record length shorter than its fields", framed(goodBody, lengthAdjust: -1), 1),
      ("record length longer than its fields", framed(goodBody + [0, 0]), 1),
      ("negative record length", [0x01] + goodBody, 1),
      ("negative header count", framed(negativeHeaderCount.bytes), 1),
      ("negative header key length", framed(negativeHeaderKey.bytes), 1),
      ("header count larger than the record", framed(hugeHeaderCount.bytes), 1),
      ("key length beyond the record", framed([0, 0, 0, 100, 1, 2]), 1),
      ("unterminated varint", framed([0, 0xFF, 0xFF]), 1),
      ("over-long varint", framed([0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), 1),
      ("negative count", good, -1),
      ("empty section with a count", [], 1),
    ]
    for (name, section, count) in cases {
      var iterator = RecordIterator(records: buffer(section), count: count)
      var thrown: RecordBatchError?
      do throws(RecordBatchError) {
        while try iterator.next() != nil {}
      } catch {
        thrown = error
      }
      #expect(isInvalidRecord(thrown), "\(name): \(String(describing: thrown))")
      #expect(thrown?.errorCode == .invalidRecord, "\(name)")
      // After an error the iterator is finished rather than stuck or crashing.
      #expect((try? iterator.next()) == .some(nil), "\(name)")
    }
  }

  // MARK: validation

  @Test func validationSummarisesBatches() throws {
    var first = HandBatch(
      producerId: 77, producerEpoch: 2, baseSequence: 10,
      records: Array(sampleRecords.prefix(2)))
    first.maxTimestamp = 5_000
    var second = HandBatch(attributes: 0x10, records: sampleRecords)  // transactional
    second.maxTimestamp = 9_000
    var third = HandBatch(records: [sampleRecords[0]])
    third.maxTimestamp = 9_000  // ties keep the earlier batch
    let all = first.bytes + second.bytes + third.bytes

    let summary = try RecordBatchValidator.validate(buffer(all))
    #expect(summary.batchCount == 3)
    #expect(summary.recordCount == 6)
    #expect(summary.lastOffsetDelta == 5)
    #expect(summary.maxTimestamp == 9_000)
    #expect(summary.offsetDeltaOfMaxTimestamp == 4)  // last offset of the second batch
    #expect(summary.byteCount == all.count)
    #expect(summary.largestBatchSize == second.bytes.count)
    #expect(summary.containsTransactional)
    #expect(!summary.containsControl)
    #expect(summary.compression == CompressionType.none)
    #expect(summary.producerId == 77)
    #expect(summary.producerEpoch == 2)
    #expect(summary.baseSequence == 10)

    #expect(throws: RecordBatchError.self) {
      try RecordBatchValidator.validate(buffer(all), requireSingleBatch: true)
    }
    #expect(
      try RecordBatchValidator.validate(buffer(first.bytes), requireSingleBatch: true)
        .batchCount == 1)
  }

  @Test func validationHonoursTheReaderIndex() throws {
    let batch = HandBatch(records: sampleRecords).bytes
    var data = buffer([0xDE, 0xAD, 0xBE, 0xEF] + batch + [0x99])
    data.moveReaderIndex(forwardBy: 4)
    data.moveWriterIndex(to: 4 + batch.count)
    let summary = try RecordBatchValidator.validate(data)
    #expect(summary.byteCount == batch.count)
    #expect(summary.recordCount == 3)
  }

  @Test func noTimestampsGiveMinusOne() throws {
    var hand = HandBatch(records: [sampleRecords[0]])
    hand.baseTimestamp = -1
    hand.maxTimestamp = -1
    let summary = try RecordBatchValidator.validate(buffer(hand.bytes))
    #expect(summary.maxTimestamp == -1)
    #expect(summary.offsetDeltaOfMaxTimestamp == -1)
  }

  @Test func emptyRecordsAreInvalid() {
    #expect(validationError([]) == .invalidRecord("no record batches"))
    #expect(validationError([])?.errorCode == .invalidRecord)
  }

  @Test func everyTruncationIsCorrupt() {
    let good = HandBatch(records: sampleRecords).bytes
    for length in 1..<good.count {
      let error = validationError(Array(good.prefix(length)))
      #expect(error == .truncated, "prefix \(length): \(String(describing: error))")
    }
    // A partial batch after a complete one too.
    let error = validationError(good + good.prefix(30))
    #expect(error == .truncated)
    #expect(error?.errorCode == .corruptMessage)
  }

  @Test func everyFlippedCoveredByteIsACRCMismatch() {
    let good = HandBatch(records: sampleRecords).bytes
    for index in RecordBatchHeader.crcCoverageStart..<good.count {
      var bad = good
      bad[index] ^= 0x40
      let error = validationError(bad)
      guard case .crcMismatch(let expected, let actual) = error else {
        Issue.record("byte \(index): \(String(describing: error))")
        continue
      }
      #expect(expected == bitwiseCRC32C(good[21...]))
      #expect(actual == bitwiseCRC32C(bad[21...]))
      #expect(error?.errorCode == .corruptMessage)
    }
    var badCRC = HandBatch(records: sampleRecords)
    badCRC.crc = 0x1234_5678
    #expect(validationError(badCRC.bytes)?.errorCode == .corruptMessage)
  }

  @Test func oldAndUnknownMagic() {
    // A v1 message: offset, size, crc, magic 1, attributes, timestamp, key, value.
    var v1 = Wire()
    v1.int64(0)
    v1.int32(4 + 1 + 1 + 8 + 4 + 4 + 3)
    v1.uint32(0)
    v1.int8(1)
    v1.int8(0)
    v1.int64(1_700_000_000_000)
    v1.int32(-1)
    v1.int32(3)
    v1.raw([1, 2, 3])
    let v1Error = validationError(v1.bytes)
    #expect(v1Error == .unsupportedMagic(1))
    #expect(v1Error?.errorCode == .unsupportedForMessageFormat)

    var v0 = v1.bytes
    v0[16] = 0
    #expect(validationError(v0)?.errorCode == .unsupportedForMessageFormat)

    var v3 = HandBatch(records: sampleRecords)
    v3.magic = 3
    #expect(validationError(v3.bytes) == .unsupportedMagic(3))
    #expect(validationError(v3.bytes)?.errorCode == .corruptMessage)
  }

  @Test func implausibleLengthIsCorrupt() {
    var bytes = HandBatch(records: sampleRecords).bytes
    bytes.replaceSubrange(8..<12, with: [0, 0, 0, 48])
    #expect(validationError(bytes) == .invalidLength(48))
    bytes.replaceSubrange(8..<12, with: [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(validationError(bytes) == .invalidLength(-1))
    #expect(validationError(bytes)?.errorCode == .corruptMessage)
  }

  @Test func produceRulesFromKafkasLogValidator() {
    let records = Array(sampleRecords.prefix(2))
    let cases: [(String, HandBatch)] = [
      ("zero records", HandBatch(lastOffsetDelta: -1, recordCount: 0, records: [])),
      ("count without offsets", HandBatch(lastOffsetDelta: 0, records: records)),
      ("offsets without count", HandBatch(lastOffsetDelta: 2, records: records)),
      ("negative last offset delta", HandBatch(lastOffsetDelta: -2, records: records)),
      ("base offset not zero", HandBatch(baseOffset: 5, records: records)),
      ("control batch from a client", HandBatch(attributes: 0x20, records: records)),
      (
        "producer id without sequence", HandBatch(producerId: 1, producerEpoch: 0, records: records)
      ),
      ("LogAppendTime from a producer", HandBatch(attributes: 0x08, records: records)),
      ("unknown compression codec", HandBatch(attributes: 0x05, records: records)),
    ]
    for (name, batch) in cases {
      let error = validationError(batch.bytes)
      #expect(isInvalidRecord(error), "\(name): \(String(describing: error))")
      #expect(error?.errorCode == .invalidRecord, "\(name)")
    }
    // The broker's own coordinators may write control batches.
    let control = HandBatch(attributes: 0x20, records: [sampleRecords[0]])
    #expect(validationError(control.bytes, origin: .coordinator) == nil)
    let summary = try? RecordBatchValidator.validate(buffer(control.bytes), origin: .coordinator)
    #expect(summary?.containsControl == true)
  }

  @Test func replicationAcceptsCompactedBatchesInOffsetOrder() throws {
    // Compaction left 1 record of an offset range of 5.
    var compacted = HandBatch(baseOffset: 100, lastOffsetDelta: 4, records: [sampleRecords[0]])
    compacted.maxTimestamp = 50
    let next = HandBatch(baseOffset: 105, records: Array(sampleRecords.prefix(2)))
    let summary = try RecordBatchValidator.validate(
      buffer(compacted.bytes + next.bytes), origin: .replication)
    #expect(summary.batchCount == 2)
    #expect(summary.recordCount == 7)
    #expect(summary.lastOffsetDelta == 6)
    #expect(summary.firstBatch.baseOffset == 100)
    #expect(summary.offsetDeltaOfMaxTimestamp == 6)

    #expect(isInvalidRecord(validationError(compacted.bytes)))
    let overlapping = HandBatch(baseOffset: 104, records: [sampleRecords[0]])
    #expect(
      isInvalidRecord(validationError(compacted.bytes + overlapping.bytes, origin: .replication)))
    let tooMany = HandBatch(lastOffsetDelta: 0, records: records2)
    #expect(isInvalidRecord(validationError(tooMany.bytes, origin: .replication)))
    let hostileBase = HandBatch(baseOffset: Int64.max, records: records2)
    #expect(isInvalidRecord(validationError(hostileBase.bytes, origin: .replication)))
  }

  private var records2: [HandRecord] { Array(sampleRecords.prefix(2)) }

  // MARK: offset assignment

  @Test func offsetAssignmentRewritesBaseOffsetsAndEpoch() throws {
    var first = HandBatch(records: sampleRecords)
    first.maxTimestamp = 2_000
    var second = HandBatch(records: records2)
    second.maxTimestamp = 1_000
    let original = first.bytes + second.bytes
    var data = buffer(original)
    _ = try RecordBatchValidator.validate(data)

    let result = try RecordBatchValidator.assignOffsets(
      in: &data, firstOffset: 1_000, partitionLeaderEpoch: 7)
    #expect(result.firstOffset == 1_000)
    #expect(result.lastOffset == 1_004)
    #expect(result.nextOffset == 1_005)
    #expect(result.maxTimestamp == 2_000)
    #expect(result.offsetOfMaxTimestamp == 1_002)

    var iterator = RecordBatchIterator(data)
    let a = try #require(try iterator.next())
    let b = try #require(try iterator.next())
    #expect(a.header.baseOffset == 1_000)
    #expect(b.header.baseOffset == 1_003)
    #expect(a.header.partitionLeaderEpoch == 7)
    #expect(b.header.partitionLeaderEpoch == 7)
    #expect(a.isChecksumValid && b.isChecksumValid)
    #expect(a.header.crc == first.bytes.batchCRCField)
    #expect(try allRecords(b).map { b.offset(of: $0) } == [1_003, 1_004])

    // Only base offset and leader epoch changed, nothing the CRC covers.
    let rewritten = Array(data.readableBytesView)
    let secondStart = first.bytes.count
    for index in original.indices {
      let inHeader = index < secondStart ? index : index - secondStart
      if inHeader < 8 || (12..<16).contains(inHeader) { continue }
      #expect(rewritten[index] == original[index], "byte \(index)")
    }
    // The rewritten buffer is what a follower would receive.
    let replicated = try RecordBatchValidator.validate(data, origin: .replication)
    #expect(replicated.lastOffsetDelta == 4)
  }

  @Test func logAppendTimeSetsAttributeAndMaxTimestampAndCRC() throws {
    let hand = HandBatch(records: sampleRecords)
    let second = HandBatch(records: records2)
    var data = buffer(hand.bytes + second.bytes)
    let appendTime: Int64 = 1_800_000_000_123

    let result = try RecordBatchValidator.assignOffsets(
      in: &data, firstOffset: 50, partitionLeaderEpoch: 3, logAppendTime: appendTime)
    #expect(result.lastOffset == 54)
    #expect(result.maxTimestamp == appendTime)
    #expect(result.offsetOfMaxTimestamp == 54)

    // What the batch must look like, written independently by hand.
    var expected = hand
    expected.baseOffset = 50
    expected.partitionLeaderEpoch = 3
    expected.attributes = 0x08
    expected.maxTimestamp = appendTime
    let batch = try RecordBatch(data)
    #expect(bytes(batch.bytes) == expected.bytes)
    #expect(batch.header.crc != hand.bytes.batchCRCField)
    #expect(batch.isChecksumValid)
    #expect(batch.header.attributes.timestampType == .logAppendTime)
    #expect(batch.header.baseTimestamp == hand.baseTimestamp)
    for record in try allRecords(batch) {
      #expect(batch.timestamp(of: record) == appendTime)
    }
    var iterator = RecordBatchIterator(data)
    _ = try iterator.next()
    let b = try #require(try iterator.next())
    #expect(b.header.baseOffset == 53)
    #expect(b.isChecksumValid)
  }

  @Test func offsetAssignmentOnASliceWithReaderIndex() throws {
    let hand = HandBatch(records: sampleRecords).bytes
    var data = buffer([1, 2, 3] + hand)
    data.moveReaderIndex(forwardBy: 3)
    let result = try RecordBatchValidator.assignOffsets(
      in: &data, firstOffset: 9, partitionLeaderEpoch: 1, logAppendTime: 5)
    #expect(result.lastOffset == 11)
    let batch = try RecordBatch(data)
    #expect(batch.header.baseOffset == 9)
    #expect(batch.isChecksumValid)
    var whole = data
    whole.moveReaderIndex(to: 0)
    #expect(whole.getBytes(at: 0, length: 3) == [1, 2, 3])
  }

  @Test func offsetAssignmentOfNothingAndOfGarbage() throws {
    var empty = ByteBuffer()
    let none = try RecordBatchValidator.assignOffsets(
      in: &empty, firstOffset: 10, partitionLeaderEpoch: 0)
    #expect(none.lastOffset == 9)
    #expect(none.nextOffset == 10)
    #expect(none.offsetOfMaxTimestamp == -1)

    var cut = buffer(Array(HandBatch(records: sampleRecords).bytes.dropLast()))
    #expect(throws: RecordBatchError.truncated) {
      try RecordBatchValidator.assignOffsets(in: &cut, firstOffset: 0, partitionLeaderEpoch: 0)
    }
  }

  // MARK: builder

  @Test func builderMatchesHandBuiltBytes() throws {
    var builder = RecordBatchBuilder()
    for record in sampleRecords {
      builder.append(
        key: record.key.map(buffer), value: record.value.map(buffer),
        headers: record.headers.map { RecordHeader(key: $0.key, value: $0.value.map(buffer)) },
        timestamp: 1_700_000_000_000 + record.timestampDelta)
    }
    #expect(builder.recordCount == 3)
    let expected = HandBatch(records: sampleRecords).bytes
    #expect(builder.sizeInBytes == expected.count)
    let built = builder.build()
    #expect(bytes(built) == expected)
  }

  @Test func builderProducerFieldsAndRoundTrip() throws {
    var builder = RecordBatchBuilder(
      producerId: 123_456, producerEpoch: 9, baseSequence: 1_000, isTransactional: true,
      initialCapacity: 16)
    var rng = RecordTestRNG(seed: 99)
    var expected: [(key: [UInt8]?, value: [UInt8]?, timestamp: Int64)] = []
    for index in 0..<300 {
      let key: [UInt8]? = index % 5 == 0 ? nil : rng.bytes(index % 40)
      let value: [UInt8]? = index % 7 == 0 ? nil : rng.bytes(index * 3 % 500)
      let timestamp = 1_700_000_000_000 + Int64(index % 13) * 1_000 - 500
      expected.append((key, value, timestamp))
      builder.append(
        key: key.map(buffer), value: value.map(buffer),
        headers: index % 3 == 0
          ? [RecordHeader(key: "i", value: buffer([UInt8(index % 256)]))] : [],
        timestamp: timestamp)
    }
    let built = builder.build()

    let summary = try RecordBatchValidator.validate(built, requireSingleBatch: true)
    #expect(summary.recordCount == 300)
    #expect(summary.producerId == 123_456)
    #expect(summary.producerEpoch == 9)
    #expect(summary.baseSequence == 1_000)
    #expect(summary.containsTransactional)
    #expect(summary.maxTimestamp == expected.map(\.timestamp).max())
    #expect(summary.byteCount == built.readableBytes)

    let batch = try RecordBatch(built)
    #expect(batch.header.baseTimestamp == expected[0].timestamp)
    #expect(bitwiseCRC32C(Array(built.readableBytesView)[21...]) == batch.header.crc)
    let records = try allRecords(batch)
    #expect(records.count == 300)
    for (index, record) in records.enumerated() {
      #expect(record.offsetDelta == Int32(index))
      #expect(bytes(record.key) == expected[index].key)
      #expect(bytes(record.value) == expected[index].value)
      #expect(batch.timestamp(of: record) == expected[index].timestamp)
      #expect(record.headers.count == (index % 3 == 0 ? 1 : 0))
    }
  }

  @Test func builderControlBatchAndEmptyBuild() throws {
    var control = RecordBatchBuilder(producerId: 5, producerEpoch: 0, isControl: true)
    control.isTransactional = true
    control.append(key: buffer([0, 0, 0, 1]), value: buffer([0, 0, 0, 0, 0, 0]), timestamp: 10)
    let built = control.build()
    let header = try RecordBatchHeader(peeking: built, at: built.readerIndex)
    #expect(header.attributes.isControl)
    #expect(header.attributes.isTransactional)
    #expect(isInvalidRecord(validationError(Array(built.readableBytesView))))
    #expect(validationError(Array(built.readableBytesView), origin: .coordinator) == nil)

    #expect(RecordBatchBuilder().build().readableBytes == 0)
  }

  // MARK: robustness

  /// Random bytes, and valid batches with random bytes changed (CRC fixed up so the damage
  /// reaches the record parser), must throw or succeed, never trap.
  @Test func garbageNeverTraps() {
    var rng = RecordTestRNG(seed: 0xBAD)
    for round in 0..<2_000 {
      var data: [UInt8]
      if round % 2 == 0 {
        let count = Int.random(in: 0..<200, using: &rng)
        data = rng.bytes(count)
        if data.count > 16, round % 4 == 0 { data[16] = 2 }
      } else {
        data = HandBatch(records: sampleRecords).bytes
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
          let index = Int.random(in: 61..<data.count, using: &rng)
          data[index] = UInt8.random(in: 0...255, using: &rng)
        }
        let crc = bitwiseCRC32C(data[21...])
        data.replaceSubrange(17..<21, with: withUnsafeBytes(of: crc.bigEndian) { Array($0) })
      }
      _ = try? RecordBatchValidator.validate(buffer(data))
      _ = try? RecordBatchValidator.validate(buffer(data), origin: .replication)
      var iterator = RecordBatchIterator(buffer(data), allowsPartialTrailingBatch: round % 3 == 0)
      while let batch = try? iterator.next() {
        _ = try? allRecords(batch)
      }
      _ = try? allRecords(records: data, count: Int32(round % 5))
      var mutable = buffer(data)
      _ = try? RecordBatchValidator.assignOffsets(
        in: &mutable, firstOffset: 0, partitionLeaderEpoch: 0, logAppendTime: 1)
    }
  }
}

extension [UInt8] {
  /// The big-endian `crc` field of a batch's bytes.
  fileprivate var batchCRCField: UInt32 {
    self[17..<21].reduce(0) { $0 << 8 | UInt32($1) }
  }
}
