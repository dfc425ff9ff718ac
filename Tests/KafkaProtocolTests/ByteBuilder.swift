import NIOCore

/// Builds expected wire bytes by hand, following Kafka's protocol guide
/// (https://kafka.apache.org/protocol#protocol_types), without using the `ByteBuffer` Kafka
/// extensions under test. Every integer is split into bytes here with shifts, big-endian.
struct ByteBuilder {
  private(set) var output: [UInt8] = []

  init() {}

  init(_ build: (inout ByteBuilder) -> Void) {
    build(&self)
  }

  /// The bytes as a `ByteBuffer`, to decode from.
  var buffer: ByteBuffer { ByteBuffer(bytes: output) }

  var count: Int { output.count }

  // MARK: raw and fixed width

  mutating func raw(_ bytes: [UInt8]) {
    output += bytes
  }

  /// Bytes written as hex, e.g. "00 12 ff"; spaces are ignored.
  mutating func hex(_ text: String) {
    let digits = Array(text.filter { !$0.isWhitespace })
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(text)")
    var i = 0
    while i < digits.count {
      output.append(UInt8(String(digits[i..<i + 2]), radix: 16)!)
      i += 2
    }
  }

  private mutating func bigEndian(_ value: UInt64, width: Int) {
    for i in stride(from: width - 1, through: 0, by: -1) {
      output.append(UInt8((value >> UInt64(8 * i)) & 0xFF))
    }
  }

  /// BOOLEAN: one byte, 0 or 1.
  mutating func bool(_ value: Bool) {
    output.append(value ? 1 : 0)
  }

  /// INT8.
  mutating func int8(_ value: Int8) {
    output.append(UInt8(bitPattern: value))
  }

  /// INT16, big-endian.
  mutating func int16(_ value: Int16) {
    bigEndian(UInt64(UInt16(bitPattern: value)), width: 2)
  }

  /// UINT16, big-endian.
  mutating func uint16(_ value: UInt16) {
    bigEndian(UInt64(value), width: 2)
  }

  /// INT32, big-endian.
  mutating func int32(_ value: Int32) {
    bigEndian(UInt64(UInt32(bitPattern: value)), width: 4)
  }

  /// UINT32, big-endian.
  mutating func uint32(_ value: UInt32) {
    bigEndian(UInt64(value), width: 4)
  }

  /// INT64, big-endian.
  mutating func int64(_ value: Int64) {
    bigEndian(UInt64(bitPattern: value), width: 8)
  }

  /// FLOAT64: IEEE 754 binary64, big-endian.
  mutating func float64(_ value: Double) {
    bigEndian(value.bitPattern, width: 8)
  }

  /// UUID: 16 bytes, most significant first.
  mutating func uuid(high: UInt64, low: UInt64) {
    bigEndian(high, width: 8)
    bigEndian(low, width: 8)
  }

  // MARK: varints

  /// UNSIGNED_VARINT / unsigned varlong: 7 bits a byte, least significant group first, high bit
  /// set on every byte but the last.
  mutating func uvarint(_ value: UInt64) {
    var rest = value
    repeat {
      var byte = UInt8(rest & 0x7F)
      rest >>= 7
      if rest != 0 { byte |= 0x80 }
      output.append(byte)
    } while rest != 0
  }

  /// VARINT / VARLONG: zigzag (0, -1, 1, -2, ... map to 0, 1, 2, 3, ...) then unsigned varint.
  /// Int32 values give the same bytes through this 64-bit form.
  mutating func varint(_ value: Int64) {
    let zigzag: UInt64 = value < 0 ? UInt64(-(value + 1)) * 2 + 1 : UInt64(value) * 2
    uvarint(zigzag)
  }

  // MARK: strings, bytes, arrays

  /// STRING / NULLABLE_STRING: INT16 length (-1 for null), then UTF-8.
  mutating func string(_ value: String?) {
    guard let value else {
      int16(-1)
      return
    }
    let utf8 = Array(value.utf8)
    int16(Int16(utf8.count))
    raw(utf8)
  }

  /// COMPACT_STRING / COMPACT_NULLABLE_STRING: unsigned varint length + 1 (0 for null), then UTF-8.
  mutating func compactString(_ value: String?) {
    guard let value else {
      uvarint(0)
      return
    }
    let utf8 = Array(value.utf8)
    uvarint(UInt64(utf8.count) + 1)
    raw(utf8)
  }

  /// BYTES / NULLABLE_BYTES (and RECORDS in non-flexible versions): INT32 length (-1 for null).
  mutating func kafkaBytes(_ value: [UInt8]?) {
    guard let value else {
      int32(-1)
      return
    }
    int32(Int32(value.count))
    raw(value)
  }

  /// COMPACT_BYTES / COMPACT_NULLABLE_BYTES (and COMPACT_RECORDS): unsigned varint length + 1.
  mutating func compactKafkaBytes(_ value: [UInt8]?) {
    guard let value else {
      uvarint(0)
      return
    }
    uvarint(UInt64(value.count) + 1)
    raw(value)
  }

  /// ARRAY / NULLABLE ARRAY count: INT32 (-1 for null).
  mutating func arrayLength(_ count: Int?) {
    int32(count.map { Int32($0) } ?? -1)
  }

  /// COMPACT_ARRAY count: unsigned varint count + 1 (0 for null).
  mutating func compactArrayLength(_ count: Int?) {
    uvarint(count.map { UInt64($0) + 1 } ?? 0)
  }

  /// Classic ARRAY of INT32.
  mutating func int32Array(_ values: [Int32]) {
    arrayLength(values.count)
    for v in values { int32(v) }
  }

  /// COMPACT_ARRAY of INT32.
  mutating func compactInt32Array(_ values: [Int32]) {
    compactArrayLength(values.count)
    for v in values { int32(v) }
  }

  // MARK: tagged fields

  /// An empty tagged-field section (TAG_BUFFER with no fields): a single 0 count.
  mutating func noTags() {
    uvarint(0)
  }

  /// A TAG_BUFFER: field count, then for each field its tag, payload size and payload, all sizes
  /// as unsigned varints.
  mutating func taggedFields(_ fields: [(tag: UInt32, payload: [UInt8])]) {
    uvarint(UInt64(fields.count))
    for field in fields {
      uvarint(UInt64(field.tag))
      uvarint(UInt64(field.payload.count))
      raw(field.payload)
    }
  }

  /// Bytes as spaced hex, for failure messages.
  static func hexDump(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return bytes.map { "\(digits[Int($0 >> 4)])\(digits[Int($0 & 0xF)])" }.joined(separator: " ")
  }
}
