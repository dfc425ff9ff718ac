import KafkaProtocol

/// A producer state snapshot, `<offset>.snapshot` beside the segments, in Kafka's format
/// (version 1): int16 version, uint32 CRC32C of what follows, then an int32-counted array of
/// entries (producer id, epoch, last sequence, last offset, offset delta, timestamp,
/// coordinator epoch, current transaction first offset). Only each producer's last batch is
/// kept, as in Kafka. The name's offset is the log end offset the state was taken at.
struct ProducerSnapshotFile {
  static let suffix = ".snapshot"
  static let version: Int16 = 1
  private static let entrySize = 46
  private static let headerSize = 6

  let dir: String
  let offset: Int64

  var path: String { FileSystem.join(dir, LogSegment.fileStem(offset) + Self.suffix) }

  /// Offsets of the snapshots in `dir`, ascending.
  static func offsets(in dir: String) throws(StorageError) -> [Int64] {
    try FileSystem.list(dir).compactMap {
      LogSegment.baseOffset(fromFileName: $0, suffix: suffix)
    }.sorted()
  }

  static func encode(_ entries: some Sequence<ProducerStateEntry>) -> [UInt8] {
    var body: [UInt8] = []
    var count: Int32 = 0
    for entry in entries {
      guard let last = entry.batches.last else { continue }
      count += 1
      append(entry.producerId, to: &body)
      append(entry.producerEpoch, to: &body)
      append(last.lastSequence, to: &body)
      append(last.lastOffset, to: &body)
      append(Int32(truncatingIfNeeded: last.lastOffset - last.firstOffset), to: &body)
      append(last.timestamp, to: &body)
      append(entry.coordinatorEpoch, to: &body)
      append(entry.currentTxnFirstOffset, to: &body)
    }
    var array: [UInt8] = []
    append(count, to: &array)
    array += body
    let crc = array.withUnsafeBytes { CRC32C.checksum($0) }
    var bytes: [UInt8] = []
    append(version, to: &bytes)
    append(crc, to: &bytes)
    return bytes + array
  }

  static func decode(_ bytes: [UInt8]) -> [ProducerStateEntry]? {
    guard bytes.count >= headerSize + 4, read(Int16.self, bytes, 0) == version else { return nil }
    let crc = read(UInt32.self, bytes, 2)
    let actual = bytes.withUnsafeBytes {
      CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[6...]))
    }
    guard crc == actual else { return nil }
    let count = Int(read(Int32.self, bytes, headerSize))
    guard count >= 0, bytes.count == headerSize + 4 + count * entrySize else { return nil }
    var entries: [ProducerStateEntry] = []
    entries.reserveCapacity(count)
    var at = headerSize + 4
    for _ in 0..<count {
      let producerId = read(Int64.self, bytes, at)
      let epoch = read(Int16.self, bytes, at + 8)
      let lastSequence = read(Int32.self, bytes, at + 10)
      let lastOffset = read(Int64.self, bytes, at + 14)
      let offsetDelta = read(Int32.self, bytes, at + 22)
      let timestamp = read(Int64.self, bytes, at + 26)
      let coordinatorEpoch = read(Int32.self, bytes, at + 34)
      let txnFirstOffset = read(Int64.self, bytes, at + 38)
      at += entrySize
      guard offsetDelta >= 0, lastOffset >= Int64(offsetDelta) else { return nil }
      let batch = ProducerBatchMetadata(
        firstSequence: lastSequence < 0
          ? -1 : ProducerSequence.retreat(lastSequence, by: offsetDelta),
        lastSequence: lastSequence, firstOffset: lastOffset - Int64(offsetDelta),
        lastOffset: lastOffset, timestamp: timestamp)
      entries.append(
        ProducerStateEntry(
          producerId: producerId, producerEpoch: epoch, batches: [batch],
          coordinatorEpoch: coordinatorEpoch, currentTxnFirstOffset: txnFirstOffset,
          lastTimestamp: timestamp))
    }
    return entries
  }

  private static func append<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
  }

  private static func read<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8], _ at: Int) -> T {
    var value: T = 0
    for index in at..<(at + MemoryLayout<T>.size) {
      value = value << 8 | T(truncatingIfNeeded: bytes[index])
    }
    return value
  }
}
