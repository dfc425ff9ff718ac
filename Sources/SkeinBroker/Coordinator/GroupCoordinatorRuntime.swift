import Dispatch
import KafkaProtocol
import Logging
import NIOCore
import SkeinCluster
import SkeinCoordinator
import SkeinStorage
import Synchronization

/// The group coordinator of this node: a shard per `__consumer_offsets` partition it leads,
/// loaded when it starts leading the partition and unloaded when it stops; requests go to the
/// shard of their group's partition, others get NOT_COORDINATOR.
final class GroupCoordinatorRuntime: Sendable {
  static let topic = "__consumer_offsets"

  let nodeId: Int32
  let config: GroupCoordinatorConfig
  let numPartitions: Int32
  /// `offsets.commit.timeout.ms`: how long an answer waits for its records to be committed.
  let writeTimeoutMs: Int64
  private let replicaManager: ReplicaManager
  private let shards = Mutex<[Int32: CoordinatorShardRuntime]>([:])
  private let knownTopics = Mutex<Set<String>?>(nil)
  private let ticker = Mutex<RepeatedTask?>(nil)
  private let logger: Logger

  init(nodeId: Int32, config: BrokerConfig, replicaManager: ReplicaManager, logger: Logger) {
    self.nodeId = nodeId
    self.config = Self.coordinatorConfig(config)
    self.numPartitions = Int32(config.int("offsets.topic.num.partitions") ?? 50)
    self.writeTimeoutMs = Int64(max(config.int("offsets.commit.timeout.ms") ?? 5000, 1))
    self.replicaManager = replicaManager
    self.logger = logger
  }

  static func coordinatorConfig(_ config: BrokerConfig) -> GroupCoordinatorConfig {
    var c = GroupCoordinatorConfig()
    if let v = config.int("group.initial.rebalance.delay.ms") {
      c.initialRebalanceDelayMs = Int64(v)
    }
    if let v = config.int("group.min.session.timeout.ms") {
      c.minSessionTimeoutMs = Int32(clamping: v)
    }
    if let v = config.int("group.max.session.timeout.ms") {
      c.maxSessionTimeoutMs = Int32(clamping: v)
    }
    if let v = config.int("group.max.size") { c.maxSize = v }
    if let v = config.int("offsets.retention.minutes") { c.offsetsRetentionMs = Int64(v) * 60_000 }
    if let v = config.int("offsets.retention.check.interval.ms") {
      c.offsetsRetentionCheckIntervalMs = Int64(v)
    }
    if let v = config.int("offset.metadata.max.bytes") { c.offsetMetadataMaxBytes = v }
    if let v = config.int("group.consumer.session.timeout.ms") {
      c.consumerSessionTimeoutMs = Int64(v)
    }
    if let v = config.int("group.consumer.heartbeat.interval.ms") {
      c.consumerHeartbeatIntervalMs = Int32(clamping: v)
    }
    if let v = config.int("group.consumer.max.size") { c.consumerMaxSize = v }
    if let v = config.string("group.consumer.assignors") {
      // Kafka takes names or class names (…UniformAssignor, …RangeAssignor).
      let assignors = v.split(separator: ",").compactMap { item -> ServerAssignor? in
        let name = item.filter { !$0.isWhitespace }.lowercased()
        if let a = ServerAssignor(rawValue: name) { return a }
        if name.hasSuffix("uniformassignor") { return .uniform }
        if name.hasSuffix("rangeassignor") { return .range }
        return nil
      }
      if !assignors.isEmpty { c.consumerAssignors = assignors }
    }
    return c
  }

  /// Kafka's `Utils.abs(groupId.hashCode()) % partitions`, hashCode over UTF-16 code units.
  static func partition(for groupId: String, partitions: Int32) -> Int32 {
    var hash: Int32 = 0
    for unit in groupId.utf16 { hash = hash &* 31 &+ Int32(unit) }
    let abs = hash == Int32.min ? 0 : Swift.abs(hash)
    return abs % partitions
  }

  func partition(for groupId: String) -> Int32 {
    Self.partition(for: groupId, partitions: numPartitions)
  }

  /// The shard of a group, or the error Kafka answers: NOT_COORDINATOR when this node does not
  /// lead its partition, COORDINATOR_LOAD_IN_PROGRESS while it loads.
  func shard(for groupId: String) -> Result<CoordinatorShardRuntime, ErrorCode> {
    let p = partition(for: groupId)
    guard let shard = shards.withLock({ $0[p] }) else { return .failure(.notCoordinator) }
    return .success(shard)
  }

