/// What `skein cluster status` and the web view's brokers panel say about a cluster: how many
/// partitions each broker leads and holds, and which partitions are under-replicated (ISR
/// smaller than the replica list) or offline (no leader) — one computation for both.
public struct ClusterHealth: Sendable, Hashable {
  /// One partition as the cluster reports it (encoded as `/v1/cluster` lists it).
  public struct PartitionState: Sendable, Hashable, Encodable {
    public var topic: String
    public var partition: Int32
    public var leader: Int32
    public var replicas: [Int32]
    public var isr: [Int32]

    public init(topic: String, partition: Int32, leader: Int32, replicas: [Int32], isr: [Int32]) {
      self.topic = topic
      self.partition = partition
      self.leader = leader
      self.replicas = replicas
      self.isr = isr
    }
  }

  /// A broker's share: partitions it leads now, and replicas it holds.
  public struct BrokerLoad: Sendable, Hashable {
    public var leaders = 0
    public var replicas = 0
  }

  /// By broker id; every broker that leads or holds anything, and every one asked for.
  public var loads: [Int32: BrokerLoad]
  /// By topic, then partition.
  public var underReplicated: [PartitionState]
  public var offline: [PartitionState]

  public init(partitions: [PartitionState], brokers: [Int32] = []) {
    var loads: [Int32: BrokerLoad] = [:]
    for broker in brokers { loads[broker] = BrokerLoad() }
    var underReplicated: [PartitionState] = []
    var offline: [PartitionState] = []
    let sorted = partitions.sorted {
      ($0.topic, $0.partition) < ($1.topic, $1.partition)
    }
    for p in sorted {
      for replica in p.replicas { loads[replica, default: BrokerLoad()].replicas += 1 }
      if p.leader >= 0 {
        loads[p.leader, default: BrokerLoad()].leaders += 1
      } else {
        offline.append(p)
      }
      if p.isr.count < p.replicas.count { underReplicated.append(p) }
    }
    self.loads = loads
    self.underReplicated = underReplicated
    self.offline = offline
  }

  public func load(of broker: Int32) -> BrokerLoad { loads[broker] ?? BrokerLoad() }
}

extension ClusterHealth {
  /// The health of the partitions in a metadata image.
  public init(_ image: MetadataImage) {
    self.init(
      partitions: image.topics.values.flatMap { topic in
        topic.partitions.map {
          PartitionState(
            topic: topic.name, partition: $0.partition, leader: $0.leader, replicas: $0.replicas,
            isr: $0.isr)
        }
      }, brokers: Array(image.brokers.keys))
  }
}
