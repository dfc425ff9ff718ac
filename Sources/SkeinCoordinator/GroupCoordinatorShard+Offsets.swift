import KafkaProtocol
import NIOCore

// OffsetCommit, OffsetFetch, OffsetDelete, expiry and deleted topics.

extension GroupCoordinatorShard {
  /// Handles OffsetCommit. `partitionExists` tells whether the cluster has the partition.
  public mutating func commitOffsets(
    _ request: OffsetCommitRequest, version: Int16, now: Int64,
    partitionExists: (String, Int32) -> Bool
  ) -> CoordinatorResult<OffsetCommitResponse> {
    var out = CoordinatorOutput()
    let respond = { (code: (String, Int32) -> ErrorCode) -> OffsetCommitResponse in
      OffsetCommitResponse(
        topics: request.topics.map { t in
          .init(
            name: t.name,
            partitions: t.partitions.map {
              .init(
                partitionIndex: $0.partitionIndex,
                errorCode: code(t.name, $0.partitionIndex).rawValue)
            })
        })
    }
    if let error = validateCommit(request, version: version, now: now) {
      return CoordinatorResult(output: out, response: respond { _, _ in error })
    }
    var records: [CoordinatorRecord] = []
    var errors: [TopicPartition: ErrorCode] = [:]
    for topic in request.topics {
      for p in topic.partitions {
        let tp = TopicPartition(topic.name, p.partitionIndex)
        guard partitionExists(topic.name, p.partitionIndex) else {
          errors[tp] = .unknownTopicOrPartition
          continue
        }
        let metadata = p.committedMetadata ?? ""
        guard metadata.utf8.count <= config.offsetMetadataMaxBytes else {
          errors[tp] = .offsetMetadataTooLarge
          continue
        }
        var expire: Int64 = -1
        if (2...4).contains(version) && request.retentionTimeMs != -1 {
          expire = now + request.retentionTimeMs
        }
        let value = OffsetCommitValue(
          offset: p.committedOffset, leaderEpoch: version >= 6 ? p.committedLeaderEpoch : -1,
          metadata: metadata, commitTimestamp: now, expireTimestamp: expire)
        records.append(
          .offsetCommit(
            groupId: request.groupId, topic: topic.name, partition: p.partitionIndex, value: value))
      }
    }
    persist(records, into: &out)
    return CoordinatorResult(
      output: out, response: respond { errors[TopicPartition($0, $1)] ?? .none })
  }

  /// Kafka's classic-group checks on a commit; an Empty group takes commits of generation -1
  /// (the admin client and simple consumers), creating the group if needed.
  private mutating func validateCommit(_ request: OffsetCommitRequest, version: Int16, now: Int64)
    -> ErrorCode?
  {
    guard !request.groupId.isEmpty else { return .invalidGroupId }
    let generation = request.generationIdOrMemberEpoch
    if let consumer = consumerGroups[request.groupId] {
      return validateConsumerGroupCommit(
        consumer, memberId: request.memberId, memberEpoch: generation, version: version)
    }
    guard var group = groups[request.groupId] else {
      if generation < 0 {
        groups[request.groupId] = ClassicGroup(groupId: request.groupId, now: now)
        return nil
      }
      return version >= 9 ? .groupIdNotFound : .illegalGeneration
    }
    guard group.state != .dead else { return .coordinatorNotAvailable }
    if generation < 0 && group.state == .empty { return nil }
    if let error = Self.validateMember(
      group, memberId: request.memberId, instanceId: request.groupInstanceId)
    {
      return error
    }
    guard generation == group.generationId else { return .illegalGeneration }
    if group.state == .completingRebalance { return .rebalanceInProgress }
    if let timeout = group.members[request.memberId]?.sessionTimeoutMs {
      group.members[request.memberId]?.sessionDeadline = now + Int64(timeout)
      groups[request.groupId] = group
    }
    return nil
  }

  /// The committed offsets of a group: of the given topics, or all when `topics` is nil.
  /// An unknown group has no offsets (-1), as in Kafka.
  public func fetchOffsets(groupId: String, topics: [(name: String, partitions: [Int32])]?)
    -> [(name: String, partitions: [(partition: Int32, value: OffsetCommitValue?)])]
  {
    let committed = offsets[groupId] ?? [:]
    if let topics {
      return topics.map { t in
        (t.name, t.partitions.map { ($0, committed[TopicPartition(t.name, $0)]) })
      }
    }
    var byTopic: [String: [(partition: Int32, value: OffsetCommitValue?)]] = [:]
    for tp in committed.keys.sorted() {
      byTopic[tp.topic, default: []].append((tp.partition, committed[tp]))
    }
    return byTopic.keys.sorted().map { ($0, byTopic[$0] ?? []) }
  }

