import KafkaProtocol
import Logging
import NIOCore
import SkeinCluster
import SkeinStorage
import Synchronization

/// The partitions this broker hosts, kept in line with the metadata image: logs are created
/// for new replicas and deleted with their topics, and each partition takes the role the image
/// gives it — leader (tracking followers, moving the high watermark, proposing ISR changes)
/// or follower (fetched by a replica fetcher). Produce and fetch find partitions here.
final class ReplicaManager: Sendable {
  let nodeId: Int32
  let logManager: LogManager
  let settings: ReplicationSettings
  /// Fetches waiting for data: consumers (woken when the high watermark moves) and
  /// followers (woken by appends).
  let fetchWaiters = FetchWaitList()
  /// acks=all produces waiting for the ISR, woken when the high watermark moves.
  let produceWaiters = FetchWaitList()
  private let partitions = Mutex<[TopicPartition: Partition]>([:])
  /// Topic defaults from server.properties.
  let staticDefaults: LogConfig
  let metrics: BrokerMetrics
  private let logger: Logger
  /// Set once the broker side is wired to the controller (`attach`).
  private let wiring = Mutex<Wiring?>(nil)
  private let brokerEpochValue = Mutex<Int64>(-1)
  private let currentImage = Mutex(MetadataImage())

  private struct Wiring: Sendable {
    var fetchers: ReplicaFetcherManager
    var alterPartition: AlterPartitionManager
  }

  init(
    nodeId: Int32, logManager: LogManager, staticDefaults: LogConfig,
    settings: ReplicationSettings = ReplicationSettings(),
    metrics: BrokerMetrics = .discarding(), logger: Logger
  ) {
    self.metrics = metrics
    self.nodeId = nodeId
    self.logManager = logManager
    self.staticDefaults = staticDefaults
    self.settings = settings
    self.logger = logger
  }

  /// This broker's epoch at the controller (-1 before registration).
  var brokerEpoch: Int64 { brokerEpochValue.withLock { $0 } }
  func setBrokerEpoch(_ epoch: Int64) { brokerEpochValue.withLock { $0 = epoch } }

  /// Connects replication to the cluster: fetchers reach leaders at the addresses the image
  /// gives, ISR changes go to the controller.
  func attach(controller: any ControllerChannel, eventLoopGroup: any EventLoopGroup) {
    let fetchers = ReplicaFetcherManager(
      localId: nodeId, settings: settings,
      address: { [weak self] id in
        self?.currentImage.withLock { $0.brokers[id] }.map { ($0.host, Int($0.port)) }
      },
      brokerEpoch: { [weak self] in self?.brokerEpoch ?? -1 },
      onAppend: { [fetchWaiters, metrics] tp, bytes in
        fetchWaiters.notify(tp)
        metrics.replicated(topic: tp.topic, bytes: Int64(bytes))
      },
      eventLoopGroup: eventLoopGroup, logger: logger)
    let alter = AlterPartitionManager(
      localId: nodeId, channel: controller,
      brokerEpoch: { [weak self] in self?.brokerEpoch ?? -1 }, logger: logger)
    wiring.withLock { $0 = Wiring(fetchers: fetchers, alterPartition: alter) }
  }

  func shutdown() async {
    await wiring.withLock { $0 }?.fetchers.shutdown()
  }

  /// The high watermark of `partition` moved: wake the produces and fetches that wait on it.
  func highWatermarkMoved(_ tp: TopicPartition) {
    produceWaiters.notify(tp)
    fetchWaiters.notify(tp)
  }

  /// A follower fetched `partition` from `fetchOffset`: record it, move the high watermark,
  /// propose it for the ISR when it qualifies.
  func recordFollowerFetch(
    _ partition: Partition, replica: Int32, fetchOffset: Int64, brokerEpoch: Int64
  ) {
    let eligible = currentImage.withLock { image -> Bool in
      guard let broker = image.brokers[replica] else { return false }
      return !broker.fenced && !broker.inControlledShutdown
        && (brokerEpoch < 0 || brokerEpoch == broker.epoch)
    }
    let outcome = partition.recordFollowerFetch(
      replica: replica, fetchOffset: fetchOffset, brokerEpoch: brokerEpoch, eligible: eligible,
      nowMs: currentTimeMillis())
    if outcome.highWatermarkMoved { highWatermarkMoved(partition.topicPartition) }
    if let change = outcome.isrChange { submit(change, for: partition) }
  }

  /// A leader appended: with the ISR of this node alone, the append is committed at once.
  func leaderAppended(_ partition: Partition) {
    if partition.maybeAdvanceHighWatermark(nowMs: currentTimeMillis()) {
      highWatermarkMoved(partition.topicPartition)
    } else {
      // Followers long-poll for new data.
      fetchWaiters.notify(partition.topicPartition)
    }
  }

  /// KIP-392 with Kafka's RackAwareReplicaSelector: for a consumer in `clientRack`, the most
  /// caught-up in-sync follower in that rack holding `fetchOffset`; nil to read from the leader
  /// (no selector, no client rack, the leader in that rack, or no such follower).
  func preferredReadReplica(
    _ partition: Partition, clientRack: String, fetchOffset: Int64, image: MetadataImage
  ) -> Int32? {
    guard settings.rackAwareSelector, !clientRack.isEmpty,
      image.brokers[nodeId]?.rack != clientRack, let leader = partition.leaderState
    else { return nil }
    let candidates = leader.isr.compactMap { id -> (Int32, Int64)? in
      guard id != nodeId, let broker = image.brokers[id], !broker.fenced,
        broker.rack == clientRack, let follower = leader.followers[id],
        follower.logEndOffset >= fetchOffset
      else { return nil }
      return (id, follower.logEndOffset)
    }
    return candidates.max { a, b in a.1 < b.1 || (a.1 == b.1 && a.0 > b.0) }?.0
  }

