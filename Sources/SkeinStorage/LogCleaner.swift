import KafkaProtocol
import Logging

/// The broker's `log.cleaner.*` settings, with Kafka's names and defaults.
public struct LogCleanerConfig: Sendable, Equatable {
  /// `log.cleaner.enable`.
  public var enable = true
  /// `log.cleaner.threads`.
  public var threads = 1
  /// `log.cleaner.io.max.bytes.per.second`: read plus write bandwidth of all cleaner threads.
  public var ioMaxBytesPerSecond = Double.greatestFiniteMagnitude
  /// `log.cleaner.backoff.ms`: the pause when no log needs cleaning.
  public var backoffMs: Int64 = 15_000
  /// `log.cleaner.dedupe.buffer.size`: memory for the key maps of all threads.
  public var dedupeBufferSize = 134_217_728

  public init() {}
}

/// Compacts the logs whose `cleanup.policy` includes `compact` (Kafka's LogCleaner): threads
/// pick the log with the highest dirty ratio above its `min.cleanable.dirty.ratio` (or one past
/// `max.compaction.lag.ms`, or holding a tombstone whose delete horizon has passed), clean it,
/// and record how far it is clean in `cleaner-offset-checkpoint`.
public final class LogCleaner: @unchecked Sendable {
  // @unchecked Sendable: every mutable field is touched only under `lock`; the logs are
  // thread-safe; `threads` is written by `startup` and `shutdown` only, under `lock`.

  public static let checkpointFileName = "cleaner-offset-checkpoint"

  public let config: LogCleanerConfig
  private let logs: @Sendable () -> [PartitionLog]
  private let checkpointFile: OffsetCheckpointFile
  private let logger: Logger
  private let lock = StorageLock()
  private var checkpoints: [TopicPartition: Int64] = [:]
  private var inProgress: Set<TopicPartition> = []
  private var deleteHorizons: [TopicPartition: Int64] = [:]
  /// Logs whose stamped delete horizons were read from disk since the start.
  private var horizonsLoaded: Set<TopicPartition> = []
  /// Logs whose cleaning failed (a corrupt batch, an I/O error): skipped until the restart, as
  /// Kafka marks them uncleanable, rather than failing again at every backoff.
  private var uncleanable: Set<TopicPartition> = []
  private var stopping = false
  private var threads: [CleanerThread] = []
  private var crashPoint: SegmentSwapStep?
  /// Stops a pass midway through a swap, leaving the files as a kill would (crash tests).
  var crashAfter: SegmentSwapStep? {
    get { lock.withLock { crashPoint } }
    set { lock.withLock { crashPoint = newValue } }
  }

  /// - Parameter logs: the logs to consider (the LogManager's, read at each pass).
  public init(
    dataDir: String, config: LogCleanerConfig, logs: @escaping @Sendable () -> [PartitionLog],
    logger: Logger = Logger(label: "skein.cleaner")
  ) {
    self.config = config
    self.logs = logs
    self.logger = logger
    self.checkpointFile = OffsetCheckpointFile(
      path: FileSystem.join(dataDir, Self.checkpointFileName))
    do {
      checkpoints = try checkpointFile.read()
    } catch {
      // Cleaning from the log start again is always safe.
      logger.warning("ignoring unreadable cleaner offset checkpoint: \(error)")
    }
  }

  /// Partitions skipped after a failed cleaning.
  public var uncleanablePartitions: Set<TopicPartition> { lock.withLock { uncleanable } }

  /// How far each log is clean, as the checkpoint records it.
  public var cleanedOffsets: [TopicPartition: Int64] { lock.withLock { checkpoints } }

  /// Starts `log.cleaner.threads` threads (none when `log.cleaner.enable` is false).
  public func startup() {
    guard config.enable else { return }
    let count = max(config.threads, 1)
    let started = (0..<count).compactMap { _ in
      CleanerThread.start { [self] in self.runThread() }
    }
    lock.withLock { threads = started }
    logger.info("started \(started.count) log cleaner thread(s)")
  }

  /// Stops the threads, abandoning a cleaning in progress (its `.cleaned` file is removed).
  public func shutdown() {
    let running = lock.withLock {
      stopping = true
      let running = threads
      threads = []
      return running
    }
    for thread in running { thread.join() }
  }

  /// Forgets a deleted partition.
  public func forget(_ partition: TopicPartition) {
    lock.withLock {
      checkpoints[partition] = nil
      deleteHorizons[partition] = nil
      horizonsLoaded.remove(partition)
      uncleanable.remove(partition)
    }
  }

  private var isStopping: Bool { lock.withLock { stopping } }

