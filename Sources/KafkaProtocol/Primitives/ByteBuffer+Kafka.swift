import NIOCore

// Kafka's primitive types on ByteBuffer: fixed-width big-endian integers, (zigzag) varints,
// classic and compact (flexible-version) strings, bytes and arrays, UUIDs and tagged fields.

extension ByteBuffer {
  // MARK: fixed width

  @inlinable
  public mutating func readKafka<T: FixedWidthInteger>(_: T.Type = T.self) throws(DecodeError) -> T
  {
    guard let value = readInteger(as: T.self) else { throw .truncated }
    return value
  }

  @inlinable
  public mutating func readKafkaBool() throws(DecodeError) -> Bool {
    try readKafka(Int8.self) != 0
  }

  @inlinable
  public mutating func writeKafkaBool(_ value: Bool) {
    writeInteger(value ? Int8(1) : Int8(0))
  }

  @inlinable
  public mutating func readKafkaFloat64() throws(DecodeError) -> Double {
    Double(bitPattern: try readKafka(UInt64.self))
  }

  @inlinable
  public mutating func writeKafkaFloat64(_ value: Double) {
    writeInteger(value.bitPattern)
  }

  // MARK: varints

  /// Reads an unsigned LEB128 varint of at most 5 bytes (32 bits).
  @inlinable
  public mutating func readUnsignedVarint() throws(DecodeError) -> UInt32 {
    var result: UInt32 = 0
    var shift: UInt32 = 0
    while true {
      guard let byte = readInteger(as: UInt8.self) else { throw .truncated }
      if shift == 28 && byte & 0xF0 != 0 { throw .invalidVarint }
      result |= UInt32(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
    }
  }

  /// Reads an unsigned LEB128 varint of at most 10 bytes (64 bits).
  @inlinable
  public mutating func readUnsignedVarlong() throws(DecodeError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      guard let byte = readInteger(as: UInt8.self) else { throw .truncated }
      if shift == 63 && byte & 0xFE != 0 { throw .invalidVarint }
      result |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
    }
  }