  /// Kafka's isr-expiration task: leaders drop followers that fell behind.
  func shrinkIsrs() {
    let now = currentTimeMillis()
    for partition in partitions.withLock({ Array($0.values) }) where partition.isLeader {
      if let change = partition.isrShrink(nowMs: now) {
        logger.info(
          "shrinking ISR of \(partition.topicPartition) from \(partition.isr) to \(change.proposedIsr)"
        )
        submit(change, for: partition)
      }
    }
  }

  private func submit(_ change: PartitionLeaderState.PendingIsrChange, for partition: Partition) {
    guard let alter = wiring.withLock({ $0 })?.alterPartition else {
      partition.isrChangeSettled(
        leaderEpoch: partition.leaderEpoch, isr: nil, partitionEpoch: nil,
        nowMs: currentTimeMillis())
      return
    }
    let tp = partition.topicPartition
    let counter =
      change.proposedIsr.count < partition.isr.count ? metrics.isrShrinks : metrics.isrExpands
    alter.submit(change, for: partition) { [weak self] in
      counter.increment()
      self?.highWatermarkMoved(tp)
    }
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

  /// Every replica this broker hosts.
  var hostedPartitions: [Partition] { partitions.withLock { Array($0.values) } }

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

  /// Brings hosted partitions in line with `image`: opens logs for new replicas, gives each
  /// partition its role, starts and stops fetching, deletes the logs of deleted topics.
  func apply(_ image: MetadataImage) {
    currentImage.withLock { $0 = image }
    let now = currentTimeMillis()
    // Fenced until this process is registered and unfenced: a replayed image may still show
    // the previous incarnation leading.
    let epoch = brokerEpoch
    let fenced = image.brokers[nodeId].map { $0.fenced || epoch < 0 || $0.epoch != epoch } ?? true
    var wanted: [TopicPartition: (KafkaUuid, PartitionInfo, LogConfig)] = [:]
    for topic in image.topics.values {
      let config = logConfig(for: topic.name, image: image)
      for p in topic.partitions where p.replicas.contains(nodeId) {
        wanted[TopicPartition(topic.name, p.partition)] = (topic.id, p, config)
      }
    }
    let current = partitions.withLock { $0 }
    var next: [TopicPartition: Partition] = [:]
    for (tp, (topicId, _, config)) in wanted {
      if let existing = current[tp], existing.topicId == topicId {
        if existing.log.config != config { existing.log.updateConfig(config) }
        next[tp] = existing
        continue
      }
      do {
        if let stale = logManager.getLog(tp), let id = stale.topicId, id != topicId {
          try logManager.deleteLog(tp)
        }
        let log = try logManager.getOrCreateLog(tp, topicId: topicId, config: config, nowMs: now)
        next[tp] = Partition(
          topicPartition: tp, topicId: topicId, log: log, localId: nodeId, settings: settings)
      } catch {
        logger.error("cannot open log for \(tp): \(error)")
      }
    }
    partitions.withLock { $0 = next }
    let fetchers = wiring.withLock { $0 }?.fetchers
    for (tp, partition) in next {
      guard var info = wanted[tp]?.1 else { continue }
      // A fenced broker (not yet caught up, or cut off) serves nothing as leader.
      if fenced && info.leader == nodeId { info.leader = -1 }
      let ineligible = Set(info.replicas.filter { image.brokers[$0]?.isActive != true })
      switch partition.apply(info, ineligible: ineligible, nowMs: now) {
      case .becameLeader:
        fetchers?.stopFollowing(tp)
        logger.info("\(tp): leader in epoch \(info.leaderEpoch), ISR \(info.isr)")
        highWatermarkMoved(tp)
      case .becameFollower(let leaderId):
        logger.info("\(tp): follower of \(leaderId) in epoch \(info.leaderEpoch)")
        fetchers?.follow(partition, leaderId: leaderId)
        // Produces waiting on this partition will not be committed by us.
        produceWaiters.notify(tp)
      case .becameOffline:
        fetchers?.stopFollowing(tp)
        produceWaiters.notify(tp)
      case .unchanged:
        if case .follower(let leaderId) = partition.role, fetchers != nil {
          // Re-add: a fetcher that backed off after an epoch error retries at once.
          fetchers?.follow(partition, leaderId: leaderId)
        } else if partition.isLeader, partition.maybeAdvanceHighWatermark(nowMs: now) {
          highWatermarkMoved(tp)
        }
      }
    }
    for tp in current.keys where wanted[tp] == nil {
      fetchers?.stopFollowing(tp)
      do {
        try logManager.deleteLog(tp)
        logger.info("deleted log \(tp)")
      } catch {
        logger.error("cannot delete log for \(tp): \(error)")
      }
      fetchWaiters.notify(tp)
      produceWaiters.notify(tp)
    }
    // A deleted topic's BrokerTopicMetrics go with it, as in Kafka.
    for topic in Set(current.keys.map(\.topic)) where image.topics[topic] == nil {
      metrics.removeTopic(topic)
    }
    // Logs on disk for partitions the metadata no longer assigns here (deleted while down).
    // A log that merely failed to open stays on disk.
    for log in logManager.allLogs
    where log.topicPartition != MetadataLog.topicPartition && wanted[log.topicPartition] == nil {
      try? logManager.deleteLog(log.topicPartition)
    }
  }
}
