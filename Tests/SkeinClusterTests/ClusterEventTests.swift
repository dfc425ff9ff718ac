import KafkaProtocol
import Testing

@testable import SkeinCluster

/// The events between two metadata images, with the reasons the deck gives them.
@Suite struct ClusterEventTests {
  let topicId = KafkaUuid.random()

  func image(fenced: Set<Int32> = []) -> MetadataImage {
    var image = MetadataImage()
    for id: Int32 in [0, 1, 2] {
      image.apply(
        .registerBroker(
          RegisterBrokerRecord(
            brokerId: id, brokerEpoch: 1,
            endPoints: [.init(name: "PLAINTEXT", host: "h", port: 9092 + UInt16(id))],
            rack: "R\(id)", fenced: false)))
    }
    image.apply(.topic(TopicRecord(name: "Invoice", topicId: topicId)))
    image.apply(
      .partition(
        PartitionRecord(
          partitionId: 0, topicId: topicId, replicas: [1, 2, 0], isr: [1, 2, 0], leader: 1,
          leaderEpoch: 0, partitionEpoch: 0)))
    return image
  }

  @Test func aCrashedLeaderIsFencedItsLeadershipMovesAndItLeavesTheIsr() {
    let before = image()
    var after = before
    after.apply(.fenceBroker(FenceBrokerRecord(id: 1, epoch: 1)))
    after.apply(
      .partitionChange(
        PartitionChangeRecord(partitionId: 0, topicId: topicId, isr: [2, 0], leader: 2)))
    let events = ClusterEvent.changes(from: before, to: after, nowMs: 42)
    #expect(events.map(\.kind) == [.brokerFenced, .leaderChange, .isrShrink])
    #expect(events[0].broker == 1 && events[0].reason.contains("heartbeat"))
    #expect(events[1].fromLeader == 1 && events[1].toLeader == 2)
    #expect(events[1].reason.contains("leader 1 is gone"))
    #expect(events[2].broker == 1 && events[2].isr == [2, 0])
    #expect(events[2].reason.contains("fenced"))
    #expect(events.allSatisfy { $0.timeMs == 42 && $0.topic != "x" })
  }

  @Test func aSlowFollowerLeavesAndRejoinsTheIsr() {
    let before = image()
    var shrunk = before
    shrunk.apply(
      .partitionChange(PartitionChangeRecord(partitionId: 0, topicId: topicId, isr: [1, 2])))
    let out = ClusterEvent.changes(from: before, to: shrunk, nowMs: 1)
    #expect(out.map(\.kind) == [.isrShrink])
    #expect(out[0].broker == 0 && out[0].reason.contains("replica.lag.time.max.ms"))
    var grown = shrunk
    grown.apply(
      .partitionChange(PartitionChangeRecord(partitionId: 0, topicId: topicId, isr: [1, 2, 0])))
    let back = ClusterEvent.changes(from: shrunk, to: grown, nowMs: 2)
    #expect(back.map(\.kind) == [.isrExpand] && back[0].broker == 0)
  }

  @Test func topicsComeAndGoAndNothingChangedIsNoEvent() {
    let with = image()
    var without = with
    without.apply(.removeTopic(RemoveTopicRecord(topicId: topicId)))
    #expect(ClusterEvent.changes(from: with, to: without, nowMs: 0).map(\.kind) == [.topicDeleted])
    #expect(ClusterEvent.changes(from: without, to: with, nowMs: 0).map(\.kind) == [.topicCreated])
    #expect(ClusterEvent.changes(from: with, to: with, nowMs: 0).isEmpty)
  }
}
