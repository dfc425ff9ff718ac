import KafkaProtocol
import NIOCore
import Synchronization
import Testing

@testable import SkeinCoordinator

/// Drives a shard in simulated time and keeps every record it writes, as the partition would.
struct Harness {
  var shard: GroupCoordinatorShard
  var now: Int64 = 1_000_000
  var nextToken: UInt64 = 1
  var log: [CoordinatorRecord] = []
  var joins: [UInt64: JoinGroupResponse] = [:]
  var syncs: [UInt64: SyncGroupResponse] = [:]

  init(_ configure: (inout GroupCoordinatorConfig) -> Void = { _ in }) {
    var config = GroupCoordinatorConfig()
    configure(&config)
    let counter = Mutex(0)
    shard = GroupCoordinatorShard(
      config: config,
      memberIdSuffix: {
        counter.withLock {
          $0 += 1
          return "id\($0)"
        }
      })
    shard.onLoaded(now: now)
  }

  mutating func absorb(_ out: CoordinatorOutput) {
    log += out.records
    for r in out.joinReplies { joins[r.token] = r.response }
    for r in out.syncReplies { syncs[r.token] = r.response }
  }

  /// Sends JoinGroup; returns the token to look the answer up with.
  mutating func join(
    _ group: String, member: String = "", instance: String? = nil, session: Int32 = 10_000,
    rebalance: Int32 = 30_000, topics: [String] = ["t"], protocols: [String] = ["range"],
    version: Int16 = 9
  ) -> UInt64 {
    let token = nextToken
    nextToken += 1
    let request = JoinGroupRequest(
      groupId: group, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberId: member,
      groupInstanceId: instance, protocolType: "consumer",
      protocols: protocols.map { .init(name: $0, metadata: subscription(topics)) })
    absorb(
      shard.joinGroup(
        request, version: version, clientId: "client", clientHost: "/127.0.0.1", token: token,
        now: now))
    return token
  }

  mutating func sync(
    _ group: String, member: String, generation: Int32, assignments: [String: String] = [:],
    instance: String? = nil
  ) -> UInt64 {
    let token = nextToken
    nextToken += 1
    let request = SyncGroupRequest(
      groupId: group, generationId: generation, memberId: member, groupInstanceId: instance,
      assignments: assignments.map {
        .init(memberId: $0.key, assignment: ByteBuffer(string: $0.value))
      })
    absorb(shard.syncGroup(request, version: 5, token: token, now: now))
    return token
  }

  mutating func heartbeat(
    _ group: String, member: String, generation: Int32, instance: String? = nil
  )
    -> ErrorCode
  {
    let r = shard.heartbeat(
      HeartbeatRequest(
        groupId: group, generationId: generation, memberId: member, groupInstanceId: instance),
      now: now)
    return ErrorCode(rawValue: r.errorCode)
  }

  /// Moves the clock in the runtime's 100 ms ticks.
  mutating func advance(_ ms: Int64) {
    let end = now + ms
    while now < end {
      now = min(now + 100, end)
      absorb(shard.tick(now: now))
    }
  }

  mutating func commit(
    _ group: String, generation: Int32 = -1, member: String = "", offsets: [Int32: Int64],
    metadata: String = "", version: Int16 = 9, retention: Int64 = -1
  ) -> [Int32: ErrorCode] {
    let request = OffsetCommitRequest(
      groupId: group, generationIdOrMemberEpoch: generation, memberId: member,
      retentionTimeMs: retention,
      topics: [
        .init(
          name: "t",
          partitions: offsets.sorted { $0.key < $1.key }.map {
            .init(partitionIndex: $0.key, committedOffset: $0.value, committedMetadata: metadata)
          })
      ])
    let r = shard.commitOffsets(request, version: version, now: now) { _, p in p < 6 }
    absorb(r.output)
    var result: [Int32: ErrorCode] = [:]
    for p in r.response.topics.first?.partitions ?? [] {
      result[p.partitionIndex] = ErrorCode(rawValue: p.errorCode)
    }
    return result
  }

