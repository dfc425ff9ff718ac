import KafkaProtocol

/// A broker as the cluster knows it: id, rack, where clients reach it, and its registration
/// (epoch, incarnation) and liveness as the controller decided it (fenced, controlled shutdown).
public struct BrokerInfo: Sendable, Hashable {
  public var id: Int32
  public var host: String
  public var port: Int32
  public var rack: String?
  public var fenced: Bool
  /// The broker epoch: the metadata log offset of its RegisterBrokerRecord.
  public var epoch: Int64
  public var incarnationId: KafkaUuid
  public var inControlledShutdown: Bool
  /// `host:port` of its HTTP listener (metrics, admin API, web view), when it registered one.
  public var adminEndpoint: String?

  /// The name of the registered listener that is the broker's HTTP listener, not Kafka's.
  public static let adminListenerName = "HTTP"

  public init(
    id: Int32, host: String, port: Int32, rack: String?, fenced: Bool = false, epoch: Int64 = 0,
    incarnationId: KafkaUuid = .zero, inControlledShutdown: Bool = false,
    adminEndpoint: String? = nil
  ) {
    self.adminEndpoint = adminEndpoint
    self.id = id
    self.host = host
    self.port = port
    self.rack = rack
    self.fenced = fenced
    self.epoch = epoch
    self.incarnationId = incarnationId
    self.inControlledShutdown = inControlledShutdown
  }

  /// Kafka's "usable" broker: it may lead partitions, join ISRs and get new replicas.
  public var isActive: Bool { !fenced && !inControlledShutdown }
}

/// One partition's replica set, leader and epochs.
public struct PartitionInfo: Sendable, Hashable {
  public var partition: Int32
  public var replicas: [Int32]
  public var isr: [Int32]
  public var leader: Int32
  public var leaderEpoch: Int32
  public var partitionEpoch: Int32
  /// KIP-704: `recovered` (0), or `recovering` (1) after an unclean election until the leader
  /// reports its log recovered.
  public var leaderRecoveryState: Int8

  public static let recovered: Int8 = 0
  public static let recovering: Int8 = 1
  /// The `leader` of a partition without one.
  public static let noLeader: Int32 = -1

  public init(
    partition: Int32, replicas: [Int32], isr: [Int32], leader: Int32, leaderEpoch: Int32,
    partitionEpoch: Int32, leaderRecoveryState: Int8 = PartitionInfo.recovered
  ) {
    self.partition = partition
    self.replicas = replicas
    self.isr = isr
    self.leader = leader
    self.leaderEpoch = leaderEpoch
    self.partitionEpoch = partitionEpoch
    self.leaderRecoveryState = leaderRecoveryState
  }

  /// The preferred leader: the first replica of the assignment.
  public var preferredReplica: Int32 { replicas.first ?? PartitionInfo.noLeader }
}

/// A topic: its id and partitions, ordered by partition id.
public struct TopicInfo: Sendable, Hashable {
  public var name: String
  public var id: KafkaUuid
  public var partitions: [PartitionInfo]

  public init(name: String, id: KafkaUuid, partitions: [PartitionInfo] = []) {
    self.name = name
    self.id = id
    self.partitions = partitions
  }
}

extension TopicInfo {
  /// Where partition `id` is in `partitions` (at index `id` unless partitions are missing).
  func index(of id: Int32) -> Int? {
    let guess = Int(id)
    if partitions.indices.contains(guess), partitions[guess].partition == id { return guess }
    return partitions.firstIndex { $0.partition == id }
  }
}

extension PartitionInfo {
  /// A PartitionChangeRecord's effect: leader -2 keeps the leader and its epoch, any other
  /// value sets it and bumps the leader epoch; every change bumps the partition epoch.
  mutating func apply(_ r: PartitionChangeRecord) {
    if let isr = r.isr { self.isr = isr }
    if let replicas = r.replicas { self.replicas = replicas }
    if r.leaderRecoveryState >= 0 { leaderRecoveryState = r.leaderRecoveryState }
    if r.leader != -2 {
      leader = r.leader
      leaderEpoch += 1
    }
    partitionEpoch += 1
  }
}

/// Kafka's config resource types, as DescribeConfigs and ConfigRecord number them.
public enum ConfigResourceType: Int8, Sendable, Hashable {
  case unknown = 0
  case topic = 2
  case broker = 4
  case brokerLogger = 8
}

/// A node's view of the cluster, built by applying metadata records in log order.
public struct MetadataImage: Sendable {
  public var brokers: [Int32: BrokerInfo] = [:]
  public private(set) var topics: [String: TopicInfo] = [:]
  public private(set) var topicNamesById: [KafkaUuid: String] = [:]
  /// Dynamic configs set through the admin APIs, by resource.
  public private(set) var configs: [ConfigKey: [String: String]] = [:]
  /// The first producer id not yet handed out in a block (ProducerIdsRecord).
  public private(set) var nextProducerId: Int64 = 0

