import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinBroker

/// ConsumerGroupHeartbeat and ConsumerGroupDescribe over the wire, at every advertised version.
@Suite(.serialized) struct ConsumerGroupProtocolTests {
  /// Waits, without blocking the cooperative pool that loads them, until the node's
  /// `__consumer_offsets` shards have all loaded.
  func allShardsLoaded(_ broker: TestBroker) async throws {
    let coordinator = broker.broker.handlers.groupCoordinator
    for _ in 0..<500 {
      let shards = coordinator.activeShards
      if shards.count == Int(coordinator.numPartitions) && shards.allSatisfy(\.isActive) {
        return
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("the coordinator shards did not load")
  }

  func join(_ conn: TestConnection, group: String, memberId: String, version: Int16) throws
    -> ConsumerGroupHeartbeatResponse
  {
    let request = ConsumerGroupHeartbeatRequest(
      groupId: group, memberId: memberId, memberEpoch: 0, rebalanceTimeoutMs: 30_000,
      subscribedTopicNames: ["t"], topicPartitions: [])
    return try conn.roundTrip(request, version: version)
  }

  @Test func heartbeatDescribeCommitAndRestartAtEveryVersion() async throws {
    #expect(SupportedApis.versions[.consumerGroupHeartbeat] == 0...1)
    #expect(SupportedApis.versions[.consumerGroupDescribe] == 0...0)
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    let found = try conn.roundTrip(FindCoordinatorRequest(key: "any", keyType: 0), version: 3)
    #expect(found.errorCode == 0)
    try await allShardsLoaded(broker)
    _ = try conn.roundTrip(
      CreateTopicsRequest(topics: [.init(name: "t", numPartitions: 3, replicationFactor: 1)]),
      version: 7)
    var members: [(group: String, id: String, epoch: Int32)] = []
    for version in Int16(0)...1 {
      let group = "cg\(version)"
      if version >= 1 {
        // v1: the client generates the member id.
        let missing = try join(conn, group: group, memberId: "", version: version)
        #expect(missing.errorCode == ErrorCode.invalidRequest.rawValue)
      }
      let r = try join(
        conn, group: group, memberId: version == 0 ? "" : "client-member", version: version)
      #expect(r.errorCode == 0, "ConsumerGroupHeartbeat v\(version)")
      let memberId = try #require(r.memberId)
      #expect(!memberId.isEmpty)
      #expect(r.memberEpoch == 1)
      #expect(r.heartbeatIntervalMs == 5000)
      #expect(r.assignment?.topicPartitions.first?.partitions.sorted() == [0, 1, 2])
      let hb = try conn.roundTrip(
        ConsumerGroupHeartbeatRequest(groupId: group, memberId: memberId, memberEpoch: 1),
        version: version)
      #expect(hb.errorCode == 0 && hb.memberEpoch == 1)
      let fenced = try conn.roundTrip(
        ConsumerGroupHeartbeatRequest(groupId: group, memberId: memberId, memberEpoch: 7),
        version: version)
      #expect(fenced.errorCode == ErrorCode.fencedMemberEpoch.rawValue)
      let commit = try conn.roundTrip(
        OffsetCommitRequest(
          groupId: group, generationIdOrMemberEpoch: 1, memberId: memberId,
          topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 4)])]),
        version: 9)
      #expect(commit.topics.first?.partitions.first?.errorCode == 0)
      let stale = try conn.roundTrip(
        OffsetCommitRequest(
          groupId: group, generationIdOrMemberEpoch: 0, memberId: memberId,
          topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 5)])]),
        version: 9)
      #expect(
        stale.topics.first?.partitions.first?.errorCode == ErrorCode.staleMemberEpoch.rawValue)
      members.append((group, memberId, 1))
    }
    let described = try conn.roundTrip(
      ConsumerGroupDescribeRequest(groupIds: ["cg0", "cg1", "nope"]), version: 0)
    #expect(described.groups.map(\.errorCode) == [0, 0, ErrorCode.groupIdNotFound.rawValue])
    #expect(described.groups.first?.groupState == "Stable")
    #expect(described.groups.first?.assignorName == "uniform")
    #expect(
      described.groups.first?.members.first?.assignment.topicPartitions.first?.topicName == "t")
    let listed = try conn.roundTrip(ListGroupsRequest(typesFilter: ["consumer"]), version: 5)
    #expect(listed.groups.map(\.groupId).sorted() == ["cg0", "cg1"])
    #expect(listed.groups.allSatisfy { $0.groupType == "consumer" })
    let classicView = try conn.roundTrip(DescribeGroupsRequest(groups: ["cg0"]), version: 5)
    #expect(classicView.groups.first?.groupState == "Dead")
    await broker.stop(removeData: false)

    // Replayed from __consumer_offsets: the members carry on at their epochs.
    let again = try await TestBroker.start(dataDir: broker.dataDir)
    let c2 = try again.connect()
    try await allShardsLoaded(again)
    for (i, m) in members.enumerated() {
      let request = ConsumerGroupHeartbeatRequest(
        groupId: m.group, memberId: m.id, memberEpoch: m.epoch)
      let hb = try c2.roundTrip(request, version: Int16(i))
      #expect(hb.errorCode == 0 && hb.memberEpoch == 1)
      let fetched = try c2.roundTrip(
        OffsetFetchRequest(groups: [
          .init(
            groupId: m.group, memberId: m.id, memberEpoch: m.epoch,
            topics: [.init(name: "t", partitionIndexes: [0])])
        ]), version: 9)
      #expect(fetched.groups.first?.errorCode == 0)
      #expect(fetched.groups.first?.topics.first?.partitions.first?.committedOffset == 4)
      let left = try c2.roundTrip(
        ConsumerGroupHeartbeatRequest(groupId: m.group, memberId: m.id, memberEpoch: -1),
        version: Int16(i))
      #expect(left.errorCode == 0 && left.memberEpoch == -1)
    }
    await again.stop()
  }
}
