import KafkaProtocol
import Logging
import NIOCore

/// The log of one partition (Kafka's UnifiedLog): a directory of segments, appended at the end,
/// read by offset, trimmed from the front by retention and DeleteRecords, truncated from the
/// back by replication, recovered at open.
///
/// Thread-safe: any number of readers run concurrently with one appender.
public final class PartitionLog: @unchecked Sendable {
  // @unchecked Sendable, safe because of this locking discipline:
  // - `appendLock` serialises everything that changes the log (append, roll, truncate,
  //   retention, DeleteRecords, config and topic id changes, close).
  // - `stateLock` guards the values readers look at. Fields in the first group below (and each
  //   segment's state, its indexes included) change only while holding both locks, so the
  //   holder of either may read them. Fields in the second group are read and written under
  //   `stateLock` only.
  // - Bytes are written to a segment file past its committed `size` before `size` moves, so a
  //   reader (which never reads past the size it saw under `stateLock`) only sees whole batches.
  // - `flushLock` serialises flushes. Lock order: appendLock, flushLock, stateLock.

  public let topicPartition: TopicPartition
  /// The partition directory (`<data dir>/<topic>-<partition>`).
  public let dir: String
  /// What opening the log found and repaired.
  public let loadInfo: LogLoadInfo
  /// Producer ids, epochs and last batches, for idempotent appends.
  public let producerState: ProducerStateManager
  /// Leader epoch → start offset (`leader-epoch-checkpoint`). Changed under appendLock.
  let leaderEpochCache: LeaderEpochFileCache
  private let logger: Logger

  private let appendLock = StorageLock()
  private let flushLock = StorageLock()
  private let stateLock = StorageLock()

  // Changed under appendLock + stateLock.
  private var segments: ContiguousArray<LogSegment>
  private var endOffset: Int64
  private var startOffset: Int64
  private var currentConfig: LogConfig
  private var closed = false

  // Under stateLock only.
  private var highWatermarkOffset: Int64
  private var recoveryPointOffset: Int64
  private var lastFlushMs: Int64
  private var truncationCount = 0
  private var directoryDirty = false
  private var currentTopicId: KafkaUuid?

  private init(
    topicPartition: TopicPartition, dir: String, config: LogConfig, loaded: LogLoader.Loaded,
    highWatermark: Int64?, topicId: KafkaUuid?, nowMs: Int64, logger: Logger
  ) {
    self.topicPartition = topicPartition
    self.dir = dir
    self.currentConfig = config
    self.segments = loaded.segments
    self.endOffset = loaded.logEndOffset
    self.startOffset = loaded.logStartOffset
    self.recoveryPointOffset = loaded.recoveryPoint
    self.highWatermarkOffset = min(
      max(highWatermark ?? loaded.logStartOffset, loaded.logStartOffset), loaded.logEndOffset)
    self.loadInfo = loaded.info
    self.currentTopicId = topicId
    self.lastFlushMs = nowMs
    self.logger = logger
    self.producerState = ProducerStateManager(dir: dir)
    self.leaderEpochCache = LeaderEpochFileCache(directory: dir)
  }

  /// Opens (creating if needed) the log in `dir`, recovering it as needed.
  ///
  /// - Parameters:
  ///   - recoveryPoint: offset up to which the log is known flushed (from the
  ///     `recovery-point-offset-checkpoint`); segments holding offsets at or above it are
  ///     rescanned unless `hadCleanShutdown`.
  ///   - logStartOffset: from the `log-start-offset-checkpoint`, if recorded.
  ///   - highWatermark: from the `replication-offset-checkpoint`, if recorded (clamped to the
  ///     log; the log start offset when nil).
  ///   - hadCleanShutdown: the data dir had the clean-shutdown marker: trust the files.
  public static func open(
    dir: String, topicPartition: TopicPartition, config: LogConfig, recoveryPoint: Int64 = 0,
    logStartOffset: Int64? = nil, highWatermark: Int64? = nil, hadCleanShutdown: Bool = false,
    nowMs: Int64, logger: Logger = Logger(label: "skein.storage")
  ) throws(StorageError) -> PartitionLog {
    var logger = logger
    logger[metadataKey: "partition"] = "\(topicPartition)"
    let loader = LogLoader(
      dir: dir, config: config, recoveryPoint: recoveryPoint,
      logStartOffsetCheckpoint: logStartOffset, hadCleanShutdown: hadCleanShutdown, nowMs: nowMs,
      logger: logger)
    let loaded = try loader.load()
    var topicId: KafkaUuid?
    do {
      topicId = try PartitionMetadataFile(directory: dir).read()
    } catch {
      logger.warning("ignoring unreadable partition metadata: \(error)")
    }
    let log = PartitionLog(
      topicPartition: topicPartition, dir: dir, config: config, loaded: loaded,
      highWatermark: highWatermark, topicId: topicId, nowMs: nowMs, logger: logger)
    try log.loadProducerState()
    try log.loadLeaderEpochs()
    return log
  }

  // MARK: - State

