import KafkaProtocol

// The consumer group protocol (KIP-848): ConsumerGroupHeartbeat, reconciliation, expiry, replay.

extension GroupCoordinatorShard {
  /// The member epoch of a member leaving the group.
  public static let leaveGroupMemberEpoch: Int32 = -1
  /// The member epoch of a static member leaving for a while (it may come back).
  public static let leaveGroupStaticMemberEpoch: Int32 = -2

  // MARK: Replay

  mutating func replayConsumer(_ record: CoordinatorRecord) {
    switch record {
    case .consumerGroupMetadata(let groupId, let value):
      guard let value else {
        consumerGroups[groupId] = nil
        if groups[groupId] == nil, let committed = offsets[groupId]?.values {
          // Offsets that outlive the consumer group belong to a simple (Empty) group.
          let last = committed.map(\.commitTimestamp).max() ?? 0
          groups[groupId] = ClassicGroup(groupId: groupId, now: last)
        }
        return
      }
      consumerGroups[groupId, default: ConsumerGroup(groupId: groupId)].groupEpoch = value.epoch
    case .consumerGroupPartitionMetadata(let groupId, let value):
      guard let value else {
        consumerGroups[groupId]?.subscribedTopicMetadata = [:]
        return
      }
      var topics: [String: ConsumerTopic] = [:]
      for t in value.topics {
        topics[t.topicName] = ConsumerTopic(id: t.topicId, partitionCount: t.numPartitions)
      }
      consumerGroups[groupId, default: ConsumerGroup(groupId: groupId)].subscribedTopicMetadata =
        topics
    case .consumerGroupMemberMetadata(let groupId, let memberId, let value):
      var group = consumerGroups[groupId] ?? ConsumerGroup(groupId: groupId)
      guard let value else {
        if let instanceId = group.members[memberId]?.instanceId,
          group.staticMembers[instanceId] == memberId
        {
          group.staticMembers[instanceId] = nil
        }
        group.members[memberId] = nil
        consumerGroups[groupId] = group
        return
      }
      var member = group.members[memberId] ?? ConsumerMember(memberId: memberId)
      if let old = member.instanceId, old != value.instanceId, group.staticMembers[old] == memberId
      {
        group.staticMembers[old] = nil
      }
      member.instanceId = value.instanceId
      member.rackId = value.rackId
      member.clientId = value.clientId
      member.clientHost = value.clientHost
      member.subscribedTopicNames = value.subscribedTopicNames
      member.subscribedTopicRegex = value.subscribedTopicRegex
      member.rebalanceTimeoutMs = value.rebalanceTimeoutMs
      member.serverAssignor = value.serverAssignor
      if let instanceId = value.instanceId { group.staticMembers[instanceId] = memberId }
      group.members[memberId] = member
      consumerGroups[groupId] = group
    case .consumerGroupTargetAssignmentMetadata(let groupId, let value):
      guard let value else {
        consumerGroups[groupId]?.assignmentEpoch = 0
        return
      }
      consumerGroups[groupId, default: ConsumerGroup(groupId: groupId)].assignmentEpoch =
        value.assignmentEpoch
    case .consumerGroupTargetAssignmentMember(let groupId, let memberId, let value):
      guard let value else {
        consumerGroups[groupId]?.targetAssignment[memberId] = nil
        return
      }
      var target: TopicIdPartitions = [:]
      for t in value.topicPartitions { target[t.topicId, default: []].formUnion(t.partitions) }
      consumerGroups[groupId, default: ConsumerGroup(groupId: groupId)].targetAssignment[memberId] =
        target
    case .consumerGroupCurrentMemberAssignment(let groupId, let memberId, let value):
      var group = consumerGroups[groupId] ?? ConsumerGroup(groupId: groupId)
      guard let value else {
        if var member = group.members[memberId] {
          member.memberEpoch = Self.leaveGroupMemberEpoch
          member.previousMemberEpoch = Self.leaveGroupMemberEpoch
          member.state = .stable
          member.assigned = [:]
          member.pendingRevocation = [:]
          group.members[memberId] = member
          consumerGroups[groupId] = group
        }
        return
      }
      var member = group.members[memberId] ?? ConsumerMember(memberId: memberId)
      member.memberEpoch = value.memberEpoch
      member.previousMemberEpoch = value.previousMemberEpoch
      member.state = ConsumerMemberState(rawValue: value.state) ?? .stable
      member.assigned = Self.decode(value.assignedPartitions)
      member.pendingRevocation = Self.decode(value.partitionsPendingRevocation)
      group.members[memberId] = member
      consumerGroups[groupId] = group
    case .groupMetadata, .offsetCommit:
      break
    }
  }

