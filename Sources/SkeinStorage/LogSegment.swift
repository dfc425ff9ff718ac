import KafkaProtocol
import NIOCore

/// One segment of a partition log: `<base offset>.log` with its `.index` and `.timeindex`.
///
/// Not thread-safe on its own. The owning `PartitionLog` changes a segment's state only while
/// holding both its append lock and its state lock, and reads it under either; `bytesSince...`
/// is touched only under the append lock.
final class LogSegment: @unchecked Sendable {
  // @unchecked: see the locking rule above, enforced by PartitionLog (the only owner).

  static let logSuffix = ".log"
  static let indexSuffix = ".index"
  static let timeIndexSuffix = ".timeindex"

  let baseOffset: Int64
  let log: SegmentFile
  let offsetIndex: OffsetIndex
  let timeIndex: TimeIndex

  /// Bytes of whole batches in the file; readers never look past it.
  var size = 0
  /// The offset after the last batch (the base offset when empty).
  var nextOffset: Int64
  var maxTimestampSoFar: Int64 = -1
  /// Last offset of the first batch that reached `maxTimestampSoFar`.
  var offsetOfMaxTimestampSoFar: Int64
  /// When the first batch was appended (wall clock), for `segment.ms`.
  var firstAppendMs: Int64?
  var bytesSinceLastIndexEntry = 0

  /// `00000000000000000042`: the base offset as 20 zero-padded digits.
  static func fileStem(_ baseOffset: Int64) -> String {
    let digits = String(baseOffset)
    return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
  }

  /// The base offset in a segment file name, or nil when the name is not a segment file.
  static func baseOffset(fromFileName name: String, suffix: String) -> Int64? {
    guard name.hasSuffix(suffix) else { return nil }
    let stem = name.dropLast(suffix.count)
    guard stem.count == 20, stem.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let offset = Int64(stem)
    else { return nil }
    return offset
  }

  private init(
    baseOffset: Int64, log: SegmentFile, index: SegmentFile, timeIndex: SegmentFile,
    config: LogConfig
  ) {
    self.baseOffset = baseOffset
    self.log = log
    self.offsetIndex = OffsetIndex(
      file: index, baseOffset: baseOffset, maxIndexSize: config.segmentIndexBytes)
    self.timeIndex = TimeIndex(
      file: timeIndex, baseOffset: baseOffset, maxIndexSize: config.segmentIndexBytes)
    self.nextOffset = baseOffset
    self.offsetOfMaxTimestampSoFar = baseOffset
  }

  private static func paths(_ dir: String, _ baseOffset: Int64) -> (String, String, String) {
    let stem = FileSystem.join(dir, fileStem(baseOffset))
    return (stem + logSuffix, stem + indexSuffix, stem + timeIndexSuffix)
  }

  /// A new, empty segment (existing files of that name are emptied).
  static func create(dir: String, baseOffset: Int64, config: LogConfig) throws(StorageError)
    -> LogSegment
  {
    let (logPath, indexPath, timeIndexPath) = paths(dir, baseOffset)
    return LogSegment(
      baseOffset: baseOffset, log: try SegmentFile(path: logPath, truncate: true),
      index: try SegmentFile(path: indexPath, truncate: true),
      timeIndex: try SegmentFile(path: timeIndexPath, truncate: true), config: config)
  }

  /// Opens an existing segment and loads its indexes. `indexesValid` is false when an index was
  /// missing or its content cannot be trusted: the segment then needs `recover`.
  static func open(dir: String, baseOffset: Int64, config: LogConfig) throws(StorageError)
    -> (segment: LogSegment, indexesValid: Bool)
  {
    let (logPath, indexPath, timeIndexPath) = paths(dir, baseOffset)
    let indexExisted = FileSystem.exists(indexPath)
    let timeIndexExisted = FileSystem.exists(timeIndexPath)
    let segment = LogSegment(
      baseOffset: baseOffset, log: try SegmentFile(path: logPath),
      index: try SegmentFile(path: indexPath), timeIndex: try SegmentFile(path: timeIndexPath),
      config: config)
    let logSize = try segment.log.size()
    segment.size = logSize
    let offsetIndexValid = try segment.offsetIndex.load(logSize: logSize)
    let timeIndexValid = try segment.timeIndex.load()
    let missing = logSize > 0 && (!indexExisted || !timeIndexExisted)
    return (segment, offsetIndexValid && timeIndexValid && !missing)
  }

  func setMaxIndexSize(_ bytes: Int) {
    offsetIndex.setMaxIndexSize(bytes)
    timeIndex.setMaxIndexSize(bytes)
  }