  /// The offset the next appended record gets (LEO).
  public var logEndOffset: Int64 { stateLock.withLock { endOffset } }
  /// The first offset a consumer may read.
  public var logStartOffset: Int64 { stateLock.withLock { startOffset } }
  /// The offset below which everything is known flushed to disk.
  public var recoveryPoint: Int64 { stateLock.withLock { recoveryPointOffset } }
  /// The high watermark: below it records are committed. At open it is the checkpointed value
  /// (clamped to the log) or the log start offset; the leader raises it with
  /// `updateHighWatermark`, a follower copies the leader's with `setHighWatermarkFromLeader`.
  /// Retention never deletes a segment holding offsets at or above it.
  public var highWatermark: Int64 { stateLock.withLock { highWatermarkOffset } }
  public var config: LogConfig { stateLock.withLock { currentConfig } }
  public var topicId: KafkaUuid? { stateLock.withLock { currentTopicId } }
  public var isClosed: Bool { stateLock.withLock { closed } }
  /// Bytes in all segments.
  public var size: Int64 { stateLock.withLock { segments.reduce(0) { $0 + Int64($1.size) } } }
  public var segmentCount: Int { stateLock.withLock { segments.count } }
  public var segmentBaseOffsets: [Int64] { stateLock.withLock { segments.map(\.baseOffset) } }

  /// The leader's high watermark update: raises it to `offset` clamped to [log start offset,
  /// log end offset], never lowers it. Returns the high watermark.
  @discardableResult
  public func updateHighWatermark(_ offset: Int64) -> Int64 {
    stateLock.withLock {
      highWatermarkOffset = max(highWatermarkOffset, min(max(offset, startOffset), endOffset))
      return highWatermarkOffset
    }
  }

  /// A follower's high watermark: the leader's `hw` from a fetch response, clamped to [log
  /// start offset, log end offset]; it may move down (Kafka's follower `updateHighWatermark`).
  /// Returns the high watermark.
  @discardableResult
  public func setHighWatermarkFromLeader(_ hw: Int64) -> Int64 {
    stateLock.withLock {
      highWatermarkOffset = min(max(hw, startOffset), endOffset)
      return highWatermarkOffset
    }
  }

  public func updateConfig(_ config: LogConfig) {
    appendLock.withLock {
      stateLock.withLock {
        currentConfig = config
        for segment in segments { segment.setMaxIndexSize(config.segmentIndexBytes) }
      }
    }
  }

  /// Records the topic id in `partition.metadata`. Fails if the log already has another one.
  public func assignTopicId(_ topicId: KafkaUuid) throws(StorageError) {
    try appendLock.withLock { () throws(StorageError) in
      if let current = stateLock.withLock({ currentTopicId }) {
        guard current == topicId else {
          throw .inconsistentTopicId(expected: topicId, found: current)
        }
        return
      }
      try PartitionMetadataFile(directory: dir).write(topicId: topicId)
      stateLock.withLock { currentTopicId = topicId }
    }
  }

  private func checkOpen() throws(StorageError) {
    if closed { throw .logClosed(topicPartition) }
  }

  // MARK: - Append

  /// Appends as the leader, atomically with respect to other appenders: `assignOffsets` gets the
  /// log end offset and returns complete v2 batches whose offsets it rewrote to start there
  /// (and whose timestamps and CRCs it set); they are stored as they are. The closure runs
  /// under the append lock: it may read this log's properties but must not append, roll,
  /// truncate or delete on it.
  ///
  /// Batches carrying a producer id go through the producer state: a client's retry of a batch
  /// already in the log is not appended (the result `isDuplicate`, with the original offsets),
  /// an older epoch throws `invalidProducerEpoch` and a sequence gap `outOfOrderSequence`.
  @discardableResult
  public func appendAsLeader(
    origin: RecordBatchValidator.Origin = .client, nowMs: Int64,
    _ assignOffsets: (_ logEndOffset: Int64) throws -> ByteBuffer
  ) throws -> LogAppendInfo {
    let info = try appendLock.withLock { () throws -> LogAppendInfo in
      try checkOpen()
      let records = try assignOffsets(endOffset)
      return try appendLocked(records, origin: origin, nowMs: nowMs)
    }
    try flushIfTooManyUnflushed(nowMs: nowMs)
    return info
  }

  /// Appends batches as the leader wrote them (follower path): offsets, leader epochs and
  /// producer fields are kept. The first batch must start at or after the log end offset
  /// (`unexpectedAppendOffset`), each next one after the previous (`offsetsOutOfOrder`); CRCs
  /// are verified (`invalidBatch`). Producer state and the leader epoch cache follow the
  /// batches as on the leader, so this replica deduplicates retries once it leads; the high
  /// watermark does not move.
  @discardableResult
  public func appendAsFollower(_ records: ByteBuffer, nowMs: Int64) throws(StorageError)
    -> LogAppendInfo
  {
    let info = try appendLock.withLock { () throws(StorageError) -> LogAppendInfo in
      try checkOpen()
      return try appendLocked(records, origin: .replication, nowMs: nowMs)
    }
    try flushIfTooManyUnflushed(nowMs: nowMs)
    return info
  }

