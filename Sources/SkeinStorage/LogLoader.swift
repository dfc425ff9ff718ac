import Logging

/// What opening a log found and did.
public struct LogLoadInfo: Sendable, Equatable {
  /// The data dir had the clean-shutdown marker, so flushed files were trusted.
  public var hadCleanShutdown: Bool
  /// Segments after loading.
  public var segmentCount = 0
  /// Segments rescanned batch by batch (CRC checked, indexes rebuilt).
  public var recoveredSegments = 0
  /// Of those, segments rescanned because an index was missing or corrupt.
  public var rebuiltIndexes = 0
  /// Bytes cut off torn or corrupt segment tails.
  public var truncatedBytes = 0
  /// Segments deleted because they followed a corrupt one or lay below the log start.
  public var deletedSegments = 0

  public init(hadCleanShutdown: Bool) {
    self.hadCleanShutdown = hadCleanShutdown
  }
}

/// Opens the segments of a partition directory and repairs them (Kafka's LogLoader).
///
/// Without a clean shutdown, every segment holding offsets at or above the recovery point is
/// rescanned: each batch's header, length, offsets and CRC32C are checked, the first bad one
/// and everything after it (later segments included) is cut off, and the indexes are rebuilt.
/// Other segments are trusted, except that a missing or corrupt index, or a tail that does not
/// scan, gets the same rescan.
struct LogLoader {
  struct Loaded {
    var segments: ContiguousArray<LogSegment>
    var logStartOffset: Int64
    var logEndOffset: Int64
    var recoveryPoint: Int64
    var info: LogLoadInfo
  }

  static let temporarySuffixes = [".deleted", ".cleaned", ".swap", ".tmp"]

  let dir: String
  let config: LogConfig
  let recoveryPoint: Int64
  let logStartOffsetCheckpoint: Int64?
  let hadCleanShutdown: Bool
  let nowMs: Int64
  let logger: Logger

  func load() throws(StorageError) -> Loaded {
    try FileSystem.createDirectory(dir)
    try LogSegmentSwap.completeInterruptedSwaps(in: dir, logger: logger)
    var info = LogLoadInfo(hadCleanShutdown: hadCleanShutdown)

    var bases: [Int64] = []
    var indexFiles: [(name: String, baseOffset: Int64)] = []
    for name in try FileSystem.list(dir) {
      if Self.temporarySuffixes.contains(where: { name.hasSuffix($0) }) {
        try FileSystem.removeFile(FileSystem.join(dir, name))
      } else if let base = LogSegment.baseOffset(fromFileName: name, suffix: LogSegment.logSuffix) {
        bases.append(base)
      } else if let base = LogSegment.baseOffset(fromFileName: name, suffix: LogSegment.indexSuffix)
        ?? LogSegment.baseOffset(fromFileName: name, suffix: LogSegment.timeIndexSuffix)
      {
        indexFiles.append((name, base))
      }
    }
    let known = Set(bases)
    for file in indexFiles where !known.contains(file.baseOffset) {
      try FileSystem.removeFile(FileSystem.join(dir, file.name))
    }
    bases.sort()

    var segments: ContiguousArray<LogSegment> = []
    var indexesValid: [Bool] = []
    for base in bases {
      let opened = try LogSegment.open(dir: dir, baseOffset: base, config: config)
      segments.append(opened.segment)
      indexesValid.append(opened.indexesValid)
    }

    var index = 0
    while index < segments.count {
      let segment = segments[index]
      let upperBound = index + 1 < segments.count ? segments[index + 1].baseOffset : .max
      let unflushed = !hadCleanShutdown && upperBound > recoveryPoint
      var needsRecovery = unflushed || !indexesValid[index]
      if !needsRecovery {
        do {
          try segment.loadTail()
        } catch {
          guard case .corruptLog(_, let reason) = error else { throw error }
          logger.warning("segment \(segment.baseOffset) does not scan (\(reason)), recovering it")
          needsRecovery = true
        }
      }
      if needsRecovery {
        let result = try segment.recover(indexIntervalBytes: config.indexIntervalBytes)
        info.recoveredSegments += 1
        if !indexesValid[index] { info.rebuiltIndexes += 1 }
        if result.truncated > 0 {
          info.truncatedBytes += result.truncated
          logger.warning(
            "truncated \(result.truncated) bytes of segment \(segment.baseOffset): \(result.reason ?? "invalid data")"
          )
          if unflushed && index + 1 < segments.count {
            let later = segments[(index + 1)...]
            for dropped in later { try dropped.deleteFiles() }
            info.deletedSegments += later.count
            logger.warning("deleted \(later.count) segment(s) after the corrupt one")
            segments.removeLast(later.count)
          }
        }
      }
      index += 1
    }

    let checkpointStart = max(logStartOffsetCheckpoint ?? 0, 0)
    if segments.isEmpty {
      segments.append(try LogSegment.create(dir: dir, baseOffset: checkpointStart, config: config))
    }
    var logEnd = segments[segments.count - 1].nextOffset
    if logEnd < checkpointStart {
      // Everything left lies below the recorded log start: start over there.
      for segment in segments { try segment.deleteFiles() }
      info.deletedSegments += segments.count
      segments = [try LogSegment.create(dir: dir, baseOffset: checkpointStart, config: config)]
      logEnd = checkpointStart
    }
    segments[segments.count - 1].loadFirstAppendTime(nowMs: nowMs)
    let logStart = min(max(checkpointStart, segments[0].baseOffset), logEnd)
    let recovered = hadCleanShutdown ? logEnd : min(max(recoveryPoint, 0), logEnd)
    info.segmentCount = segments.count
    if info.recoveredSegments > 0 {
      logger.info(
        "loaded \(segments.count) segment(s), recovered \(info.recoveredSegments), log end offset \(logEnd)"
      )
    }
    return Loaded(
      segments: segments, logStartOffset: logStart, logEndOffset: logEnd,
      recoveryPoint: recovered, info: info)
  }
}