  func committed(_ group: String) -> [Int32: Int64] {
    var result: [Int32: Int64] = [:]
    for t in shard.fetchOffsets(groupId: group, topics: nil) {
      for p in t.partitions { result[p.partition] = p.value?.offset }
    }
    return result
  }

  /// A fresh shard rebuilt from the records written so far.
  func replayed() -> GroupCoordinatorShard {
    var fresh = GroupCoordinatorShard(config: shard.config)
    for record in log {
      let decoded = try? CoordinatorRecord.decode(
        key: record.encodeKey(), value: record.encodeValue())
      if let decoded { fresh.replay(decoded) }
    }
    return fresh
  }
}

func subscription(_ topics: [String]) -> ByteBuffer {
  var buffer = ByteBuffer()
  buffer.writeInteger(Int16(0))
  ConsumerProtocolSubscription(topics: topics).encode(to: &buffer, version: 0)
  return buffer
}

/// Joins one dynamic member through KIP-394 and the initial delay; returns its member id.
func joinSingle(_ h: inout Harness, _ group: String = "g") -> (String, Int32) {
  let first = h.join(group)
  let memberId = h.joins[first]?.memberId ?? ""
  #expect(h.joins[first]?.errorCode == ErrorCode.memberIdRequired.rawValue)
  let second = h.join(group, member: memberId)
  h.advance(3000)
  let response = h.joins[second]
  #expect(response?.errorCode == 0)
  return (memberId, response?.generationId ?? -1)
}

@Suite struct ClassicGroupTests {
  @Test func newGroupWaitsForTheInitialDelayThenSyncMakesItStable() throws {
    var h = Harness()
    let first = h.join("g")
    let memberId = try #require(h.joins[first]).memberId
    #expect(memberId == "client-id1")
    let second = h.join("g", member: memberId)
    #expect(h.joins[second] == nil)
    #expect(h.shard.groups["g"]?.state == .preparingRebalance)
    h.advance(2999)
    #expect(h.joins[second] == nil)
    h.advance(1)
    let joined = try #require(h.joins[second])
    #expect(joined.errorCode == 0)
    #expect(joined.generationId == 1)
    #expect(joined.leader == memberId)
    #expect(joined.protocolName == "range")
    #expect(joined.members.map(\.memberId) == [memberId])
    #expect(h.shard.groups["g"]?.state == .completingRebalance)

    let sync = h.sync("g", member: memberId, generation: 1, assignments: [memberId: "all"])
    #expect(h.syncs[sync]?.assignment == ByteBuffer(string: "all"))
    #expect(h.shard.groups["g"]?.state == .stable)
    #expect(h.log.count == 1)
    #expect(h.heartbeat("g", member: memberId, generation: 1) == .none)
  }

  @Test func membersJoiningDuringTheDelayExtendItAndFollowersWaitForTheLeader() throws {
    var h = Harness()
    let a = try #require(h.joins[h.join("g")]).memberId
    let ta = h.join("g", member: a)
    h.advance(2000)
    let b = try #require(h.joins[h.join("g")]).memberId
    let tb = h.join("g", member: b)
    h.advance(1000)  // first delay over, but b arrived: one more delay
    #expect(h.joins[ta] == nil)
    h.advance(3000)
    let ja = try #require(h.joins[ta])
    let jb = try #require(h.joins[tb])
    #expect(ja.generationId == 1 && jb.generationId == 1)
    #expect(ja.members.count == 2)
    #expect(jb.members.isEmpty)
    #expect(jb.leader == a)

    let followerSync = h.sync("g", member: b, generation: 1)
    #expect(h.syncs[followerSync] == nil)
    let leaderSync = h.sync("g", member: a, generation: 1, assignments: [a: "p0", b: "p1"])
    #expect(h.syncs[leaderSync]?.assignment == ByteBuffer(string: "p0"))
    #expect(h.syncs[followerSync]?.assignment == ByteBuffer(string: "p1"))
  }