  private func appendLocked(
    _ records: ByteBuffer, origin: RecordBatchValidator.Origin, nowMs: Int64
  ) throws(StorageError) -> LogAppendInfo {
    let asLeader = origin != .replication
    let config = currentConfig
    let logEnd = endOffset
    let analysis = try AppendAnalysis(
      records, contiguous: asLeader, verifyChecksums: !asLeader,
      maxMessageBytes: asLeader ? config.maxMessageBytes : nil,
      latestLeaderEpoch: leaderEpochCache.latestEpoch ?? -1)
    guard analysis.batchCount > 0 else {
      return LogAppendInfo(
        firstOffset: logEnd, lastOffset: logEnd - 1, maxTimestamp: -1, offsetOfMaxTimestamp: -1,
        batchCount: 0, bytes: 0, logStartOffset: startOffset, logEndOffset: logEnd)
    }
    if asLeader ? analysis.firstOffset != logEnd : analysis.firstOffset < logEnd {
      throw .unexpectedAppendOffset(expected: logEnd, found: analysis.firstOffset)
    }
    guard analysis.bytes <= Int(Int32.max) else {
      throw .recordListTooLarge(size: analysis.bytes)
    }
    let producerPlan =
      analysis.hasProducerIds
      ? try producerState.plan(records, origin: origin) : ProducerStateManager.AppendPlan()
    if let original = producerPlan.duplicate {
      return LogAppendInfo(
        firstOffset: original.firstOffset, lastOffset: original.lastOffset,
        maxTimestamp: original.timestamp, offsetOfMaxTimestamp: original.lastOffset,
        batchCount: 0, bytes: 0, logStartOffset: startOffset, logEndOffset: logEnd,
        isDuplicate: true)
    }
    guard var segment = segments.last else {
      throw .corruptLog(path: dir, reason: "log has no segment")
    }
    if segment.shouldRoll(
      bytes: analysis.bytes, lastOffset: analysis.lastOffset, config: config, nowMs: nowMs)
      || analysis.lastOffset - segment.baseOffset > Int64(Int32.max)
    {
      segment = try rollLocked(newBaseOffset: analysis.firstOffset)
    }
    guard analysis.lastOffset - segment.baseOffset <= Int64(Int32.max) else {
      throw .offsetsOutOfOrder("append spans more offsets than a segment can hold")
    }
    // Before the data, as Kafka does: a crash in between leaves an entry past the log end,
    // which the next open trims.
    if analysis.startsNewLeaderEpoch { try assignLeaderEpochs(of: records) }

    let position = segment.size
    do {
      try segment.log.write(records, at: position)
    } catch {
      try? segment.log.truncate(to: position)
      throw error
    }
    let nextOffset = analysis.lastOffset + 1
    try stateLock.withLock { () throws(StorageError) in
      do throws(StorageError) {
        try segment.commitAppend(
          records, nextOffset: nextOffset, indexIntervalBytes: config.indexIntervalBytes,
          nowMs: nowMs)
      } catch {
        try? segment.log.truncate(to: position)
        throw error
      }
      endOffset = nextOffset
    }
    producerState.apply(producerPlan)
    return LogAppendInfo(
      firstOffset: analysis.firstOffset, lastOffset: analysis.lastOffset,
      maxTimestamp: analysis.maxTimestamp, offsetOfMaxTimestamp: analysis.offsetOfMaxTimestamp,
      batchCount: analysis.batchCount, bytes: analysis.bytes, logStartOffset: startOffset,
      logEndOffset: nextOffset)
  }

  /// Under appendLock: an entry for each batch of `records` whose partition leader epoch is
  /// newer than the cache's latest.
  private func assignLeaderEpochs(of records: ByteBuffer) throws(StorageError) {
    var batches = BatchHeaderCursor(records)
    while let (header, _) = try batches.next() {
      if header.partitionLeaderEpoch > leaderEpochCache.latestEpoch ?? -1 {
        try leaderEpochCache.assign(
          epoch: header.partitionLeaderEpoch, startOffset: header.baseOffset)
      }
    }
  }

  // MARK: - Leader epochs

  /// A new leader records that its epoch starts at the log end offset (Kafka's
  /// `maybeAssignEpochStartOffset`); a no-op when `epoch` is not newer than the latest.
  public func assignLeaderEpoch(_ epoch: Int32) throws(StorageError) {
    try appendLock.withLock { () throws(StorageError) in
      try checkOpen()
      try leaderEpochCache.assign(epoch: epoch, startOffset: endOffset)
    }
  }

  /// The newest leader epoch in the log's epoch cache.
  public var latestLeaderEpoch: Int32? { leaderEpochCache.latestEpoch }

  /// Leader epoch → its start offset, oldest first.
  public var leaderEpochEntries: [(epoch: Int32, startOffset: Int64)] {
    leaderEpochCache.epochEntries
  }

  /// OffsetsForLeaderEpoch: the largest epoch ≤ `epoch` and its end offset (the next epoch's
  /// start offset, or the log end offset for the latest); (-1, -1) when unknown.
  public func endOffset(forLeaderEpoch epoch: Int32) -> (epoch: Int32, endOffset: Int64) {
    leaderEpochCache.endOffset(for: epoch, logEndOffset: logEndOffset)
  }

  /// At open: the epoch file trimmed to the log, or, when it is missing or unreadable, the
  /// entries rebuilt from the batch headers.
  private func loadLeaderEpochs() throws(StorageError) {
    let (logStart, logEnd) = stateLock.withLock { (startOffset, endOffset) }
    var stored: [(epoch: Int32, startOffset: Int64)]?
    var unreadable = false
    do {
      stored = try LeaderEpochFileCache.readFile(directory: dir)
    } catch {
      logger.warning("rebuilding unreadable leader epoch checkpoint: \(error)")
      unreadable = true
    }
    if let stored {
      try leaderEpochCache.reset(to: stored, persist: false)
      try leaderEpochCache.truncateFromEnd(endOffset: logEnd)
      try leaderEpochCache.truncateFromStart(startOffset: logStart)
      return
    }
    var rebuilt: [(epoch: Int32, startOffset: Int64)] = []
    if logStart < logEnd {
      try forEachBatchHeader(from: logStart) { header in
        if header.partitionLeaderEpoch > rebuilt.last?.epoch ?? -1 {
          rebuilt.append((header.partitionLeaderEpoch, max(header.baseOffset, logStart)))
        }
      }
    }
    // A new log has nothing to record: its first epoch entry writes the file.
    try leaderEpochCache.reset(to: rebuilt, persist: unreadable || !rebuilt.isEmpty)
  }

