import KafkaProtocol
import Logging

/// What the cleaner sees of a partition log: its inactive segments with the sizes committed
/// when the view was taken, and the offsets that bound what may be cleaned.
struct CleanerView {
  struct Segment {
    var segment: LogSegment
    var size: Int
    /// The next segment's base offset.
    var upperBound: Int64
    /// The newest timestamp in the segment (for `min.compaction.lag.ms`).
    var largestTimestamp: Int64
    var baseOffset: Int64 { segment.baseOffset }
  }

  /// Every segment but the active one, oldest first.
  var segments: [Segment]
  var activeBaseOffset: Int64
  var logStartOffset: Int64
  var highWatermark: Int64
  var config: LogConfig
}

/// The steps of swapping a cleaned segment in, after which a test may simulate a crash.
enum SegmentSwapStep: Sendable {
  /// `<base>.log.cleaned` written and fsynced, nothing renamed yet.
  case cleanedWritten
  /// `<base>.log.cleaned` renamed to `<base>.log.swap`.
  case renamedToSwap
  /// The replaced segments' files renamed to `*.deleted`.
  case renamedOldToDeleted
  /// `<base>.log.swap` renamed to `<base>.log`.
  case swappedIn
}

/// Kafka's rules for the cleaner's files when a log is opened, so that a crash at any point of
/// a swap leaves a log that loses nothing it kept:
/// - `.deleted` files are replaced segments: removed.
/// - `.cleaned` files are unfinished cleanings: removed, and so is any `.swap` file at or after
///   the smallest of their base offsets (it may belong to the same unfinished pass).
/// - Other `.swap` files are complete cleaned segments: every segment whose base offset lies in
///   the swap's offset range is removed (with its indexes) and the swap becomes the segment.
enum LogSegmentSwap {
  static let cleanedSuffix = ".cleaned"
  static let swapSuffix = ".swap"
  static let deletedSuffix = ".deleted"

  /// Applies the rules above to `dir`; returns the number of swaps completed.
  @discardableResult
  static func completeInterruptedSwaps(in dir: String, logger: Logger) throws(StorageError) -> Int {
    let names = try FileSystem.list(dir)
    var minCleanedBase = Int64.max
    var swaps: [Int64] = []
    for name in names {
      if name.hasSuffix(deletedSuffix) {
        try FileSystem.removeFile(FileSystem.join(dir, name))
      } else if name.hasSuffix(cleanedSuffix) {
        let stem = String(name.dropLast(cleanedSuffix.count))
        if let base = LogSegment.baseOffset(fromFileName: stem, suffix: LogSegment.logSuffix) {
          minCleanedBase = min(minCleanedBase, base)
        }
        try FileSystem.removeFile(FileSystem.join(dir, name))
      } else if name.hasSuffix(swapSuffix) {
        let stem = String(name.dropLast(swapSuffix.count))
        if let base = LogSegment.baseOffset(fromFileName: stem, suffix: LogSegment.logSuffix) {
          swaps.append(base)
        } else {
          try FileSystem.removeFile(FileSystem.join(dir, name))
        }
      }
    }
    var completed = 0
    for base in swaps.sorted() {
      let stem = FileSystem.join(dir, LogSegment.fileStem(base))
      let swapPath = stem + LogSegment.logSuffix + swapSuffix
      if base >= minCleanedBase {
        try FileSystem.removeFile(swapPath)
        logger.warning("removed cleaned segment \(base) of an unfinished cleaning")
        continue
      }
      let nextOffset = try nextOffset(ofSegmentAt: swapPath, baseOffset: base)
      for name in try FileSystem.list(dir) {
        let segmentBase =
          LogSegment.baseOffset(fromFileName: name, suffix: LogSegment.logSuffix)
          ?? LogSegment.baseOffset(fromFileName: name, suffix: LogSegment.indexSuffix)
          ?? LogSegment.baseOffset(fromFileName: name, suffix: LogSegment.timeIndexSuffix)
        guard let segmentBase, segmentBase >= base, segmentBase == base || segmentBase < nextOffset
        else { continue }
        try FileSystem.removeFile(FileSystem.join(dir, name))
      }
      try FileSystem.rename(swapPath, to: stem + LogSegment.logSuffix)
      completed += 1
      logger.info("completed the interrupted swap of cleaned segment \(base)")
    }
    if completed > 0 { try FileSystem.syncDirectory(dir) }
    return completed
  }

  /// The offset after the last whole batch of the segment file at `path`.
  static func nextOffset(ofSegmentAt path: String, baseOffset: Int64) throws(StorageError) -> Int64
  {
    let file = try SegmentFile(path: path)
    var scanner = BatchScanner(file: file, limit: try file.size(), windowSize: 1 << 16)
    var position = 0
    var next = baseOffset
    while case .batch(let batch) = try scanner.step(at: position) {
      next = batch.nextOffset
      position += batch.totalSize
    }
    return next
  }
}