  @Test func heartbeatErrors() throws {
    var h = Harness()
    let (m, gen) = joinSingle(&h)
    #expect(h.heartbeat("nosuch", member: m, generation: gen) == .unknownMemberId)
    #expect(h.heartbeat("g", member: "stranger", generation: gen) == .unknownMemberId)
    #expect(h.heartbeat("g", member: m, generation: gen + 1) == .illegalGeneration)
    // CompletingRebalance: heartbeats are fine while the leader assigns.
    #expect(h.heartbeat("g", member: m, generation: gen) == .none)
    _ = h.sync("g", member: m, generation: gen, assignments: [m: "x"])
    // A new member starts a rebalance: the old generation hears REBALANCE_IN_PROGRESS.
    let n = try #require(h.joins[h.join("g")]).memberId
    _ = h.join("g", member: n)
    #expect(h.heartbeat("g", member: m, generation: gen) == .rebalanceInProgress)
  }

  @Test func sessionTimeoutDropsASilentMemberAndRebalances() throws {
    var h = Harness()
    let a = try #require(h.joins[h.join("g")]).memberId
    let ta = h.join("g", member: a, session: 10_000)
    let b = try #require(h.joins[h.join("g")]).memberId
    let tb = h.join("g", member: b, session: 6_000)
    h.advance(6000)
    let gen = try #require(h.joins[ta]).generationId
    #expect(h.joins[tb]?.generationId == gen)
    _ = h.sync("g", member: b, generation: gen)
    _ = h.sync("g", member: a, generation: gen, assignments: [a: "x", b: "y"])
    // a keeps heartbeating, b falls silent.
    for _ in 0..<5 {
      h.advance(1000)
      #expect(h.heartbeat("g", member: a, generation: gen) == .none)
    }
    #expect(h.shard.groups["g"]?.members[b] != nil)
    h.advance(1000)
    #expect(h.shard.groups["g"]?.members[b] == nil)
    #expect(h.heartbeat("g", member: a, generation: gen) == .rebalanceInProgress)
    let rejoin = h.join("g", member: a)
    let response = try #require(h.joins[rejoin])
    #expect(response.generationId == gen + 1)
    #expect(response.members.map(\.memberId) == [a])
  }

  @Test func rebalanceTimeoutDropsMembersThatDoNotRejoin() throws {
    var h = Harness()
    let a = try #require(h.joins[h.join("g")]).memberId
    let ta = h.join("g", member: a, session: 30_000, rebalance: 10_000)
    let b = try #require(h.joins[h.join("g")]).memberId
    let tb = h.join("g", member: b, session: 30_000, rebalance: 10_000)
    h.advance(6000)
    let gen = try #require(h.joins[ta]).generationId
    #expect(h.joins[tb] != nil)
    _ = h.sync("g", member: a, generation: gen, assignments: [a: "x", b: "y"])
    // a asks for a rebalance (the leader rejoining); b never comes back.
    let again = h.join("g", member: a, session: 30_000, rebalance: 10_000)
    h.advance(5000)
    #expect(h.heartbeat("g", member: b, generation: gen) == .rebalanceInProgress)
    #expect(h.joins[again] == nil)
    h.advance(5000)
    let done = try #require(h.joins[again])
    #expect(done.generationId == gen + 1)
    #expect(done.members.map(\.memberId) == [a])
    #expect(h.heartbeat("g", member: b, generation: gen) == .unknownMemberId)
  }

