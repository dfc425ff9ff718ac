import KafkaProtocol
import Testing

@testable import SkeinCluster

@Suite struct ElectLeadersTests {
  @Test func preferredElections() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2, 3], [2, 3, 1], [3, 1]])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    let t0 = TopicPartition("t", 0)
    let t1 = TopicPartition("t", 1)
    let (early, none) = c.decisions.electLeaders(
      type: .preferred, partitions: [t0, t1, TopicPartition("t", 9), TopicPartition("u", 0)],
      image: c.image)
    #expect(none.isEmpty)
    #expect(early[t0]??.code == .preferredLeaderNotAvailable)
    #expect(early[t1]??.code == .electionNotNeeded)
    #expect(early[TopicPartition("t", 9)]??.code == .unknownTopicOrPartition)
    #expect(early[TopicPartition("u", 0)]??.code == .unknownTopicOrPartition)

    _ = c.heartbeat(1)
    c.setIsr("t", 0, [2, 3, 1])
    #expect(c.decisions.imbalanced(image: c.image) == [t0])
    // All partitions: those needing no election are left out.
    let (results, records) = c.decisions.electLeaders(
      type: .preferred, partitions: nil, image: c.image)
    #expect(results[t0] == .some(nil))
    #expect(results[t1] == nil)
    #expect(results.count == 1)
    c.apply(records)
    #expect(c.partition("t", 0)?.leader == 1)
  }

  @Test func uncleanElections() throws {
    var c = ClusterFixture(brokers: [1, 2], t: [[1, 2]])
    _ = c.createTopic("u", [[1, 2]])
    c.setIsr("t", 0, [1])
    c.setIsr("u", 0, [1])
    let t0 = TopicPartition("t", 0)
    #expect(
      c.decisions.electLeaders(type: .unclean, partitions: [t0], image: c.image).0[t0]??.code
        == .electionNotNeeded)
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    c.apply(c.decisions.fenceBroker(2, image: c.image))
    #expect(
      c.decisions.electLeaders(type: .unclean, partitions: [t0], image: c.image).0[t0]??.code
        == .eligibleLeadersNotAvailable)
    _ = c.heartbeat(2)
    let records = c.decisions.uncleanElections(image: c.image, uncleanEnabled: { $0 == "u" })
    #expect(records.count == 1)
    c.apply(records)
    #expect(c.partition("u", 0)?.leader == 2 && c.partition("u", 0)?.leaderRecoveryState == 1)
    #expect(c.partition("t", 0)?.leader == -1)
  }

  @Test func balancingMovesLeadersBackToThePreferredReplica() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2], [1, 3], [1, 2, 3]])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    #expect(c.decisions.balancePartitionLeaders(image: c.image, maxElections: 10).isEmpty)
    _ = c.heartbeat(1)
    c.setIsr("t", 0, [2, 1])
    c.setIsr("t", 2, [2, 3, 1])
    #expect(c.decisions.imbalanced(image: c.image).count == 3)
    let one = c.decisions.balancePartitionLeaders(image: c.image, maxElections: 1)
    #expect(one.count == 1)
    c.apply(c.decisions.balancePartitionLeaders(image: c.image, maxElections: 10))
    #expect(c.partition("t", 0)?.leader == 1 && c.partition("t", 2)?.leader == 1)
    #expect(c.partition("t", 1)?.leader == 3)  // 1 is not back in its ISR
    #expect(c.decisions.imbalanced(image: c.image) == [TopicPartition("t", 1)])
  }

  @Test func newPartitionsAreLedByActiveBrokers() throws {
    var c = ClusterFixture()
    c.start([1, 2, 3])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    _ = c.createTopic("t", [[1, 2, 3]])
    let p = try #require(c.partition("t", 0))
    #expect(p.leader == 2 && p.isr == [2, 3] && p.replicas == [1, 2, 3])
    let refused = c.decisions.createTopic(
      name: "u", partitions: -1, replicationFactor: -1, assignments: [0: [1]], configs: [:],
      image: c.image)
    guard case .failure(let error) = refused else {
      Issue.record("a partition on fenced brokers only must be refused")
      return
    }
    #expect(error.code == .invalidReplicaAssignment)
    // Placement over the two unfenced brokers: RF 3 cannot be met.
    guard
      case .failure(let rf) = c.decisions.createTopic(
        name: "v", partitions: 1, replicationFactor: 3, configs: [:], image: c.image)
    else {
      Issue.record("RF above the unfenced brokers must be refused")
      return
    }
    #expect(rf.code == .invalidReplicationFactor)
    let placed = try c.decisions.createTopic(
      name: "w", partitions: 4, replicationFactor: 2, configs: [:], image: c.image
    ).get()
    for case .partition(let r) in placed {
      #expect(!r.replicas.contains(1) && r.leader == r.replicas[0])
    }
  }
}
