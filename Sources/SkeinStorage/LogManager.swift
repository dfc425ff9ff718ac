import KafkaProtocol
import Logging

/// One partition log as DescribeLogDirs reports it.
public struct LogDescription: Sendable, Hashable {
  public var topicPartition: TopicPartition
  public var topicId: KafkaUuid?
  public var size: Int64
  public var logStartOffset: Int64
  public var logEndOffset: Int64
  public var segmentCount: Int
}

/// Owns a data dir and every partition log in it (Kafka's LogManager): opens them at start
/// (recovering after an unclean shutdown), creates and deletes them, applies retention and
/// time-based flushes on `tick`, and writes the checkpoint files and the clean-shutdown marker.
public final class LogManager: @unchecked Sendable {
  // @unchecked Sendable: the mutable fields (`logs`, `lastCheckpointMs`,
  // `lastHighWatermarkCheckpointMs`, `lastProducerExpiryMs`, `isShutDown`) are only touched
  // under `lock`; checkpoint writes are serialised by `checkpointLock`; the logs are
  // thread-safe themselves. `cleaner` is written once, at the end of `init`, before the object
  // is shared.

  public static let cleanShutdownFileName = ".kafka_cleanshutdown"

  public let dataDir: String
  /// The marker was present at start: logs were opened without rescanning.
  public let hadCleanShutdown: Bool
  public let defaultConfig: LogConfig
  public let checkpointIntervalMs: Int64
  /// How often `tick` writes the `replication-offset-checkpoint` (Kafka's
  /// `replica.high.watermark.checkpoint.interval.ms`).
  public let replicationOffsetCheckpointIntervalMs: Int64
  /// `producer.id.expiration.ms` and `producer.id.expiration.check.interval.ms`.
  public let producerIdExpiration: ProducerIdExpiration
  private let logger: Logger
  private let recoveryPointCheckpoint: OffsetCheckpointFile
  private let logStartOffsetCheckpoint: OffsetCheckpointFile
  private let highWatermarkCheckpoint: OffsetCheckpointFile

  private let lock = StorageLock()
  private let checkpointLock = StorageLock()
  private var logs: [TopicPartition: PartitionLog] = [:]
  private var lastCheckpointMs: Int64
  private var lastHighWatermarkCheckpointMs: Int64
  private var lastProducerExpiryMs: Int64
  private var isShutDown = false
  /// The cleaner compacting this data dir's compacted logs, when one was configured.
  public private(set) var cleaner: LogCleaner?

  /// When a producer's state is forgotten: after `expirationMs` without a batch (Kafka's
  /// `producer.id.expiration.ms`, 1 day), checked every `checkIntervalMs` (10 minutes).
  public struct ProducerIdExpiration: Sendable {
    public var expirationMs: Int64
    public var checkIntervalMs: Int64
    public init(expirationMs: Int64 = 86_400_000, checkIntervalMs: Int64 = 600_000) {
      self.expirationMs = expirationMs
      self.checkIntervalMs = checkIntervalMs
    }
  }