  @Test func staticMemberRejoiningWithSameMetadataGetsItsAssignmentWithoutRebalance() throws {
    var h = Harness()
    let ta = h.join("g", instance: "ia")
    let tb = h.join("g", instance: "ib")
    h.advance(6000)
    let ja = try #require(h.joins[ta])
    let jb = try #require(h.joins[tb])
    #expect(ja.memberId == "ia-id1")
    let gen = ja.generationId
    _ = h.sync("g", member: jb.memberId, generation: gen, instance: "ib")
    _ = h.sync(
      "g", member: ja.memberId, generation: gen, assignments: [ja.memberId: "A", jb.memberId: "B"],
      instance: "ia")
    // ib restarts: a new member id, the same generation, its old assignment.
    let rejoin = h.join("g", instance: "ib")
    let jr = try #require(h.joins[rejoin])
    #expect(jr.errorCode == 0)
    #expect(jr.generationId == gen)
    #expect(jr.memberId != jb.memberId)
    #expect(h.shard.groups["g"]?.state == .stable)
    let s = h.sync("g", member: jr.memberId, generation: gen, instance: "ib")
    #expect(h.syncs[s]?.assignment == ByteBuffer(string: "B"))
    // The old incarnation is fenced; the other member saw nothing.
    #expect(
      h.heartbeat("g", member: jb.memberId, generation: gen, instance: "ib") == .fencedInstanceId)
    #expect(h.heartbeat("g", member: ja.memberId, generation: gen, instance: "ia") == .none)
    // The member id change is persisted.
    let replayed = h.replayed()
    #expect(replayed.groups["g"]?.staticMembers["ib"] == jr.memberId)
  }

  @Test func staticLeaderRejoinSkipsAssignment() throws {
    var h = Harness()
    let t = h.join("g", instance: "only")
    h.advance(3000)
    let j = try #require(h.joins[t])
    _ = h.sync(
      "g", member: j.memberId, generation: j.generationId, assignments: [j.memberId: "A"],
      instance: "only")
    let again = h.join("g", instance: "only")
    let r = try #require(h.joins[again])
    #expect(r.skipAssignment)
    #expect(r.leader == r.memberId)
    #expect(r.members.map(\.memberId) == [r.memberId])
  }

  @Test func leaveGroupBatchesByMemberAndInstanceId() throws {
    var h = Harness()
    let ta = h.join("g", instance: "ia")
    let tb = h.join("g", instance: "ib")
    h.advance(6000)
    let a = try #require(h.joins[ta]).memberId
    let b = try #require(h.joins[tb]).memberId
    let request = LeaveGroupRequest(
      groupId: "g",
      members: [
        .init(memberId: "", groupInstanceId: "ia"), .init(memberId: "wrong", groupInstanceId: "ib"),
        .init(memberId: "nobody"),
      ])
    let r = h.shard.leaveGroup(request, version: 5, now: h.now)
    h.absorb(r.output)
    #expect(
      r.response.members.map { ErrorCode(rawValue: $0.errorCode) } == [
        .none, .fencedInstanceId, .unknownMemberId,
      ])
    #expect(h.shard.groups["g"]?.members[a] == nil)
    #expect(h.shard.groups["g"]?.members[b] != nil)
    let v0 = h.shard.leaveGroup(
      LeaveGroupRequest(groupId: "g", memberId: b), version: 0, now: h.now)
    h.absorb(v0.output)
    #expect(v0.response.errorCode == 0)
    #expect(h.shard.groups["g"]?.state == .empty)
    let unknown = h.shard.leaveGroup(
      LeaveGroupRequest(groupId: "zz", memberId: "m"), version: 1, now: h.now)
    #expect(unknown.response.errorCode == ErrorCode.unknownMemberId.rawValue)
  }

  @Test func joinValidation() throws {
    var h = Harness()
    #expect(
      h.joins[h.join("g", session: 5999)]?.errorCode == ErrorCode.invalidSessionTimeout.rawValue)
    #expect(h.joins[h.join("g", member: "ghost")]?.errorCode == ErrorCode.unknownMemberId.rawValue)
    #expect(h.joins[h.join("")]?.errorCode == ErrorCode.invalidGroupId.rawValue)
    // v3 and older join at once, without MEMBER_ID_REQUIRED.
    let old = h.join("old", version: 3)
    h.advance(3000)
    #expect(h.joins[old]?.errorCode == 0)
    // A member with no protocol in common is refused.
    let (m, _) = joinSingle(&h, "p")
    _ = m
    let other = h.join("p", protocols: ["roundrobin"])
    #expect(h.joins[other]?.errorCode == ErrorCode.inconsistentGroupProtocol.rawValue)
  }

  @Test func protocolIsChosenByVoteAmongThoseAllSupport() throws {
    var h = Harness()
    let ta = h.join("g", instance: "a", protocols: ["cooperative-sticky", "range"])
    let tb = h.join("g", instance: "b", protocols: ["range", "cooperative-sticky"])
    let tc = h.join("g", instance: "c", protocols: ["range"])
    h.advance(6000)
    for t in [ta, tb, tc] { #expect(h.joins[t]?.protocolName == "range") }
  }

  @Test func cooperativeRejoinWithNewMetadataRebalancesAndRelaysIt() throws {
    var h = Harness()
    let a = try #require(h.joins[h.join("g", protocols: ["cooperative-sticky"])]).memberId
    let ta = h.join("g", member: a, protocols: ["cooperative-sticky"])
    h.advance(3000)
    let gen = try #require(h.joins[ta]).generationId
    _ = h.sync("g", member: a, generation: gen, assignments: [a: "all"])
    // b joins: a hears REBALANCE_IN_PROGRESS, rejoins keeping (announcing) its partitions.
    let b = try #require(h.joins[h.join("g", protocols: ["cooperative-sticky"])]).memberId
    let tb = h.join("g", member: b, protocols: ["cooperative-sticky"])
    #expect(h.heartbeat("g", member: a, generation: gen) == .rebalanceInProgress)
    // Offsets of the current generation are still accepted while it rebalances.
    #expect(h.commit("g", generation: gen, member: a, offsets: [0: 4]) == [0: .none])
    let ta2 = h.join("g", member: a, topics: ["t", "owned"], protocols: ["cooperative-sticky"])
    let ja = try #require(h.joins[ta2])
    #expect(h.joins[tb]?.generationId == gen + 1)
    #expect(ja.generationId == gen + 1)
    let relayed = try #require(ja.members.first { $0.memberId == a })
    #expect(relayed.metadata == subscription(["t", "owned"]))
  }

  @Test func groupMaxSize() throws {
    var h = Harness { $0.maxSize = 1 }
    _ = joinSingle(&h)
    #expect(h.joins[h.join("g")]?.errorCode == ErrorCode.groupMaxSizeReached.rawValue)
  }
}

