import KafkaProtocol
import Testing

@testable import SkeinCoordinator

let topicT = KafkaUuid(high: 1, low: 1)
let sixPartitions: [String: ConsumerTopic] = ["t": ConsumerTopic(id: topicT, partitionCount: 6)]

extension Harness {
  /// Sends ConsumerGroupHeartbeat; `owned` nil means "unchanged" as on the wire.
  mutating func cgHeartbeat(
    _ group: String = "g", member: String = "", epoch: Int32, instance: String? = nil,
    topics: [String]? = nil, owned: Set<Int32>? = nil, assignor: String? = nil,
    regex: String? = nil, metadata: [String: ConsumerTopic] = sixPartitions, version: Int16 = 0
  ) -> ConsumerGroupHeartbeatResponse {
    let request = ConsumerGroupHeartbeatRequest(
      groupId: group, memberId: member, memberEpoch: epoch, instanceId: instance,
      rebalanceTimeoutMs: epoch == 0 ? 30_000 : -1,
      subscribedTopicNames: epoch == 0 && regex == nil ? (topics ?? ["t"]) : topics,
      subscribedTopicRegex: regex, serverAssignor: assignor,
      topicPartitions: epoch == 0
        ? [] : owned.map { [.init(topicId: topicT, partitions: $0.sorted())] })
    let r = shard.consumerGroupHeartbeat(
      request, version: version, clientId: "client", clientHost: "/127.0.0.1", topics: metadata,
      now: now)
    absorb(r.output)
    return r.response
  }
}

func partitions(_ r: ConsumerGroupHeartbeatResponse) -> Set<Int32>? {
  guard let a = r.assignment else { return nil }
  return Set(a.topicPartitions.filter { $0.topicId == topicT }.flatMap(\.partitions))
}

/// The persisted part of consumer groups (timers are not persisted).
func persisted(_ groups: [String: ConsumerGroup]) -> [String: ConsumerGroup] {
  groups.mapValues { g in
    var g = g
    for id in g.members.keys {
      g.members[id]?.sessionDeadline = 0
      g.members[id]?.revocationDeadline = nil
      g.members[id]?.regexTopics = []
    }
    return g
  }
}

@Suite struct ConsumerGroupTests {
  @Test func firstMemberGetsEveryPartition() {
    var h = Harness()
    let r = h.cgHeartbeat(epoch: 0)
    #expect(r.errorCode == 0)
    #expect(r.memberId == "id1")
    #expect(r.memberEpoch == 1)
    #expect(r.heartbeatIntervalMs == 5000)
    #expect(partitions(r) == Set(0..<6))
    #expect(h.shard.consumerGroups["g"]?.state == .stable)
    // A plain heartbeat carries no assignment.
    let hb = h.cgHeartbeat(member: "id1", epoch: 1)
    #expect(hb.errorCode == 0 && hb.memberEpoch == 1 && hb.assignment == nil)
    // Kafka's key versions 3 (group), 4 (partition metadata), 5 (member), 6-7 (target), 8.
    let versions = Set(h.log.map { $0.encodeKey().getInteger(at: 0, as: Int16.self) ?? -1 })
    #expect(versions == [3, 4, 5, 6, 7, 8])
  }