  static func decode(_ list: [ConsumerGroupCurrentMemberAssignmentValue.TopicPartitions])
    -> TopicIdPartitions
  {
    var result: TopicIdPartitions = [:]
    for t in list where !t.partitions.isEmpty {
      result[t.topicId, default: []].formUnion(t.partitions)
    }
    return result
  }

  // MARK: ConsumerGroupHeartbeat

  /// Handles ConsumerGroupHeartbeat: joins (epoch 0), heartbeats, leaves (-1, static -2).
  /// `topics` is the cluster's topic metadata by name, for the assignor.
  public mutating func consumerGroupHeartbeat(
    _ request: ConsumerGroupHeartbeatRequest, version: Int16, clientId: String,
    clientHost: String, topics: [String: ConsumerTopic], now: Int64
  ) -> CoordinatorResult<ConsumerGroupHeartbeatResponse> {
    var out = CoordinatorOutput()
    var response: ConsumerGroupHeartbeatResponse
    switch heartbeatStep(
      request, version: version, clientId: clientId, clientHost: clientHost, topics: topics,
      now: now, out: &out)
    {
    case .success(let r): response = r
    case .failure(let error):
      response = ConsumerGroupHeartbeatResponse(
        errorCode: error.code.rawValue, errorMessage: error.message)
    }
    return CoordinatorResult(output: out, response: response)
  }

  struct HeartbeatError: Error {
    var code: ErrorCode
    var message: String?
  }

  private func validate(_ request: ConsumerGroupHeartbeatRequest, version: Int16)
    -> HeartbeatError?
  {
    func invalid(_ message: String) -> HeartbeatError {
      HeartbeatError(code: .invalidRequest, message: message)
    }
    if request.groupId.isEmpty { return invalid("GroupId can't be empty.") }
    if request.instanceId == "" { return invalid("InstanceId can't be empty.") }
    if request.rackId == "" { return invalid("RackId can't be empty.") }
    // KIP-1082: from v1 the client generates its member id.
    if version >= 1 && request.memberId.isEmpty { return invalid("MemberId can't be empty.") }
    switch request.memberEpoch {
    case 0:
      if request.rebalanceTimeoutMs == -1 {
        return invalid("RebalanceTimeoutMs must be provided in first request.")
      }
      if request.topicPartitions?.isEmpty != true {
        return invalid("TopicPartitions must be empty when (re-)joining.")
      }
      if request.subscribedTopicNames == nil && request.subscribedTopicRegex == nil {
        return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
      }
    case Self.leaveGroupStaticMemberEpoch:
      if request.memberId.isEmpty { return invalid("MemberId can't be empty.") }
      if request.instanceId == nil { return invalid("InstanceId can't be null.") }
    case let epoch where epoch < Self.leaveGroupStaticMemberEpoch:
      return invalid("MemberEpoch is invalid.")
    default:
      if request.memberId.isEmpty { return invalid("MemberId can't be empty.") }
    }
    if let assignor = request.serverAssignor,
      !config.consumerAssignors.contains(where: { $0.rawValue == assignor })
    {
      return HeartbeatError(
        code: .unsupportedAssignor, message: "ServerAssignor \(assignor) is not supported.")
    }
    return nil
  }

