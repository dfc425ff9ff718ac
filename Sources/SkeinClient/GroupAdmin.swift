import KafkaProtocol

/// A group as ListGroups reports it.
public struct GroupListing: Sendable, Hashable {
  public var groupId: String
  /// `consumer` for consumer groups; empty for groups that only commit offsets.
  public var protocolType: String
  /// Kafka's state name (`Stable`, `Empty`, `PreparingRebalance`, ...); empty from brokers
  /// before ListGroups v4.
  public var state: String
  public var coordinator: Int32
}

/// One member of a described group, with its subscription and assignment decoded for the
/// consumer protocol.
public struct GroupMemberDescription: Sendable, Hashable {
  public var memberId: String
  public var groupInstanceId: String?
  public var clientId: String
  public var host: String
  public var subscription: [String]
  public var assignment: [TopicPartition]
}

/// A group as DescribeGroups reports it. A group that does not exist is `Dead`, with no
/// members, as Kafka answers.
public struct GroupDescription: Sendable, Hashable {
  public var groupId: String
  public var state: String
  public var protocolType: String
  /// The assignor chosen in the current generation, such as `range`.
  public var assignor: String
  public var members: [GroupMemberDescription]
  public var coordinator: Int32

  /// Whether offsets may be reset or the group deleted (no live members).
  public var isInactive: Bool { state == "Empty" || state == "Dead" }
}

extension Admin {
  /// Every group of the cluster: ListGroups at each broker, merged and sorted by id.
  public func listGroups() async throws -> [GroupListing] {
    try await client.refreshMetadata(topics: [])
    let brokers = await client.metadata.brokers.keys.sorted()
    var listings: [GroupListing] = []
    for node in brokers {
      var attempt = 0
      while true {
        attempt += 1
        let connection = try await client.connection(toNode: node)
        let response = try await connection.send(ListGroupsRequest())
        let code = ErrorCode(rawValue: response.errorCode)
        if code == .coordinatorLoadInProgress, attempt < 20 {
          try await Task.sleep(for: client.configuration.retryBackoff)
          continue
        }
        try KafkaClientError.check(response.errorCode, "ListGroups at node \(node)")
        listings += response.groups.map {
          GroupListing(
            groupId: $0.groupId, protocolType: $0.protocolType, state: $0.groupState,
            coordinator: node)
        }
        break
      }
    }
    return listings.sorted { $0.groupId < $1.groupId }
  }

  /// Describes groups at their coordinators.
  public func describeGroups(_ groupIds: [String]) async throws -> [GroupDescription] {
    var result: [GroupDescription] = []
    for groupId in groupIds {
      result.append(try await describeGroup(groupId))
    }
    return result
  }

  public func describeGroup(_ groupId: String) async throws -> GroupDescription {
    try await withCoordinator(groupId) { coordinator, deadline in
      var request = DescribeGroupsRequest()
      request.groups = [groupId]
      let response = try await coordinator.send(request, deadline: deadline) {
        ErrorCode(rawValue: $0.groups.first?.errorCode ?? 0)
      }
      guard let group = response.groups.first(where: { $0.groupId == groupId }) else {
        throw KafkaClientError.malformedResponse("DescribeGroups answered no entry for \(groupId)")
      }
      try KafkaClientError.check(group.errorCode, "DescribeGroups for group \(groupId)")
      let isConsumer = group.protocolType == ConsumerProtocol.protocolType
      let members = group.members.map { member in
        GroupMemberDescription(
          memberId: member.memberId, groupInstanceId: member.groupInstanceId,
          clientId: member.clientId, host: member.clientHost,
          subscription: isConsumer
            ? (try? ConsumerProtocol.decodeSubscription(member.memberMetadata))?.topics ?? [] : [],
          assignment: isConsumer
            ? (try? ConsumerProtocol.decodeAssignment(member.memberAssignment)) ?? [] : [])
      }
      return GroupDescription(
        groupId: groupId, state: group.groupState, protocolType: group.protocolType,
        assignor: group.protocolData, members: members,
        coordinator: await coordinator.nodeId ?? -1)
    }
  }

  /// Deletes groups (each must have no members: NON_EMPTY_GROUP otherwise); throws the first
  /// group's error.
  public func deleteGroups(_ groupIds: [String]) async throws {
    for groupId in groupIds {
      try await withCoordinator(groupId) { coordinator, deadline in
        var request = DeleteGroupsRequest()
        request.groupsNames = [groupId]
        let response = try await coordinator.send(request, deadline: deadline) {
          ErrorCode(rawValue: $0.results.first?.errorCode ?? 0)
        }
        guard let result = response.results.first(where: { $0.groupId == groupId }) else {
          throw KafkaClientError.malformedResponse("DeleteGroups answered no entry for \(groupId)")
        }
        try KafkaClientError.check(result.errorCode, "DeleteGroups for group \(groupId)")
      }
    }
  }

  /// The group's committed offsets (OffsetFetch), for `partitions` or every partition it has
  /// committed.
  public func listConsumerGroupOffsets(
    _ groupId: String, partitions: [TopicPartition]? = nil
  ) async throws -> [TopicPartition: OffsetAndMetadata] {
    try await withCoordinator(groupId) { coordinator, deadline in
      try await GroupOffsets.fetch(coordinator, partitions: partitions, deadline: deadline)
    }
  }

  /// Sets committed offsets as Kafka's admin client does: OffsetCommit with generation -1
  /// and an empty member id, which the coordinator takes only while the group has no members.
  public func alterConsumerGroupOffsets(
    _ groupId: String, offsets: [TopicPartition: OffsetAndMetadata]
  ) async throws {
    try await withCoordinator(groupId) { coordinator, deadline in
      try await GroupOffsets.commit(
        coordinator, offsets: offsets, generation: -1, memberId: "", groupInstanceId: nil,
        deadline: deadline)
    }
  }

  /// Removes committed offsets (OffsetDelete); GROUP_SUBSCRIBED_TO_TOPIC while a member is
  /// subscribed to the topic.
  public func deleteConsumerGroupOffsets(
    _ groupId: String, partitions: [TopicPartition]
  ) async throws {
    try await withCoordinator(groupId) { coordinator, deadline in
      var request = OffsetDeleteRequest()
      request.groupId = groupId
      request.topics = ConsumerProtocol.grouped(partitions).map { topic, indexes in
        OffsetDeleteRequest.OffsetDeleteRequestTopic(
          name: topic,
          partitions: indexes.map {
            OffsetDeleteRequest.OffsetDeleteRequestPartition(partitionIndex: $0)
          })
      }
      let response = try await coordinator.send(request, deadline: deadline) {
        ErrorCode(rawValue: $0.errorCode)
      }
      try KafkaClientError.check(response.errorCode, "OffsetDelete for group \(groupId)")
      for topic in response.topics {
        for partition in topic.partitions {
          try KafkaClientError.check(
            partition.errorCode,
            "OffsetDelete of \(topic.name)-\(partition.partitionIndex) for group \(groupId)")
        }
      }
    }
  }

  /// Runs `body` with the group's coordinator, closing its connection afterwards.
  private func withCoordinator<T: Sendable>(
    _ groupId: String,
    _ body: (GroupCoordinator, ContinuousClock.Instant) async throws -> T
  ) async throws -> T {
    let coordinator = GroupCoordinator(client: client, groupId: groupId)
    let deadline = ContinuousClock.now + operationTimeout
    do {
      let result = try await body(coordinator, deadline)
      await coordinator.close()
      return result
    } catch {
      await coordinator.close()
      throw error
    }
  }
}
