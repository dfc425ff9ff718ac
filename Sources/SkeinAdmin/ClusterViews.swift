import SkeinBroker
import SkeinCluster

/// `/v1/cluster`: the brokers by id with their racks, state and load, the controller, and
/// the under-replicated and offline partitions — the `ClusterHealth` that
/// `skein cluster status` prints, with its JSON keys.
struct ClusterView: Encodable {
  struct BrokerEntry: Encodable {
    var id: Int32
    var host: String
    var port: Int32
    var rack: String?
    var fenced: Bool
    var inControlledShutdown: Bool
    var leaders: Int
    var replicas: Int
  }

  var clusterId: String
  var controllerId: Int32
  var nodeId: Int32
  var brokers: [BrokerEntry]
  var underReplicated: [ClusterHealth.PartitionState]
  var offline: [ClusterHealth.PartitionState]

  init(_ broker: Broker) {
    let image = broker.metadataImage
    clusterId = broker.clusterId
    controllerId = broker.controllerIdForClients
    nodeId = broker.config.nodeId
    let health = ClusterHealth(image)
    brokers = image.brokers.values.sorted { $0.id < $1.id }.map {
      let load = health.load(of: $0.id)
      return BrokerEntry(
        id: $0.id, host: $0.host, port: $0.port, rack: $0.rack, fenced: $0.fenced,
        inControlledShutdown: $0.inControlledShutdown, leaders: load.leaders,
        replicas: load.replicas)
    }
    underReplicated = health.underReplicated
    offline = health.offline
  }
}

/// `/v1/topics`: the topic names.
struct TopicListView: Encodable {
  var topics: [String]
}

/// `/v1/topics/{t}`: each partition's leader, epochs, replicas and ISR, and from its leader
/// the high watermark and each replica's log end offset, lag and last caught-up time. With
/// `?scope=local` the states of only the partitions this node leads: what other nodes ask.
struct TopicView: Codable {
  struct ReplicaState: Codable {
    var brokerId: Int32
    var logEndOffset: Int64
    var lag: Int64
    var lastCaughtUpTimeMs: Int64?
    var inSync: Bool
  }

  struct PartitionEntry: Codable {
    var partition: Int32
    var leader: Int32
    var leaderEpoch: Int32
    var partitionEpoch: Int32
    var replicas: [Int32]
    var isr: [Int32]
    var highWatermark: Int64?
    /// Known to the partition's leader; nil when it could not be asked.
    var replicaStates: [ReplicaState]?
  }

  var name: String
  var topicId: String
  var partitions: [PartitionEntry]

  init?(_ broker: Broker, topic: String) {
    guard let info = broker.metadataImage.topics[topic] else { return nil }
    let local = Dictionary(
      broker.localReplicas(topic: topic).map { ($0.partition, $0) }, uniquingKeysWith: { a, _ in a }
    )
    name = topic
    topicId = info.id.description
    partitions = info.partitions.sorted { $0.partition < $1.partition }.map { p in
      var entry = PartitionEntry(
        partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch,
        partitionEpoch: p.partitionEpoch, replicas: p.replicas, isr: p.isr)
      if let mine = local[p.partition], mine.isLeader {
        entry.highWatermark = mine.highWatermark
        var states = [
          ReplicaState(
            brokerId: broker.config.nodeId, logEndOffset: mine.logEndOffset, lag: 0,
            lastCaughtUpTimeMs: nil, inSync: true)
        ]
        for f in mine.followers {
          states.append(
            ReplicaState(
              brokerId: f.brokerId, logEndOffset: f.logEndOffset,
              lag: max(mine.logEndOffset - max(f.logEndOffset, 0), 0),
              lastCaughtUpTimeMs: f.lastCaughtUpTimeMs, inSync: p.isr.contains(f.brokerId)))
        }
        entry.replicaStates = states
      }
      return entry
    }
  }
}
