import KafkaProtocol
import NIOCore

// ListGroups, DescribeGroups and DeleteGroups.

extension GroupCoordinatorShard {
  /// The groups of this shard, filtered by state (v4+) and type (v5+), case-insensitively.
  public func listGroups(statesFilter: [String], typesFilter: [String])
    -> [ListGroupsResponse.ListedGroup]
  {
    let states = Set(statesFilter.map { $0.lowercased() })
    let types = Set(typesFilter.map { $0.lowercased() })
    var listed: [ListGroupsResponse.ListedGroup] = []
    if types.isEmpty || types.contains("classic") {
      listed += groups.keys.sorted().compactMap { id in
        guard let group = groups[id], group.state != .dead else { return nil }
        if !states.isEmpty && !states.contains(group.state.rawValue.lowercased()) { return nil }
        return .init(
          groupId: id, protocolType: group.protocolType ?? "", groupState: group.state.rawValue,
          groupType: "classic")
      }
    }
    if types.isEmpty || types.contains("consumer") {
      listed += consumerGroups.keys.sorted().compactMap { id in
        guard let group = consumerGroups[id] else { return nil }
        let state = group.state.rawValue
        if !states.isEmpty && !states.contains(state.lowercased()) { return nil }
        return .init(
          groupId: id, protocolType: "consumer", groupState: state, groupType: "consumer")
      }
    }
    return listed.sorted { $0.groupId < $1.groupId }
  }

  /// ConsumerGroupDescribe of one group; `topicNames` names the topic ids of assignments.
  public func consumerGroupDescribe(
    _ groupId: String, includeAuthorizedOperations: Bool, topicNames: [KafkaUuid: String]
  ) -> ConsumerGroupDescribeResponse.DescribedGroup {
    let ops = includeAuthorizedOperations ? Self.groupAuthorizedOperations : Int32.min
    guard !groupId.isEmpty else {
      return .init(
        errorCode: ErrorCode.invalidGroupId.rawValue, groupId: groupId, authorizedOperations: ops)
    }
    guard let group = consumerGroups[groupId] else {
      let message =
        groups[groupId] == nil
        ? "Group \(groupId) not found." : "Group \(groupId) is not a consumer group."
      return .init(
        errorCode: ErrorCode.groupIdNotFound.rawValue, errorMessage: message, groupId: groupId,
        groupState: ConsumerGroupState.dead.rawValue, authorizedOperations: ops)
    }
    func assignment(_ partitions: TopicIdPartitions) -> ConsumerGroupDescribeResponse.Assignment {
      .init(
        topicPartitions: partitions.keys.sorted().compactMap { id in
          guard let ps = partitions[id], !ps.isEmpty else { return nil }
          return .init(topicId: id, topicName: topicNames[id] ?? "", partitions: ps.sorted())
        })
    }
    return .init(
      errorCode: 0, groupId: groupId, groupState: group.state.rawValue,
      groupEpoch: group.groupEpoch, assignmentEpoch: group.assignmentEpoch,
      assignorName: group.assignor(default: config.consumerAssignors.first ?? .uniform).rawValue,
      members: group.members.keys.sorted().compactMap { id in
        guard let m = group.members[id] else { return nil }
        return .init(
          memberId: m.memberId, instanceId: m.instanceId, rackId: m.rackId,
          memberEpoch: m.memberEpoch, clientId: m.clientId, clientHost: m.clientHost,
          subscribedTopicNames: m.subscribedTopicNames,
          subscribedTopicRegex: m.subscribedTopicRegex,
          assignment: assignment(m.assigned),
          targetAssignment: assignment(group.targetAssignment[id] ?? [:]))
      }, authorizedOperations: ops)
  }

  /// Authorized operations of a group without an authorizer: READ, DELETE, DESCRIBE,
  /// DESCRIBE_CONFIGS, ALTER_CONFIGS.
  public static let groupAuthorizedOperations: Int32 =
    (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11)

  /// A group as DescribeGroups shows it: members with metadata and assignment only when Stable;
  /// an unknown group is Dead with no members.
  public func describeGroup(_ groupId: String, includeAuthorizedOperations: Bool)
    -> DescribeGroupsResponse.DescribedGroup
  {
    let ops = includeAuthorizedOperations ? Self.groupAuthorizedOperations : Int32.min
    guard !groupId.isEmpty else {
      return .init(
        errorCode: ErrorCode.invalidGroupId.rawValue, groupId: groupId, authorizedOperations: ops)
    }
    // DescribeGroups before v6 has no error message: Kafka 4 shows a group of another type as
    // a Dead group without members.
    guard let group = groups[groupId] else {
      return .init(
        errorCode: 0, groupId: groupId, groupState: ClassicGroupState.dead.rawValue,
        protocolType: "", protocolData: "", members: [], authorizedOperations: ops)
    }
    let stable = group.state == .stable
    return .init(
      errorCode: 0, groupId: groupId, groupState: group.state.rawValue,
      protocolType: group.protocolType ?? "", protocolData: stable ? group.protocolName ?? "" : "",
      members: group.orderedMembers.map { m in
        .init(
          memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId,
          clientHost: m.clientHost,
          memberMetadata: stable
            ? m.metadata(for: group.protocolName) ?? ByteBuffer() : ByteBuffer(),
          memberAssignment: stable ? m.assignment : ByteBuffer())
      }, authorizedOperations: ops)
  }

  /// Deletes Empty groups with their offsets (tombstones for both).
  public mutating func deleteGroups(_ groupIds: [String])
    -> CoordinatorResult<[DeleteGroupsResponse.DeletableGroupResult]>
  {
    var out = CoordinatorOutput()
    var results: [DeleteGroupsResponse.DeletableGroupResult] = []
    for groupId in groupIds {
      guard !groupId.isEmpty else {
        results.append(.init(groupId: groupId, errorCode: ErrorCode.invalidGroupId.rawValue))
        continue
      }
      if let consumer = consumerGroups[groupId] {
        guard consumer.members.isEmpty else {
          results.append(.init(groupId: groupId, errorCode: ErrorCode.nonEmptyGroup.rawValue))
          continue
        }
        var records: [CoordinatorRecord] = (offsets[groupId] ?? [:]).keys.sorted().map {
          .offsetCommit(groupId: groupId, topic: $0.topic, partition: $0.partition, value: nil)
        }
        records += Self.consumerGroupDeletionRecords(groupId)
        persist(records, into: &out)
        results.append(.init(groupId: groupId, errorCode: 0))
        continue
      }
      guard let group = groups[groupId], group.state != .dead else {
        results.append(.init(groupId: groupId, errorCode: ErrorCode.groupIdNotFound.rawValue))
        continue
      }
      guard group.state == .empty else {
        results.append(.init(groupId: groupId, errorCode: ErrorCode.nonEmptyGroup.rawValue))
        continue
      }
      var records: [CoordinatorRecord] = (offsets[groupId] ?? [:]).keys.sorted().map {
        .offsetCommit(groupId: groupId, topic: $0.topic, partition: $0.partition, value: nil)
      }
      records.append(.groupMetadata(groupId: groupId, value: nil))
      persist(records, into: &out)
      results.append(.init(groupId: groupId, errorCode: 0))
    }
    return CoordinatorResult(output: out, response: results)
  }
}
