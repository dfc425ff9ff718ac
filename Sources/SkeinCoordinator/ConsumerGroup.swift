import KafkaProtocol

/// The states of a consumer group (KIP-848), named as Kafka names them.
public enum ConsumerGroupState: String, Sendable, Hashable, CaseIterable {
  case empty = "Empty"
  case assigning = "Assigning"
  case reconciling = "Reconciling"
  case stable = "Stable"
  case dead = "Dead"
}

/// Where a member is in reaching its target assignment (the byte is Kafka's record value).
public enum ConsumerMemberState: Int8, Sendable, Hashable {
  case stable = 0
  /// The member moved to the target epoch but waits for partitions others still own.
  case unreleasedPartitions = 1
  /// The member must first revoke partitions that go to others.
  case unrevokedPartitions = 2
}

/// Partitions by topic id, as the KIP-848 records and responses carry them.
public typealias TopicIdPartitions = [KafkaUuid: Set<Int32>]

/// A topic as the consumer protocol needs it from the cluster metadata.
public struct ConsumerTopic: Sendable, Hashable {
  public var id: KafkaUuid
  public var partitionCount: Int32

  public init(id: KafkaUuid, partitionCount: Int32) {
    self.id = id
    self.partitionCount = partitionCount
  }
}

/// A member of a consumer group: its subscription (persisted as ConsumerGroupMemberMetadata) and
/// its current assignment (ConsumerGroupCurrentMemberAssignment).
public struct ConsumerMember: Sendable, Hashable {
  public var memberId: String
  public var instanceId: String?
  public var rackId: String?
  public var clientId: String = ""
  public var clientHost: String = ""
  public var subscribedTopicNames: [String] = []
  public var subscribedTopicRegex: String?
  public var rebalanceTimeoutMs: Int32 = -1
  public var serverAssignor: String?
  public var memberEpoch: Int32 = 0
  public var previousMemberEpoch: Int32 = 0
  public var state: ConsumerMemberState = .stable
  public var assigned: TopicIdPartitions = [:]
  public var pendingRevocation: TopicIdPartitions = [:]
  /// The topics its regex matched at its last heartbeat (resolved again after a reload).
  public var regexTopics: Set<String> = []
  /// When the member is fenced unless it heartbeats.
  var sessionDeadline: Int64 = 0
  /// When the member is fenced unless it has revoked what it was asked to revoke.
  var revocationDeadline: Int64?

  public init(memberId: String) {
    self.memberId = memberId
  }

  /// The topics by name and by regex.
  public var subscribedTopics: Set<String> { Set(subscribedTopicNames).union(regexTopics) }

  var metadataValue: ConsumerGroupMemberMetadataValue {
    ConsumerGroupMemberMetadataValue(
      instanceId: instanceId, rackId: rackId, clientId: clientId, clientHost: clientHost,
      subscribedTopicNames: subscribedTopicNames, subscribedTopicRegex: subscribedTopicRegex,
      rebalanceTimeoutMs: rebalanceTimeoutMs, serverAssignor: serverAssignor,
      classicMemberMetadata: nil)
  }

  var assignmentValue: ConsumerGroupCurrentMemberAssignmentValue {
    ConsumerGroupCurrentMemberAssignmentValue(
      memberEpoch: memberEpoch, previousMemberEpoch: previousMemberEpoch, state: state.rawValue,
      assignedPartitions: Self.encode(assigned),
      partitionsPendingRevocation: Self.encode(pendingRevocation))
  }

  static func encode(_ partitions: TopicIdPartitions)
    -> [ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions]
  {
    partitions.keys.sorted().compactMap { id in
      guard let ps = partitions[id], !ps.isEmpty else { return nil }
      return .init(topicId: id, partitions: ps.sorted())
    }
  }
}

/// A group of the consumer protocol (KIP-848): the group epoch moves on every change of
/// membership, subscriptions or topic metadata; the target assignment is computed for a group
/// epoch by the server-side assignor; each member reconciles towards it at its own pace.
public struct ConsumerGroup: Sendable, Hashable {
  public var groupId: String
  public var groupEpoch: Int32 = 0
  public var assignmentEpoch: Int32 = 0
  public var members: [String: ConsumerMember] = [:]
  /// instance id → member id of static members.
  public var staticMembers: [String: String] = [:]
  public var targetAssignment: [String: TopicIdPartitions] = [:]
  /// The subscribed topics as of the last group epoch (ConsumerGroupPartitionMetadata).
  public var subscribedTopicMetadata: [String: ConsumerTopic] = [:]

  public init(groupId: String) {
    self.groupId = groupId
  }

  public var state: ConsumerGroupState {
    if members.isEmpty { return .empty }
    if groupEpoch != assignmentEpoch { return .assigning }
    for member in members.values
    where member.memberEpoch != assignmentEpoch || member.state != .stable {
      return .reconciling
    }
    return .stable
  }

  public var subscribedTopics: Set<String> {
    Set(members.values.flatMap(\.subscribedTopics))
  }

  /// The server assignor the members ask for most (ties by name), else the configured default.
  func assignor(default fallback: ServerAssignor) -> ServerAssignor {
    var votes: [String: Int] = [:]
    for member in members.values {
      if let name = member.serverAssignor { votes[name, default: 0] += 1 }
    }
    let best = votes.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.first?.key
    return best.flatMap(ServerAssignor.init(rawValue:)) ?? fallback
  }

  /// Whether another member than `memberId` still owns (or is revoking) the partition.
  func isOwnedByOther(_ memberId: String, topic: KafkaUuid, partition: Int32) -> Bool {
    for (id, member) in members where id != memberId {
      if member.assigned[topic]?.contains(partition) == true { return true }
      if member.pendingRevocation[topic]?.contains(partition) == true { return true }
    }
    return false
  }
}