  private mutating func heartbeatStep(
    _ request: ConsumerGroupHeartbeatRequest, version: Int16, clientId: String,
    clientHost: String, topics: [String: ConsumerTopic], now: Int64,
    out: inout CoordinatorOutput
  ) -> Result<ConsumerGroupHeartbeatResponse, HeartbeatError> {
    if let error = validate(request, version: version) { return .failure(error) }
    var regexTopics: Set<String>? = nil
    if let pattern = request.subscribedTopicRegex, !pattern.isEmpty {
      guard let matched = Self.topics(matching: pattern, in: topics.keys) else {
        return .failure(
          HeartbeatError(
            code: .invalidRegularExpression, message: "SubscribedTopicRegex \(pattern) is invalid.")
        )
      }
      regexTopics = matched
    }
    let groupId = request.groupId
    if let classic = groups[groupId] {
      guard classic.state == .empty, request.memberEpoch == 0 else {
        return .failure(
          HeartbeatError(
            code: .groupIdNotFound, message: "Group \(groupId) is not a consumer group."))
      }
      // An Empty classic group becomes a consumer group; its offsets stay.
      persist([.groupMetadata(groupId: groupId, value: nil)], into: &out)
    }
    if request.memberEpoch < 0 {
      return leave(request, now: now, out: &out)
    }
    var group = consumerGroups[groupId] ?? ConsumerGroup(groupId: groupId)
    var member: ConsumerMember
    var isNew = false
    if request.memberEpoch == 0 {
      switch joiningMember(group, request, now: now, out: &out) {
      case .failure(let error): return .failure(error)
      case .success(let (m, new)):
        member = m
        isNew = new
        group = consumerGroups[groupId] ?? group
      }
    } else {
      guard consumerGroups[groupId] != nil else { return .failure(Self.groupNotFound(groupId)) }
      guard let existing = group.members[request.memberId] else {
        return .failure(
          HeartbeatError(
            code: .unknownMemberId,
            message: "Member \(request.memberId) is not a member of group \(groupId)."))
      }
      if let instanceId = request.instanceId, group.staticMembers[instanceId] != existing.memberId {
        return .failure(HeartbeatError(code: .fencedInstanceId, message: nil))
      }
      let owned = request.topicPartitions.map(Self.topicIdPartitions)
      if request.memberEpoch > existing.memberEpoch {
        return .failure(HeartbeatError(code: .fencedMemberEpoch, message: nil))
      }
      if request.memberEpoch < existing.memberEpoch {
        guard request.memberEpoch == existing.previousMemberEpoch, let owned,
          Self.isSubset(owned, of: existing.assigned)
        else { return .failure(HeartbeatError(code: .fencedMemberEpoch, message: nil)) }
      }
      member = existing
    }
    // The member's subscription.
    var updated = member
    updated.clientId = clientId
    updated.clientHost = clientHost
    if let names = request.subscribedTopicNames { updated.subscribedTopicNames = names }
    if let rack = request.rackId { updated.rackId = rack }
    if request.rebalanceTimeoutMs != -1 { updated.rebalanceTimeoutMs = request.rebalanceTimeoutMs }
    if let assignor = request.serverAssignor { updated.serverAssignor = assignor }
    if let instanceId = request.instanceId { updated.instanceId = instanceId }
    if let pattern = request.subscribedTopicRegex {
      updated.subscribedTopicRegex = pattern.isEmpty ? nil : pattern
    }
    if let regexTopics {
      updated.regexTopics = regexTopics
    } else if let pattern = updated.subscribedTopicRegex {
      // The regex again over the current topics (new topics may match).
      updated.regexTopics = Self.topics(matching: pattern, in: topics.keys) ?? []
    } else {
      updated.regexTopics = []
    }
    var bump = isNew
    if updated.subscribedTopics != member.subscribedTopics
      || updated.subscribedTopicRegex != member.subscribedTopicRegex
      || updated.serverAssignor != member.serverAssignor
    {
      bump = true
    }
    var records: [CoordinatorRecord] = []
    if isNew || updated.metadataValue != member.metadataValue {
      records.append(
        .consumerGroupMemberMetadata(
          groupId: groupId, memberId: updated.memberId, value: updated.metadataValue))
    }
    // The subscribed topics' metadata, as the group saw it at its last epoch.
    let others = group.members.values.filter { $0.memberId != updated.memberId }
    let subscribed = Set(others.flatMap(\.subscribedTopics)).union(updated.subscribedTopics)
    var metadata: [String: ConsumerTopic] = [:]
    for name in subscribed { if let t = topics[name] { metadata[name] = t } }
    if metadata != group.subscribedTopicMetadata {
      bump = true
      records.append(
        .consumerGroupPartitionMetadata(groupId: groupId, value: Self.partitionMetadata(metadata)))
    }
    if bump || consumerGroups[groupId] == nil {
      records.append(
        .consumerGroupMetadata(
          groupId: groupId, value: ConsumerGroupMetadataValue(epoch: group.groupEpoch + 1)))
    }
    persist(records, into: &out)
    consumerGroups[groupId]?.members[updated.memberId]?.regexTopics = updated.regexTopics
    updateTargetAssignment(groupId, out: &out)
    let owned = request.topicPartitions.map(Self.topicIdPartitions)
    let before = consumerGroups[groupId]?.members[updated.memberId] ?? updated
    reconcile(groupId, memberId: updated.memberId, owned: owned, now: now, out: &out)
    guard var current = consumerGroups[groupId]?.members[updated.memberId] else {
      return .failure(HeartbeatError(code: .unknownMemberId, message: nil))
    }
    current.sessionDeadline = now + config.consumerSessionTimeoutMs
    consumerGroups[groupId]?.members[updated.memberId] = current
    var response = ConsumerGroupHeartbeatResponse(
      memberId: current.memberId, memberEpoch: current.memberEpoch,
      heartbeatIntervalMs: config.consumerHeartbeatIntervalMs)
    if request.memberEpoch == 0 || request.topicPartitions != nil
      || before.assigned != current.assigned || isNew
    {
      response.assignment = .init(
        topicPartitions: current.assigned.keys.sorted().compactMap { id in
          guard let ps = current.assigned[id], !ps.isEmpty else { return nil }
          return .init(topicId: id, partitions: ps.sorted())
        })
    }
    return .success(response)
  }