  /// Opens every partition directory of `dataDir` (creating it if needed).
  ///
  /// - Parameters:
  ///   - topicConfigs: configs of known topics; others open with `defaultConfig` until
  ///     `updateConfig` is called.
  ///   - checkpointIntervalMs: how often `tick` writes the recovery point and log start offset
  ///     checkpoints.
  ///   - replicationOffsetCheckpointIntervalMs: how often `tick` writes the high watermarks
  ///     to `replication-offset-checkpoint`. At open each log's high watermark comes from it
  ///     (the log start offset for a log it does not list).
  ///   - cleanerConfig: starts a `LogCleaner` on the logs (none when nil).
  public init(
    dataDir: String, defaultConfig: LogConfig = LogConfig(),
    topicConfigs: [String: LogConfig] = [:], checkpointIntervalMs: Int64 = 60_000,
    replicationOffsetCheckpointIntervalMs: Int64 = 5_000,
    producerIdExpiration: ProducerIdExpiration = .init(), nowMs: Int64,
    cleanerConfig: LogCleanerConfig? = nil, logger: Logger = Logger(label: "skein.storage")
  ) throws(StorageError) {
    self.dataDir = dataDir
    self.defaultConfig = defaultConfig
    self.checkpointIntervalMs = checkpointIntervalMs
    self.replicationOffsetCheckpointIntervalMs = replicationOffsetCheckpointIntervalMs
    self.producerIdExpiration = producerIdExpiration
    self.logger = logger
    self.lastCheckpointMs = nowMs
    self.lastHighWatermarkCheckpointMs = nowMs
    self.lastProducerExpiryMs = nowMs
    self.recoveryPointCheckpoint = OffsetCheckpointFile(
      path: FileSystem.join(dataDir, OffsetCheckpointFile.recoveryPointFileName))
    self.logStartOffsetCheckpoint = OffsetCheckpointFile(
      path: FileSystem.join(dataDir, OffsetCheckpointFile.logStartOffsetFileName))
    self.highWatermarkCheckpoint = OffsetCheckpointFile(
      path: FileSystem.join(dataDir, OffsetCheckpointFile.replicationOffsetFileName))

    try FileSystem.createDirectory(dataDir)
    let marker = FileSystem.join(dataDir, Self.cleanShutdownFileName)
    let clean = FileSystem.exists(marker)
    self.hadCleanShutdown = clean

    var recoveryPoints: [TopicPartition: Int64] = [:]
    do {
      recoveryPoints = try recoveryPointCheckpoint.read()
    } catch {
      // Recovering from offset 0 is always safe, only slower.
      logger.warning("ignoring unreadable recovery point checkpoint: \(error)")
    }
    var logStartOffsets: [TopicPartition: Int64] = [:]
    do {
      logStartOffsets = try logStartOffsetCheckpoint.read()
    } catch {
      logger.warning("ignoring unreadable log start offset checkpoint: \(error)")
    }
    var highWatermarks: [TopicPartition: Int64] = [:]
    do {
      highWatermarks = try highWatermarkCheckpoint.read()
    } catch {
      // Starting at the log start offset only delays what consumers see until the leader
      // (or this broker as leader) moves it again.
      logger.warning("ignoring unreadable replication offset checkpoint: \(error)")
    }

    var opened: [TopicPartition: PartitionLog] = [:]
    for name in try FileSystem.list(dataDir).sorted() {
      let path = FileSystem.join(dataDir, name)
      guard FileSystem.isDirectory(path) else { continue }
      if name.hasSuffix("-delete") {
        try FileSystem.removeTree(path)
        continue
      }
      guard let partition = Self.topicPartition(fromDirectoryName: name) else { continue }
      opened[partition] = try PartitionLog.open(
        dir: path, topicPartition: partition,
        config: topicConfigs[partition.topic] ?? defaultConfig,
        recoveryPoint: recoveryPoints[partition] ?? 0,
        logStartOffset: logStartOffsets[partition], highWatermark: highWatermarks[partition],
        hadCleanShutdown: clean, nowMs: nowMs, logger: logger)
    }
    self.logs = opened
    if clean {
      // From now on a crash must lead to recovery.
      try FileSystem.removeFile(marker)
      try FileSystem.syncDirectory(dataDir)
    }
    logger.info(
      "loaded \(opened.count) log(s) from \(dataDir)\(clean || opened.isEmpty ? "" : " after an unclean shutdown")"
    )
    if let cleanerConfig {
      let cleaner = LogCleaner(
        dataDir: dataDir, config: cleanerConfig, logs: { [weak self] in self?.allLogs ?? [] },
        logger: logger)
      self.cleaner = cleaner
      cleaner.startup()
    }
  }

