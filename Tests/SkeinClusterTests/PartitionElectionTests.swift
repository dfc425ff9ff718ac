import KafkaProtocol
import Testing

@testable import SkeinCluster

@Suite struct PartitionElectionTests {
  func election(_ c: ClusterFixture, _ p: Int32 = 0, _ kind: PartitionElection.Election = .online)
    throws -> PartitionElection
  {
    PartitionElection(
      topicId: try #require(c.image.topicId(of: "t")), partition: try #require(c.partition("t", p)),
      image: c.image, election: kind)
  }

  @Test func keepsAValidLeaderAndWritesOnlyTheIsr() throws {
    let c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2, 3]])
    var e = try election(c)
    e.targetIsr = [1, 3]
    let record = try #require(e.build())
    #expect(record.leader == -2 && record.isr == [1, 3] && record.leaderRecoveryState == -1)
    // Nothing to change: no record.
    #expect(try election(c).build() == nil)
  }

  @Test func electsTheFirstValidReplicaInAssignmentOrder() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 3, 2]])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    // Broker 1 is gone: 3 comes before 2 in the assignment.
    #expect(c.partition("t", 0)?.leader == 3)
    var e = try election(c)
    e.targetIsr = [3, 2]
    #expect(e.build() == nil)
    c.apply(c.decisions.fenceBroker(3, image: c.image))
    #expect(c.partition("t", 0)?.leader == 2 && c.partition("t", 0)?.isr == [2])
  }

  @Test func uncleanElectionTakesAnAcceptableReplicaAndMarksRecovering() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2, 3]])
    c.setIsr("t", 0, [1])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    #expect(c.partition("t", 0)?.leader == -1 && c.partition("t", 0)?.isr == [1])
    #expect(try election(c).build() == nil)  // clean: no one
    let record = try #require(try election(c, 0, .unclean).build())
    #expect(record.leader == 2 && record.isr == [2] && record.leaderRecoveryState == 1)
    c.apply([.partitionChange(record)])
    let p = try #require(c.partition("t", 0))
    #expect(p.leaderRecoveryState == PartitionInfo.recovering && p.leaderEpoch == 2)
  }

  @Test func preferredElection() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2, 3]])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    #expect(c.partition("t", 0)?.leader == 2)
    // Preferred replica fenced: keep the current leader.
    #expect(try election(c, 0, .preferred).build() == nil)
    _ = c.heartbeat(1)
    c.setIsr("t", 0, [2, 3, 1])
    let record = try #require(try election(c, 0, .preferred).build())
    #expect(record.leader == 1 && record.isr == nil)
    #expect(PartitionElection.isAcceptableLeader(1, image: c.image))
    #expect(!PartitionElection.isAcceptableLeader(9, image: c.image))
  }
}