  /// Handles OffsetDelete: offsets of topics the group consumes stay (GROUP_SUBSCRIBED_TO_TOPIC).
  public mutating func deleteOffsets(_ request: OffsetDeleteRequest, now: Int64)
    -> CoordinatorResult<OffsetDeleteResponse>
  {
    let out = CoordinatorOutput()
    guard !request.groupId.isEmpty else {
      return CoordinatorResult(
        output: out, response: OffsetDeleteResponse(errorCode: ErrorCode.invalidGroupId.rawValue))
    }
    if let consumer = consumerGroups[request.groupId] {
      return deleteOffsets(
        request, subscribed: consumer.members.isEmpty ? [] : consumer.subscribedTopics)
    }
    guard let group = groups[request.groupId], group.state != .dead else {
      return CoordinatorResult(
        output: out, response: OffsetDeleteResponse(errorCode: ErrorCode.groupIdNotFound.rawValue))
    }
    if group.state != .empty && group.protocolType != "consumer" {
      return CoordinatorResult(
        output: out, response: OffsetDeleteResponse(errorCode: ErrorCode.nonEmptyGroup.rawValue))
    }
    return deleteOffsets(request, subscribed: group.state == .empty ? [] : group.subscribedTopics)
  }

  /// Deletes the offsets of topics outside `subscribed` (nil: the subscription is unknown).
  private mutating func deleteOffsets(_ request: OffsetDeleteRequest, subscribed: Set<String>?)
    -> CoordinatorResult<OffsetDeleteResponse>
  {
    var out = CoordinatorOutput()
    var records: [CoordinatorRecord] = []
    let topics = request.topics.map { topic in
      OffsetDeleteResponse.OffsetDeleteResponseTopic(
        name: topic.name,
        partitions: topic.partitions.map { p in
          if subscribed?.contains(topic.name) ?? true {
            return .init(
              partitionIndex: p.partitionIndex,
              errorCode: ErrorCode.groupSubscribedToTopic.rawValue)
          }
          if offsets[request.groupId]?[TopicPartition(topic.name, p.partitionIndex)] != nil {
            records.append(
              .offsetCommit(
                groupId: request.groupId, topic: topic.name, partition: p.partitionIndex,
                value: nil))
          }
          return .init(partitionIndex: p.partitionIndex, errorCode: 0)
        })
    }
    persist(records, into: &out)
    return CoordinatorResult(
      output: out, response: OffsetDeleteResponse(errorCode: 0, topics: topics))
  }

  /// Tombstones for offsets past `offsets.retention.minutes` (counted from when the group became
  /// Empty, or from the commit for topics a live consumer group no longer subscribes to, or at
  /// the explicit expiry of old commits), and for Empty groups left without offsets.
  func expiredOffsetRecords(now: Int64) -> [CoordinatorRecord] {
    var records: [CoordinatorRecord] = []
    for groupId in Set(groups.keys).union(offsets.keys).union(consumerGroups.keys).sorted() {
      let group = groups[groupId]
      let consumer = consumerGroups[groupId]
      let isEmpty = group?.state == .empty || (group == nil && consumer?.members.isEmpty != false)
      let subscribed: Set<String>?
      if let consumer, !isEmpty {
        subscribed = consumer.subscribedTopics
      } else if isEmpty {
        subscribed = []
      } else {
        subscribed = group?.subscribedTopics
      }
      var remaining = 0
      for (tp, value) in (offsets[groupId] ?? [:]).sorted(by: { $0.key < $1.key }) {
        var expired = false
        if let subscribed, !subscribed.contains(tp.topic) {
          if value.expireTimestamp != -1 {
            expired = now >= value.expireTimestamp
          } else {
            var base = value.commitTimestamp
            if isEmpty, let stateTime = group?.currentStateTimestamp, stateTime >= 0 {
              base = stateTime
            }
            expired = now - base >= config.offsetsRetentionMs
          }
        }
        if expired {
          records.append(
            .offsetCommit(groupId: groupId, topic: tp.topic, partition: tp.partition, value: nil))
        } else {
          remaining += 1
        }
      }
      if let group, group.state == .empty, remaining == 0, group.pendingMembers.isEmpty {
        records.append(.groupMetadata(groupId: groupId, value: nil))
      }
      if consumer != nil, isEmpty, remaining == 0 {
        records += Self.consumerGroupDeletionRecords(groupId)
      }
    }
    return records
  }

  /// Tombstones for the offsets of topics that left the cluster.
  public mutating func onTopicsDeleted(_ topics: Set<String>) -> CoordinatorOutput {
    var out = CoordinatorOutput()
    var records: [CoordinatorRecord] = []
    for groupId in offsets.keys.sorted() {
      for tp in (offsets[groupId] ?? [:]).keys.sorted() where topics.contains(tp.topic) {
        records.append(
          .offsetCommit(groupId: groupId, topic: tp.topic, partition: tp.partition, value: nil))
      }
    }
    persist(records, into: &out)
    return out
  }
}