  /// Starts a new active segment at the log end offset (no-op if the active one is empty).
  public func roll() throws(StorageError) {
    try appendLock.withLock { () throws(StorageError) in
      try checkOpen()
      _ = try rollLocked(newBaseOffset: endOffset)
    }
  }

  /// Under appendLock. An empty active segment is replaced rather than kept.
  private func rollLocked(newBaseOffset: Int64) throws(StorageError) -> LogSegment {
    guard let active = segments.last else {
      throw .corruptLog(path: dir, reason: "log has no segment")
    }
    if active.size == 0 {
      if active.baseOffset == newBaseOffset { return active }
      let fresh = try LogSegment.create(dir: dir, baseOffset: newBaseOffset, config: currentConfig)
      stateLock.withLock {
        segments[segments.count - 1] = fresh
        directoryDirty = true
      }
      try? active.deleteFiles()
      return fresh
    }
    try stateLock.withLock { () throws(StorageError) in try active.onBecomeInactive() }
    let fresh = try LogSegment.create(dir: dir, baseOffset: newBaseOffset, config: currentConfig)
    stateLock.withLock {
      segments.append(fresh)
      directoryDirty = true
    }
    do {
      try producerState.takeSnapshot(at: newBaseOffset, sync: false)
    } catch {
      logger.warning("producer state snapshot at \(newBaseOffset) failed: \(error)")
    }
    logger.debug("rolled new segment at offset \(newBaseOffset)")
    return fresh
  }

  // MARK: - Read

  /// A segment as a reader sees it, captured under `stateLock`.
  private struct SegmentView {
    var segment: LogSegment
    var committedSize: Int
    /// The next segment's base offset, or the log end offset for the active segment.
    var upperBound: Int64
    /// Where to start scanning for the wanted offset (from the offset index).
    var scanStart: Int
  }

  /// Under stateLock: the view of segment `index`, scanning for `offset`.
  private func view(_ index: Int, for offset: Int64) -> SegmentView {
    let segment = segments[index]
    return SegmentView(
      segment: segment, committedSize: segment.size,
      upperBound: index + 1 < segments.count ? segments[index + 1].baseOffset : endOffset,
      scanStart: segment.offsetIndex.lookup(offset: offset).position)
  }

  /// Under stateLock: the last segment whose base offset is <= `offset`.
  private func floorSegmentIndex(_ offset: Int64) -> Int? {
    var low = 0
    var high = segments.count
    while low < high {
      let middle = (low + high) / 2
      if segments[middle].baseOffset <= offset { low = middle + 1 } else { high = middle }
    }
    return low == 0 ? nil : low - 1
  }

  /// Under stateLock: the first segment whose base offset is > `baseOffset`.
  private func segmentIndex(after baseOffset: Int64) -> Int? {
    var low = 0
    var high = segments.count
    while low < high {
      let middle = (low + high) / 2
      if segments[middle].baseOffset <= baseOffset { low = middle + 1 } else { high = middle }
    }
    return low < segments.count ? low : nil
  }

  /// Reads whole batches starting with the batch that contains `offset`, from one segment.
  ///
  /// - Parameters:
  ///   - maxBytes: at most this many bytes of whole batches...
  ///   - maxOffset: ...holding only offsets below this (exclusive; the high watermark for
  ///     consumers, nil for the log end offset)...
  ///   - minOneBatch: ...except that the first batch is returned whole even when larger than
  ///     `maxBytes` (KIP-74).
  /// - Throws: `offsetOutOfRange` when `offset` is below the log start or above the log end.
  public func read(offset: Int64, maxBytes: Int, maxOffset: Int64? = nil, minOneBatch: Bool)
    throws(StorageError) -> FetchDataInfo
  {
    let (logStart, logEnd, first) = stateLock.withLock {
      (startOffset, endOffset, floorSegmentIndex(offset).map { view($0, for: offset) })
    }
    guard offset >= logStart, offset <= logEnd else {
      throw .offsetOutOfRange(offset: offset, logStartOffset: logStart, logEndOffset: logEnd)
    }
    let empty = FetchDataInfo.empty(at: offset, logStartOffset: logStart, logEndOffset: logEnd)
    let limitOffset = min(maxOffset ?? logEnd, logEnd)
    guard offset < limitOffset, var current = first else { return empty }
    while true {
      var scanner = BatchScanner(file: current.segment.log, limit: current.committedSize)
      if let found = try LogSegment.findBatch(
        containing: offset, from: current.scanStart, scanner: &scanner)
      {
        guard found.header.nextOffset <= limitOffset else { return empty }
        let end = try endOfRead(
          in: current, from: found, limitOffset: limitOffset, maxBytes: maxBytes,
          minOneBatch: minOneBatch, scanner: &scanner)
        guard end > found.position else { return empty }
        return FetchDataInfo(
          fetchOffset: offset, file: current.segment.log, position: found.position,
          length: end - found.position, firstBatchBaseOffset: found.header.baseOffset,
          logStartOffset: logStart, logEndOffset: logEnd)
      }
      // Nothing at or after `offset` in this segment: the next one starts after it.
      let seen = current
      guard
        let next = stateLock.withLock({
          segmentIndex(following: seen).map { view($0, for: offset) }
        })
      else { return empty }
      current = next
    }
  }

