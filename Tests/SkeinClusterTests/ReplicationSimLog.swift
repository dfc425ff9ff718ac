/// One replica's log in the replication simulation: entries by offset (the log starts at 0),
/// the leader epoch cache with SkeinStorage's rules (`LeaderEpochFileCache`) and the high
/// watermark. What survives a crash is the whole value (the page cache keeps the log) except
/// the high watermark, which comes back from its last checkpoint.
struct ReplicationSimLog: Equatable {
  struct Entry: Equatable {
    var epoch: Int32
    /// The producer's id for the record: the same id at the same offset is the same record.
    var record: Int64
  }

  struct EpochEntry: Equatable {
    var epoch: Int32
    var startOffset: Int64
  }

  /// How an epoch below the oldest cached one is answered: SkeinStorage's cache says
  /// unknown (-1, -1); Kafka's says (that epoch, the oldest epoch's start offset).
  var kafkaFloorForOldEpochs = false
  private(set) var entries: [Entry] = []
  private(set) var epochs: [EpochEntry] = []
  var highWatermark: Int64 = 0
  /// The high watermark as of the last replication-offset-checkpoint.
  var checkpointedHighWatermark: Int64 = 0

  var logEndOffset: Int64 { Int64(entries.count) }
  var latestEpoch: Int32? { epochs.last?.epoch }

  func entry(at offset: Int64) -> Entry? {
    offset >= 0 && offset < logEndOffset ? entries[Int(offset)] : nil
  }

  func entries(from offset: Int64, max count: Int) -> [Entry] {
    guard offset >= 0, offset < logEndOffset else { return [] }
    let end = min(Int(offset) + count, entries.count)
    return Array(entries[Int(offset)..<end])
  }

  /// `LeaderEpochFileCache.assign`: a newer epoch (or the latest one at a smaller offset)
  /// replaces every entry at or after its start.
  mutating func assignEpoch(_ epoch: Int32, startOffset: Int64) {
    guard epoch >= 0, startOffset >= 0 else { return }
    if let last = epochs.last {
      guard epoch > last.epoch || (epoch == last.epoch && startOffset < last.startOffset) else {
        return
      }
    }
    while let last = epochs.last, last.epoch >= epoch || last.startOffset >= startOffset {
      epochs.removeLast()
    }
    epochs.append(EpochEntry(epoch: epoch, startOffset: startOffset))
  }

  /// `PartitionLog.endOffset(forLeaderEpoch:)`: the largest epoch ≤ `requested` and where it
  /// ends (the next epoch's start, or the log end for the latest); (-1, -1) when unknown.
  func endOffset(forLeaderEpoch requested: Int32) -> (epoch: Int32, endOffset: Int64) {
    guard requested >= 0, let first = epochs.first, let last = epochs.last else { return (-1, -1) }
    if requested < first.epoch {
      return kafkaFloorForOldEpochs ? (requested, first.startOffset) : (-1, -1)
    }
    if requested >= last.epoch { return (last.epoch, logEndOffset) }
    guard let next = epochs.firstIndex(where: { $0.epoch > requested }), next > 0 else {
      return (-1, -1)
    }
    return (epochs[next - 1].epoch, epochs[next].startOffset)
  }

  /// A leader's append: the record in `epoch` at the log end. Returns its offset.
  mutating func appendAsLeader(record: Int64, epoch: Int32) -> Int64 {
    let offset = logEndOffset
    if epoch > latestEpoch ?? -1 { assignEpoch(epoch, startOffset: offset) }
    entries.append(Entry(epoch: epoch, record: record))
    return offset
  }

  /// A follower's append of what the leader sent from our log end: batches newer than the
  /// latest cached epoch start an epoch entry (`assignLeaderEpochs`).
  mutating func appendAsFollower(_ more: [Entry]) {
    for entry in more {
      if entry.epoch > latestEpoch ?? -1 { assignEpoch(entry.epoch, startOffset: logEndOffset) }
      entries.append(entry)
    }
  }

  /// `PartitionLog.truncateTo`: drops entries at and after `offset`, and the epochs starting
  /// there; the high watermark follows the log end down.
  mutating func truncate(to offset: Int64) {
    guard offset >= 0 else { return }
    if offset < logEndOffset { entries.removeLast(entries.count - Int(offset)) }
    while let last = epochs.last, last.startOffset >= logEndOffset { epochs.removeLast() }
    highWatermark = min(highWatermark, logEndOffset)
    checkpointedHighWatermark = min(checkpointedHighWatermark, logEndOffset)
  }

  /// The leader's `updateHighWatermark`: only up, within the log.
  mutating func advanceHighWatermark(_ offset: Int64) {
    highWatermark = max(highWatermark, min(max(offset, 0), logEndOffset))
  }

  /// A follower's `setHighWatermarkFromLeader`: clamped to the log, may move down.
  mutating func setHighWatermarkFromLeader(_ offset: Int64) {
    highWatermark = min(max(offset, 0), logEndOffset)
  }

  /// The first offset below `limit` where the two logs differ (in epoch or record), or nil.
  func firstDifference(with other: ReplicationSimLog, below limit: Int64) -> Int64? {
    let end = Int(min(limit, logEndOffset, other.logEndOffset))
    if end < 0 { return nil }
    for i in 0..<end where entries[i] != other.entries[i] { return Int64(i) }
    return Int64(end) < limit ? Int64(end) : nil
  }
}
