import KafkaProtocol
import NIOCore

/// Writes a cleaned segment (`<base>.log.cleaned`) with its offset and time indexes
/// (`<base>.index.cleaned`, `<base>.timeindex.cleaned`) built as the batches go in, so that
/// swapping it in needs no rescan while appends wait.
struct CleanedSegmentWriter {
  let baseOffset: Int64
  let logPath: String
  let indexPath: String
  let timeIndexPath: String
  private let log: SegmentFile
  private let offsetIndex: OffsetIndex
  private let timeIndex: TimeIndex
  private let indexIntervalBytes: Int
  private(set) var size = 0
  private var bytesSinceLastIndexEntry = 0
  private var maxTimestamp: Int64 = -1
  private var offsetOfMaxTimestamp: Int64

  /// The three paths for a cleaned segment of `baseOffset` in `dir`.
  static func paths(dir: String, baseOffset: Int64) -> (log: String, index: String, time: String) {
    let stem = FileSystem.join(dir, LogSegment.fileStem(baseOffset))
    let suffix = LogSegmentSwap.cleanedSuffix
    return (
      stem + LogSegment.logSuffix + suffix, stem + LogSegment.indexSuffix + suffix,
      stem + LogSegment.timeIndexSuffix + suffix
    )
  }

  init(dir: String, baseOffset: Int64, config: LogConfig) throws(StorageError) {
    let paths = Self.paths(dir: dir, baseOffset: baseOffset)
    self.baseOffset = baseOffset
    (logPath, indexPath, timeIndexPath) = paths
    log = try SegmentFile(path: paths.log, truncate: true)
    offsetIndex = OffsetIndex(
      file: try SegmentFile(path: paths.index, truncate: true), baseOffset: baseOffset,
      maxIndexSize: config.segmentIndexBytes)
    timeIndex = TimeIndex(
      file: try SegmentFile(path: paths.time, truncate: true), baseOffset: baseOffset,
      maxIndexSize: config.segmentIndexBytes)
    indexIntervalBytes = config.indexIntervalBytes
    offsetOfMaxTimestamp = baseOffset
  }

  /// Appends one whole batch, indexing it as an append to a live segment would.
  mutating func append(_ batch: ByteBuffer) throws(StorageError) {
    let header: RecordBatchHeader
    do {
      header = try RecordBatchHeader(peeking: batch, at: batch.readerIndex)
    } catch {
      throw .invalidBatch(error)
    }
    try log.write(batch, at: size)
    if header.maxTimestamp > maxTimestamp {
      maxTimestamp = header.maxTimestamp
      offsetOfMaxTimestamp = header.lastOffset
    }
    if bytesSinceLastIndexEntry > indexIntervalBytes {
      try offsetIndex.append(offset: header.lastOffset, position: size)
      try timeIndex.maybeAppend(timestamp: maxTimestamp, offset: offsetOfMaxTimestamp)
      bytesSinceLastIndexEntry = 0
    }
    bytesSinceLastIndexEntry += header.totalSize
    size += header.totalSize
  }

  /// Records the final max timestamp, gives the log file `modifiedMs` as its modification
  /// time, and fsyncs the three files.
  func finish(modifiedMs: Int64?) throws(StorageError) {
    try timeIndex.maybeAppend(
      timestamp: maxTimestamp, offset: offsetOfMaxTimestamp, skipFullCheck: true)
    if let modifiedMs { try log.setModificationTime(milliseconds: modifiedMs) }
    try log.sync()
    try offsetIndex.file.sync()
    try timeIndex.file.sync()
  }

  /// Removes the three files (an abandoned cleaning).
  static func remove(dir: String, baseOffset: Int64) {
    let paths = paths(dir: dir, baseOffset: baseOffset)
    for path in [paths.log, paths.index, paths.time] { try? FileSystem.removeFile(path) }
  }
}