  /// Where the read that starts with batch `found` ends: the end of the last whole batch that
  /// fits `maxBytes` and stays below `limitOffset`.
  private func endOfRead(
    in view: SegmentView, from found: (position: Int, header: RecordBatchHeader),
    limitOffset: Int64, maxBytes: Int, minOneBatch: Bool, scanner: inout BatchScanner
  ) throws(StorageError) -> Int {
    let segment = view.segment
    var maxPosition = view.committedSize
    if limitOffset < view.upperBound {
      let indexed = stateLock.withLock { segment.offsetIndex.lookup(offset: limitOffset).position }
      if let stop = try LogSegment.findBatch(
        containing: limitOffset, from: max(indexed, found.position), scanner: &scanner)
      {
        maxPosition = stop.position
      }
    }
    var end: Int
    if maxBytes >= maxPosition - found.position {
      end = maxPosition
    } else {
      let sizeLimit = found.position + max(maxBytes, 0)
      let indexed = stateLock.withLock { segment.offsetIndex.lookup(position: sizeLimit).position }
      end = max(indexed, found.position)
      while let batch = try scanner.header(at: end), end + batch.totalSize <= sizeLimit {
        end += batch.totalSize
      }
    }
    if end == found.position && minOneBatch {
      end = found.position + found.header.totalSize
    }
    return end
  }

  // MARK: - ListOffsets

  /// Answers ListOffsets for one partition. Nil when no batch matches (Kafka answers offset -1).
  public func fetchOffset(_ spec: OffsetSpec) throws(StorageError) -> TimestampAndOffset? {
    switch spec {
    case .earliest: return TimestampAndOffset(timestamp: -1, offset: logStartOffset)
    case .latest: return TimestampAndOffset(timestamp: -1, offset: logEndOffset)
    case .maxTimestamp: return try maxTimestampAndOffset()
    case .timestamp(let target): return try offsetForTimestamp(target)
    }
  }

  /// The first batch whose max timestamp is >= `target` and which holds offsets at or above
  /// the log start offset: found through the segments' max timestamps, then the time index,
  /// then a header scan.
  private func offsetForTimestamp(_ target: Int64) throws(StorageError) -> TimestampAndOffset? {
    let (logStart, logEnd, candidates) = stateLock.withLock {
      () -> (Int64, Int64, [SegmentView]) in
      let logStart = startOffset
      var candidates: [SegmentView] = []
      for index in segments.indices where segments[index].maxTimestampSoFar >= target {
        let segment = segments[index]
        let fromTimeIndex = max(segment.timeIndex.lookup(timestamp: target), logStart)
        candidates.append(view(index, for: fromTimeIndex))
      }
      return (logStart, endOffset, candidates)
    }
    for candidate in candidates {
      var scanner = BatchScanner(file: candidate.segment.log, limit: candidate.committedSize)
      var position = candidate.scanStart
      while let batch = try scanner.header(at: position) {
        if batch.maxTimestamp >= target && batch.lastOffset >= logStart {
          let info = FetchDataInfo(
            fetchOffset: batch.baseOffset, file: candidate.segment.log, position: position,
            length: batch.totalSize, firstBatchBaseOffset: batch.baseOffset,
            logStartOffset: logStart, logEndOffset: logEnd)
          return TimestampAndOffset(
            timestamp: batch.maxTimestamp, offset: max(batch.baseOffset, logStart), batch: info)
        }
        position += batch.totalSize
      }
    }
    return nil
  }

  /// The first batch carrying the log's largest timestamp (KIP-734): its max timestamp and last
  /// offset, plus the batch so the caller can find the exact record.
  private func maxTimestampAndOffset() throws(StorageError) -> TimestampAndOffset? {
    let found: (SegmentView, Int64, Int64, Int64)? = stateLock.withLock {
      var best: Int?
      for index in segments.indices
      where segments[index].maxTimestampSoFar >= 0
        && segments[index].maxTimestampSoFar > best.map({ segments[$0].maxTimestampSoFar }) ?? -1
      {
        best = index
      }
      return best.map {
        let offset = segments[$0].offsetOfMaxTimestampSoFar
        return (view($0, for: offset), offset, startOffset, endOffset)
      }
    }
    guard let (view, offset, logStart, logEnd) = found else { return nil }
    var scanner = BatchScanner(file: view.segment.log, limit: view.committedSize)
    guard
      let batch = try LogSegment.findBatch(
        containing: offset, from: view.scanStart, scanner: &scanner)
    else { return nil }
    let info = FetchDataInfo(
      fetchOffset: batch.header.baseOffset, file: view.segment.log, position: batch.position,
      length: batch.header.totalSize, firstBatchBaseOffset: batch.header.baseOffset,
      logStartOffset: logStart, logEndOffset: logEnd)
    return TimestampAndOffset(
      timestamp: batch.header.maxTimestamp, offset: batch.header.lastOffset, batch: info)
  }

  // MARK: - Retention and DeleteRecords