  /// Runs `step` on the shard of `groupId` (see `CoordinatorShardRuntime.execute`).
  func execute<R: Sendable>(
    groupId: String, on eventLoop: any EventLoop,
    join: EventLoopPromise<JoinGroupResponse>? = nil,
    sync: EventLoopPromise<SyncGroupResponse>? = nil,
    waitForEarlierWrites: Bool = true,
    _ step: (inout GroupCoordinatorShard, UInt64) -> (CoordinatorOutput, R)
  ) -> CoordinatorReply<R> {
    switch shard(for: groupId) {
    case .failure(let code): return .now(.failure(code))
    case .success(let shard):
      return shard.execute(
        on: eventLoop, join: join, sync: sync, waitForEarlierWrites: waitForEarlierWrites, step)
    }
  }

  var activeShards: [CoordinatorShardRuntime] { shards.withLock { Array($0.values) } }

  /// Follows a new image: loads shards of partitions this node now leads, unloads the others,
  /// and drops the offsets of deleted topics.
  func apply(_ image: MetadataImage) {
    var led: [Int32: Partition] = [:]
    if let topic = image.topics[Self.topic] {
      for p in topic.partitions where p.leader == nodeId {
        if let partition = replicaManager.partition(TopicPartition(Self.topic, p.partition)),
          partition.isLeader
        {
          led[p.partition] = partition
        }
      }
    }
    let (started, stopped) = shards.withLock {
      current -> ([CoordinatorShardRuntime], [CoordinatorShardRuntime]) in
      var started: [CoordinatorShardRuntime] = []
      var stopped: [CoordinatorShardRuntime] = []
      for (p, shard) in current
      where led[p] !== shard.partition || shard.leaderEpoch != shard.partition.leaderEpoch {
        stopped.append(shard)
        current[p] = nil
      }
      for (p, partition) in led where current[p] == nil {
        let replicas = replicaManager
        let shard = CoordinatorShardRuntime(
          partition: partition, commitWaiters: replicas.produceWaiters,
          writeTimeoutMs: writeTimeoutMs,
          notifyAppend: { tp in
            if let partition = replicas.partition(tp) { replicas.leaderAppended(partition) }
          }, logger: logger)
        current[p] = shard
        started.append(shard)
      }
      return (started, stopped)
    }
    for shard in stopped { shard.unload() }
    let names = Set(image.topics.keys)
    let deleted = knownTopics.withLock { known -> Set<String> in
      defer { known = names }
      return known.map { $0.subtracting(names) } ?? []
    }
    if !deleted.isEmpty {
      for shard in activeShards {
        shard.execute { $0.onTopicsDeleted(deleted) }
      }
    }
    let config = self.config
    for shard in started {
      // An empty partition (a fresh `__consumer_offsets`) loads at once, so the first commits
      // do not meet COORDINATOR_LOAD_IN_PROGRESS, which some admin clients do not retry.
      if shard.partition.log.logEndOffset == shard.partition.log.logStartOffset {
        shard.load(config: config, now: { currentTimeMillis() })
        continue
      }
      // Loading replays the partition off the caller's thread, on a Dispatch thread since it
      // blocks on disk reads (not on Swift's few cooperative threads); until then the shard
      // answers COORDINATOR_LOAD_IN_PROGRESS.
      DispatchQueue.global(qos: .utility).async {
        shard.load(config: config, now: { currentTimeMillis() })
        // Offsets of topics deleted while the coordinator was elsewhere.
        shard.execute { s in
          let gone = Set(s.offsets.values.flatMap { $0.keys.map(\.topic) }).subtracting(names)
          return s.onTopicsDeleted(gone)
        }
      }
    }
  }

  /// Session and rebalance timeouts, the initial delay and offset expiry of every shard, and
  /// answers that waited too long for their records to be committed.
  func tick() {
    let now = currentTimeMillis()
    for shard in activeShards {
      shard.expireWrites(nowMs: now)
      if shard.isActive { shard.execute { $0.tick(now: now) } }
    }
  }

  /// Ticks every 100 ms: fine enough for session timeouts of seconds.
  func startTicking(on eventLoop: any EventLoop) {
    let task = eventLoop.scheduleRepeatedTask(
      initialDelay: .milliseconds(100), delay: .milliseconds(100)
    ) { [self] _ in tick() }
    ticker.withLock { $0 = task }
  }

  func shutdown() {
    ticker.withLock {
      $0?.cancel()
      $0 = nil
    }
    let all = shards.withLock { current in
      defer { current = [:] }
      return Array(current.values)
    }
    for shard in all { shard.unload() }
  }
}