  /// Accounts for one batch stored at `position`: max timestamp and index entries.
  private func track(_ batch: RecordBatchHeader, at position: Int, indexIntervalBytes: Int)
    throws(StorageError)
  {
    if batch.maxTimestamp > maxTimestampSoFar {
      maxTimestampSoFar = batch.maxTimestamp
      offsetOfMaxTimestampSoFar = batch.lastOffset
    }
    if bytesSinceLastIndexEntry > indexIntervalBytes {
      try offsetIndex.append(offset: batch.lastOffset, position: position)
      try timeIndex.maybeAppend(timestamp: maxTimestampSoFar, offset: offsetOfMaxTimestampSoFar)
      bytesSinceLastIndexEntry = 0
    }
    bytesSinceLastIndexEntry += batch.totalSize
  }

  /// Whether an append of `bytes` whose offsets end at `lastOffset` must go to a new segment.
  func shouldRoll(bytes: Int, lastOffset: Int64, config: LogConfig, nowMs: Int64) -> Bool {
    guard size > 0 else { return false }
    let timeReached = firstAppendMs.map { nowMs - $0 > config.segmentMs } ?? false
    return size > config.segmentBytes - bytes || timeReached || offsetIndex.isFull
      || timeIndex.isFull || lastOffset - baseOffset > Int64(Int32.max)
  }

  /// Records the batches of `records`, already written at `size`, as committed: index entries,
  /// max timestamp, size and next offset. Undone on failure.
  func commitAppend(
    _ records: ByteBuffer, nextOffset: Int64, indexIntervalBytes: Int, nowMs: Int64
  ) throws(StorageError) {
    let saved = (
      offsetIndex.count, timeIndex.count, maxTimestampSoFar, offsetOfMaxTimestampSoFar,
      bytesSinceLastIndexEntry
    )
    var position = size
    var index = records.readerIndex
    do {
      while index < records.writerIndex,
        let batch = try? RecordBatchHeader(peeking: records, at: index)
      {
        try track(batch, at: position, indexIntervalBytes: indexIntervalBytes)
        position += batch.totalSize
        index += batch.totalSize
      }
    } catch {
      try? offsetIndex.truncate(toEntries: saved.0)
      try? timeIndex.truncate(toEntries: saved.1)
      (maxTimestampSoFar, offsetOfMaxTimestampSoFar, bytesSinceLastIndexEntry) = (
        saved.2, saved.3, saved.4
      )
      throw error
    }
    size = position
    self.nextOffset = nextOffset
    if firstAppendMs == nil { firstAppendMs = nowMs }
  }

  /// Called when a newer segment takes over: records the final max timestamp in the time index.
  func onBecomeInactive() throws(StorageError) {
    try timeIndex.maybeAppend(
      timestamp: maxTimestampSoFar, offset: offsetOfMaxTimestampSoFar, skipFullCheck: true)
  }

  /// Rescans the whole file: checks every batch (header, length, offsets, CRC32C), truncates at
  /// the first invalid one and rebuilds both indexes. Returns the number of bytes cut off.
  func recover(indexIntervalBytes: Int) throws(StorageError) -> (truncated: Int, reason: String?) {
    let fileSize = try log.size()
    try offsetIndex.reset()
    try timeIndex.reset()
    maxTimestampSoFar = -1
    offsetOfMaxTimestampSoFar = baseOffset
    bytesSinceLastIndexEntry = 0
    var scanner = BatchScanner(file: log, limit: fileSize, windowSize: 1 << 20)
    var position = 0
    var next = baseOffset
    var reason: String?
    scan: while position < fileSize {
      switch try scanner.step(at: position) {
      case .end:
        break scan
      case .invalid(let why):
        reason = why
        break scan
      case .batch(let batch):
        guard batch.baseOffset >= next, batch.lastOffset - baseOffset <= Int64(Int32.max) else {
          reason = "batch offsets \(batch.baseOffset)...\(batch.lastOffset) out of order"
          break scan
        }
        let covered = batch.totalSize - RecordBatchHeader.crcCoverageStart
        guard
          let crc = try scanner.checksum(
            at: position + RecordBatchHeader.crcCoverageStart, count: covered)
        else {
          reason = "file shorter than expected"
          break scan
        }
        guard crc == batch.crc else {
          reason = "CRC mismatch in batch at offset \(batch.baseOffset)"
          break scan
        }
        try track(batch, at: position, indexIntervalBytes: indexIntervalBytes)
        position += batch.totalSize
        next = batch.nextOffset
      }
    }
    if position < fileSize { try log.truncate(to: position) }
    size = position
    nextOffset = next
    try timeIndex.maybeAppend(
      timestamp: maxTimestampSoFar, offset: offsetOfMaxTimestampSoFar, skipFullCheck: true)
    return (fileSize - position, reason)
  }