  /// Applies retention: deletes whole segments below the log start offset, older than
  /// `retention.ms` (by their newest timestamp) or beyond `retention.bytes` (oldest first),
  /// never one holding offsets at or above the high watermark. If every segment goes, a new
  /// empty active segment is rolled at the log end first. Returns the number deleted.
  @discardableResult
  public func deleteOldSegments(nowMs: Int64) throws(StorageError) -> Int {
    try appendLock.withLock { () throws(StorageError) -> Int in
      guard !closed else { return 0 }
      var deleted = try deleteLogStartOffsetBreachedSegments()
      let config = currentConfig
      guard config.cleanupPolicy.contains(.delete) else { return deleted }
      if config.retentionMs >= 0 {
        deleted += try deleteSegmentsLocked(reason: "retention.ms") { segment, _ in
          nowMs - segment.largestTimestamp() > config.retentionMs
        }
      }
      if config.retentionBytes >= 0 {
        var excess = segments.reduce(Int64(0)) { $0 + Int64($1.size) } - config.retentionBytes
        deleted += try deleteSegmentsLocked(reason: "retention.bytes") { segment, _ in
          guard excess - Int64(segment.size) >= 0 else { return false }
          excess -= Int64(segment.size)
          return true
        }
      }
      return deleted
    }
  }

  /// DeleteRecords: moves the log start offset up to `offset` (which must not be above the high
  /// watermark) and deletes the segments wholly below it. Returns the new log start offset.
  @discardableResult
  public func deleteRecordsBefore(_ offset: Int64) throws(StorageError) -> Int64 {
    try appendLock.withLock { () throws(StorageError) -> Int64 in
      try checkOpen()
      try stateLock.withLock { () throws(StorageError) in
        guard offset >= 0, offset <= highWatermarkOffset else {
          throw .offsetOutOfRange(
            offset: offset, logStartOffset: startOffset, logEndOffset: endOffset)
        }
        if offset > startOffset {
          startOffset = offset
          recoveryPointOffset = max(recoveryPointOffset, offset)
        }
      }
      _ = try deleteLogStartOffsetBreachedSegments()
      let logStart = stateLock.withLock { startOffset }
      try leaderEpochCache.truncateFromStart(startOffset: logStart)
      return logStart
    }
  }

  private func deleteLogStartOffsetBreachedSegments() throws(StorageError) -> Int {
    let logStart = startOffset
    return try deleteSegmentsLocked(reason: "log start offset \(logStart)") { _, next in
      next.map { $0.baseOffset <= logStart } ?? false
    }
  }

  /// Under appendLock: deletes the longest prefix of segments matching `predicate` (given the
  /// segment and the next one) whose offsets are all below the high watermark.
  private func deleteSegmentsLocked(
    reason: String, _ predicate: (LogSegment, LogSegment?) -> Bool
  ) throws(StorageError) -> Int {
    let deletable: [LogSegment] = stateLock.withLock {
      var result: [LogSegment] = []
      for index in segments.indices {
        let segment = segments[index]
        let next = index + 1 < segments.count ? segments[index + 1] : nil
        let upperBound = next?.baseOffset ?? endOffset
        let isEmptyActive = next == nil && segment.size == 0
        guard highWatermarkOffset >= upperBound, !isEmptyActive, predicate(segment, next) else {
          break
        }
        result.append(segment)
      }
      return result
    }
    guard !deletable.isEmpty else { return 0 }
    if deletable.count == segments.count {
      _ = try rollLocked(newBaseOffset: endOffset)
    }
    stateLock.withLock {
      segments.removeFirst(deletable.count)
      if let first = segments.first, first.baseOffset > startOffset {
        startOffset = first.baseOffset
      }
      recoveryPointOffset = max(recoveryPointOffset, startOffset)
      highWatermarkOffset = max(highWatermarkOffset, startOffset)
      directoryDirty = true
    }
    for segment in deletable { try segment.deleteFiles() }
    try leaderEpochCache.truncateFromStart(startOffset: logStartOffset)
    try producerState.deleteSnapshots(below: logStartOffset)
    logger.info(
      "deleted \(deletable.count) segment(s) for \(reason), log start offset \(logStartOffset)")
    return deletable.count
  }

  // MARK: - Truncation

  /// Removes every batch with offsets >= `offset` (a batch containing it goes whole), the
  /// leader epoch entries starting at or after the new log end, and lowers the high watermark
  /// to it. Below the log start offset this is `truncateFullyAndStartAt(offset)`. Returns
  /// false if there was no batch to remove (epoch entries at or past the log end still go, as
  /// in Kafka: a leader that assigned its epoch and wrote nothing).
  @discardableResult
  public func truncateTo(_ offset: Int64) throws(StorageError) -> Bool {
    try appendLock.withLock { () throws(StorageError) -> Bool in
      try checkOpen()
      guard offset >= 0 else { return false }
      guard offset < endOffset else {
        try leaderEpochCache.truncateFromEnd(endOffset: endOffset)
        return false
      }
      if offset < startOffset {
        try truncateFullyLocked(at: offset)
        return true
      }
      guard let keep = floorSegmentIndex(offset) else {
        try truncateFullyLocked(at: offset)
        return true
      }
      let target = segments[keep]
      let removed = Array(segments[(keep + 1)...])
      let plan = try target.planTruncation(to: offset)
      try stateLock.withLock { () throws(StorageError) in
        segments.removeLast(removed.count)
        try target.applyTruncation(plan)
        endOffset = target.nextOffset
        highWatermarkOffset = min(highWatermarkOffset, endOffset)
        recoveryPointOffset = min(recoveryPointOffset, endOffset)
        truncationCount += 1
        directoryDirty = true
      }
      try target.truncateFile()
      for segment in removed { try segment.deleteFiles() }
      try leaderEpochCache.truncateFromEnd(endOffset: endOffset)
      try loadProducerState()
      logger.info("truncated to offset \(offset), log end offset \(logEndOffset)")
      return true
    }
  }