  @inlinable
  public mutating func writeUnsignedVarint(_ value: UInt32) {
    var v = value
    while v >= 0x80 {
      writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    writeInteger(UInt8(v))
  }

  @inlinable
  public mutating func writeUnsignedVarlong(_ value: UInt64) {
    var v = value
    while v >= 0x80 {
      writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
      v >>= 7
    }
    writeInteger(UInt8(v))
  }

  /// Reads a zigzag-encoded signed 32-bit varint (record fields).
  @inlinable
  public mutating func readVarint() throws(DecodeError) -> Int32 {
    let raw = try readUnsignedVarint()
    return Int32(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
  }

  /// Reads a zigzag-encoded signed 64-bit varint (record timestamps and offsets).
  @inlinable
  public mutating func readVarlong() throws(DecodeError) -> Int64 {
    let raw = try readUnsignedVarlong()
    return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
  }

  @inlinable
  public mutating func writeVarint(_ value: Int32) {
    writeUnsignedVarint(UInt32(bitPattern: (value << 1) ^ (value >> 31)))
  }

  @inlinable
  public mutating func writeVarlong(_ value: Int64) {
    writeUnsignedVarlong(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
  }

  /// Number of bytes `writeVarint` uses for `value`.
  @inlinable
  public static func varintSize(_ value: Int32) -> Int {
    unsignedVarintSize(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
  }

  @inlinable
  public static func varlongSize(_ value: Int64) -> Int {
    unsignedVarintSize(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
  }

  @inlinable
  public static func unsignedVarintSize(_ value: UInt64) -> Int {
    var v = value
    var n = 1
    while v >= 0x80 {
      v >>= 7
      n += 1
    }
    return n
  }

  // MARK: lengths

  /// Reads a length prefix: int16 or int32 (classic) or unsigned varint N+1 (compact).
  /// Returns nil for a null value (-1 classic, 0 compact).
  @inlinable
  mutating func readLength(compact: Bool, wide: Bool) throws(DecodeError) -> Int? {
    let length: Int
    if compact {
      length = Int(try readUnsignedVarint()) - 1
    } else if wide {
      length = Int(try readKafka(Int32.self))
    } else {
      length = Int(try readKafka(Int16.self))
    }
    if length < 0 {
      if length == -1 { return nil }
      throw .invalidLength(length)
    }
    guard length <= readableBytes else { throw .truncated }
    return length
  }

  @inlinable
  mutating func writeLength(_ length: Int?, compact: Bool, wide: Bool) {
    if compact {
      writeUnsignedVarint(UInt32(truncatingIfNeeded: (length ?? -1) + 1))
    } else if wide {
      writeInteger(Int32(truncatingIfNeeded: length ?? -1))
    } else {
      writeInteger(Int16(truncatingIfNeeded: length ?? -1))
    }
  }

  // MARK: strings

  @inlinable
  public mutating func readKafkaNullableString(compact: Bool) throws(DecodeError) -> String? {
    guard let length = try readLength(compact: compact, wide: false) else { return nil }
    guard let string = readString(length: length) else { throw .truncated }
    return string
  }

  @inlinable
  public mutating func readKafkaString(compact: Bool, field: StaticString = "string")
    throws(DecodeError) -> String
  {
    guard let string = try readKafkaNullableString(compact: compact) else {
      throw .nullNotAllowed("\(field)")
    }
    return string
  }

  @inlinable
  public mutating func writeKafkaString(_ value: String?, compact: Bool) {
    guard let value else {
      writeLength(nil, compact: compact, wide: false)
      return
    }
    writeLength(value.utf8.count, compact: compact, wide: false)
    writeString(value)
  }

  // MARK: bytes

  /// Reads bytes (int32 or compact length) as a slice that shares storage with `self`.
  @inlinable
  public mutating func readKafkaNullableBytes(compact: Bool) throws(DecodeError) -> ByteBuffer? {
    guard let length = try readLength(compact: compact, wide: true) else { return nil }
    guard let slice = readSlice(length: length) else { throw .truncated }
    return slice
  }

  @inlinable
  public mutating func readKafkaBytes(compact: Bool, field: StaticString = "bytes")
    throws(DecodeError) -> ByteBuffer
  {
    guard let bytes = try readKafkaNullableBytes(compact: compact) else {
      throw .nullNotAllowed("\(field)")
    }
    return bytes
  }

  @inlinable
  public mutating func writeKafkaBytes(_ value: ByteBuffer?, compact: Bool) {
    guard var value else {
      writeLength(nil, compact: compact, wide: true)
      return
    }
    writeLength(value.readableBytes, compact: compact, wide: true)
    writeBuffer(&value)
  }

  // MARK: arrays

  /// Reads an array length; nil for a null array. Rejects lengths that cannot fit in what is
  /// left of the buffer (each element takes at least one byte), so a hostile length cannot make
  /// the decoder reserve memory.
  @inlinable
  public mutating func readKafkaArrayLength(compact: Bool) throws(DecodeError) -> Int? {
    let length: Int
    if compact {
      length = Int(try readUnsignedVarint()) - 1
    } else {
      length = Int(try readKafka(Int32.self))
    }
    if length < 0 {
      if length == -1 { return nil }
      throw .invalidLength(length)
    }
    guard length <= readableBytes else { throw .truncated }
    return length
  }

  @inlinable
  public mutating func writeKafkaArrayLength(_ count: Int?, compact: Bool) {
    if compact {
      writeUnsignedVarint(UInt32(truncatingIfNeeded: (count ?? -1) + 1))
    } else {
      writeInteger(Int32(truncatingIfNeeded: count ?? -1))
    }
  }

  // MARK: uuid

  @inlinable
  public mutating func readKafkaUuid() throws(DecodeError) -> KafkaUuid {
    let high = try readKafka(UInt64.self)
    let low = try readKafka(UInt64.self)
    return KafkaUuid(high: high, low: low)
  }

  @inlinable
  public mutating func writeKafkaUuid(_ value: KafkaUuid) {
    writeInteger(value.high)
    writeInteger(value.low)
  }

  // MARK: tagged fields

  /// Skips a tagged-field section, or hands each field to `body` with its payload as a slice.
  @inlinable
  public mutating func readTaggedFields(
    _ body: (UInt32, inout ByteBuffer) throws(DecodeError) -> Void = { _, _ in }
  ) throws(DecodeError) {
    let count = try readUnsignedVarint()
    var previous: Int64 = -1
    for _ in 0..<count {
      let tag = try readUnsignedVarint()
      guard Int64(tag) > previous else { throw .invalid("tagged fields out of order") }
      previous = Int64(tag)
      let size = Int(try readUnsignedVarint())
      guard var payload = readSlice(length: size) else { throw .truncated }
      try body(tag, &payload)
    }
  }

  /// Writes one tagged field: tag, size, then what `body` writes.
  @inlinable
  public mutating func writeTaggedField(tag: UInt32, _ body: (inout ByteBuffer) -> Void) {
    var scratch = ByteBufferAllocator().buffer(capacity: 16)
    body(&scratch)
    writeUnsignedVarint(tag)
    writeUnsignedVarint(UInt32(scratch.readableBytes))
    writeBuffer(&scratch)
  }
}
