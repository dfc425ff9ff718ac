import NIOCore

/// A timestamp and the offset it was seen at.
struct TimestampOffset: Sendable, Equatable {
  var timestamp: Int64
  var offset: Int64
}

/// Kafka's time index (`.timeindex`): 12-byte entries of an 8-byte timestamp and a 4-byte offset
/// relative to the segment's base offset. An entry (t, o) says that t is the largest timestamp
/// of the segment up to that point and that the batch ending at offset o was the first to reach
/// it, so every batch before it has a smaller timestamp. Entries are added at the same interval
/// as offset index entries, only when the timestamp grows, plus a final one when the segment
/// stops being active.
///
/// Not thread-safe on its own: the owning `PartitionLog` serialises access.
final class TimeIndex {
  static let entrySize = 12

  let baseOffset: Int64
  let file: SegmentFile
  private(set) var maxEntries: Int
  private var timestamps: ContiguousArray<Int64> = []
  private var relativeOffsets: ContiguousArray<UInt32> = []

  init(file: SegmentFile, baseOffset: Int64, maxIndexSize: Int) {
    self.file = file
    self.baseOffset = baseOffset
    self.maxEntries = maxIndexSize / Self.entrySize
  }

  var count: Int { timestamps.count }
  var isFull: Bool { timestamps.count >= maxEntries }

  func setMaxIndexSize(_ bytes: Int) {
    maxEntries = bytes / Self.entrySize
  }

  func entry(at index: Int) -> TimestampOffset {
    TimestampOffset(
      timestamp: timestamps[index], offset: baseOffset + Int64(relativeOffsets[index]))
  }

  var lastEntry: TimestampOffset? {
    timestamps.isEmpty ? nil : entry(at: timestamps.count - 1)
  }

  /// Reads the file. Returns false, leaving the index empty, when its content cannot be trusted
  /// (size not a multiple of 12, timestamps not increasing, offsets decreasing).
  func load() throws(StorageError) -> Bool {
    timestamps.removeAll()
    relativeOffsets.removeAll()
    let size = try file.size()
    guard size % Self.entrySize == 0 else { return false }
    guard size > 0 else { return true }
    var buffer = ByteBuffer()
    guard try file.read(into: &buffer, at: 0, length: size) == size else { return false }
    timestamps.reserveCapacity(size / Self.entrySize)
    relativeOffsets.reserveCapacity(size / Self.entrySize)
    while let timestamp = buffer.readInteger(as: Int64.self),
      let relative = buffer.readInteger(as: UInt32.self)
    {
      let valid =
        relative <= UInt32(Int32.max)
        && (timestamps.isEmpty
          || (timestamp > timestamps[timestamps.count - 1]
            && relative >= relativeOffsets[relativeOffsets.count - 1]))
      guard valid else {
        timestamps.removeAll()
        relativeOffsets.removeAll()
        return false
      }
      timestamps.append(timestamp)
      relativeOffsets.append(relative)
    }
    return true
  }

  /// Adds (timestamp, offset) if the timestamp is larger than the last entry's.
  func maybeAppend(timestamp: Int64, offset: Int64, skipFullCheck: Bool = false)
    throws(StorageError)
  {
    let relative = offset - baseOffset
    guard skipFullCheck || !isFull, timestamp >= 0, relative >= 0, relative <= Int64(Int32.max)
    else { return }
    if let last = timestamps.last, timestamp <= last { return }
    if let last = relativeOffsets.last, relative < Int64(last) { return }
    var bytes = (UInt64(bitPattern: timestamp).bigEndian, UInt32(relative).bigEndian)
    let at = timestamps.count * Self.entrySize
    // The tuple has padding: write its two fields separately.
    let result: Result<Void, StorageError> = withUnsafeBytes(of: &bytes.0) { head in
      withUnsafeBytes(of: &bytes.1) { tail in
        do throws(StorageError) {
          try file.write(head, at: at)
          try file.write(tail, at: at + 8)
          return .success(())
        } catch {
          return .failure(error)
        }
      }
    }
    try result.get()
    timestamps.append(timestamp)
    relativeOffsets.append(UInt32(relative))
  }

  /// The offset of the entry with the greatest timestamp <= `target`, or the segment's base
  /// offset: the first batch with a timestamp >= `target` is at or after it.
  func lookup(timestamp target: Int64) -> Int64 {
    var low = 0
    var high = timestamps.count
    while low < high {
      let middle = (low + high) / 2
      if timestamps[middle] <= target { low = middle + 1 } else { high = middle }
    }
    return low == 0 ? baseOffset : baseOffset + Int64(relativeOffsets[low - 1])
  }

  /// Number of entries left after removing those whose offset is >= `offset`.
  func entryCount(below offset: Int64) -> Int {
    let relative = offset - baseOffset
    var low = 0
    var high = relativeOffsets.count
    while low < high {
      let middle = (low + high) / 2
      if Int64(relativeOffsets[middle]) < relative { low = middle + 1 } else { high = middle }
    }
    return low
  }

  func truncate(toEntries count: Int) throws(StorageError) {
    guard count < timestamps.count else { return }
    timestamps.removeLast(timestamps.count - count)
    relativeOffsets.removeLast(relativeOffsets.count - count)
    try file.truncate(to: count * Self.entrySize)
  }

  func reset() throws(StorageError) {
    timestamps.removeAll()
    relativeOffsets.removeAll()
    try file.truncate(to: 0)
  }
}