  private func runThread() {
    while !isStopping {
      // Failures are logged where they happen.
      let cleaned = (try? cleanFilthiestLog(nowMs: CleanerThread.wallClockMilliseconds())) ?? nil
      if cleaned != nil { continue }
      var waited: Int64 = 0
      while waited < config.backoffMs && !isStopping {
        let step = min(100, config.backoffMs - waited)
        CleanerThread.sleep(milliseconds: Int(step))
        waited += step
      }
    }
  }

  /// Cleans the log that most needs it, if any does; returns its partition.
  @discardableResult
  public func cleanFilthiestLog(nowMs: Int64) throws -> TopicPartition? {
    guard let (log, view, range) = grabFilthiestLog(nowMs: nowMs) else { return nil }
    let partition = log.topicPartition
    defer { _ = lock.withLock { inProgress.remove(partition) } }
    let threads = max(config.threads, 1)
    let stop: @Sendable () -> Bool = { [weak self] in self?.isStopping ?? true }
    var pass = LogCleaningPass(
      log: log, view: view, range: range, nowMs: nowMs,
      // Each active producer's last batch survives, if need be empty, so its sequence does.
      producerLastOffsets: log.producerState.lastBatchOffsets,
      mapBudgetBytes: max(config.dedupeBufferSize / threads, 1 << 16),
      throttler: Throttler(bytesPerSecond: config.ioMaxBytesPerSecond / Double(threads)),
      isCancelled: stop, crashAfter: crashAfter)
    let outcome: LogCleaningPass.Result?
    do {
      outcome = try pass.run()
    } catch {
      lock.withLock { _ = uncleanable.insert(partition) }
      logger.error("cleaning \(partition) failed, not cleaning it again until restart: \(error)")
      throw error
    }
    guard let result = outcome else { return nil }
    let snapshot = lock.withLock { () -> [TopicPartition: Int64] in
      checkpoints[partition] = result.cleanedUpTo
      deleteHorizons[partition] = result.earliestDeleteHorizon
      return checkpoints
    }
    do {
      try checkpointFile.write(snapshot)
    } catch {
      logger.error("writing the cleaner offset checkpoint failed: \(error)")
      throw error
    }
    logger.info(
      "cleaned \(partition) up to offset \(result.cleanedUpTo): \(result.segmentsReplaced) segment(s), \(result.bytesRead) bytes read, \(result.bytesWritten) written, \(result.recordsRemoved) record(s) removed"
    )
    return partition
  }

  /// Reads, once per log after the start, the delete horizons its batches carry.
  private func loadDeleteHorizons(_ logs: [PartitionLog]) {
    for log in logs {
      let partition = log.topicPartition
      guard !lock.withLock({ horizonsLoaded.contains(partition) }),
        let view = log.cleanerView()
      else { continue }
      do {
        let horizon = try view.earliestDeleteHorizon()
        lock.withLock {
          horizonsLoaded.insert(partition)
          if let horizon {
            deleteHorizons[partition] = min(deleteHorizons[partition] ?? .max, horizon)
          }
        }
      } catch {
        logger.warning("reading the delete horizons of \(partition) failed: \(error)")
      }
    }
  }

  /// The compacted log with the highest dirty ratio above its threshold, or one that must be
  /// cleaned now; marked in progress.
  private func grabFilthiestLog(nowMs: Int64) -> (PartitionLog, CleanerView, CleanableRange)? {
    let candidates = logs().filter { $0.config.cleanupPolicy.contains(.compact) }
    loadDeleteHorizons(candidates)
    return lock.withLock { () -> (PartitionLog, CleanerView, CleanableRange)? in
      var best: (PartitionLog, CleanerView, CleanableRange, Double)?
      for log in candidates
      where !inProgress.contains(log.topicPartition) && !uncleanable.contains(log.topicPartition) {
        guard let view = log.cleanerView() else { continue }
        let partition = log.topicPartition
        var range = CleanableRange(view, checkpoint: checkpoints[partition], nowMs: nowMs)
        let config = view.config
        let lagged =
          config.maxCompactionLagMs < .max && range.dirtyBytes > 0
          && range.firstDirtyTimestamp.map { nowMs - $0 > config.maxCompactionLagMs } ?? false
        let horizonPassed = deleteHorizons[partition].map { nowMs >= $0 } ?? false
        var score = range.dirtyRatio
        if horizonPassed && range.dirtyBytes == 0 {
          // Everything is clean but a tombstone's time is up: clean again from the start.
          range = CleanableRange(view, checkpoint: view.logStartOffset, nowMs: nowMs)
        }
        if lagged || horizonPassed {
          score = 2
        } else if range.dirtyBytes == 0 || range.dirtyRatio <= config.minCleanableDirtyRatio {
          continue
        }
        guard range.firstDirtyOffset < range.firstUncleanableOffset else { continue }
        if score > best?.3 ?? -1 { best = (log, view, range, score) }
      }
      guard let best else { return nil }
      inProgress.insert(best.0.topicPartition)
      return (best.0, best.1, best.2)
    }
  }
}