@Suite struct OffsetTests {
  @Test func adminCommitsToAnEmptyGroupAndMembersCommitWithTheirGeneration() throws {
    var h = Harness()
    #expect(h.commit("g", offsets: [0: 5, 1: 7], metadata: "meta") == [0: .none, 1: .none])
    #expect(h.committed("g") == [0: 5, 1: 7])
    #expect(
      h.shard.fetchOffsets(groupId: "g", topics: [("t", [0])]).first?.partitions.first?.value?
        .metadata == "meta")
    #expect(
      h.shard.fetchOffsets(groupId: "nosuch", topics: [("t", [0])]).first?.partitions.first?.value
        == nil)
    #expect(h.commit("g", offsets: [9: 1]) == [9: .unknownTopicOrPartition])
    #expect(
      h.commit("new", generation: 3, member: "m", offsets: [0: 1], version: 8) == [
        0: .illegalGeneration
      ])
    #expect(h.commit("new", generation: 3, member: "m", offsets: [0: 1]) == [0: .groupIdNotFound])
    let big = String(repeating: "x", count: 4097)
    #expect(h.commit("g", offsets: [0: 1], metadata: big) == [0: .offsetMetadataTooLarge])

    let (m, gen) = joinSingle(&h, "live")
    #expect(
      h.commit("live", generation: gen, member: m, offsets: [0: 1]) == [0: .rebalanceInProgress])
    _ = h.sync("live", member: m, generation: gen, assignments: [m: "x"])
    #expect(h.commit("live", generation: gen, member: m, offsets: [0: 9]) == [0: .none])
    #expect(
      h.commit("live", generation: gen + 1, member: m, offsets: [0: 9]) == [0: .illegalGeneration])
    #expect(
      h.commit("live", generation: gen, member: "other", offsets: [0: 9]) == [0: .unknownMemberId])
    #expect(h.commit("live", offsets: [0: 9]) == [0: .unknownMemberId])
  }

  @Test func offsetsOfAnEmptyGroupExpireAfterRetentionAndTheGroupGoes() throws {
    var h = Harness {
      $0.offsetsRetentionMs = 60_000
      $0.offsetsRetentionCheckIntervalMs = 1000
    }
    _ = h.commit("g", offsets: [0: 5])
    h.advance(59_000)
    #expect(h.committed("g") == [0: 5])
    h.advance(2000)
    #expect(h.committed("g").isEmpty)
    #expect(h.shard.groups["g"] == nil)
    #expect(
      h.log.suffix(2) == [
        .offsetCommit(groupId: "g", topic: "t", partition: 0, value: nil),
        .groupMetadata(groupId: "g", value: nil),
      ])
  }

  @Test func oldCommitsWithRetentionTimeExpireAtTheirOwnTime() throws {
    var h = Harness { $0.offsetsRetentionCheckIntervalMs = 1000 }
    _ = h.commit("g", offsets: [0: 5], version: 4, retention: 10_000)
    guard case .offsetCommit(_, _, _, let value?) = h.log.last else {
      Issue.record("no commit record")
      return
    }
    #expect(value.expireTimestamp == h.now + 10_000)
    #expect(CoordinatorRecord.offsetCommitValueVersion(value) == 1)
    h.advance(11_000)
    #expect(h.committed("g").isEmpty)
  }

  @Test func offsetsOfAStableGroupAreKeptWhileItSubscribes() throws {
    var h = Harness {
      $0.offsetsRetentionMs = 60_000
      $0.offsetsRetentionCheckIntervalMs = 1000
    }
    let (m, gen) = joinSingle(&h)
    _ = h.sync("g", member: m, generation: gen, assignments: [m: "x"])
    _ = h.commit("g", generation: gen, member: m, offsets: [0: 3])
    for _ in 0..<70 {
      h.advance(1000)
      _ = h.heartbeat("g", member: m, generation: gen)
    }
    #expect(h.committed("g") == [0: 3])
  }

  @Test func offsetDeleteRefusesSubscribedTopics() throws {
    var h = Harness()
    let (m, gen) = joinSingle(&h)
    _ = h.sync("g", member: m, generation: gen, assignments: [m: "x"])
    _ = h.commit("g", generation: gen, member: m, offsets: [0: 3])
    let request = OffsetDeleteRequest(
      groupId: "g", topics: [.init(name: "t", partitions: [.init(partitionIndex: 0)])])
    let r = h.shard.deleteOffsets(request, now: h.now)
    #expect(
      r.response.topics.first?.partitions.first?.errorCode
        == ErrorCode.groupSubscribedToTopic.rawValue)
    let missing = h.shard.deleteOffsets(OffsetDeleteRequest(groupId: "zz"), now: h.now)
    #expect(missing.response.errorCode == ErrorCode.groupIdNotFound.rawValue)
    _ = h.commit("e", offsets: [0: 1, 1: 2])
    let ok = h.shard.deleteOffsets(
      OffsetDeleteRequest(
        groupId: "e", topics: [.init(name: "t", partitions: [.init(partitionIndex: 0)])]),
      now: h.now)
    h.absorb(ok.output)
    #expect(ok.response.errorCode == 0)
    #expect(h.committed("e") == [1: 2])
  }

  @Test func deletedTopicsLoseTheirOffsets() throws {
    var h = Harness()
    _ = h.commit("g", offsets: [0: 1])
    h.absorb(h.shard.onTopicsDeleted(["t"]))
    #expect(h.committed("g").isEmpty)
    #expect(h.replayed().offsets["g"] == nil)
  }
}