  /// The member joining with epoch 0: a new member, a known member starting over (it owns
  /// nothing now), or a static member taking over its instance id.
  private mutating func joiningMember(
    _ group: ConsumerGroup, _ request: ConsumerGroupHeartbeatRequest, now: Int64,
    out: inout CoordinatorOutput
  ) -> Result<(ConsumerMember, Bool), HeartbeatError> {
    let groupId = group.groupId
    let memberId = request.memberId.isEmpty ? memberIdSuffix() : request.memberId
    if let instanceId = request.instanceId, let previousId = group.staticMembers[instanceId],
      previousId != memberId, let previous = group.members[previousId]
    {
      guard previous.memberEpoch == Self.leaveGroupStaticMemberEpoch else {
        return .failure(
          HeartbeatError(
            code: .unreleasedInstanceId,
            message:
              "Static member \(memberId) with instance id \(instanceId) cannot join the group "
              + "\(groupId) as the previous member \(previousId) has not left."))
      }
      // The new member id takes over the previous one's assignment.
      var member = previous
      member.memberId = memberId
      member.memberEpoch = previous.previousMemberEpoch
      var records = Self.removalRecords(groupId, previousId)
      records.append(
        .consumerGroupMemberMetadata(
          groupId: groupId, memberId: memberId, value: member.metadataValue))
      if let target = group.targetAssignment[previousId] {
        records.append(
          .consumerGroupTargetAssignmentMember(
            groupId: groupId, memberId: memberId, value: Self.targetValue(target)))
      }
      records.append(
        .consumerGroupCurrentMemberAssignment(
          groupId: groupId, memberId: memberId, value: member.assignmentValue))
      persist(records, into: &out)
      return .success((member, false))
    }
    if var existing = group.members[memberId] {
      // Rejoining: what it owned is gone.
      existing.memberEpoch = 0
      existing.previousMemberEpoch = 0
      existing.state = .stable
      existing.assigned = [:]
      existing.pendingRevocation = [:]
      persist(
        [
          .consumerGroupCurrentMemberAssignment(
            groupId: groupId, memberId: memberId, value: existing.assignmentValue)
        ], into: &out)
      return .success((existing, false))
    }
    guard group.members.count < config.consumerMaxSize else {
      return .failure(
        HeartbeatError(
          code: .groupMaxSizeReached,
          message:
            "The consumer group has reached its maximum capacity of \(config.consumerMaxSize) members."
        ))
    }
    var member = ConsumerMember(memberId: memberId)
    member.instanceId = request.instanceId
    return .success((member, true))
  }