  /// Parses `<topic>-<partition>`; topic names may contain '-', the partition follows the last.
  public static func topicPartition(fromDirectoryName name: String) -> TopicPartition? {
    guard let dash = name.lastIndex(of: "-") else { return nil }
    let topic = name[..<dash]
    let digits = name[name.index(after: dash)...]
    guard !topic.isEmpty, !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
      let partition = Int32(digits)
    else { return nil }
    return TopicPartition(String(topic), partition)
  }

  private func directory(for partition: TopicPartition) -> String {
    FileSystem.join(dataDir, partition.description)
  }

  // MARK: - Logs

  public func getLog(_ partition: TopicPartition) -> PartitionLog? {
    lock.withLock { logs[partition] }
  }

  public var allLogs: [PartitionLog] {
    lock.withLock { Array(logs.values) }
  }

  /// The log of `partition`, created if it does not exist. A given `topicId` is recorded in
  /// `partition.metadata`, or checked against the recorded one (`inconsistentTopicId`). A given
  /// `config` replaces the log's.
  public func getOrCreateLog(
    _ partition: TopicPartition, topicId: KafkaUuid?, config: LogConfig? = nil, nowMs: Int64
  ) throws(StorageError) -> PartitionLog {
    try lock.withLock { () throws(StorageError) -> PartitionLog in
      guard !isShutDown else { throw .logClosed(partition) }
      if let log = logs[partition] {
        if let topicId { try log.assignTopicId(topicId) }
        if let config { log.updateConfig(config) }
        return log
      }
      let topic = partition.topic
      guard !topic.isEmpty, topic != ".", topic != "..", !topic.contains("/"),
        partition.partition >= 0
      else {
        throw .io(operation: "create log", path: partition.description, errno: 22)  // EINVAL
      }
      let log = try PartitionLog.open(
        dir: directory(for: partition), topicPartition: partition,
        config: config ?? defaultConfig, nowMs: nowMs, logger: logger)
      if let topicId {
        do throws(StorageError) {
          try log.assignTopicId(topicId)
        } catch {
          try? log.close(flush: false)
          throw error
        }
      }
      logs[partition] = log
      logger.info("created log \(partition)")
      return log
    }
  }

  /// Deletes a partition: closes its log, renames the directory to
  /// `<topic>-<partition>.<id>-delete` (so a crash midway finishes the job at the next start),
  /// then removes it.
  public func deleteLog(_ partition: TopicPartition) throws(StorageError) {
    guard let log = lock.withLock({ logs.removeValue(forKey: partition) }) else { return }
    try? log.close(flush: false)
    cleaner?.forget(partition)
    let id = KafkaUuid.random()
    let suffix = String(id.high, radix: 16) + String(id.low, radix: 16)
    let doomed = FileSystem.join(dataDir, "\(partition).\(suffix)-delete")
    try FileSystem.rename(log.dir, to: doomed)
    try FileSystem.syncDirectory(dataDir)
    try FileSystem.removeTree(doomed)
    logger.info("deleted log \(partition)")
  }

  /// Applies a topic's new config to all its partitions.
  public func updateConfig(topic: String, config: LogConfig) {
    for log in allLogs where log.topicPartition.topic == topic {
      log.updateConfig(config)
    }
  }

  /// Every log with its size, for DescribeLogDirs.
  public func describeLogs() -> [LogDescription] {
    allLogs.map {
      LogDescription(
        topicPartition: $0.topicPartition, topicId: $0.topicId, size: $0.size,
        logStartOffset: $0.logStartOffset, logEndOffset: $0.logEndOffset,
        segmentCount: $0.segmentCount)
    }.sorted { $0.topicPartition < $1.topicPartition }
  }

  // MARK: - Periodic work

