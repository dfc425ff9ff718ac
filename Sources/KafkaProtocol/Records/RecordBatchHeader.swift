import CCRC32C
import NIOCore

/// The 61-byte header of a v2 record batch, read without touching the records behind it.
public struct RecordBatchHeader: Sendable, Hashable {
  /// Bytes from `baseOffset` through `recordCount`.
  public static let size = 61
  /// Bytes before `batchLength`'s payload starts (`baseOffset` + `batchLength`).
  public static let logOverhead = 12
  /// Offset of the field the CRC starts covering (`attributes`).
  public static let crcCoverageStart = 21

  enum Field {
    static let baseOffset = 0
    static let batchLength = 8
    static let partitionLeaderEpoch = 12
    static let magic = 16
    static let crc = 17
    static let attributes = 21
    static let lastOffsetDelta = 23
    static let baseTimestamp = 27
    static let maxTimestamp = 35
    static let producerId = 43
    static let producerEpoch = 51
    static let baseSequence = 53
    static let recordCount = 57
  }

  public var baseOffset: Int64
  public var batchLength: Int32
  public var partitionLeaderEpoch: Int32
  public var magic: Int8
  public var crc: UInt32
  public var attributes: RecordBatchAttributes
  public var lastOffsetDelta: Int32
  public var baseTimestamp: Int64
  public var maxTimestamp: Int64
  public var producerId: Int64
  public var producerEpoch: Int16
  public var baseSequence: Int32
  public var recordCount: Int32

  /// Size of the whole batch on the wire and on disk.
  public var totalSize: Int { Self.logOverhead + Int(batchLength) }
  // Wrapping arithmetic: baseOffset is not covered by the CRC, so a hostile header must not trap.
  public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
  public var nextOffset: Int64 { lastOffset &+ 1 }

  public init(
    baseOffset: Int64 = 0, batchLength: Int32 = 0, partitionLeaderEpoch: Int32 = -1,
    magic: Int8 = 2, crc: UInt32 = 0, attributes: RecordBatchAttributes = .init(),
    lastOffsetDelta: Int32 = 0, baseTimestamp: Int64 = -1, maxTimestamp: Int64 = -1,
    producerId: Int64 = -1, producerEpoch: Int16 = -1, baseSequence: Int32 = -1,
    recordCount: Int32 = 0
  ) {
    self.baseOffset = baseOffset
    self.batchLength = batchLength
    self.partitionLeaderEpoch = partitionLeaderEpoch
    self.magic = magic
    self.crc = crc
    self.attributes = attributes
    self.lastOffsetDelta = lastOffsetDelta
    self.baseTimestamp = baseTimestamp
    self.maxTimestamp = maxTimestamp
    self.producerId = producerId
    self.producerEpoch = producerEpoch
    self.baseSequence = baseSequence
    self.recordCount = recordCount
  }

  /// Reads the header of the batch starting at `index` in `buffer` without moving its reader.
  /// Checks only that the header is present, the magic is 2 and the length is plausible.
  public init(peeking buffer: ByteBuffer, at index: Int) throws(RecordBatchError) {
    guard let length = buffer.getInteger(at: index + Field.batchLength, as: Int32.self),
      let magic = buffer.getInteger(at: index + Field.magic, as: Int8.self)
    else { throw .truncated }
    guard magic == 2 else { throw .unsupportedMagic(magic) }
    guard Int(length) >= Self.size - Self.logOverhead else { throw .invalidLength(length) }
    guard
      let partitionLeaderEpoch = buffer.getInteger(
        at: index + Field.partitionLeaderEpoch, as: Int32.self),
      let crc = buffer.getInteger(at: index + Field.crc, as: UInt32.self),
      let attributes = buffer.getInteger(at: index + Field.attributes, as: Int16.self),
      let lastOffsetDelta = buffer.getInteger(at: index + Field.lastOffsetDelta, as: Int32.self),
      let baseTimestamp = buffer.getInteger(at: index + Field.baseTimestamp, as: Int64.self),
      let maxTimestamp = buffer.getInteger(at: index + Field.maxTimestamp, as: Int64.self),
      let producerId = buffer.getInteger(at: index + Field.producerId, as: Int64.self),
      let producerEpoch = buffer.getInteger(at: index + Field.producerEpoch, as: Int16.self),
      let baseSequence = buffer.getInteger(at: index + Field.baseSequence, as: Int32.self),
      let recordCount = buffer.getInteger(at: index + Field.recordCount, as: Int32.self),
      let baseOffset = buffer.getInteger(at: index + Field.baseOffset, as: Int64.self)
    else { throw .truncated }
    self.init(
      baseOffset: baseOffset, batchLength: length, partitionLeaderEpoch: partitionLeaderEpoch,
      magic: magic, crc: crc, attributes: RecordBatchAttributes(rawValue: attributes),
      lastOffsetDelta: lastOffsetDelta, baseTimestamp: baseTimestamp, maxTimestamp: maxTimestamp,
      producerId: producerId, producerEpoch: producerEpoch, baseSequence: baseSequence,
      recordCount: recordCount)
  }