  private mutating func leave(
    _ request: ConsumerGroupHeartbeatRequest, now: Int64, out: inout CoordinatorOutput
  ) -> Result<ConsumerGroupHeartbeatResponse, HeartbeatError> {
    let groupId = request.groupId
    let unknown = HeartbeatError(
      code: .unknownMemberId,
      message: "Member \(request.memberId) is not a member of group \(groupId).")
    guard let group = consumerGroups[groupId] else { return .failure(Self.groupNotFound(groupId)) }
    let memberId: String
    if let instanceId = request.instanceId {
      guard let current = group.staticMembers[instanceId] else { return .failure(unknown) }
      guard current == request.memberId else {
        return .failure(HeartbeatError(code: .fencedInstanceId, message: nil))
      }
      memberId = current
    } else {
      guard group.members[request.memberId] != nil else { return .failure(unknown) }
      memberId = request.memberId
    }
    if request.memberEpoch == Self.leaveGroupStaticMemberEpoch, var member = group.members[memberId]
    {
      // A static member leaving for a while keeps its assignment until its session expires.
      if member.memberEpoch != Self.leaveGroupStaticMemberEpoch {
        member.previousMemberEpoch = member.memberEpoch
        member.memberEpoch = Self.leaveGroupStaticMemberEpoch
      }
      persist(
        [
          .consumerGroupCurrentMemberAssignment(
            groupId: groupId, memberId: memberId, value: member.assignmentValue)
        ], into: &out)
    } else {
      removeConsumerMember(groupId, memberId, out: &out)
    }
    return .success(
      ConsumerGroupHeartbeatResponse(
        memberId: memberId, memberEpoch: request.memberEpoch, heartbeatIntervalMs: 0))
  }

  static func groupNotFound(_ groupId: String) -> HeartbeatError {
    HeartbeatError(code: .groupIdNotFound, message: "Consumer group \(groupId) not found.")
  }

  /// Records that remove a member: its assignment, target and subscription, in Kafka's order.
  static func removalRecords(_ groupId: String, _ memberId: String) -> [CoordinatorRecord] {
    [
      .consumerGroupCurrentMemberAssignment(groupId: groupId, memberId: memberId, value: nil),
      .consumerGroupTargetAssignmentMember(groupId: groupId, memberId: memberId, value: nil),
      .consumerGroupMemberMetadata(groupId: groupId, memberId: memberId, value: nil),
    ]
  }

  /// Removes a member (left, session expired, did not revoke in time) and bumps the group epoch.
  mutating func removeConsumerMember(
    _ groupId: String, _ memberId: String, out: inout CoordinatorOutput
  ) {
    guard let group = consumerGroups[groupId], group.members[memberId] != nil else { return }
    var records = Self.removalRecords(groupId, memberId)
    var remaining = group
    remaining.members[memberId] = nil
    var metadata: [String: ConsumerTopic] = [:]
    for name in remaining.subscribedTopics {
      if let t = group.subscribedTopicMetadata[name] { metadata[name] = t }
    }
    if metadata != group.subscribedTopicMetadata {
      records.append(
        .consumerGroupPartitionMetadata(groupId: groupId, value: Self.partitionMetadata(metadata)))
    }
    records.append(
      .consumerGroupMetadata(
        groupId: groupId, value: ConsumerGroupMetadataValue(epoch: group.groupEpoch + 1)))
    persist(records, into: &out)
  }

  /// Kafka's internal topics, which regex subscriptions never match.
  static let internalTopics: Set<String> = ["__consumer_offsets", "__transaction_state"]

  /// The topics whose whole name matches `pattern`, or nil when it is no valid regex.
  static func topics(matching pattern: String, in names: some Sequence<String>) -> Set<String>? {
    guard let regex = try? Regex(pattern) else { return nil }
    var matched: Set<String> = []
    for name in names where !internalTopics.contains(name) {
      if (try? regex.wholeMatch(in: name)) != nil { matched.insert(name) }
    }
    return matched
  }