  /// Deletes everything and restarts the log empty at `offset` (log start = log end = high
  /// watermark = offset); the leader epoch cache is cleared, the next append adds to it.
  public func truncateFullyAndStartAt(_ offset: Int64) throws(StorageError) {
    try appendLock.withLock { () throws(StorageError) in
      try checkOpen()
      try truncateFullyLocked(at: max(offset, 0))
    }
  }

  private func truncateFullyLocked(at offset: Int64) throws(StorageError) {
    // Unlink first: the new segment may reuse a name.
    for segment in segments { try segment.deleteFiles() }
    try producerState.reset()
    try leaderEpochCache.clear()
    let fresh = try LogSegment.create(dir: dir, baseOffset: offset, config: currentConfig)
    stateLock.withLock {
      segments = [fresh]
      endOffset = offset
      startOffset = offset
      highWatermarkOffset = offset
      recoveryPointOffset = offset
      truncationCount += 1
      directoryDirty = true
    }
    logger.info("truncated fully, log restarts at offset \(offset)")
  }

  // MARK: - Producer state

  /// Rebuilds the producer state from the newest snapshot at or below the log end plus the
  /// batch headers after it. At open, or under appendLock.
  private func loadProducerState() throws(StorageError) {
    let (logStart, logEnd) = stateLock.withLock { (startOffset, endOffset) }
    try producerState.load(logStartOffset: logStart, logEndOffset: logEnd) {
      (from, visit) throws(StorageError) in
      try forEachBatchHeader(from: from, visit)
    }
  }

  /// Calls `visit` with the header of every batch holding offsets at or after `offset`.
  private func forEachBatchHeader(from offset: Int64, _ visit: (RecordBatchHeader) -> Void)
    throws(StorageError)
  {
    var next = stateLock.withLock { floorSegmentIndex(offset).map { view($0, for: offset) } }
    if next == nil { next = stateLock.withLock { segments.isEmpty ? nil : view(0, for: offset) } }
    while let current = next {
      var scanner = BatchScanner(file: current.segment.log, limit: current.committedSize)
      var position = current.scanStart
      while let header = try scanner.header(at: position) {
        if header.lastOffset >= offset { visit(header) }
        position += header.totalSize
      }
      let base = current.segment.baseOffset
      next = stateLock.withLock { segmentIndex(after: base).map { view($0, for: offset) } }
    }
  }

  /// Forgets producers idle for `producer.id.expiration.ms`.
  @discardableResult
  public func removeExpiredProducers(nowMs: Int64, expirationMs: Int64) -> Int {
    producerState.removeExpired(nowMs: nowMs, expirationMs: expirationMs)
  }

  // MARK: - Compaction (LogCleaner)

  /// Under stateLock: what the cleaner needs to pick and clean a log. Nil once closed.
  func cleanerView() -> CleanerView? {
    stateLock.withLock {
      guard !closed, let active = segments.last else { return nil }
      let inactive = segments.dropLast()
      return CleanerView(
        segments: inactive.indices.map {
          CleanerView.Segment(
            segment: segments[$0], size: segments[$0].size,
            upperBound: segments[$0 + 1].baseOffset,
            largestTimestamp: segments[$0].largestTimestamp())
        }, activeBaseOffset: active.baseOffset, logStartOffset: startOffset,
        highWatermark: highWatermarkOffset, config: currentConfig)
    }
  }

  /// Under stateLock: where a read goes after finding nothing in `seen`: the next segment, or,
  /// when the cleaner has meanwhile merged `seen` with its successors, the merged segment that
  /// now covers `seen`'s upper bound (its base is `seen`'s, so "the segment after `seen`'s
  /// base" would skip the merged successors' records).
  private func segmentIndex(following seen: SegmentView) -> Int? {
    if let index = floorSegmentIndex(seen.upperBound), segments[index] !== seen.segment,
      segments[index].baseOffset < seen.upperBound
    {
      return index
    }
    return segmentIndex(after: seen.segment.baseOffset)
  }

