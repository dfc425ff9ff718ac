import KafkaProtocol
import NIOCore

/// The idempotence state of one partition (Kafka's ProducerStateManager): per producer id its
/// epoch and last batches, derived only from the headers of the batches appended to the log,
/// so that any replica appending the same batches derives the same state. Snapshots
/// (`<offset>.snapshot`) are taken at segment roll and clean shutdown; at open the state is the
/// last snapshot at or below the log end plus the batches after it.
public final class ProducerStateManager: @unchecked Sendable {
  // @unchecked Sendable: `producers` is only read or written under `lock`. Changes come from
  // the log's appender (under its append lock); readers (DescribeProducers, expiry) take the
  // lock too.

  let dir: String
  private let lock = StorageLock()
  private var producers: [Int64: ProducerStateEntry] = [:]

  init(dir: String) {
    self.dir = dir
  }

  /// Every producer with state, by producer id.
  public var activeProducers: [ProducerStateEntry] {
    lock.withLock { producers.values.sorted { $0.producerId < $1.producerId } }
  }

  public func entry(producerId: Int64) -> ProducerStateEntry? {
    lock.withLock { producers[producerId] }
  }

  /// The offset of each producer's last batch (what compaction must keep).
  public var lastBatchOffsets: [Int64: Int64] {
    lock.withLock { producers.compactMapValues { $0.batches.last?.lastOffset } }
  }

  // MARK: - Appends

  /// What an append does to the producer state, computed before it is written.
  struct AppendPlan {
    /// The entries of the producers the append touches, as they are after it.
    var updated: [ProducerStateEntry] = []
    /// A client batch that is a retry of one already in the log: nothing is appended.
    var duplicate: ProducerBatchMetadata?
  }

  /// Checks the batches of an append whose offsets are assigned: a retried client batch is a
  /// duplicate; otherwise epochs and sequences must follow (Kafka's rules for `origin`).
  func plan(_ records: ByteBuffer, origin: RecordBatchValidator.Origin) throws(StorageError)
    -> AppendPlan
  {
    var plan = AppendPlan()
    var batches = BatchHeaderCursor(records)
    while let (header, _) = try batches.next() {
      guard header.producerId >= 0 else { continue }
      let position = plan.updated.firstIndex { $0.producerId == header.producerId }
      var entry =
        position.map { plan.updated[$0] }
        ?? lock.withLock { producers[header.producerId] }
        ?? ProducerStateEntry(producerId: header.producerId)
      if origin == .client, position == nil, !header.attributes.isControl,
        let original = entry.duplicate(
          epoch: header.producerEpoch, firstSequence: header.baseSequence,
          lastSequence: ProducerSequence.advance(header.baseSequence, by: header.lastOffsetDelta))
      {
        plan.duplicate = original
        return plan
      }
      try Self.update(&entry, with: header, origin: origin)
      if let position { plan.updated[position] = entry } else { plan.updated.append(entry) }
    }
    return plan
  }

  func apply(_ plan: AppendPlan) {
    guard !plan.updated.isEmpty else { return }
    lock.withLock {
      for entry in plan.updated { producers[entry.producerId] = entry }
    }
  }

  /// Kafka's ProducerAppendInfo: the epoch must not go back (clients get
  /// INVALID_PRODUCER_EPOCH), and a client's batch must continue its epoch's sequence — or
  /// start a new epoch at sequence 0; a producer without state may start anywhere.
  static func update(
    _ entry: inout ProducerStateEntry, with header: RecordBatchHeader,
    origin: RecordBatchValidator.Origin
  ) throws(StorageError) {
    let epoch = header.producerEpoch
    if epoch < entry.producerEpoch && origin != .replication {
      throw .invalidProducerEpoch(
        "epoch \(epoch) of producer \(header.producerId) is smaller than the last seen epoch \(entry.producerEpoch)"
      )
    }
    if header.attributes.isControl {
      // A transaction marker ends the producer's transaction; it carries no sequence.
      entry.producerEpoch = epoch
      entry.currentTxnFirstOffset = -1
      entry.lastTimestamp = header.maxTimestamp
      return
    }
    let firstSequence = header.baseSequence
    if origin == .client {
      if epoch != entry.producerEpoch {
        if firstSequence != 0 && entry.producerEpoch != -1 {
          throw .outOfOrderSequence(
            "invalid sequence \(firstSequence) for new epoch \(epoch) of producer \(header.producerId) (expected 0)"
          )
        }
      } else if entry.producerEpoch != -1,
        !ProducerSequence.follows(entry.lastSequence, firstSequence)
      {
        throw .outOfOrderSequence(
          "out of order sequence \(firstSequence) of producer \(header.producerId) at epoch \(epoch), expected \(ProducerSequence.advance(entry.lastSequence, by: 1))"
        )
      }
    }
    entry.append(
      ProducerBatchMetadata(
        firstSequence: firstSequence,
        lastSequence: ProducerSequence.advance(firstSequence, by: header.lastOffsetDelta),
        firstOffset: header.baseOffset, lastOffset: header.lastOffset,
        timestamp: header.maxTimestamp),
      epoch: epoch)
    if header.attributes.isTransactional && entry.currentTxnFirstOffset < 0 {
      entry.currentTxnFirstOffset = header.baseOffset
    }
  }

