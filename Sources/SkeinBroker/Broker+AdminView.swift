import KafkaProtocol
import SkeinCluster

/// What this node knows of one replica it hosts, for the admin API: its log's offsets and,
/// when it leads, where each follower is.
public struct LocalReplicaView: Sendable {
  public struct FollowerView: Sendable {
    public var brokerId: Int32
    public var logEndOffset: Int64
    public var lastCaughtUpTimeMs: Int64
  }

  public var topic: String
  public var partition: Int32
  public var isLeader: Bool
  public var leaderEpoch: Int32
  public var logStartOffset: Int64
  public var logEndOffset: Int64
  public var highWatermark: Int64
  public var sizeBytes: Int64
  /// Set when this node leads the partition.
  public var followers: [FollowerView]
}

extension Broker {
  /// This node's view of the cluster: brokers, topics, partitions, leaders and ISRs.
  public var metadataImage: MetadataImage { metadata.image }

  /// The controller id this node gives clients in Metadata and DescribeCluster.
  public var controllerIdForClients: Int32 {
    handlers.controllerIdForClients(metadata.image)
  }

  /// The replicas of `topic` on this node (every hosted replica when nil).
  public func localReplicas(topic: String? = nil) -> [LocalReplicaView] {
    replicaManager.hostedPartitions
      .filter { topic == nil || $0.topicPartition.topic == topic }
      .map { partition in
        let log = partition.log
        let followers =
          partition.leaderState?.followers
          .map {
            LocalReplicaView.FollowerView(
              brokerId: $0.key, logEndOffset: $0.value.logEndOffset,
              lastCaughtUpTimeMs: $0.value.lastCaughtUpTimeMs)
          }
          .sorted { $0.brokerId < $1.brokerId } ?? []
        return LocalReplicaView(
          topic: partition.topicPartition.topic, partition: partition.topicPartition.partition,
          isLeader: partition.isLeader, leaderEpoch: partition.leaderEpoch,
          logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset,
          highWatermark: log.highWatermark, sizeBytes: log.size,
          followers: partition.isLeader ? followers : [])
      }
      .sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
  }
}

extension Broker {
  /// The groups whose coordinator is this node now (those of the `__consumer_offsets`
  /// partitions it leads).
  public var coordinatedGroupIds: [String] {
    var ids: [String] = []
    for shard in handlers.groupCoordinator.activeShards {
      if case .success(let listed) = shard.read({
        $0.listGroups(statesFilter: [], typesFilter: [])
      }) {
        ids += listed.map(\.groupId)
      }
    }
    return ids.sorted()
  }
}