  @Test func secondMemberWaitsForRevocation() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    let b = h.cgHeartbeat(epoch: 0)
    let bId = b.memberId ?? ""
    #expect(b.memberEpoch == 2)
    // B's partitions are still A's: B gets nothing yet.
    #expect(partitions(b) == [])
    // A is asked to keep only its share, at its old epoch.
    let a = h.cgHeartbeat(member: "id1", epoch: 1)
    #expect(a.memberEpoch == 1)
    let kept = partitions(a) ?? []
    #expect(kept.count == 3)
    #expect(h.shard.consumerGroups["g"]?.members["id1"]?.state == .unrevokedPartitions)
    #expect(h.shard.consumerGroups["g"]?.state == .reconciling)
    // Until A says it revoked, B still gets nothing.
    #expect(partitions(h.cgHeartbeat(member: bId, epoch: 2, owned: [])) == [])
    let acked = h.cgHeartbeat(member: "id1", epoch: 1, owned: kept)
    #expect(acked.memberEpoch == 2)
    #expect(partitions(acked) == kept)
    let b2 = h.cgHeartbeat(member: bId, epoch: 2)
    #expect(partitions(b2) == Set(0..<6).subtracting(kept))
    #expect(h.shard.consumerGroups["g"]?.state == .stable)
  }

  @Test func leaveAndSessionExpiryRebalance() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    let b = h.cgHeartbeat(epoch: 0)
    let bId = b.memberId ?? ""
    let kept = partitions(h.cgHeartbeat(member: "id1", epoch: 1)) ?? []
    _ = h.cgHeartbeat(member: "id1", epoch: 1, owned: kept)
    _ = h.cgHeartbeat(member: bId, epoch: 2)
    let left = h.cgHeartbeat(member: bId, epoch: -1)
    #expect(left.errorCode == 0 && left.memberEpoch == -1)
    #expect(h.shard.consumerGroups["g"]?.groupEpoch == 3)
    let a = h.cgHeartbeat(member: "id1", epoch: 2)
    #expect(a.memberEpoch == 3)
    #expect(partitions(a) == Set(0..<6))
    // Leaving twice: the member is gone.
    #expect(h.cgHeartbeat(member: bId, epoch: -1).errorCode == ErrorCode.unknownMemberId.rawValue)
    // A stops heartbeating: fenced after group.consumer.session.timeout.ms.
    h.advance(44_000)
    #expect(h.shard.consumerGroups["g"]?.members["id1"] != nil)
    h.advance(1_100)
    #expect(h.shard.consumerGroups["g"]?.members.isEmpty == true)
    #expect(h.shard.consumerGroups["g"]?.state == .empty)
    #expect(h.cgHeartbeat(member: "id1", epoch: 3).errorCode == ErrorCode.unknownMemberId.rawValue)
  }

  @Test func epochsAreChecked() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    #expect(
      h.cgHeartbeat(member: "id1", epoch: 2).errorCode == ErrorCode.fencedMemberEpoch.rawValue)
    #expect(h.cgHeartbeat(member: "x", epoch: 1).errorCode == ErrorCode.unknownMemberId.rawValue)
    #expect(
      h.cgHeartbeat("other", member: "x", epoch: 1).errorCode
        == ErrorCode.groupIdNotFound.rawValue)
    #expect(
      h.cgHeartbeat("other", member: "x", epoch: -1).errorCode
        == ErrorCode.groupIdNotFound.rawValue)
    #expect(h.cgHeartbeat(member: "", epoch: 1).errorCode == ErrorCode.invalidRequest.rawValue)
    #expect(
      h.cgHeartbeat(epoch: 0, assignor: "sticky").errorCode
        == ErrorCode.unsupportedAssignor.rawValue)
    // A member one epoch behind that owns no more than it is assigned may catch up.
    _ = h.cgHeartbeat(epoch: 0)
    let a = h.cgHeartbeat(member: "id1", epoch: 1)
    let kept = partitions(a) ?? []
    _ = h.cgHeartbeat(member: "id1", epoch: 1, owned: kept)
    #expect(h.shard.consumerGroups["g"]?.members["id1"]?.memberEpoch == 2)
    #expect(h.cgHeartbeat(member: "id1", epoch: 1, owned: kept).errorCode == 0)
    #expect(
      h.cgHeartbeat(member: "id1", epoch: 1, owned: Set(0..<6)).errorCode
        == ErrorCode.fencedMemberEpoch.rawValue)
  }

  @Test func staticMembers() {
    var h = Harness()
    let a = h.cgHeartbeat(member: "m1", epoch: 0, instance: "i1")
    #expect(a.memberEpoch == 1)
    let other = h.cgHeartbeat(member: "m2", epoch: 0, instance: "i1")
    #expect(other.errorCode == ErrorCode.unreleasedInstanceId.rawValue)
    let away = h.cgHeartbeat(member: "m1", epoch: -2, instance: "i1")
    #expect(away.errorCode == 0 && away.memberEpoch == -2)
    #expect(h.shard.consumerGroups["g"]?.groupEpoch == 1)
    let back = h.cgHeartbeat(member: "m2", epoch: 0, instance: "i1")
    #expect(back.errorCode == 0)
    #expect(back.memberEpoch == 1)
    #expect(partitions(back) == Set(0..<6))
    #expect(h.shard.consumerGroups["g"]?.members.keys.sorted() == ["m2"])
    #expect(persisted(h.replayed().consumerGroups) == persisted(h.shard.consumerGroups))
  }

  @Test func replayRebuildsTheSameState() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    let b = h.cgHeartbeat(epoch: 0, assignor: "range")
    _ = h.cgHeartbeat(member: "id1", epoch: 1)
    #expect(persisted(h.replayed().consumerGroups) == persisted(h.shard.consumerGroups))
    _ = h.cgHeartbeat(member: b.memberId ?? "", epoch: -1)
    #expect(persisted(h.replayed().consumerGroups) == persisted(h.shard.consumerGroups))
    #expect(h.replayed().groups.isEmpty)
  }

  @Test func commitsUseMemberEpochs() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    #expect(h.commit("g", generation: 1, member: "id1", offsets: [0: 5]) == [0: .none])
    #expect(h.commit("g", generation: 0, member: "id1", offsets: [0: 6]) == [0: .staleMemberEpoch])
    #expect(h.commit("g", generation: 1, member: "x", offsets: [0: 6]) == [0: .unknownMemberId])
    #expect(
      h.commit("g", generation: 1, member: "id1", offsets: [0: 6], version: 8)
        == [0: .unsupportedVersion])
    #expect(h.commit("g", offsets: [0: 6]) == [0: .unknownMemberId])
    #expect(h.committed("g") == [0: 5])
    #expect(
      h.shard.validateOffsetFetch(groupId: "g", memberId: "id1", memberEpoch: 0)
        == .staleMemberEpoch)
    #expect(h.shard.validateOffsetFetch(groupId: "g", memberId: "id1", memberEpoch: 1) == nil)
    #expect(h.shard.validateOffsetFetch(groupId: "g", memberId: nil, memberEpoch: -1) == nil)
    _ = h.cgHeartbeat(member: "id1", epoch: -1)
    // An Empty group takes admin commits.
    #expect(h.commit("g", offsets: [0: 7]) == [0: .none])
    #expect(h.replayed().groups["g"] == nil)
    #expect(h.replayed().offsets["g"]?.count == 1)
  }

  @Test func groupsOfBothKindsAreListedDescribedDeleted() {
    var h = Harness()
    // An Empty classic group (admin commits) becomes a consumer group.
    #expect(h.commit("g", offsets: [0: 1]) == [0: .none])
    #expect(h.cgHeartbeat(epoch: 0).errorCode == 0)
    #expect(h.shard.groups["g"] == nil)
    #expect(h.committed("g") == [0: 1])
    _ = h.join("c")
    let listed = h.shard.listGroups(statesFilter: [], typesFilter: [])
    #expect(listed.map(\.groupId) == ["c", "g"])
    #expect(listed.map(\.groupType) == ["classic", "consumer"])
    #expect(h.shard.listGroups(statesFilter: [], typesFilter: ["consumer"]).map(\.groupId) == ["g"])
    #expect(h.shard.listGroups(statesFilter: ["stable"], typesFilter: []).map(\.groupId) == ["g"])
    let d = h.shard.consumerGroupDescribe(
      "g", includeAuthorizedOperations: false, topicNames: [topicT: "t"])
    #expect(d.errorCode == 0 && d.groupState == "Stable" && d.assignorName == "uniform")
    #expect(d.members.first?.assignment.topicPartitions.first?.topicName == "t")
    #expect(d.members.first?.assignment.topicPartitions.first?.partitions == [0, 1, 2, 3, 4, 5])
    let classic = h.shard.consumerGroupDescribe(
      "c", includeAuthorizedOperations: false, topicNames: [:])
    #expect(classic.errorCode == ErrorCode.groupIdNotFound.rawValue)
    #expect(h.shard.describeGroup("g", includeAuthorizedOperations: false).groupState == "Dead")
    #expect(
      h.shard.deleteGroups(["g"]).response.first?.errorCode == ErrorCode.nonEmptyGroup.rawValue)
    _ = h.cgHeartbeat(member: "id1", epoch: -1)
    let deleted = h.shard.deleteGroups(["g"])
    h.absorb(deleted.output)
    #expect(deleted.response.first?.errorCode == 0)
    #expect(h.shard.consumerGroups["g"] == nil)
    #expect(h.replayed().consumerGroups["g"] == nil)
    #expect(h.replayed().offsets["g"] == nil)
  }

  @Test func regexSubscriptionsAndClientMemberIds() {
    var h = Harness()
    // v1: the client brings its member id.
    #expect(
      h.cgHeartbeat(epoch: 0, version: 1).errorCode == ErrorCode.invalidRequest.rawValue)
    #expect(
      h.cgHeartbeat(member: "m", epoch: 0, regex: "t(", version: 1).errorCode
        == ErrorCode.invalidRegularExpression.rawValue)
    var two = sixPartitions
    two["u"] = ConsumerTopic(id: KafkaUuid(high: 2, low: 2), partitionCount: 2)
    two["__consumer_offsets"] = ConsumerTopic(id: KafkaUuid(high: 3, low: 3), partitionCount: 50)
    let r = h.cgHeartbeat(member: "m", epoch: 0, regex: "[a-t]|_.*", metadata: two, version: 1)
    #expect(r.errorCode == 0 && r.memberId == "m")
    #expect(partitions(r) == Set(0..<6))
    #expect(r.assignment?.topicPartitions.count == 1)
    // A new topic that matches joins the subscription at the next heartbeat.
    two["s"] = ConsumerTopic(id: KafkaUuid(high: 4, low: 4), partitionCount: 1)
    let more = h.cgHeartbeat(member: "m", epoch: 1, metadata: two, version: 1)
    #expect(more.memberEpoch == 2)
    #expect(more.assignment?.topicPartitions.count == 2)
    #expect(h.shard.consumerGroups["g"]?.members["m"]?.subscribedTopicRegex == "[a-t]|_.*")
  }

  @Test func offsetDeleteKeepsSubscribedTopics() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    #expect(h.commit("g", generation: 1, member: "id1", offsets: [0: 5]) == [0: .none])
    let request = OffsetDeleteRequest(
      groupId: "g", topics: [.init(name: "t", partitions: [.init(partitionIndex: 0)])])
    let subscribed = h.shard.deleteOffsets(request, now: h.now)
    #expect(
      subscribed.response.topics.first?.partitions.first?.errorCode
        == ErrorCode.groupSubscribedToTopic.rawValue)
    _ = h.cgHeartbeat(member: "id1", epoch: -1)
    let deleted = h.shard.deleteOffsets(request, now: h.now)
    h.absorb(deleted.output)
    #expect(deleted.response.topics.first?.partitions.first?.errorCode == 0)
    #expect(h.committed("g").isEmpty)
  }

  @Test func groupsChangeKindOnlyWhenEmpty() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    #expect(h.commit("g", generation: 1, member: "id1", offsets: [0: 5]) == [0: .none])
    let refused = h.join("g")
    #expect(h.joins[refused]?.errorCode == ErrorCode.inconsistentGroupProtocol.rawValue)
    _ = h.cgHeartbeat(member: "id1", epoch: -1)
    // A classic member (JoinGroup v3: no member id round trip) makes it a live classic group.
    _ = h.join("g", version: 3)
    #expect(h.shard.consumerGroups["g"] == nil)
    #expect(h.shard.groups["g"] != nil)
    #expect(h.committed("g") == [0: 5])
    #expect(
      h.cgHeartbeat(epoch: 0).errorCode == ErrorCode.groupIdNotFound.rawValue)
    let replayed = h.replayed()
    #expect(replayed.consumerGroups["g"] == nil)
    #expect(replayed.groups["g"] != nil)
    #expect(replayed.offsets["g"]?.count == 1)
  }

  @Test func newPartitionsBumpTheGroupEpoch() {
    var h = Harness()
    _ = h.cgHeartbeat(epoch: 0)
    var more = sixPartitions
    more["t"]?.partitionCount = 8
    let r = h.cgHeartbeat(member: "id1", epoch: 1, metadata: more)
    #expect(r.memberEpoch == 2)
    #expect(partitions(r) == Set(0..<8))
  }
}

