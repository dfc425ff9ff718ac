/// Leader epoch → the first offset written in it, for one partition (Kafka's
/// LeaderEpochFileCache): what OffsetsForLeaderEpoch and the Fetch diverging-epoch check answer
/// from, so a follower can cut off what a new leader lacks. Kept in the partition directory's
/// `leader-epoch-checkpoint` (Kafka's checkpoint format, one `epoch startOffset` line per
/// entry), rewritten atomically on every change.
///
/// Entries are strictly increasing in both epoch and start offset.
public final class LeaderEpochFileCache: @unchecked Sendable {
  // @unchecked Sendable: `entries` is only read or written under `lock`, which also serialises
  // the file writes so the file never goes back to an older content.

  public static let fileName = "leader-epoch-checkpoint"
  /// OffsetsForLeaderEpoch's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
  public static let undefined: (epoch: Int32, endOffset: Int64) = (-1, -1)

  struct Entry: Equatable {
    var epoch: Int32
    var startOffset: Int64
  }

  public let path: String
  private let lock = StorageLock()
  private var entries: [Entry] = []

  /// A cache over `directory`'s checkpoint file holding `entries` (made monotonic as `assign`
  /// would); the file is not read or written.
  public init(directory: String, entries: [(epoch: Int32, startOffset: Int64)] = []) {
    self.path = FileSystem.join(directory, Self.fileName)
    for entry in entries {
      _ = assignLocked(Entry(epoch: entry.epoch, startOffset: entry.startOffset))
    }
  }

  /// The entries of `directory`'s checkpoint file; nil when it does not exist. Throws
  /// `corruptLog` when it does not parse or its entries are not strictly increasing.
  public static func readFile(directory: String) throws(StorageError)
    -> [(epoch: Int32, startOffset: Int64)]?
  {
    let path = FileSystem.join(directory, fileName)
    guard let lines = try CheckpointFile.read(path, fieldCount: 2) else { return nil }
    var result: [(epoch: Int32, startOffset: Int64)] = []
    for fields in lines {
      guard let epoch = Int32(fields[0]), let startOffset = Int64(fields[1]), epoch >= 0,
        startOffset >= 0
      else {
        throw .corruptLog(path: path, reason: "malformed entry '\(fields.joined(separator: " "))'")
      }
      if let last = result.last, epoch <= last.epoch || startOffset <= last.startOffset {
        throw .corruptLog(path: path, reason: "entry \(epoch) \(startOffset) is not increasing")
      }
      result.append((epoch, startOffset))
    }
    return result
  }

  // MARK: - Reading

  /// The newest epoch with an entry.
  public var latestEpoch: Int32? { lock.withLock { entries.last?.epoch } }

  public var epochEntries: [(epoch: Int32, startOffset: Int64)] {
    lock.withLock { entries.map { ($0.epoch, $0.startOffset) } }
  }

  /// OffsetsForLeaderEpoch: the largest epoch ≤ `requested` and its end offset, which is the
  /// start offset of the next epoch, or `logEndOffset` for the latest. Below the first
  /// entry's epoch, `requested` itself ending where the first entry starts (as Kafka answers,
  /// so a follower with only older epochs truncates to there and replicates from it).
  /// `undefined` when the cache is empty or `requested` is negative.
  public func endOffset(for requested: Int32, logEndOffset: Int64) -> (
    epoch: Int32, endOffset: Int64
  ) {
    lock.withLock {
      guard requested >= 0, let first = entries.first, let last = entries.last else {
        return Self.undefined
      }
      if requested < first.epoch { return (requested, first.startOffset) }
      if requested >= last.epoch { return (last.epoch, logEndOffset) }
      // The first entry with a larger epoch; its predecessor is the floor.
      var low = 0
      var high = entries.count
      while low < high {
        let middle = (low + high) / 2
        if entries[middle].epoch <= requested { low = middle + 1 } else { high = middle }
      }
      return (entries[low - 1].epoch, entries[low].startOffset)
    }
  }

  // MARK: - Changes

  /// Records that `epoch` starts at `startOffset` when it is newer than the latest epoch (or
  /// is the latest, moved to a smaller offset). Entries at or after `startOffset` go first, so
  /// both columns stay increasing. An older epoch, a negative value, or the latest epoch at an
  /// offset at or after its own is ignored. Returns whether the cache changed (and the file
  /// was written).
  @discardableResult
  public func assign(epoch: Int32, startOffset: Int64) throws(StorageError) -> Bool {
    try lock.withLock { () throws(StorageError) -> Bool in
      guard assignLocked(Entry(epoch: epoch, startOffset: startOffset)) else { return false }
      try writeLocked()
      return true
    }
  }

  private func assignLocked(_ entry: Entry) -> Bool {
    guard entry.epoch >= 0, entry.startOffset >= 0 else { return false }
    if let last = entries.last {
      guard
        entry.epoch > last.epoch
          || (entry.epoch == last.epoch && entry.startOffset < last.startOffset)
      else { return false }
    }
    while let last = entries.last,
      last.epoch >= entry.epoch || last.startOffset >= entry.startOffset
    {
      entries.removeLast()
    }
    entries.append(entry)
    return true
  }

  /// Removes the entries whose start offset is at or after `endOffset` (the log was truncated
  /// there).
  public func truncateFromEnd(endOffset: Int64) throws(StorageError) {
    try lock.withLock { () throws(StorageError) in
      guard endOffset >= 0, let last = entries.last, last.startOffset >= endOffset else { return }
      while let last = entries.last, last.startOffset >= endOffset { entries.removeLast() }
      try writeLocked()
    }
  }

  /// The log now starts at `startOffset`: entries starting at or before it are replaced by
  /// the latest of them, moved up to `startOffset`.
  public func truncateFromStart(startOffset: Int64) throws(StorageError) {
    try lock.withLock { () throws(StorageError) in
      let removed = entries.prefix { $0.startOffset <= startOffset }
      guard let floor = removed.last, removed.count > 1 || floor.startOffset != startOffset else {
        return
      }
      entries.replaceSubrange(
        0..<removed.count, with: [Entry(epoch: floor.epoch, startOffset: startOffset)])
      try writeLocked()
    }
  }

  /// Removes every entry (the log restarts empty).
  public func clear() throws(StorageError) {
    try lock.withLock { () throws(StorageError) in
      entries.removeAll()
      try writeLocked()
    }
  }

  /// Replaces the entries (made monotonic); writes the file when `persist`.
  func reset(to newEntries: [(epoch: Int32, startOffset: Int64)], persist: Bool)
    throws(StorageError)
  {
    try lock.withLock { () throws(StorageError) in
      entries.removeAll()
      for entry in newEntries {
        _ = assignLocked(Entry(epoch: entry.epoch, startOffset: entry.startOffset))
      }
      if persist { try writeLocked() }
    }
  }

  /// Writes the file as the entries are now.
  public func flush() throws(StorageError) {
    try lock.withLock { () throws(StorageError) in try writeLocked() }
  }

  private func writeLocked() throws(StorageError) {
    try CheckpointFile.write(path, entries.map { "\($0.epoch) \($0.startOffset)" })
  }
}
