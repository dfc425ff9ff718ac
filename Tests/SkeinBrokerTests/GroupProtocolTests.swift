import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinBroker

/// The group APIs over the wire, at every advertised version.
@Suite(.serialized) struct GroupProtocolTests {
  static let fast = ["group.initial.rebalance.delay.ms": "0"]

  func subscription(_ topics: [String]) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(Int16(0))
    ConsumerProtocolSubscription(topics: topics).encode(to: &buffer, version: 0)
    return buffer
  }

  /// Retries while the coordinator loads its partition.
  func untilLoaded<T>(_ body: () throws -> T, loading: (T) -> Bool) throws -> T {
    var result = try body()
    for _ in 0..<100 where loading(result) {
      Thread.sleep(forTimeInterval: 0.05)
      result = try body()
    }
    return result
  }

  /// Looks for a coordinator as clients do first: this creates `__consumer_offsets`.
  func findCoordinator(_ conn: TestConnection) throws {
    let found = try conn.roundTrip(FindCoordinatorRequest(key: "any", keyType: 0), version: 3)
    #expect(found.errorCode == 0)
  }

  /// Joins (twice from v4: KIP-394) and syncs as the only member; returns (member id, generation).
  func joinAndSync(_ conn: TestConnection, group: String, version: Int16) throws -> (String, Int32)
  {
    var request = JoinGroupRequest(
      groupId: group, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "",
      protocolType: "consumer",
      protocols: [.init(name: "range", metadata: subscription(["t"]))])
    let joinOnce = { try conn.roundTrip(request, version: version) }
    var response = try untilLoaded(joinOnce) {
      $0.errorCode == ErrorCode.coordinatorLoadInProgress.rawValue
    }
    if version >= 4 {
      #expect(response.errorCode == ErrorCode.memberIdRequired.rawValue)
      request.memberId = response.memberId
      response = try conn.roundTrip(request, version: version)
    }
    #expect(response.errorCode == 0, "JoinGroup v\(version)")
    #expect(response.leader == response.memberId)
    #expect(response.members.count == 1)
    let sync = try conn.roundTrip(
      SyncGroupRequest(
        groupId: group, generationId: response.generationId, memberId: response.memberId,
        protocolType: "consumer", protocolName: "range",
        assignments: [.init(memberId: response.memberId, assignment: ByteBuffer(string: "a"))]),
      version: min(version, 5))
    #expect(sync.errorCode == 0)
    #expect(sync.assignment == ByteBuffer(string: "a"))
    return (response.memberId, response.generationId)
  }

  @Test func findCoordinatorAtEveryVersion() async throws {
    let broker = try await TestBroker.start(settings: Self.fast)
    let conn = try broker.connect()
    for version in Int16(0)...3 {
      let r = try conn.roundTrip(FindCoordinatorRequest(key: "g", keyType: 0), version: version)
      #expect(r.errorCode == 0 && r.nodeId == 0 && r.port == Int32(broker.port))
    }
    let txn = try conn.roundTrip(FindCoordinatorRequest(key: "t", keyType: 1), version: 3)
    #expect(txn.errorCode == ErrorCode.coordinatorNotAvailable.rawValue && txn.nodeId == -1)
    for version in Int16(4)...6 {
      let r = try conn.roundTrip(
        FindCoordinatorRequest(keyType: 0, coordinatorKeys: ["a", "b"]), version: version)
      #expect(r.coordinators.map(\.key) == ["a", "b"])
      #expect(r.coordinators.allSatisfy { $0.errorCode == 0 && $0.nodeId == 0 })
    }
    let bad = try conn.roundTrip(
      FindCoordinatorRequest(keyType: 7, coordinatorKeys: ["a"]), version: 4)
    #expect(bad.coordinators.first?.errorCode == ErrorCode.invalidRequest.rawValue)
    let metadata = try conn.roundTrip(
      MetadataRequest(topics: [.init(name: "__consumer_offsets")]), version: 12)
    #expect(metadata.topics.first?.isInternal == true)
    #expect(metadata.topics.first?.partitions.count == 50)
    await broker.stop()
  }

  @Test func membershipAndOffsetsAtEveryVersion() async throws {
    let broker = try await TestBroker.start(settings: Self.fast)
    let conn = try broker.connect()
    try findCoordinator(conn)
    _ = try conn.roundTrip(
      CreateTopicsRequest(topics: [.init(name: "t", numPartitions: 2, replicationFactor: 1)]),
      version: 7)
    for version in Int16(0)...9 {
      let group = "join-v\(version)"
      let (member, generation) = try joinAndSync(conn, group: group, version: version)
      let hb = try conn.roundTrip(
        HeartbeatRequest(groupId: group, generationId: generation, memberId: member),
        version: min(version, 4))
      #expect(hb.errorCode == 0)
      let commitVersion = Int16(2) + version % 8
      let commit = try conn.roundTrip(
        OffsetCommitRequest(
          groupId: group, generationIdOrMemberEpoch: generation, memberId: member,
          topics: [
            .init(
              name: "t",
              partitions: [.init(partitionIndex: 1, committedOffset: 42, committedMetadata: "m")])
          ]), version: commitVersion)
      #expect(
        commit.topics.first?.partitions.first?.errorCode == 0, "OffsetCommit v\(commitVersion)")
      let leave = try conn.roundTrip(
        LeaveGroupRequest(groupId: group, memberId: member, members: [.init(memberId: member)]),
        version: min(version, 5))
      #expect(leave.errorCode == 0)
    }
    for version in Int16(1)...9 {
      let request: OffsetFetchRequest
      if version >= 8 {
        request = OffsetFetchRequest(
          groups: [
            .init(groupId: "join-v1", topics: nil),
            .init(groupId: "join-v2", topics: [.init(name: "t", partitionIndexes: [0, 1])]),
          ])
      } else {
        request = OffsetFetchRequest(
          groupId: "join-v\(version)", topics: [.init(name: "t", partitionIndexes: [0, 1])])
      }
      let r = try conn.roundTrip(request, version: version)
      if version >= 8 {
        #expect(r.groups.count == 2)
        #expect(r.groups[0].topics.first?.partitions.map(\.committedOffset) == [42])
        #expect(r.groups[1].topics.first?.partitions.map(\.committedOffset) == [-1, 42])
        #expect(r.groups[1].topics.first?.partitions.last?.metadata == "m")
      } else {
        #expect(
          r.topics.first?.partitions.map(\.committedOffset) == [-1, 42], "OffsetFetch v\(version)")
      }
    }
    for version in Int16(0)...5 {
      let r = try conn.roundTrip(ListGroupsRequest(statesFilter: ["Empty"]), version: version)
      #expect(r.errorCode == 0)
      #expect(Set(r.groups.map(\.groupId)).isSuperset(of: ["join-v0", "join-v9"]))
      let d = try conn.roundTrip(
        DescribeGroupsRequest(groups: ["join-v3", "nosuch"]), version: version)
      #expect(d.groups.map(\.groupState) == ["Empty", "Dead"])
    }
    let offsetDelete = try conn.roundTrip(
      OffsetDeleteRequest(
        groupId: "join-v0", topics: [.init(name: "t", partitions: [.init(partitionIndex: 1)])]),
      version: 0)
    #expect(offsetDelete.errorCode == 0)
    #expect(offsetDelete.topics.first?.partitions.first?.errorCode == 0)
    for version in Int16(1)...2 {
      let r = try conn.roundTrip(
        DeleteGroupsRequest(groupsNames: ["join-v\(version)", "nosuch"]), version: version)
      #expect(r.results.map(\.errorCode) == [0, ErrorCode.groupIdNotFound.rawValue])
    }
    await broker.stop()
  }

  @Test func committedOffsetsAndGroupsSurviveARestart() async throws {
    let broker = try await TestBroker.start(settings: Self.fast)
    let conn = try broker.connect()
    try findCoordinator(conn)
    _ = try conn.roundTrip(
      CreateTopicsRequest(topics: [.init(name: "t", numPartitions: 1, replicationFactor: 1)]),
      version: 7)
    let (member, generation) = try joinAndSync(conn, group: "durable", version: 9)
    let commit = try conn.roundTrip(
      OffsetCommitRequest(
        groupId: "durable", generationIdOrMemberEpoch: generation, memberId: member,
        topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 7)])]),
      version: 9)
    #expect(commit.topics.first?.partitions.first?.errorCode == 0)
    await broker.stop(removeData: false)

    let again = try await TestBroker.start(dataDir: broker.dataDir, settings: Self.fast)
    let c2 = try again.connect()
    let fetchOnce = {
      try c2.roundTrip(
        OffsetFetchRequest(groupId: "durable", topics: [.init(name: "t", partitionIndexes: [0])]),
        version: 7)
    }
    let fetched = try untilLoaded(fetchOnce) {
      $0.errorCode == ErrorCode.coordinatorLoadInProgress.rawValue
    }
    #expect(fetched.topics.first?.partitions.first?.committedOffset == 7)
    let described = try c2.roundTrip(DescribeGroupsRequest(groups: ["durable"]), version: 5)
    #expect(described.groups.first?.groupState == "Stable")
    #expect(described.groups.first?.members.first?.memberId == member)
    #expect(described.groups.first?.members.first?.memberAssignment == ByteBuffer(string: "a"))
    let hb = try c2.roundTrip(
      HeartbeatRequest(groupId: "durable", generationId: generation, memberId: member), version: 4)
    #expect(hb.errorCode == 0)
    await again.stop()
  }
}