  static func partitionMetadata(_ topics: [String: ConsumerTopic])
    -> ConsumerGroupPartitionMetadataValue
  {
    ConsumerGroupPartitionMetadataValue(
      topics: topics.keys.sorted().compactMap { name in
        guard let t = topics[name] else { return nil }
        return .init(
          topicId: t.id, topicName: name, numPartitions: t.partitionCount, partitionMetadata: [])
      })
  }

  static func targetValue(_ target: TopicIdPartitions) -> ConsumerGroupTargetAssignmentMemberValue {
    ConsumerGroupTargetAssignmentMemberValue(
      topicPartitions: target.keys.sorted().compactMap { id in
        guard let ps = target[id], !ps.isEmpty else { return nil }
        return .init(topicId: id, partitions: ps.sorted())
      })
  }

  static func topicIdPartitions(_ list: [ConsumerGroupHeartbeatRequest.TopicPartitions])
    -> TopicIdPartitions
  {
    var result: TopicIdPartitions = [:]
    for t in list where !t.partitions.isEmpty {
      result[t.topicId, default: []].formUnion(t.partitions)
    }
    return result
  }

  static func isSubset(_ a: TopicIdPartitions, of b: TopicIdPartitions) -> Bool {
    a.allSatisfy { id, ps in ps.isSubset(of: b[id] ?? []) }
  }

  // MARK: Target assignment and reconciliation

  /// Computes the target assignment of the group epoch when it is behind.
  mutating func updateTargetAssignment(_ groupId: String, out: inout CoordinatorOutput) {
    guard let group = consumerGroups[groupId], group.assignmentEpoch < group.groupEpoch else {
      return
    }
    let metadata = group.subscribedTopicMetadata
    var names: [KafkaUuid: String] = [:]
    for (name, t) in metadata { names[t.id] = name }
    let members = group.members.values.map { m in
      var current: [String: Set<Int32>] = [:]
      for (id, ps) in group.targetAssignment[m.memberId] ?? [:] {
        if let name = names[id] { current[name] = ps }
      }
      return AssignorMember(
        memberId: m.memberId,
        subscribedTopics: m.subscribedTopics.filter { metadata[$0] != nil },
        current: current)
    }
    let assignor = group.assignor(default: config.consumerAssignors.first ?? .uniform)
    let result = assignor.assign(
      members: members, partitions: metadata.mapValues(\.partitionCount))
    var records: [CoordinatorRecord] = []
    for memberId in group.members.keys.sorted() {
      var target: TopicIdPartitions = [:]
      for (name, ps) in result[memberId] ?? [:] where !ps.isEmpty {
        if let id = metadata[name]?.id { target[id] = ps }
      }
      if group.targetAssignment[memberId] != target {
        records.append(
          .consumerGroupTargetAssignmentMember(
            groupId: groupId, memberId: memberId, value: Self.targetValue(target)))
      }
    }
    records.append(
      .consumerGroupTargetAssignmentMetadata(
        groupId: groupId,
        value: ConsumerGroupTargetAssignmentMetadataValue(assignmentEpoch: group.groupEpoch)))
    persist(records, into: &out)
  }

  /// Moves a member towards its target: first it keeps only what stays its own (revoking the
  /// rest), then it moves to the target epoch and gets new partitions once their previous
  /// owners have released them. `owned` is what the member reported (nil: unchanged).
  mutating func reconcile(
    _ groupId: String, memberId: String, owned: TopicIdPartitions?, now: Int64,
    out: inout CoordinatorOutput
  ) {
    guard let group = consumerGroups[groupId], let member = group.members[memberId],
      member.memberEpoch >= 0
    else { return }
    let target = group.targetAssignment[memberId] ?? [:]
    let targetEpoch = group.assignmentEpoch
    var next = member
    if member.state == .unrevokedPartitions {
      guard let owned, Self.intersection(owned, member.pendingRevocation).isEmpty else { return }
      next.pendingRevocation = [:]
      next.revocationDeadline = nil
    } else if member.memberEpoch == targetEpoch && member.state == .stable {
      return
    }
    let keep = Self.intersection(next.assigned, target)
    let revoke = Self.subtracting(next.assigned, target)
    if !revoke.isEmpty {
      next.state = .unrevokedPartitions
      next.assigned = keep
      next.pendingRevocation = revoke
      next.revocationDeadline = now + Int64(max(member.rebalanceTimeoutMs, 0))
    } else {
      if next.memberEpoch != targetEpoch {
        next.previousMemberEpoch = next.memberEpoch
        next.memberEpoch = targetEpoch
      }
      var assigned = keep
      var unreleased = false
      for (id, ps) in Self.subtracting(target, keep) {
        for p in ps {
          if group.isOwnedByOther(memberId, topic: id, partition: p) {
            unreleased = true
          } else {
            assigned[id, default: []].insert(p)
          }
        }
      }
      next.assigned = assigned
      next.state = unreleased ? .unreleasedPartitions : .stable
    }
    if next.assignmentValue != member.assignmentValue {
      persist(
        [
          .consumerGroupCurrentMemberAssignment(
            groupId: groupId, memberId: memberId, value: next.assignmentValue)
        ], into: &out)
    }
    consumerGroups[groupId]?.members[memberId]?.revocationDeadline = next.revocationDeadline
  }