  /// A config resource: its type and name ("" for cluster-wide broker defaults).
  public struct ConfigKey: Sendable, Hashable {
    public var type: ConfigResourceType
    public var name: String
    public init(_ type: ConfigResourceType, _ name: String) {
      self.type = type
      self.name = name
    }
  }

  public init() {}

  public func topic(id: KafkaUuid) -> TopicInfo? {
    topicNamesById[id].flatMap { topics[$0] }
  }

  public func topicConfigs(_ name: String) -> [String: String] {
    configs[ConfigKey(.topic, name)] ?? [:]
  }

  public func topicId(of name: String) -> KafkaUuid? { topics[name]?.id }

  public func partition(_ tp: TopicPartition) -> PartitionInfo? {
    guard let topic = topics[tp.topic], let index = topic.index(of: tp.partition) else {
      return nil
    }
    return topic.partitions[index]
  }

  /// The partitions `brokerId` leads, sorted.
  public func partitions(ledBy brokerId: Int32) -> [TopicPartition] {
    partitions { $0.leader == brokerId }
  }

  /// The partitions with a replica on `brokerId`, sorted.
  public func partitions(replicatedOn brokerId: Int32) -> [TopicPartition] {
    partitions { $0.replicas.contains(brokerId) }
  }

  /// Every partition matching `filter`, sorted by topic and partition.
  public func partitions(where filter: (PartitionInfo) -> Bool = { _ in true }) -> [TopicPartition]
  {
    var result: [TopicPartition] = []
    for name in topics.keys.sorted() {
      guard let topic = topics[name] else { continue }
      for p in topic.partitions where filter(p) { result.append(TopicPartition(name, p.partition)) }
    }
    return result
  }

  public mutating func apply(_ record: MetadataRecord) {
    switch record {
    case .registerBroker(let r):
      let endpoint = r.endPoints.first { $0.name != BrokerInfo.adminListenerName }
      let admin = r.endPoints.first { $0.name == BrokerInfo.adminListenerName }
      brokers[r.brokerId] = BrokerInfo(
        id: r.brokerId, host: endpoint?.host ?? "", port: Int32(endpoint?.port ?? 0),
        rack: r.rack, fenced: r.fenced, epoch: r.brokerEpoch, incarnationId: r.incarnationId,
        inControlledShutdown: r.inControlledShutdown,
        adminEndpoint: admin.flatMap { $0.port > 0 ? "\($0.host):\($0.port)" : nil })
    case .fenceBroker(let r):
      changeBroker(r.id, epoch: r.epoch) { $0.fenced = true }
    case .unfenceBroker(let r):
      changeBroker(r.id, epoch: r.epoch) { $0.fenced = false }
    case .brokerRegistrationChange(let r):
      changeBroker(r.brokerId, epoch: r.brokerEpoch) { broker in
        if r.fenced == 1 { broker.fenced = true }
        if r.fenced == -1 { broker.fenced = false }
        if r.inControlledShutdown == 1 { broker.inControlledShutdown = true }
      }
    case .unregisterBroker(let r):
      if brokers[r.brokerId]?.epoch == r.brokerEpoch { brokers[r.brokerId] = nil }
    case .topic(let r):
      topics[r.name] = TopicInfo(name: r.name, id: r.topicId)
      topicNamesById[r.topicId] = r.name
    case .partition(let r):
      guard let name = topicNamesById[r.topicId], var topic = topics[name] else { return }
      let info = PartitionInfo(
        partition: r.partitionId, replicas: r.replicas, isr: r.isr, leader: r.leader,
        leaderEpoch: r.leaderEpoch, partitionEpoch: r.partitionEpoch,
        leaderRecoveryState: r.leaderRecoveryState)
      if let index = topic.index(of: r.partitionId) {
        topic.partitions[index] = info
      } else {
        topic.partitions.append(info)
        topic.partitions.sort { $0.partition < $1.partition }
      }
      topics[name] = topic
    case .partitionChange(let r):
      guard let name = topicNamesById[r.topicId],
        let index = topics[name]?.index(of: r.partitionId)
      else { return }
      // In place: the topic's partitions are not copied for each change.
      topics[name]?.partitions[index].apply(r)
    case .config(let r):
      guard let type = ConfigResourceType(rawValue: r.resourceType) else { return }
      let key = ConfigKey(type, r.resourceName)
      var values = configs[key] ?? [:]
      values[r.name] = r.value
      configs[key] = values.isEmpty ? nil : values
    case .producerIds(let r):
      nextProducerId = max(nextProducerId, r.nextProducerId)
    case .removeTopic(let r):
      guard let name = topicNamesById.removeValue(forKey: r.topicId) else { return }
      topics[name] = nil
      configs[ConfigKey(.topic, name)] = nil
    }
  }

  /// Applies a registration change to the broker of that id and epoch; a record for another
  /// registration (an older epoch) changes nothing, as in Kafka.
  private mutating func changeBroker(
    _ id: Int32, epoch: Int64, _ change: (inout BrokerInfo) -> Void
  ) {
    guard var broker = brokers[id], broker.epoch == epoch else { return }
    change(&broker)
    brokers[id] = broker
  }
}