  /// Writes the header at the writer index; `crc` and `batchLength` are written as they are.
  public func write(to buffer: inout ByteBuffer) {
    buffer.writeInteger(baseOffset)
    buffer.writeInteger(batchLength)
    buffer.writeInteger(partitionLeaderEpoch)
    buffer.writeInteger(magic)
    buffer.writeInteger(crc)
    buffer.writeInteger(attributes.rawValue)
    buffer.writeInteger(lastOffsetDelta)
    buffer.writeInteger(baseTimestamp)
    buffer.writeInteger(maxTimestamp)
    buffer.writeInteger(producerId)
    buffer.writeInteger(producerEpoch)
    buffer.writeInteger(baseSequence)
    buffer.writeInteger(recordCount)
  }
}

/// The `attributes` bit field of a record batch.
public struct RecordBatchAttributes: Sendable, Hashable {
  public var rawValue: Int16
  public init(rawValue: Int16 = 0) { self.rawValue = rawValue }

  public var compression: CompressionType {
    get { CompressionType(rawValue: Int8(rawValue & 0x7)) ?? .none }
    set { rawValue = (rawValue & ~0x7) | Int16(newValue.rawValue) }
  }
  public var compressionBits: Int16 { rawValue & 0x7 }
  public var timestampType: TimestampType {
    get { rawValue & 0x8 != 0 ? .logAppendTime : .createTime }
    set { rawValue = newValue == .logAppendTime ? rawValue | 0x8 : rawValue & ~0x8 }
  }
  public var isTransactional: Bool {
    get { rawValue & 0x10 != 0 }
    set { rawValue = newValue ? rawValue | 0x10 : rawValue & ~0x10 }
  }
  public var isControl: Bool {
    get { rawValue & 0x20 != 0 }
    set { rawValue = newValue ? rawValue | 0x20 : rawValue & ~0x20 }
  }
  public var hasDeleteHorizon: Bool { rawValue & 0x40 != 0 }
}

/// Compression codec ids as carried in batch attributes and `compression.type`.
public enum CompressionType: Int8, Sendable, CaseIterable {
  case none = 0
  case gzip = 1
  case snappy = 2
  case lz4 = 3
  case zstd = 4

  public var name: String {
    switch self {
    case .none: "none"
    case .gzip: "gzip"
    case .snappy: "snappy"
    case .lz4: "lz4"
    case .zstd: "zstd"
    }
  }
}

/// Which clock a batch's timestamps come from (`message.timestamp.type`).
public enum TimestampType: Sendable, Hashable {
  case createTime
  case logAppendTime
}

/// Why a record batch could not be accepted.
public enum RecordBatchError: Error, Sendable, Equatable {
  case truncated
  case unsupportedMagic(Int8)
  case invalidLength(Int32)
  case crcMismatch(expected: UInt32, actual: UInt32)
  case invalidRecord(String)

  /// The Kafka error code a produce request gets for this problem.
  public var errorCode: ErrorCode {
    switch self {
    // Kafka: magic 0 and 1 are old formats; any other value is "Invalid magic", a corrupt batch.
    case .unsupportedMagic(let magic):
      magic == 0 || magic == 1 ? .unsupportedForMessageFormat : .corruptMessage
    case .truncated, .invalidLength, .crcMismatch: .corruptMessage
    case .invalidRecord: .invalidRecord
    }
  }
}

/// CRC32C (Castagnoli) as record batches use it, on the CPU's CRC instructions where present.
public enum CRC32C {
  public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    skein_crc32c(seed, bytes.baseAddress, bytes.count)
  }

  public static func portableChecksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    skein_crc32c_portable(seed, bytes.baseAddress, bytes.count)
  }

  public static var usesHardware: Bool { skein_crc32c_hardware_available() != 0 }

  /// CRC32C of `length` readable bytes of `buffer` starting at `index`.
  public static func checksum(_ buffer: ByteBuffer, at index: Int, length: Int) -> UInt32? {
    guard index >= buffer.readerIndex, length >= 0, index + length <= buffer.writerIndex else {
      return nil
    }
    return buffer.withUnsafeReadableBytes { raw in
      checksum(
        UnsafeRawBufferPointer(
          rebasing: raw[(index - buffer.readerIndex)..<(index - buffer.readerIndex + length)]))
    }
  }
}