  /// Replaces `old` (consecutive inactive segments, as `cleanerView` gave them) by the cleaned
  /// segment in `cleanedPath` (`<first base offset>.log.cleaned`, fsynced, with its indexes
  /// beside it as `.index.cleaned` and `.timeindex.cleaned`), under the append and state
  /// locks, in Kafka's crash-safe order: `.cleaned` → `.swap`, old files → `.deleted`,
  /// `.swap` → `.log` (and the indexes to their names), then the `.deleted` files go. Readers
  /// holding an old segment keep reading it through its open descriptors. Returns false,
  /// removing the cleaned files, when the log changed meanwhile (retention, truncation,
  /// close). `crashAfter` stops midway, leaving the files as a kill would (tests).
  func replaceSegments(
    _ old: [LogSegment], withCleaned cleanedPath: String, crashAfter: SegmentSwapStep? = nil
  ) throws(StorageError) -> Bool {
    if crashAfter == .cleanedWritten { return false }
    return try appendLock.withLock { () throws(StorageError) -> Bool in
      let start = stateLock.withLock { () -> Int? in
        guard !closed, let first = old.first,
          let index = segments.firstIndex(where: { $0 === first }),
          index + old.count < segments.count
        else { return nil }
        for (offset, segment) in old.enumerated() where segments[index + offset] !== segment {
          return nil
        }
        return index
      }
      guard let start, let first = old.first else {
        if let base = old.first?.baseOffset {
          CleanedSegmentWriter.remove(dir: dir, baseOffset: base)
        }
        try? FileSystem.removeFile(cleanedPath)
        return false
      }
      let base = first.baseOffset
      let stem = FileSystem.join(dir, LogSegment.fileStem(base))
      let swapPath = stem + LogSegment.logSuffix + LogSegmentSwap.swapSuffix
      try FileSystem.rename(cleanedPath, to: swapPath)
      try FileSystem.syncDirectory(dir)
      if crashAfter == .renamedToSwap { return false }
      var doomed: [String] = []
      for segment in old {
        let oldStem = FileSystem.join(dir, LogSegment.fileStem(segment.baseOffset))
        for suffix in [LogSegment.logSuffix, LogSegment.indexSuffix, LogSegment.timeIndexSuffix] {
          let path = oldStem + suffix
          guard FileSystem.exists(path) else { continue }
          try FileSystem.rename(path, to: path + LogSegmentSwap.deletedSuffix)
          doomed.append(path + LogSegmentSwap.deletedSuffix)
        }
      }
      if crashAfter == .renamedOldToDeleted { return false }
      try FileSystem.rename(swapPath, to: stem + LogSegment.logSuffix)
      if crashAfter == .swappedIn {
        try FileSystem.syncDirectory(dir)
        return false
      }
      let indexes = CleanedSegmentWriter.paths(dir: dir, baseOffset: base)
      for (from, to) in [
        (indexes.index, stem + LogSegment.indexSuffix),
        (indexes.time, stem + LogSegment.timeIndexSuffix),
      ] where FileSystem.exists(from) {
        try FileSystem.rename(from, to: to)
      }
      try FileSystem.syncDirectory(dir)
      // The indexes were built while writing: only their tail is scanned, unless they are
      // missing or do not fit the log, when the segment is rescanned.
      let opened = try LogSegment.open(dir: dir, baseOffset: base, config: currentConfig)
      let cleaned = opened.segment
      var trusted = opened.indexesValid
      if trusted {
        do { try cleaned.loadTail() } catch { trusted = false }
      }
      if !trusted { _ = try cleaned.recover(indexIntervalBytes: currentConfig.indexIntervalBytes) }
      stateLock.withLock {
        segments.replaceSubrange(start..<(start + old.count), with: [cleaned])
        directoryDirty = true
      }
      for path in doomed { try? FileSystem.removeFile(path) }
      return true
    }
  }

  // MARK: - Flush and close

  /// fsyncs every segment holding offsets at or above the recovery point (and the directory if
  /// segments were created or removed), then moves the recovery point to the log end offset
  /// seen at the start.
  public func flush(nowMs: Int64) throws(StorageError) {
    try flushLock.withLock { () throws(StorageError) in
      let (targets, logEnd, generation, syncDirectory) = stateLock.withLock {
        () -> ([LogSegment], Int64, Int, Bool) in
        let recoveryPoint = recoveryPointOffset
        var targets: [LogSegment] = []
        for index in segments.indices {
          let upperBound = index + 1 < segments.count ? segments[index + 1].baseOffset : .max
          if upperBound > recoveryPoint { targets.append(segments[index]) }
        }
        let dirty = directoryDirty
        directoryDirty = false
        return (targets, endOffset, truncationCount, dirty)
      }
      do throws(StorageError) {
        for segment in targets { try segment.flush() }
        if syncDirectory { try FileSystem.syncDirectory(dir) }
      } catch {
        if syncDirectory { stateLock.withLock { directoryDirty = true } }
        throw error
      }
      stateLock.withLock {
        // A truncation meanwhile may have replaced what was synced.
        if truncationCount == generation && logEnd > recoveryPointOffset {
          recoveryPointOffset = logEnd
        }
        lastFlushMs = nowMs
      }
    }
  }

  /// Flushes if `flush.ms` has passed since the last flush and something is unflushed.
  public func flushIfNeeded(nowMs: Int64) throws(StorageError) {
    let due = stateLock.withLock {
      endOffset > recoveryPointOffset && nowMs - lastFlushMs >= currentConfig.flushMs
    }
    if due { try flush(nowMs: nowMs) }
  }

  private func flushIfTooManyUnflushed(nowMs: Int64) throws(StorageError) {
    let due = stateLock.withLock {
      endOffset - recoveryPointOffset >= currentConfig.flushMessages
    }
    if due { try flush(nowMs: nowMs) }
  }

  /// Closes the log: records the active segment's final max timestamp, flushes (unless
  /// `flush` is false, for a log about to be deleted) and refuses further changes.
  public func close(flush: Bool = true, nowMs: Int64 = 0) throws(StorageError) {
    try appendLock.withLock { () throws(StorageError) in
      guard !closed else { return }
      if flush {
        if let active = segments.last {
          try stateLock.withLock { () throws(StorageError) in try active.onBecomeInactive() }
        }
        try self.flush(nowMs: nowMs)
        try producerState.takeSnapshot(at: endOffset, sync: true)
      }
      stateLock.withLock { closed = true }
    }
  }
}
