import KafkaProtocol

/// A broker as the cluster knows it: id, rack and where clients reach it.
public struct BrokerInfo: Sendable, Hashable {
  public var id: Int32
  public var host: String
  public var port: Int32
  public var rack: String?
  public var fenced: Bool

  public init(id: Int32, host: String, port: Int32, rack: String?, fenced: Bool = false) {
    self.id = id
    self.host = host
    self.port = port
    self.rack = rack
    self.fenced = fenced
  }
}

/// One partition's replica set, leader and epochs.
public struct PartitionInfo: Sendable, Hashable {
  public var partition: Int32
  public var replicas: [Int32]
  public var isr: [Int32]
  public var leader: Int32
  public var leaderEpoch: Int32
  public var partitionEpoch: Int32

  public init(
    partition: Int32, replicas: [Int32], isr: [Int32], leader: Int32, leaderEpoch: Int32,
    partitionEpoch: Int32
  ) {
    self.partition = partition
    self.replicas = replicas
    self.isr = isr
    self.leader = leader
    self.leaderEpoch = leaderEpoch
    self.partitionEpoch = partitionEpoch
  }
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

  public mutating func apply(_ record: MetadataRecord) {
    switch record {
    case .registerBroker(let r):
      let endpoint = r.endPoints.first
      brokers[r.brokerId] = BrokerInfo(
        id: r.brokerId, host: endpoint?.host ?? "", port: Int32(endpoint?.port ?? 0),
        rack: r.rack, fenced: r.fenced)
    case .topic(let r):
      topics[r.name] = TopicInfo(name: r.name, id: r.topicId)
      topicNamesById[r.topicId] = r.name
    case .partition(let r):
      guard let name = topicNamesById[r.topicId], var topic = topics[name] else { return }
      let info = PartitionInfo(
        partition: r.partitionId, replicas: r.replicas, isr: r.isr, leader: r.leader,
        leaderEpoch: r.leaderEpoch, partitionEpoch: r.partitionEpoch)
      if let index = topic.partitions.firstIndex(where: { $0.partition == r.partitionId }) {
        topic.partitions[index] = info
      } else {
        topic.partitions.append(info)
        topic.partitions.sort { $0.partition < $1.partition }
      }
      topics[name] = topic
    case .partitionChange(let r):
      guard let name = topicNamesById[r.topicId], var topic = topics[name],
        let index = topic.partitions.firstIndex(where: { $0.partition == r.partitionId })
      else { return }
      var p = topic.partitions[index]
      if let isr = r.isr { p.isr = isr }
      if let replicas = r.replicas { p.replicas = replicas }
      if r.leader != -2 {
        p.leader = r.leader
        p.leaderEpoch += 1
      }
      p.partitionEpoch += 1
      topic.partitions[index] = p
      topics[name] = topic
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
}