@Suite struct ConsumerGroupRecordTests {
  @Test func kip848RecordsRoundTripWithKafkasVersions() throws {
    var member = ConsumerMember(memberId: "m")
    member.instanceId = "i"
    member.subscribedTopicNames = ["t"]
    member.assigned = [topicT: [0, 2]]
    member.pendingRevocation = [topicT: [1]]
    member.state = .unrevokedPartitions
    let records: [CoordinatorRecord] = [
      .consumerGroupMetadata(groupId: "g", value: ConsumerGroupMetadataValue(epoch: 4)),
      .consumerGroupPartitionMetadata(
        groupId: "g", value: GroupCoordinatorShard.partitionMetadata(sixPartitions)),
      .consumerGroupMemberMetadata(groupId: "g", memberId: "m", value: member.metadataValue),
      .consumerGroupTargetAssignmentMetadata(
        groupId: "g", value: ConsumerGroupTargetAssignmentMetadataValue(assignmentEpoch: 4)),
      .consumerGroupTargetAssignmentMember(
        groupId: "g", memberId: "m", value: GroupCoordinatorShard.targetValue([topicT: [0, 2]])),
      .consumerGroupCurrentMemberAssignment(
        groupId: "g", memberId: "m", value: member.assignmentValue),
    ]
    for (i, record) in records.enumerated() {
      #expect(record.encodeKey().getInteger(at: 0, as: Int16.self) == Int16(3 + i))
      #expect(record.encodeValue()?.getInteger(at: 0, as: Int16.self) == 0)
      #expect(
        try CoordinatorRecord.decode(key: record.encodeKey(), value: record.encodeValue())
          == record)
    }
    let tombstone = CoordinatorRecord.consumerGroupMemberMetadata(
      groupId: "g", memberId: "m", value: nil)
    #expect(tombstone.encodeValue() == nil)
    #expect(try CoordinatorRecord.decode(key: tombstone.encodeKey(), value: nil) == tombstone)
  }
}
