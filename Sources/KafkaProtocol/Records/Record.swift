import NIOCore

/// One header of a record: a UTF-8 key and an optional value, as Kafka clients attach them.
public struct RecordHeader: Sendable, Hashable {
  public var key: String
  public var value: ByteBuffer?

  public init(key: String, value: ByteBuffer?) {
    self.key = key
    self.value = value
  }
}

/// One record of a v2 batch as it is stored: offset and timestamp as deltas from the batch
/// header, key and value as slices of the batch's bytes (nil for null).
public struct Record: Sendable, Hashable {
  /// Unused by Kafka today; always 0 on records it writes.
  public var attributes: Int8
  public var timestampDelta: Int64
  public var offsetDelta: Int32
  public var key: ByteBuffer?
  public var value: ByteBuffer?
  public var headers: [RecordHeader]

  public init(
    attributes: Int8 = 0, timestampDelta: Int64, offsetDelta: Int32, key: ByteBuffer?,
    value: ByteBuffer?, headers: [RecordHeader] = []
  ) {
    self.attributes = attributes
    self.timestampDelta = timestampDelta
    self.offsetDelta = offsetDelta
    self.key = key
    self.value = value
    self.headers = headers
  }
}

extension Record {
  /// Reads one length-prefixed record at the reader index of `buffer`. Key, value and header
  /// values are slices sharing storage with `buffer`.
  static func read(from buffer: inout ByteBuffer) throws(RecordBatchError) -> Record {
    do throws(DecodeError) {
      let length = Int(try buffer.readVarint())
      guard length >= 0 else { throw .invalid("negative record length \(length)") }
      guard var body = buffer.readSlice(length: length) else {
        throw .invalid(
          "record length \(length) exceeds the \(buffer.readableBytes) bytes left in the batch")
      }
      let record = try readBody(&body)
      guard body.readableBytes == 0 else {
        throw .invalid("record length \(length) leaves \(body.readableBytes) bytes unread")
      }
      return record
    } catch {
      throw .invalidRecord(Self.describe(error))
    }
  }

  private static func readBody(_ body: inout ByteBuffer) throws(DecodeError) -> Record {
    let attributes = try body.readKafka(Int8.self)
    let timestampDelta = try body.readVarlong()
    let offsetDelta = try body.readVarint()
    let key = try readNullableBytes(&body, what: "key")
    let value = try readNullableBytes(&body, what: "value")
    let headerCount = Int(try body.readVarint())
    // Each header takes at least two bytes (two one-byte lengths): bound before reserving.
    guard headerCount >= 0, headerCount <= body.readableBytes / 2 else {
      throw .invalid("invalid record header count \(headerCount)")
    }
    var headers: [RecordHeader] = []
    if headerCount > 0 {
      headers.reserveCapacity(headerCount)
      for _ in 0..<headerCount {
        let keyLength = Int(try body.readVarint())
        guard keyLength >= 0 else { throw .invalid("negative record header key length") }
        guard let headerKey = body.readString(length: keyLength) else { throw .truncated }
        let headerValue = try readNullableBytes(&body, what: "header value")
        headers.append(RecordHeader(key: headerKey, value: headerValue))
      }
    }
    return Record(
      attributes: attributes, timestampDelta: timestampDelta, offsetDelta: offsetDelta, key: key,
      value: value, headers: headers)
  }

  /// A varint length (negative means null) followed by that many bytes.
  private static func readNullableBytes(
    _ body: inout ByteBuffer, what: StaticString
  ) throws(DecodeError) -> ByteBuffer? {
    let length = Int(try body.readVarint())
    guard length >= 0 else { return nil }
    guard let bytes = body.readSlice(length: length) else {
      throw .invalid("record \(what) length \(length) exceeds the record")
    }
    return bytes
  }

  private static func describe(_ error: DecodeError) -> String {
    switch error {
    case .invalid(let message): message
    case .truncated: "record truncated"
    case .invalidVarint: "malformed varint in record"
    default: "malformed record: \(error)"
    }
  }

  /// Bytes the record body takes (what the leading length varint says), for the builder.
  static func bodySize(
    timestampDelta: Int64, offsetDelta: Int32, key: ByteBuffer?, value: ByteBuffer?,
    headers: [RecordHeader]
  ) -> Int {
    var size = 1 + ByteBuffer.varlongSize(timestampDelta) + ByteBuffer.varintSize(offsetDelta)
    size += nullableBytesSize(key?.readableBytes)
    size += nullableBytesSize(value?.readableBytes)
    size += ByteBuffer.varintSize(Int32(headers.count))
    for header in headers {
      size += nullableBytesSize(header.key.utf8.count)
      size += nullableBytesSize(header.value?.readableBytes)
    }
    return size
  }

  private static func nullableBytesSize(_ length: Int?) -> Int {
    guard let length else { return ByteBuffer.varintSize(-1) }
    return ByteBuffer.varintSize(Int32(length)) + length
  }

  /// Writes the record (length varint, then body) whose body takes `bodySize` bytes.
  static func write(
    to buffer: inout ByteBuffer, bodySize: Int, timestampDelta: Int64, offsetDelta: Int32,
    key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader]
  ) {
    buffer.writeVarint(Int32(bodySize))
    buffer.writeInteger(Int8(0))
    buffer.writeVarlong(timestampDelta)
    buffer.writeVarint(offsetDelta)
    writeNullableBytes(key, to: &buffer)
    writeNullableBytes(value, to: &buffer)
    buffer.writeVarint(Int32(headers.count))
    for header in headers {
      buffer.writeVarint(Int32(header.key.utf8.count))
      buffer.writeString(header.key)
      writeNullableBytes(header.value, to: &buffer)
    }
  }

  private static func writeNullableBytes(_ bytes: ByteBuffer?, to buffer: inout ByteBuffer) {
    guard let bytes else {
      buffer.writeVarint(-1)
      return
    }
    buffer.writeVarint(Int32(bytes.readableBytes))
    buffer.writeImmutableBuffer(bytes)
  }
}

/// Walks the records of one batch's records section, one record per `next()`, checking that
/// the section holds exactly the declared number of records. Works on uncompressed batches
/// (`RecordBatch.records()`) and on records a caller has decompressed itself.
public struct RecordIterator: Sendable {
  private var buffer: ByteBuffer
  /// Records the header declared that have not been read yet.
  public private(set) var remainingCount: Int

  /// `records` holds the records section (the bytes after the 61-byte batch header) and
  /// `count` is the batch header's `recordCount`.
  public init(records: ByteBuffer, count: Int32) {
    self.buffer = records
    self.remainingCount = Int(count)
  }

  /// The next record, nil after the last one. Throws `.invalidRecord` for malformed records,
  /// a negative count, or bytes left over after the last record; the iterator then ends.
  public mutating func next() throws(RecordBatchError) -> Record? {
    guard remainingCount > 0 else {
      if remainingCount < 0 {
        let count = remainingCount
        finish()
        throw .invalidRecord("invalid record count \(count)")
      }
      if buffer.readableBytes > 0 {
        let left = buffer.readableBytes
        finish()
        throw .invalidRecord("\(left) bytes left in the batch after its last record")
      }
      return nil
    }
    do throws(RecordBatchError) {
      let record = try Record.read(from: &buffer)
      remainingCount -= 1
      return record
    } catch {
      finish()
      throw error
    }
  }

  private mutating func finish() {
    remainingCount = 0
    buffer.moveReaderIndex(to: buffer.writerIndex)
  }
}
