import KafkaProtocol
import Logging
import SkeinCluster
import SkeinStorage
import Synchronization

/// The partitions this broker hosts, kept in line with the metadata image: logs are created
/// for new replicas and deleted with their topics. Produce and fetch find partitions here.
final class ReplicaManager: Sendable {
  let nodeId: Int32
  let logManager: LogManager
  let fetchWaiters = FetchWaitList()
  private let partitions = Mutex<[TopicPartition: Partition]>([:])
  /// Topic defaults from server.properties.
  let staticDefaults: LogConfig
  private let logger: Logger

  init(nodeId: Int32, logManager: LogManager, staticDefaults: LogConfig, logger: Logger) {
    self.nodeId = nodeId
    self.logManager = logManager
    self.staticDefaults = staticDefaults
    self.logger = logger
  }

  /// Topic defaults in force: server.properties overlaid with dynamic broker configs
  /// (cluster-wide first, then this broker's own).
  func brokerDefaults(image: MetadataImage) -> LogConfig {
    var config = staticDefaults
    for resource in ["", String(nodeId)] {
      for (key, value) in image.configs[.init(.broker, resource)] ?? [:] {
        if let topicKey = BrokerConfig.topicKey(forBrokerKey: key) {
          try? config.set(topicKey, value)
        }
      }
    }
    return config
  }

  func partition(_ tp: TopicPartition) -> Partition? {
    partitions.withLock { $0[tp] }
  }

  /// The log config of a topic: its overrides on top of the broker's defaults.
  func logConfig(for topic: String, image: MetadataImage) -> LogConfig {
    let defaults = brokerDefaults(image: image)
    return (try? LogConfig(image.topicConfigs(topic), defaults: defaults)) ?? defaults
  }

  func validate(_ configs: [String: String?]) -> String? {
    var config = staticDefaults
    for (key, value) in configs {
      guard let value else {
        if !LogConfig.acceptedNames.contains(key) && !LogConfig.interpretedNames.contains(key) {
          return "Unknown topic config name: \(key)"
        }
        continue
      }
      do {
        try config.set(key, value)
      } catch {
        return error.description
      }
    }
    return nil
  }

  /// Brings hosted partitions in line with `image`.
  func apply(_ image: MetadataImage) {
    let now = currentTimeMillis()
    var wanted: [TopicPartition: (KafkaUuid, Int32, LogConfig)] = [:]
    for topic in image.topics.values {
      let config = logConfig(for: topic.name, image: image)
      for p in topic.partitions where p.replicas.contains(nodeId) {
        wanted[TopicPartition(topic.name, p.partition)] = (topic.id, p.leaderEpoch, config)
      }
    }
    let current = partitions.withLock { $0 }
    var next: [TopicPartition: Partition] = [:]
    for (tp, (topicId, epoch, config)) in wanted {
      if let existing = current[tp], existing.topicId == topicId, existing.leaderEpoch == epoch {
        if existing.log.config != config { existing.log.updateConfig(config) }
        next[tp] = existing
        continue
      }
      do {
        if let stale = logManager.getLog(tp), let id = stale.topicId, id != topicId {
          try logManager.deleteLog(tp)
        }
        let log = try logManager.getOrCreateLog(tp, topicId: topicId, config: config, nowMs: now)
        _ = log.updateHighWatermark(log.logEndOffset)
        next[tp] = Partition(topicPartition: tp, topicId: topicId, log: log, leaderEpoch: epoch)
      } catch {
        logger.error("cannot open log for \(tp): \(error)")
      }
    }
    partitions.withLock { $0 = next }
    for tp in current.keys where wanted[tp] == nil {
      do {
        try logManager.deleteLog(tp)
        logger.info("deleted log \(tp)")
      } catch {
        logger.error("cannot delete log for \(tp): \(error)")
      }
      fetchWaiters.notify(tp)
    }
    // Logs on disk for partitions the metadata no longer assigns here (deleted while down).
    // A log that merely failed to open stays on disk.
    for log in logManager.allLogs
    where log.topicPartition != MetadataLog.topicPartition && wanted[log.topicPartition] == nil {
      try? logManager.deleteLog(log.topicPartition)
    }
  }
}