  /// The broker calls this periodically: retention, `flush.ms` flushes, every
  /// `checkpointIntervalMs` the recovery point and log start checkpoints, every
  /// `replicationOffsetCheckpointIntervalMs` the high watermark checkpoint, and producer id
  /// expiry. Returns the partitions that failed (also logged); one failing log does not stop
  /// the others.
  @discardableResult
  public func tick(nowMs: Int64) -> [TopicPartition: StorageError] {
    let (snapshot, checkpointDue, highWatermarksDue, expiryDue) = lock.withLock {
      () -> ([PartitionLog], Bool, Bool, Bool) in
      guard !isShutDown else { return ([], false, false, false) }
      let due = nowMs - lastCheckpointMs >= checkpointIntervalMs
      if due { lastCheckpointMs = nowMs }
      let highWatermarksDue =
        nowMs - lastHighWatermarkCheckpointMs >= replicationOffsetCheckpointIntervalMs
      if highWatermarksDue { lastHighWatermarkCheckpointMs = nowMs }
      let expiryDue = nowMs - lastProducerExpiryMs >= producerIdExpiration.checkIntervalMs
      if expiryDue { lastProducerExpiryMs = nowMs }
      return (Array(logs.values), due, highWatermarksDue, expiryDue)
    }
    var failures: [TopicPartition: StorageError] = [:]
    for log in snapshot {
      if expiryDue {
        log.removeExpiredProducers(nowMs: nowMs, expirationMs: producerIdExpiration.expirationMs)
      }
      do {
        try log.deleteOldSegments(nowMs: nowMs)
        try log.flushIfNeeded(nowMs: nowMs)
      } catch {
        if case .logClosed = error { continue }
        failures[log.topicPartition] = error
        logger.error("periodic work on \(log.topicPartition) failed: \(error)")
      }
    }
    if checkpointDue {
      do {
        try writeCheckpoints(snapshot)
      } catch {
        logger.error("writing checkpoints failed: \(error)")
      }
    }
    if highWatermarksDue {
      do {
        try writeHighWatermarks(snapshot)
      } catch {
        logger.error("writing the replication offset checkpoint failed: \(error)")
      }
    }
    return failures
  }

  /// Writes the recovery point, log start offset and high watermark checkpoints now.
  public func checkpoint() throws(StorageError) {
    let snapshot = allLogs
    try writeCheckpoints(snapshot)
    try writeHighWatermarks(snapshot)
  }

  private func writeHighWatermarks(_ snapshot: [PartitionLog]) throws(StorageError) {
    try checkpointLock.withLock { () throws(StorageError) in
      var highWatermarks: [TopicPartition: Int64] = [:]
      for log in snapshot { highWatermarks[log.topicPartition] = log.highWatermark }
      try highWatermarkCheckpoint.write(highWatermarks)
    }
  }

  private func writeCheckpoints(_ snapshot: [PartitionLog]) throws(StorageError) {
    try checkpointLock.withLock { () throws(StorageError) in
      var recoveryPoints: [TopicPartition: Int64] = [:]
      var logStartOffsets: [TopicPartition: Int64] = [:]
      for log in snapshot {
        recoveryPoints[log.topicPartition] = log.recoveryPoint
        logStartOffsets[log.topicPartition] = log.logStartOffset
      }
      try recoveryPointCheckpoint.write(recoveryPoints)
      try logStartOffsetCheckpoint.write(logStartOffsets)
    }
  }

  /// Flushes and closes every log, writes the checkpoints, then the clean-shutdown marker so
  /// the next start trusts the files. The marker is not written if anything failed.
  public func shutdown(nowMs: Int64 = 0) throws(StorageError) {
    cleaner?.shutdown()
    let snapshot = lock.withLock { () -> [PartitionLog] in
      guard !isShutDown else { return [] }
      isShutDown = true
      return Array(logs.values)
    }
    var failure: StorageError?
    for log in snapshot {
      do {
        try log.close(nowMs: nowMs)
      } catch {
        logger.error("closing \(log.topicPartition) failed: \(error)")
        failure = failure ?? error
      }
    }
    if let failure { throw failure }
    try writeCheckpoints(snapshot)
    try writeHighWatermarks(snapshot)
    try FileSystem.writeAtomically(FileSystem.join(dataDir, Self.cleanShutdownFileName), [])
    logger.info("log manager shut down cleanly")
  }
}