  /// For a segment trusted without recovery: finds the next offset and max timestamp by scanning
  /// headers from the last index entries to the end. Throws `corruptLog` if that tail is not
  /// made of whole, valid batch headers (the caller then recovers the segment).
  func loadTail() throws(StorageError) {
    let fileSize = try log.size()
    size = fileSize
    let last = offsetIndex.lastEntry
    if let entry = timeIndex.lastEntry {
      maxTimestampSoFar = entry.timestamp
      offsetOfMaxTimestampSoFar = entry.offset
    }
    var scanner = BatchScanner(file: log, limit: fileSize)
    var position = last.position
    var next = position == 0 ? baseOffset : last.offset + 1
    while let batch = try scanner.header(at: position) {
      if batch.maxTimestamp > maxTimestampSoFar {
        maxTimestampSoFar = batch.maxTimestamp
        offsetOfMaxTimestampSoFar = batch.lastOffset
      }
      next = batch.nextOffset
      position += batch.totalSize
    }
    nextOffset = next
    bytesSinceLastIndexEntry = fileSize - last.position
  }

  /// Uses the first batch's timestamp as the time of the first append (as Kafka does after a
  /// restart), or `nowMs` when it has none or it lies in the future.
  func loadFirstAppendTime(nowMs: Int64) {
    guard size > 0 else {
      firstAppendMs = nil
      return
    }
    var scanner = BatchScanner(file: log, limit: size, windowSize: RecordBatchHeader.size)
    if let batch = try? scanner.header(at: 0), batch.maxTimestamp >= 0,
      batch.maxTimestamp <= nowMs
    {
      firstAppendMs = batch.maxTimestamp
    } else {
      firstAppendMs = nowMs
    }
  }

  /// The newest timestamp for retention: the max timestamp, or the file's modification time
  /// when no batch carries one.
  func largestTimestamp() -> Int64 {
    if maxTimestampSoFar > 0 { return maxTimestampSoFar }
    return (try? log.modificationTimeMs()) ?? 0
  }

  /// Finds, from `position`, the first batch whose last offset is >= `offset`.
  static func findBatch(
    containing offset: Int64, from position: Int, scanner: inout BatchScanner
  ) throws(StorageError) -> (position: Int, header: RecordBatchHeader)? {
    var position = position
    while let batch = try scanner.header(at: position) {
      if batch.lastOffset >= offset { return (position, batch) }
      position += batch.totalSize
    }
    return nil
  }

  struct TruncationPlan {
    var size: Int
    var nextOffset: Int64
    var offsetIndexEntries: Int
    var timeIndexEntries: Int
    var maxTimestamp: Int64
    var offsetOfMaxTimestamp: Int64
  }

  /// Works out, without changing anything, how to drop every batch with offsets >= `offset`.
  /// Must run under the append lock (reads the indexes without the state lock).
  func planTruncation(to offset: Int64) throws(StorageError) -> TruncationPlan {
    var scanner = BatchScanner(file: log, limit: size)
    let start = offsetIndex.lookup(offset: offset)
    let cut = try Self.findBatch(containing: offset, from: start.position, scanner: &scanner)
    let newSize = cut?.position ?? size
    let newNext = cut.map { min($0.header.baseOffset, nextOffset) } ?? nextOffset
    let timeEntries = timeIndex.entryCount(below: offset)
    var maxTimestamp: Int64 = -1
    var offsetOfMax = baseOffset
    if timeEntries > 0 {
      let entry = timeIndex.entry(at: timeEntries - 1)
      maxTimestamp = entry.timestamp
      offsetOfMax = entry.offset
    }
    // Batches after the last kept time index entry may carry larger timestamps.
    var position = min(offsetIndex.lookup(offset: offsetOfMax).position, newSize)
    var tail = BatchScanner(file: log, limit: newSize)
    while let batch = try tail.header(at: position) {
      if batch.maxTimestamp > maxTimestamp {
        maxTimestamp = batch.maxTimestamp
        offsetOfMax = batch.lastOffset
      }
      position += batch.totalSize
    }
    return TruncationPlan(
      size: newSize, nextOffset: newNext,
      offsetIndexEntries: offsetIndex.entryCount(below: offset), timeIndexEntries: timeEntries,
      maxTimestamp: maxTimestamp, offsetOfMaxTimestamp: offsetOfMax)
  }

  /// Applies a plan to the in-memory state and the index files (the log file is cut by
  /// `truncateFile` afterwards, once readers can no longer reach the dropped bytes).
  func applyTruncation(_ plan: TruncationPlan) throws(StorageError) {
    try offsetIndex.truncate(toEntries: plan.offsetIndexEntries)
    try timeIndex.truncate(toEntries: plan.timeIndexEntries)
    size = plan.size
    nextOffset = plan.nextOffset
    maxTimestampSoFar = plan.maxTimestamp
    offsetOfMaxTimestampSoFar = plan.offsetOfMaxTimestamp
    bytesSinceLastIndexEntry = 0
    if size == 0 { firstAppendMs = nil }
  }

  func truncateFile() throws(StorageError) {
    try log.truncate(to: size)
  }

  func flush() throws(StorageError) {
    try log.sync()
    try offsetIndex.file.sync()
    try timeIndex.file.sync()
  }

  /// Removes the three files; open readers keep the data through their descriptors.
  func deleteFiles() throws(StorageError) {
    try log.unlinkFile()
    try offsetIndex.file.unlinkFile()
    try timeIndex.file.unlinkFile()
  }
}