  /// Applies a batch already in the log (recovery, truncation), without checks.
  func replay(_ header: RecordBatchHeader) {
    guard header.producerId >= 0 else { return }
    lock.withLock {
      var entry = producers[header.producerId] ?? ProducerStateEntry(producerId: header.producerId)
      try? Self.update(&entry, with: header, origin: .replication)
      producers[header.producerId] = entry
    }
  }

  // MARK: - Expiry

  /// Forgets producers without an ongoing transaction whose last batch is older than
  /// `producer.id.expiration.ms`. Returns how many.
  @discardableResult
  public func removeExpired(nowMs: Int64, expirationMs: Int64) -> Int {
    lock.withLock {
      let expired = producers.values.filter {
        $0.currentTxnFirstOffset < 0 && nowMs - $0.lastTimestamp >= expirationMs
      }
      for entry in expired { producers[entry.producerId] = nil }
      return expired.count
    }
  }

  // MARK: - Snapshots

  /// Writes the state as `<offset>.snapshot`; fsynced when `sync` (clean shutdown). An unsynced
  /// snapshot torn by a crash fails its CRC at the next load and is ignored.
  func takeSnapshot(at offset: Int64, sync: Bool) throws(StorageError) {
    let bytes = lock.withLock {
      ProducerSnapshotFile.encode(producers.values.sorted { $0.producerId < $1.producerId })
    }
    try FileSystem.write(ProducerSnapshotFile(dir: dir, offset: offset).path, bytes, sync: sync)
  }

  /// Rebuilds the state for a log ending at `logEndOffset`: snapshots above it are deleted, the
  /// newest readable one is loaded, and `replay` is asked for the batches from its offset on
  /// (from `logStartOffset` without a snapshot). Returns the offset replay started at.
  @discardableResult
  func load(
    logStartOffset: Int64, logEndOffset: Int64,
    replay: (_ fromOffset: Int64, _ visit: (RecordBatchHeader) -> Void) throws(StorageError) ->
      Void
  ) throws(StorageError) -> Int64 {
    var loaded: (offset: Int64, entries: [ProducerStateEntry])?
    for offset in try ProducerSnapshotFile.offsets(in: dir).reversed() {
      let file = ProducerSnapshotFile(dir: dir, offset: offset)
      if offset > logEndOffset {
        try FileSystem.removeFile(file.path)
        continue
      }
      if loaded == nil {
        if let bytes = try FileSystem.read(file.path),
          let entries = ProducerSnapshotFile.decode(bytes)
        {
          loaded = (offset, entries)
        } else {
          try FileSystem.removeFile(file.path)
        }
      }
    }
    lock.withLock {
      producers = [:]
      for entry in loaded?.entries ?? [] { producers[entry.producerId] = entry }
    }
    let start = max(loaded?.offset ?? logStartOffset, logStartOffset)
    if start < logEndOffset {
      try replay(start) { self.replay($0) }
    }
    return start
  }

  /// Deletes the snapshots below `offset` except the newest one.
  func deleteSnapshots(below offset: Int64) throws(StorageError) {
    let offsets = try ProducerSnapshotFile.offsets(in: dir)
    for old in offsets.dropLast() where old < offset {
      try FileSystem.removeFile(ProducerSnapshotFile(dir: dir, offset: old).path)
    }
  }

  /// Forgets everything and deletes every snapshot (the log restarts empty).
  func reset() throws(StorageError) {
    lock.withLock { producers = [:] }
    for offset in try ProducerSnapshotFile.offsets(in: dir) {
      try FileSystem.removeFile(ProducerSnapshotFile(dir: dir, offset: offset).path)
    }
  }
}