@Suite struct AdminAndReplayTests {
  @Test func listDescribeAndDeleteGroups() throws {
    var h = Harness()
    let (m, gen) = joinSingle(&h, "live")
    _ = h.sync("live", member: m, generation: gen, assignments: [m: "x"])
    _ = h.commit("idle", offsets: [0: 1])
    #expect(
      h.shard.listGroups(statesFilter: [], typesFilter: []).map(\.groupId) == ["idle", "live"])
    #expect(
      h.shard.listGroups(statesFilter: ["stable"], typesFilter: []).map(\.groupId) == ["live"])
    #expect(h.shard.listGroups(statesFilter: [], typesFilter: ["consumer"]).isEmpty)
    #expect(h.shard.listGroups(statesFilter: [], typesFilter: ["Classic"]).count == 2)

    let d = h.shard.describeGroup("live", includeAuthorizedOperations: false)
    #expect(d.groupState == "Stable" && d.protocolData == "range" && d.protocolType == "consumer")
    #expect(d.members.first?.memberAssignment == ByteBuffer(string: "x"))
    #expect(d.members.first?.clientHost == "/127.0.0.1")
    #expect(d.authorizedOperations == Int32.min)
    let unknown = h.shard.describeGroup("nosuch", includeAuthorizedOperations: true)
    #expect(unknown.groupState == "Dead" && unknown.errorCode == 0)
    #expect(unknown.authorizedOperations == GroupCoordinatorShard.groupAuthorizedOperations)

    let r = h.shard.deleteGroups(["live", "idle", "nosuch"])
    h.absorb(r.output)
    #expect(
      r.response.map { ErrorCode(rawValue: $0.errorCode) } == [
        .nonEmptyGroup, .none, .groupIdNotFound,
      ])
    #expect(h.shard.groups["idle"] == nil && h.committed("idle").isEmpty)
    #expect(h.replayed().groups["idle"] == nil)
  }

  @Test func replayRebuildsGroupsAndOffsets() throws {
    var h = Harness()
    let ta = h.join("g", instance: "ia")
    let tb = h.join("g")
    let b = try #require(h.joins[tb]).memberId
    let tb2 = h.join("g", member: b)
    h.advance(6000)
    let a = try #require(h.joins[ta]).memberId
    let gen = try #require(h.joins[tb2]).generationId
    _ = h.sync("g", member: a, generation: gen, assignments: [a: "A", b: "B"], instance: "ia")
    _ = h.commit("g", generation: gen, member: b, offsets: [0: 10, 1: 20], metadata: "m")
    _ = h.commit("simple", offsets: [2: 30])

    var replayed = h.replayed()
    replayed.onLoaded(now: h.now)
    #expect(replayed.offsets == h.shard.offsets)
    let original = try #require(h.shard.groups["g"])
    let loaded = try #require(replayed.groups["g"])
    #expect(loaded.state == .stable)
    #expect(loaded.metadataValue() == original.metadataValue())
    #expect(loaded.staticMembers == ["ia": a])
    #expect(replayed.groups["simple"]?.state == .empty)
    // The reloaded group serves its members: heartbeats, a follower's sync.
    var h2 = h
    h2.shard = replayed
    #expect(h2.heartbeat("g", member: b, generation: gen) == .none)
    let s = h2.sync("g", member: b, generation: gen)
    #expect(h2.syncs[s]?.assignment == ByteBuffer(string: "B"))
  }

  @Test func recordsUseKafkasKeyAndValueVersions() throws {
    let group = CoordinatorRecord.groupMetadata(
      groupId: "g", value: GroupMetadataValue(protocolType: "consumer"))
    #expect(group.encodeKey().getInteger(at: 0, as: Int16.self) == 2)
    #expect(group.encodeValue()?.getInteger(at: 0, as: Int16.self) == 3)
    let commit = CoordinatorRecord.offsetCommit(
      groupId: "g", topic: "t", partition: 1,
      value: OffsetCommitValue(offset: 4, leaderEpoch: 2, metadata: "x", commitTimestamp: 9))
    #expect(commit.encodeKey().getInteger(at: 0, as: Int16.self) == 1)
    #expect(commit.encodeValue()?.getInteger(at: 0, as: Int16.self) == 3)
    for record in [
      group, commit, .offsetCommit(groupId: "g", topic: "t", partition: 1, value: nil),
    ] {
      #expect(
        try CoordinatorRecord.decode(key: record.encodeKey(), value: record.encodeValue()) == record
      )
    }
    #expect(
      CoordinatorRecord.offsetCommit(groupId: "g", topic: "t", partition: 1, value: nil)
        .encodeValue() == nil)
    // Records of group kinds Skein does not serve (share, streams groups) are skipped.
    var other = ByteBuffer()
    other.writeInteger(Int16(100))
    #expect(try CoordinatorRecord.decode(key: other, value: nil) == nil)
  }
}
