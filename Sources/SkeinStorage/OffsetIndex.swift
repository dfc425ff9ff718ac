import NIOCore

/// An offset and the file position of the batch it belongs to.
struct OffsetPosition: Sendable, Equatable {
  var offset: Int64
  var position: Int
}

/// Kafka's sparse offset index (`.index`): 8-byte entries of a 4-byte offset relative to the
/// segment's base offset (the last offset of a batch) and the 4-byte file position of that
/// batch, one entry per `index.interval.bytes` appended.
///
/// Entries are kept in memory (8 bytes per ~4 KiB of log) and written through to the file.
/// Not thread-safe on its own: the owning `PartitionLog` serialises access.
final class OffsetIndex {
  static let entrySize = 8

  let baseOffset: Int64
  let file: SegmentFile
  private(set) var maxEntries: Int
  /// `relativeOffset << 32 | position`.
  private var entries: ContiguousArray<UInt64> = []

  init(file: SegmentFile, baseOffset: Int64, maxIndexSize: Int) {
    self.file = file
    self.baseOffset = baseOffset
    self.maxEntries = maxIndexSize / Self.entrySize
  }

  var count: Int { entries.count }
  var isFull: Bool { entries.count >= maxEntries }

  func setMaxIndexSize(_ bytes: Int) {
    maxEntries = bytes / Self.entrySize
  }

  func entry(at index: Int) -> OffsetPosition {
    let raw = entries[index]
    return OffsetPosition(
      offset: baseOffset + Int64(raw >> 32), position: Int(raw & 0xFFFF_FFFF))
  }

  /// The last entry, or the segment's start when there is none.
  var lastEntry: OffsetPosition {
    entries.isEmpty ? OffsetPosition(offset: baseOffset, position: 0) : entry(at: entries.count - 1)
  }

  /// Reads the file. Returns false, leaving the index empty, when the content cannot be trusted
  /// (size not a multiple of 8, offsets or positions not increasing, positions past the log):
  /// the caller then rebuilds it from the log.
  func load(logSize: Int) throws(StorageError) -> Bool {
    entries.removeAll()
    let size = try file.size()
    guard size % Self.entrySize == 0 else { return false }
    guard size > 0 else { return true }
    var buffer = ByteBuffer()
    guard try file.read(into: &buffer, at: 0, length: size) == size else { return false }
    entries.reserveCapacity(size / Self.entrySize)
    var previousOffset: UInt32 = 0
    var previousPosition: UInt32 = 0
    while let relative = buffer.readInteger(as: UInt32.self),
      let position = buffer.readInteger(as: UInt32.self)
    {
      let valid =
        relative <= UInt32(Int32.max) && Int(position) < logSize
        && (entries.isEmpty || (relative > previousOffset && position > previousPosition))
      guard valid else {
        entries.removeAll()
        return false
      }
      entries.append(UInt64(relative) << 32 | UInt64(position))
      previousOffset = relative
      previousPosition = position
    }
    return true
  }

  /// Adds an entry for the batch whose last offset is `offset` and which starts at `position`.
  /// Entries that would not increase both offset and position, or overflow a full index, are
  /// skipped: the index is sparse, a missing entry only lengthens a scan.
  func append(offset: Int64, position: Int) throws(StorageError) {
    let relative = offset - baseOffset
    guard !isFull, relative >= 0, relative <= Int64(Int32.max), position >= 0,
      position <= Int(UInt32.max)
    else { return }
    if let last = entries.last,
      relative <= Int64(last >> 32) || position <= Int(last & 0xFFFF_FFFF)
    {
      return
    }
    var bytes = (UInt32(relative).bigEndian, UInt32(position).bigEndian)
    let at = entries.count * Self.entrySize
    let result: Result<Void, StorageError> = withUnsafeBytes(of: &bytes) { raw in
      do throws(StorageError) {
        try file.write(raw, at: at)
        return .success(())
      } catch {
        return .failure(error)
      }
    }
    try result.get()
    entries.append(UInt64(relative) << 32 | UInt64(position))
  }

  /// The entry with the greatest offset <= `target`, or the segment's start.
  func lookup(offset target: Int64) -> OffsetPosition {
    let relative = target - baseOffset
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if Int64(entries[middle] >> 32) <= relative { low = middle + 1 } else { high = middle }
    }
    return low == 0 ? OffsetPosition(offset: baseOffset, position: 0) : entry(at: low - 1)
  }

  /// The entry with the greatest position <= `target`, or the segment's start.
  func lookup(position target: Int) -> OffsetPosition {
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if Int(entries[middle] & 0xFFFF_FFFF) <= target { low = middle + 1 } else { high = middle }
    }
    return low == 0 ? OffsetPosition(offset: baseOffset, position: 0) : entry(at: low - 1)
  }

  /// Number of entries left after removing those whose offset is >= `offset`.
  func entryCount(below offset: Int64) -> Int {
    let relative = offset - baseOffset
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if Int64(entries[middle] >> 32) < relative { low = middle + 1 } else { high = middle }
    }
    return low
  }

  /// Keeps the first `count` entries, in memory and on disk.
  func truncate(toEntries count: Int) throws(StorageError) {
    guard count < entries.count else { return }
    entries.removeLast(entries.count - count)
    try file.truncate(to: count * Self.entrySize)
  }

  func reset() throws(StorageError) {
    entries.removeAll()
    try file.truncate(to: 0)
  }
}
