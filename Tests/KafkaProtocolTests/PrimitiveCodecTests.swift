import NIOCore
import Testing

@testable import KafkaProtocol

/// Kafka's primitive types (https://kafka.apache.org/protocol#protocol_types) on `ByteBuffer`,
/// checked against encodings written out by hand or built with `ByteBuilder`.
@Suite struct PrimitiveCodecTests {
  static func written(_ body: (inout ByteBuffer) -> Void) -> [UInt8] {
    var buffer = ByteBuffer()
    body(&buffer)
    return Array(buffer.readableBytesView)
  }

  // MARK: unsigned varints

  /// UNSIGNED_VARINT encodings, written out by hand from the LEB128 rule.
  static let unsignedVarints: [(UInt32, [UInt8])] = [
    (0, [0x00]),
    (1, [0x01]),
    (127, [0x7F]),
    (128, [0x80, 0x01]),
    (300, [0xAC, 0x02]),
    (16_383, [0xFF, 0x7F]),
    (16_384, [0x80, 0x80, 0x01]),
    (2_097_151, [0xFF, 0xFF, 0x7F]),
    (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    (268_435_456, [0x80, 0x80, 0x80, 0x80, 0x01]),
    (UInt32(Int32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x07]),
    (UInt32.max, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
  ]

  @Test(arguments: unsignedVarints)
  func unsignedVarint(value: UInt32, bytes: [UInt8]) throws {
    #expect(Self.written { $0.writeUnsignedVarint(value) } == bytes)
    #expect(ByteBuilder { $0.uvarint(UInt64(value)) }.output == bytes)
    #expect(ByteBuffer.unsignedVarintSize(UInt64(value)) == bytes.count)
    var buffer = ByteBuffer(bytes: bytes + [0xAA])
    #expect(try buffer.readUnsignedVarint() == value)
    #expect(buffer.readableBytes == 1)
  }

  static let unsignedVarlongs: [(UInt64, [UInt8])] = [
    (0, [0x00]),
    (1, [0x01]),
    (127, [0x7F]),
    (128, [0x80, 0x01]),
    (UInt64(UInt32.max), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    (UInt64(UInt32.max) + 1, [0x80, 0x80, 0x80, 0x80, 0x10]),
    (UInt64(Int64.max), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),
    (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
  ]

  @Test(arguments: unsignedVarlongs)
  func unsignedVarlong(value: UInt64, bytes: [UInt8]) throws {
    #expect(Self.written { $0.writeUnsignedVarlong(value) } == bytes)
    #expect(ByteBuilder { $0.uvarint(value) }.output == bytes)
    #expect(ByteBuffer.unsignedVarintSize(value) == bytes.count)
    var buffer = ByteBuffer(bytes: bytes)
    #expect(try buffer.readUnsignedVarlong() == value)
    #expect(buffer.readableBytes == 0)
  }

  // MARK: zigzag varints

  /// VARINT (zigzag) encodings: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
  static let varints: [(Int32, [UInt8])] = [
    (0, [0x00]),
    (-1, [0x01]),
    (1, [0x02]),
    (-64, [0x7F]),
    (63, [0x7E]),
    (64, [0x80, 0x01]),
    (127, [0xFE, 0x01]),
    (128, [0x80, 0x02]),
    (-128, [0xFF, 0x01]),
    (300, [0xD8, 0x04]),
    (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
    (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
  ]

  @Test(arguments: varints)
  func zigzagVarint(value: Int32, bytes: [UInt8]) throws {
    #expect(Self.written { $0.writeVarint(value) } == bytes)
    #expect(ByteBuilder { $0.varint(Int64(value)) }.output == bytes)
    #expect(ByteBuffer.varintSize(value) == bytes.count)
    var buffer = ByteBuffer(bytes: bytes)
    #expect(try buffer.readVarint() == value)
    #expect(buffer.readableBytes == 0)
  }

  static let varlongs: [(Int64, [UInt8])] = [
    (0, [0x00]),
    (-1, [0x01]),
    (1, [0x02]),
    (127, [0xFE, 0x01]),
    (128, [0x80, 0x02]),
    (Int64(Int32.max), [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]),
    (Int64(Int32.min), [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    (Int64(Int32.max) + 1, [0x80, 0x80, 0x80, 0x80, 0x10]),
    // A typical millisecond timestamp, 1700000000000.
    (1_700_000_000_000, [0x80, 0xA0, 0xAB, 0xFE, 0xF9, 0x62]),
    (Int64.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
    (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
  ]

  @Test(arguments: varlongs)
  func zigzagVarlong(value: Int64, bytes: [UInt8]) throws {
    #expect(Self.written { $0.writeVarlong(value) } == bytes)
    #expect(ByteBuilder { $0.varint(value) }.output == bytes)
    #expect(ByteBuffer.varlongSize(value) == bytes.count)
    var buffer = ByteBuffer(bytes: bytes)
    #expect(try buffer.readVarlong() == value)
    #expect(buffer.readableBytes == 0)
  }

  @Test func malformedVarintsThrow() {
    // Six bytes: longer than any 32-bit varint.
    var tooLong = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
    #expect(throws: DecodeError.invalidVarint) { _ = try tooLong.readUnsignedVarint() }
    var tooLongSigned = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x00])
    #expect(throws: DecodeError.invalidVarint) { _ = try tooLongSigned.readVarint() }
    // Eleven bytes: longer than any 64-bit varlong.
    var tooLongLong = ByteBuffer(bytes: Array(repeating: 0xFF, count: 10) + [0x01])
    #expect(throws: DecodeError.invalidVarint) { _ = try tooLongLong.readUnsignedVarlong() }
    var tooLongLongSigned = ByteBuffer(bytes: Array(repeating: 0x80, count: 10) + [0x00])
    #expect(throws: DecodeError.invalidVarint) { _ = try tooLongLongSigned.readVarlong() }
    // A continuation bit on the last byte with nothing after it.
    var cut = ByteBuffer(bytes: [0x80, 0x80])
    #expect(throws: DecodeError.truncated) { _ = try cut.readUnsignedVarint() }
    var cutLong = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF])
    #expect(throws: DecodeError.truncated) { _ = try cutLong.readVarlong() }
    var empty = ByteBuffer()
    #expect(throws: DecodeError.truncated) { _ = try empty.readUnsignedVarint() }
  }

  // MARK: fixed width

  @Test func fixedWidthIntegersAreBigEndian() throws {
    let expected = ByteBuilder {
      $0.int8(-2)
      $0.int16(0x0102)
      $0.uint16(0xFEDC)
      $0.int32(-2)
      $0.uint32(0x8000_0001)
      $0.int64(0x0102_0304_0506_0708)
      $0.bool(true)
      $0.bool(false)
      $0.float64(1.5)
    }
    #expect(
      expected.output == [
        0xFE, 0x01, 0x02, 0xFE, 0xDC, 0xFF, 0xFF, 0xFF, 0xFE, 0x80, 0x00, 0x00, 0x01,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x01, 0x00,
        0x3F, 0xF8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      ])
    let actual = Self.written {
      $0.writeInteger(Int8(-2))
      $0.writeInteger(Int16(0x0102))
      $0.writeInteger(UInt16(0xFEDC))
      $0.writeInteger(Int32(-2))
      $0.writeInteger(UInt32(0x8000_0001))
      $0.writeInteger(Int64(0x0102_0304_0506_0708))
      $0.writeKafkaBool(true)
      $0.writeKafkaBool(false)
      $0.writeKafkaFloat64(1.5)
    }
    #expect(actual == expected.output)

    var buffer = expected.buffer
    #expect(try buffer.readKafka(Int8.self) == -2)
    #expect(try buffer.readKafka(Int16.self) == 0x0102)
    #expect(try buffer.readKafka(UInt16.self) == 0xFEDC)
    #expect(try buffer.readKafka(Int32.self) == -2)
    #expect(try buffer.readKafka(UInt32.self) == 0x8000_0001)
    #expect(try buffer.readKafka(Int64.self) == 0x0102_0304_0506_0708)
    #expect(try buffer.readKafkaBool() == true)
    #expect(try buffer.readKafkaBool() == false)
    #expect(try buffer.readKafkaFloat64() == 1.5)
    #expect(buffer.readableBytes == 0)
    #expect(throws: DecodeError.truncated) { _ = try buffer.readKafka(Int8.self) }

    var short = ByteBuffer(bytes: [0x00, 0x00, 0x01])
    #expect(throws: DecodeError.truncated) { _ = try short.readKafka(Int32.self) }
    // Any non-zero byte reads as true.
    var nonZero = ByteBuffer(bytes: [0x02])
    #expect(try nonZero.readKafkaBool() == true)
  }

  // MARK: strings

  static let strings: [String?] = [
    nil, "", "kafka", "héllo wörld ✓", String(repeating: "x", count: 300),
  ]

  @Test(arguments: strings)
  func classicString(value: String?) throws {
    let expected = ByteBuilder { $0.string(value) }
    #expect(Self.written { $0.writeKafkaString(value, compact: false) } == expected.output)
    var buffer = expected.buffer
    #expect(try buffer.readKafkaNullableString(compact: false) == value)
    #expect(buffer.readableBytes == 0)
    if value != nil {
      var again = expected.buffer
      #expect(try again.readKafkaString(compact: false) == value)
    }
  }

  @Test(arguments: strings)
  func compactString(value: String?) throws {
    let expected = ByteBuilder { $0.compactString(value) }
    #expect(Self.written { $0.writeKafkaString(value, compact: true) } == expected.output)
    var buffer = expected.buffer
    #expect(try buffer.readKafkaNullableString(compact: true) == value)
    #expect(buffer.readableBytes == 0)
  }

  @Test func stringEncodingsByHand() {
    // STRING: INT16 length then UTF-8; COMPACT_STRING: unsigned varint length + 1.
    #expect(
      Self.written { $0.writeKafkaString("kafka", compact: false) } == [
        0x00, 0x05, 0x6B, 0x61, 0x66, 0x6B, 0x61,
      ])
    #expect(
      Self.written { $0.writeKafkaString("kafka", compact: true) } == [
        0x06, 0x6B, 0x61, 0x66, 0x6B, 0x61,
      ])
    #expect(Self.written { $0.writeKafkaString(nil, compact: false) } == [0xFF, 0xFF])
    #expect(Self.written { $0.writeKafkaString(nil, compact: true) } == [0x00])
    #expect(Self.written { $0.writeKafkaString("", compact: false) } == [0x00, 0x00])
    #expect(Self.written { $0.writeKafkaString("", compact: true) } == [0x01])
    // Lengths count UTF-8 bytes, not characters: "é" is two bytes.
    #expect(Self.written { $0.writeKafkaString("é", compact: true) } == [0x03, 0xC3, 0xA9])
    // A 127-byte compact string needs a two-byte length (128 = 0x80 0x01).
    let long = Self.written {
      $0.writeKafkaString(String(repeating: "a", count: 127), compact: true)
    }
    #expect(Array(long.prefix(2)) == [0x80, 0x01])
    #expect(long.count == 129)
  }

  @Test func nullAndBadStringLengths() {
    var classicNull = ByteBuffer(bytes: [0xFF, 0xFF])
    #expect(throws: DecodeError.nullNotAllowed("Name")) {
      _ = try classicNull.readKafkaString(compact: false, field: "Name")
    }
    var compactNull = ByteBuffer(bytes: [0x00])
    #expect(throws: DecodeError.nullNotAllowed("string")) {
      _ = try compactNull.readKafkaString(compact: true)
    }
    var negative = ByteBuffer(bytes: [0xFF, 0xFE, 0x61])
    #expect(throws: DecodeError.invalidLength(-2)) {
      _ = try negative.readKafkaNullableString(compact: false)
    }
    var long = ByteBuffer(bytes: [0x7F, 0xFF, 0x61, 0x62])
    #expect(throws: DecodeError.truncated) { _ = try long.readKafkaNullableString(compact: false) }
    var compactLong = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x61])
    #expect(throws: DecodeError.truncated) {
      _ = try compactLong.readKafkaNullableString(compact: true)
    }
    var cutLength = ByteBuffer(bytes: [0x00])
    #expect(throws: DecodeError.truncated) {
      _ = try cutLength.readKafkaNullableString(compact: false)
    }
  }

  // MARK: bytes

  static let byteValues: [[UInt8]?] = [nil, [], [0x01, 0x02, 0x03], Array(0...255)]

  @Test(arguments: byteValues)
  func classicBytes(value: [UInt8]?) throws {
    let expected = ByteBuilder { $0.kafkaBytes(value) }
    let buffer = value.map { ByteBuffer(bytes: $0) }
    #expect(Self.written { $0.writeKafkaBytes(buffer, compact: false) } == expected.output)
    var input = expected.buffer
    #expect(try input.readKafkaNullableBytes(compact: false) == buffer)
    #expect(input.readableBytes == 0)
  }

  @Test(arguments: byteValues)
  func compactBytes(value: [UInt8]?) throws {
    let expected = ByteBuilder { $0.compactKafkaBytes(value) }
    let buffer = value.map { ByteBuffer(bytes: $0) }
    #expect(Self.written { $0.writeKafkaBytes(buffer, compact: true) } == expected.output)
    var input = expected.buffer
    #expect(try input.readKafkaNullableBytes(compact: true) == buffer)
    #expect(input.readableBytes == 0)
  }

  @Test func bytesEncodingsByHand() throws {
    let three = ByteBuffer(bytes: [0x01, 0x02, 0x03])
    #expect(
      Self.written { $0.writeKafkaBytes(three, compact: false) } == [
        0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03,
      ])
    #expect(Self.written { $0.writeKafkaBytes(three, compact: true) } == [0x04, 0x01, 0x02, 0x03])
    #expect(Self.written { $0.writeKafkaBytes(nil, compact: false) } == [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(Self.written { $0.writeKafkaBytes(nil, compact: true) } == [0x00])

    // Writing does not consume the caller's buffer.
    let source = ByteBuffer(bytes: [0x09])
    _ = Self.written { $0.writeKafkaBytes(source, compact: true) }
    #expect(source.readableBytes == 1)

    var null = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(throws: DecodeError.nullNotAllowed("Records")) {
      _ = try null.readKafkaBytes(compact: false, field: "Records")
    }
    var hostile = ByteBuffer(bytes: [0x7F, 0xFF, 0xFF, 0xFF, 0x00])
    #expect(throws: DecodeError.truncated) {
      _ = try hostile.readKafkaNullableBytes(compact: false)
    }
    var negative = ByteBuffer(bytes: [0x80, 0x00, 0x00, 0x00])
    #expect(throws: DecodeError.invalidLength(Int(Int32.min))) {
      _ = try negative.readKafkaNullableBytes(compact: false)
    }
  }

  @Test func bytesAreReadAsASliceOfTheInput() throws {
    var input = ByteBuilder {
      $0.kafkaBytes(Array(repeating: 0xAB, count: 64))
      $0.int8(7)
    }.buffer
    let slice = try #require(try input.readKafkaNullableBytes(compact: false))
    #expect(slice.readableBytes == 64)
    #expect(try input.readKafka(Int8.self) == 7)
    let inside = input.withVeryUnsafeBytes { storage in
      slice.withUnsafeReadableBytes { bytes in
        let start = UnsafeRawPointer(storage.baseAddress!)
        let base = UnsafeRawPointer(bytes.baseAddress!)
        return base >= start && base + bytes.count <= start + storage.count
      }
    }
    #expect(inside, "the bytes should share storage with the input buffer, not be copied")
  }

  // MARK: arrays

  @Test func arrayLengths() throws {
    #expect(Self.written { $0.writeKafkaArrayLength(3, compact: false) } == [0, 0, 0, 3])
    #expect(
      Self.written { $0.writeKafkaArrayLength(nil, compact: false) } == [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(Self.written { $0.writeKafkaArrayLength(3, compact: true) } == [0x04])
    #expect(Self.written { $0.writeKafkaArrayLength(0, compact: true) } == [0x01])
    #expect(Self.written { $0.writeKafkaArrayLength(nil, compact: true) } == [0x00])
    #expect(Self.written { $0.writeKafkaArrayLength(200, compact: true) } == [0xC9, 0x01])

    var classic = ByteBuffer(bytes: [0, 0, 0, 2, 0xAA, 0xBB])
    #expect(try classic.readKafkaArrayLength(compact: false) == 2)
    var classicNull = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
    #expect(try classicNull.readKafkaArrayLength(compact: false) == nil)
    var compact = ByteBuffer(bytes: [0x03, 0xAA, 0xBB])
    #expect(try compact.readKafkaArrayLength(compact: true) == 2)
    var compactNull = ByteBuffer(bytes: [0x00])
    #expect(try compactNull.readKafkaArrayLength(compact: true) == nil)
    var compactEmpty = ByteBuffer(bytes: [0x01])
    #expect(try compactEmpty.readKafkaArrayLength(compact: true) == 0)
  }

  @Test func hostileArrayLengthsThrowInsteadOfAllocating() {
    // Int32.max elements announced, a handful of bytes present.
    var classic = ByteBuilder {
      $0.int32(Int32.max)
      $0.raw([0, 0, 0, 1])
    }.buffer
    #expect(throws: DecodeError.truncated) { _ = try classic.readKafkaArrayLength(compact: false) }
    // The largest unsigned varint: 4294967294 elements.
    var compact = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00])
    #expect(throws: DecodeError.truncated) { _ = try compact.readKafkaArrayLength(compact: true) }
    // More elements than bytes left (each element takes at least one byte).
    var justOver = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x03, 0x01, 0x02])
    #expect(throws: DecodeError.truncated) { _ = try justOver.readKafkaArrayLength(compact: false) }
    var negative = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFE])
    #expect(throws: DecodeError.invalidLength(-2)) {
      _ = try negative.readKafkaArrayLength(compact: false)
    }
    var minimum = ByteBuffer(bytes: [0x80, 0x00, 0x00, 0x00])
    #expect(throws: DecodeError.invalidLength(Int(Int32.min))) {
      _ = try minimum.readKafkaArrayLength(compact: false)
    }
    var cut = ByteBuffer(bytes: [0x00, 0x00])
    #expect(throws: DecodeError.truncated) { _ = try cut.readKafkaArrayLength(compact: false) }
  }

  @Test func hostileLengthsInsideGeneratedMessages() {
    // MetadataResponse v0 announcing Int32.max brokers.
    var brokers = ByteBuilder {
      $0.int32(Int32.max)
      $0.int32(1)
    }.buffer
    #expect(throws: DecodeError.truncated) { _ = try MetadataResponse(from: &brokers, version: 0) }
    // A v12 (flexible) MetadataResponse whose brokers compact array claims 2^32-2 entries.
    var compact = ByteBuilder {
      $0.int32(0)
      $0.uvarint(UInt64(UInt32.max))
      $0.int32(1)
    }.buffer
    #expect(throws: DecodeError.truncated) { _ = try MetadataResponse(from: &compact, version: 12) }
    // A FetchRequest v12 topic name claiming 32767 bytes with 3 present.
    var name = ByteBuilder {
      $0.int32(-1)
      $0.int32(500)
      $0.int32(1)
      $0.int32(1_048_576)
      $0.int8(0)
      $0.int32(0)
      $0.int32(-1)
      $0.compactArrayLength(1)
      $0.uvarint(32_768)
      $0.raw([0x61, 0x62, 0x63])
    }.buffer
    #expect(throws: DecodeError.truncated) { _ = try FetchRequest(from: &name, version: 12) }
    // A ProduceRequest v3 records field claiming more bytes than are left.
    var records = ByteBuilder {
      $0.string(nil)
      $0.int16(1)
      $0.int32(1000)
      $0.arrayLength(1)
      $0.string("t")
      $0.arrayLength(1)
      $0.int32(0)
      $0.int32(Int32.max)
      $0.raw([0x00, 0x01])
    }.buffer
    #expect(throws: DecodeError.truncated) { _ = try ProduceRequest(from: &records, version: 3) }
  }

  // MARK: uuid

  @Test func uuidIsSixteenBigEndianBytes() throws {
    let id = KafkaUuid(high: 0x0001_0203_0405_0607, low: 0x0809_0A0B_0C0D_0E0F)
    let expected: [UInt8] = Array(0...15)
    #expect(Self.written { $0.writeKafkaUuid(id) } == expected)
    #expect(ByteBuilder { $0.uuid(high: id.high, low: id.low) }.output == expected)
    var buffer = ByteBuffer(bytes: expected)
    #expect(try buffer.readKafkaUuid() == id)
    var short = ByteBuffer(bytes: Array(0...14))
    #expect(throws: DecodeError.truncated) { _ = try short.readKafkaUuid() }
  }

  /// Kafka prints topic ids as URL-safe base64 without padding: 22 characters. The expected
  /// strings come from Python's `base64.urlsafe_b64encode(...).rstrip("=")`.
  static let uuidTexts: [(UInt64, UInt64, String)] = [
    (0, 0, "AAAAAAAAAAAAAAAAAAAAAA"),
    (0x0001_0203_0405_0607, 0x0809_0A0B_0C0D_0E0F, "AAECAwQFBgcICQoLDA0ODw"),
    (UInt64.max, UInt64.max, "_____________________w"),
    (0xFBEF_BE00_0000_0000, 0, "----AAAAAAAAAAAAAAAAAA"),
    (0x5C6E_2A1F_8B3D_4E09, 0xA7F1_C2D3_E4B5_A697, "XG4qH4s9Tgmn8cLT5LWmlw"),
  ]

  @Test(arguments: uuidTexts)
  func uuidBase64(high: UInt64, low: UInt64, text: String) throws {
    let id = KafkaUuid(high: high, low: low)
    #expect(id.description == text)
    #expect(text.count == 22)
    #expect(KafkaUuid(text) == id)
  }

  @Test func uuidParsing() {
    // The standard alphabet (+ and /) and padding are accepted too.
    #expect(KafkaUuid("++++AAAAAAAAAAAAAAAAAA==") == KafkaUuid(high: 0xFBEF_BE00_0000_0000, low: 0))
    #expect(KafkaUuid("/////////////////////w") == KafkaUuid(high: .max, low: .max))
    #expect(KafkaUuid("") == nil)
    #expect(KafkaUuid("AAAAAAAAAAAAAAAAAAAAA") == nil)
    #expect(KafkaUuid("AAAAAAAAAAAAAAAAAAAAAAA") == nil)
    #expect(KafkaUuid("AAAAAAAAAAAAAAAAAAAA!A") == nil)
    #expect(KafkaUuid.zero.description == "AAAAAAAAAAAAAAAAAAAAAA")
  }

  @Test func randomUuidsRoundTrip() {
    for _ in 0..<200 {
      let id = KafkaUuid.random()
      #expect(id != .zero)
      #expect(id.description.count == 22)
      #expect(!id.description.hasPrefix("-"))
      #expect(KafkaUuid(id.description) == id)
      // Version 4, IETF variant.
      #expect((id.high >> 12) & 0xF == 4)
      #expect(id.low >> 62 == 0b10)
    }
  }

  // MARK: tagged fields

  @Test func taggedFieldsAreSkippedOrHandedOver() throws {
    let section = ByteBuilder {
      $0.taggedFields([
        (tag: 0, payload: [0x01]),
        (tag: 5, payload: [0xAA, 0xBB, 0xCC]),
        (tag: 200, payload: []),
        (tag: 300, payload: Array(repeating: 0x11, count: 130)),
      ])
      $0.int32(0x0102_0304)
    }
    // Hand-checked prefix: count 4, tag 0 size 1, tag 5 size 3.
    #expect(
      Array(section.output.prefix(9)) == [0x04, 0x00, 0x01, 0x01, 0x05, 0x03, 0xAA, 0xBB, 0xCC])

    var skipping = section.buffer
    try skipping.readTaggedFields()
    #expect(try skipping.readKafka(Int32.self) == 0x0102_0304)
    #expect(skipping.readableBytes == 0)

    var seen: [(UInt32, [UInt8])] = []
    var reading = section.buffer
    try reading.readTaggedFields { tag, payload throws(DecodeError) in
      seen.append((tag, Array(payload.readableBytesView)))
    }
    #expect(seen.map(\.0) == [0, 5, 200, 300])
    #expect(seen[1].1 == [0xAA, 0xBB, 0xCC])
    #expect(seen[3].1.count == 130)
    #expect(try reading.readKafka(Int32.self) == 0x0102_0304)

    var empty = ByteBuffer(bytes: [0x00, 0x07])
    try empty.readTaggedFields()
    #expect(empty.readableBytes == 1)
  }

  @Test func malformedTaggedFieldsThrow() {
    var outOfOrder = ByteBuilder {
      $0.taggedFields([(tag: 3, payload: [0x00]), (tag: 1, payload: [0x00])])
    }.buffer
    #expect(throws: DecodeError.invalid("tagged fields out of order")) {
      try outOfOrder.readTaggedFields()
    }
    var duplicate = ByteBuilder {
      $0.taggedFields([(tag: 1, payload: [0x00]), (tag: 1, payload: [0x00])])
    }.buffer
    #expect(throws: DecodeError.invalid("tagged fields out of order")) {
      try duplicate.readTaggedFields()
    }
    // A payload size larger than what is left.
    var cut = ByteBuffer(bytes: [0x01, 0x00, 0x7F, 0x01, 0x02])
    #expect(throws: DecodeError.truncated) { try cut.readTaggedFields() }
    // More fields announced than present.
    var missing = ByteBuffer(bytes: [0x02, 0x00, 0x01, 0x01])
    #expect(throws: DecodeError.truncated) { try missing.readTaggedFields() }
  }

  @Test func writeTaggedField() {
    let actual = Self.written { buffer in
      buffer.writeTaggedField(tag: 2) { $0.writeInteger(Int64(-1)) }
      buffer.writeTaggedField(tag: 130) { $0.writeKafkaString("ab", compact: true) }
    }
    let expected = ByteBuilder {
      $0.uvarint(2)
      $0.uvarint(8)
      $0.int64(-1)
      $0.raw([0x82, 0x01])  // tag 130
      $0.uvarint(3)
      $0.compactString("ab")
    }
    #expect(actual == expected.output)
  }
}
