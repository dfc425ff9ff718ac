import KafkaProtocol
import Testing

@testable import SkeinCluster

/// The placement explainer: its input, planned failures, and a live topic's what-if run through
/// the controller's own decision; and the cluster health that status and the page share.
@Suite struct PlacementExplanationTests {
  let topicId = KafkaUuid.random()

  /// Brokers 0…3 over racks R1, R2; `Invoice` partitions with the given replicas, ISR = replicas.
  func image(_ partitions: [[Int32]], isr: [[Int32]]? = nil) -> MetadataImage {
    var image = MetadataImage()
    for id: Int32 in 0..<4 {
      image.apply(
        .registerBroker(
          RegisterBrokerRecord(
            brokerId: id, brokerEpoch: 1,
            endPoints: [
              .init(name: "PLAINTEXT", host: "h", port: 9092 + UInt16(id)),
              .init(name: BrokerInfo.adminListenerName, host: "h", port: 9644 + UInt16(id)),
            ],
            rack: "R\(id % 2 + 1)", fenced: false)))
    }
    image.apply(.topic(TopicRecord(name: "Invoice", topicId: topicId)))
    for (p, replicas) in partitions.enumerated() {
      image.apply(
        .partition(
          PartitionRecord(
            partitionId: Int32(p), topicId: topicId, replicas: replicas,
            isr: isr?[p] ?? replicas, leader: replicas[0], leaderEpoch: 0, partitionEpoch: 0)))
    }
    return image
  }

  @Test func brokersAreReadWithRacksOrWithout() throws {
    #expect(
      try PlacementExplanation.parseBrokers("0:R1, 1:R2") == [
        .init(id: 0, rack: "R1"), .init(id: 1, rack: "R2"),
      ])
    #expect(try PlacementExplanation.parseBrokers("3,1") == [.init(id: 3), .init(id: 1)])
    #expect(throws: PlacementInputError("broker 1 is listed twice")) {
      try PlacementExplanation.parseBrokers("1,1")
    }
    #expect(throws: PlacementInputError("'0:' has an empty rack")) {
      try PlacementExplanation.parseBrokers("0:")
    }
    #expect(throws: PlacementInputError("'x' is not ID or ID:RACK")) {
      try PlacementExplanation.parseBrokers("x")
    }
    #expect(try PlacementExplanation.parseFailed("1, 2", known: [0, 1, 2]) == [1, 2])
    #expect(throws: PlacementInputError("'7' is not one of the brokers")) {
      try PlacementExplanation.parseFailed("7", known: [0, 1])
    }
  }

  @Test func aPlanFailsOverToTheFirstSurvivingReplica() throws {
    let brokers: [ReplicaPlacement.Broker] = (0..<3).map { .init(id: $0) }
    let plan = try PlacementExplanation(
      planning: brokers, partitions: 3, replicationFactor: 2, startIndex: 0, failed: [0])
    let failover = try #require(plan.failover)
    #expect(plan.partitions.map(\.replicas) == [[0, 1], [1, 2], [2, 0]])
    #expect(failover.leaderships.map(\.after) == [1, 1, 2])
    #expect(failover.leaderships.map(\.before) == [0, 1, 2])
    #expect(failover.leaderCounts == [.init(broker: 1, leaders: 2), .init(broker: 2, leaders: 1)])
    #expect(failover.offline.isEmpty)
    let after = try #require(plan.layoutAfterFailover)
    #expect(after.rows.map(\.label) == ["B0 (absent)", "B1", "B2"])
    #expect(
      after.rows[0].positions == [
        [.init(partition: 0, marks: [.outOfSync])], [.init(partition: 2, marks: [.outOfSync])],
      ])
    #expect(after.rows[1].positions[1] == [.init(partition: 0, marks: [.movedLeader])])
  }

  @Test func aPlanWithNoSurvivorIsOffline() throws {
    let plan = try PlacementExplanation(
      planning: [.init(id: 0), .init(id: 1)], partitions: 2, replicationFactor: 1,
      startIndex: 0, failed: [1])
    #expect(plan.failover?.offline == [1])
    #expect(plan.failover?.leaderCounts == [.init(broker: 0, leaders: 1)])
  }

  @Test func aLiveWhatIfIsTheControllersDecision() throws {
    // P0 led by 1 with 3 in sync; P1 led by 1 with only 1 in sync; P2 led by 2.
    let live = image([[1, 3], [1, 0], [2, 3]], isr: [[1, 3], [1], [2, 3]])
    let explanation = try #require(
      PlacementExplanation(topic: "Invoice", image: live, failed: [1]))
    let failover = try #require(explanation.failover)
    #expect(failover.leaderships.map(\.after) == [3, nil, 2])
    #expect(failover.offline == [1])
    // The controller keeps the last in-sync replica in the ISR of an offline partition.
    #expect(failover.partitions.map(\.isr) == [[3], [1], [2, 3]])
    #expect(PlacementExplanation(topic: "Nope", image: live) == nil)
    #expect(live.brokers[1]?.adminEndpoint == "h:9645")
    #expect(live.brokers[1]?.port == 9093, "the Kafka listener, not the HTTP one")
  }

  @Test func healthCountsLoadsAndProblems() {
    let live = image([[1, 3], [1, 0], [2, 3]], isr: [[1, 3], [1], [2, 3]])
    var withOffline = live
    withOffline.apply(
      .partitionChange(PartitionChangeRecord(partitionId: 2, topicId: topicId, leader: -1)))
    let health = ClusterHealth(withOffline)
    #expect(health.load(of: 1) == .init(leaders: 2, replicas: 2))
    #expect(health.load(of: 3) == .init(leaders: 0, replicas: 2))
    #expect(health.load(of: 2) == .init(leaders: 0, replicas: 1))
    #expect(health.underReplicated.map(\.partition) == [1])
    #expect(health.offline.map(\.partition) == [2])
  }
}