  static func intersection(_ a: TopicIdPartitions, _ b: TopicIdPartitions) -> TopicIdPartitions {
    var result: TopicIdPartitions = [:]
    for (id, ps) in a {
      let common = ps.intersection(b[id] ?? [])
      if !common.isEmpty { result[id] = common }
    }
    return result
  }

  static func subtracting(_ a: TopicIdPartitions, _ b: TopicIdPartitions) -> TopicIdPartitions {
    var result: TopicIdPartitions = [:]
    for (id, ps) in a {
      let rest = ps.subtracting(b[id] ?? [])
      if !rest.isEmpty { result[id] = rest }
    }
    return result
  }

  // MARK: Timers

  /// Fences members whose session expired or who did not revoke within the rebalance timeout.
  mutating func tickConsumerGroups(now: Int64, out: inout CoordinatorOutput) {
    for groupId in consumerGroups.keys.sorted() {
      guard let group = consumerGroups[groupId] else { continue }
      for memberId in group.members.keys.sorted() {
        guard let member = group.members[memberId] else { continue }
        let expired = member.sessionDeadline <= now
        let notRevoked =
          member.state == .unrevokedPartitions && (member.revocationDeadline ?? .max) <= now
        if expired || notRevoked { removeConsumerMember(groupId, memberId, out: &out) }
      }
    }
  }

  mutating func onConsumerGroupsLoaded(now: Int64) {
    for (groupId, var group) in consumerGroups {
      for id in group.members.keys {
        group.members[id]?.sessionDeadline = now + config.consumerSessionTimeoutMs
      }
      consumerGroups[groupId] = group
    }
  }

  /// Records that delete an Empty consumer group (its offsets are deleted apart).
  static func consumerGroupDeletionRecords(_ groupId: String) -> [CoordinatorRecord] {
    [
      .consumerGroupTargetAssignmentMetadata(groupId: groupId, value: nil),
      .consumerGroupPartitionMetadata(groupId: groupId, value: nil),
      .consumerGroupMetadata(groupId: groupId, value: nil),
    ]
  }

  // MARK: Offsets

  /// Kafka's checks of a commit to a consumer group: admin and simple commits (epoch < 0) only
  /// when the group has no members; members commit with their current epoch on OffsetCommit v9+.
  func validateConsumerGroupCommit(
    _ group: ConsumerGroup, memberId: String, memberEpoch: Int32, version: Int16
  ) -> ErrorCode? {
    if memberEpoch < 0 && group.members.isEmpty { return nil }
    guard let member = group.members[memberId] else { return .unknownMemberId }
    guard version >= 9 else { return .unsupportedVersion }
    return memberEpoch == member.memberEpoch ? nil : .staleMemberEpoch
  }

  /// Kafka's checks of OffsetFetch v9+ with a member: it must be in the group at its epoch.
  public func validateOffsetFetch(groupId: String, memberId: String?, memberEpoch: Int32)
    -> ErrorCode?
  {
    guard let group = consumerGroups[groupId] else { return nil }
    if memberEpoch < 0 && memberId == nil { return nil }
    guard let member = group.members[memberId ?? ""] else { return .unknownMemberId }
    return memberEpoch == member.memberEpoch ? nil : .staleMemberEpoch
  }
}
