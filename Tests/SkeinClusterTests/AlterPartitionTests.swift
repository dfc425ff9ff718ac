import KafkaProtocol
import Testing

@testable import SkeinCluster

@Suite struct AlterPartitionTests {
  /// Brokers 1-3, topic t with one partition on [1, 2, 3] led by 1.
  func cluster() -> (ClusterFixture, KafkaUuid) {
    var c = ClusterFixture()
    c.start([1, 2, 3])
    let id = c.createTopic("t", [[1, 2, 3]])
    return (c, id)
  }

  func request(
    _ c: ClusterFixture, isr: [Int32], version: Int16 = 3, brokerId: Int32 = 1,
    leaderEpoch: Int32? = nil, partitionEpoch: Int32? = nil, recovery: Int8 = 0,
    epochs: [Int32: Int64] = [:], partition: Int32 = 0
  ) -> AlterPartitionRequest {
    let p = c.partition("t", 0)
    let data = AlterPartitionRequest.PartitionData(
      partitionIndex: partition, leaderEpoch: leaderEpoch ?? p?.leaderEpoch ?? 0,
      newIsr: version < 3 ? isr : [],
      newIsrWithEpochs: version >= 3
        ? isr.map {
          .init(brokerId: $0, brokerEpoch: epochs[$0] ?? c.image.brokers[$0]?.epoch ?? -1)
        }
        : [],
      leaderRecoveryState: recovery, partitionEpoch: partitionEpoch ?? p?.partitionEpoch ?? 0)
    return AlterPartitionRequest(
      brokerId: brokerId, brokerEpoch: c.image.brokers[brokerId]?.epoch ?? -1,
      topics: [
        .init(
          topicName: version < 2 ? "t" : "",
          topicId: version >= 2 ? (c.image.topicId(of: "t") ?? .zero) : .zero,
          partitions: [data])
      ])
  }

  func send(_ c: inout ClusterFixture, _ request: AlterPartitionRequest, version: Int16 = 3)
    -> AlterPartitionResponse.PartitionData?
  {
    let (response, records) = c.decisions.alterPartition(request, version: version, image: c.image)
    c.apply(records)
    return response.topics.first?.partitions.first
  }

  @Test func shrinkAndExpandReturnTheCommittedState() throws {
    var (c, _) = cluster()
    for version: Int16 in [0, 1, 2, 3] {
      let shrunk = try #require(
        send(&c, request(c, isr: [1, 2], version: version), version: version))
      #expect(shrunk.errorCode == 0 && shrunk.isr == [1, 2] && shrunk.leaderId == 1)
      #expect(
        shrunk.leaderEpoch == 0 && shrunk.partitionEpoch == c.partition("t", 0)?.partitionEpoch)
      let grown = try #require(
        send(&c, request(c, isr: [1, 2, 3], version: version), version: version))
      #expect(grown.errorCode == 0 && grown.isr == [1, 2, 3])
    }
    #expect(c.partition("t", 0)?.partitionEpoch == 8)
    // The same ISR again: answered with the committed state, nothing written.
    let (same, records) = c.decisions.alterPartition(
      request(c, isr: [1, 2, 3]), version: 3, image: c.image)
    #expect(records.isEmpty && same.topics.first?.partitions.first?.errorCode == 0)
  }

  @Test func staleAndInvalidRequestsAreRefused() throws {
    var (c, _) = cluster()
    _ = send(&c, request(c, isr: [1, 2]))  // partition epoch 1
    func error(_ r: AlterPartitionRequest, version: Int16 = 3) -> ErrorCode? {
      var copy = c
      return send(&copy, r, version: version).map { ErrorCode(rawValue: $0.errorCode) }
    }
    #expect(error(request(c, isr: [1, 2, 3], partitionEpoch: 0)) == .invalidUpdateVersion)
    #expect(error(request(c, isr: [1, 2, 3], partitionEpoch: 5)) == .notController)
    #expect(error(request(c, isr: [1, 2, 3], leaderEpoch: 3)) == .notController)
    #expect(error(request(c, isr: [1, 2], brokerId: 2)) == .invalidRequest)
    #expect(error(request(c, isr: [1, 4])) == .invalidRequest)
    #expect(error(request(c, isr: [2, 3])) == .invalidRequest)  // leader left out
    #expect(error(request(c, isr: [1, 1])) == .invalidRequest)
    #expect(error(request(c, isr: [1, 2], recovery: 1)) == .invalidRequest)
    #expect(error(request(c, isr: [1], recovery: 1)) == .invalidRequest)  // RECOVERED → RECOVERING
    #expect(error(request(c, isr: [1, 2], partition: 5)) == .unknownTopicOrPartition)

    // A fenced or stale-epoch member is ineligible.
    #expect(error(request(c, isr: [1, 2, 3], epochs: [3: 77])) == .ineligibleReplica)
    var fenced = c
    fenced.apply(fenced.decisions.fenceBroker(3, image: fenced.image))
    #expect(
      send(&fenced, request(fenced, isr: [1, 2, 3])).map(\.errorCode)
        == ErrorCode.ineligibleReplica.rawValue)
    #expect(
      send(&fenced, request(fenced, isr: [1, 2, 3], version: 1), version: 1).map(\.errorCode)
        == ErrorCode.operationNotAttempted.rawValue)

    // A new leader epoch fences the old leader's requests.
    var moved = c
    moved.apply(moved.decisions.fenceBroker(1, image: moved.image))
    _ = moved.heartbeat(1)
    #expect(
      send(&moved, request(c, isr: [1, 2], brokerId: 1)).map(\.errorCode)
        == ErrorCode.fencedLeaderEpoch.rawValue)
  }

  @Test func unknownTopicsAndSenders() {
    let (c, _) = cluster()
    var byName = request(c, isr: [1, 2], version: 1)
    byName.topics[0].topicName = "nope"
    #expect(
      c.decisions.alterPartition(byName, version: 1, image: c.image).0.topics.first?.partitions
        .first?.errorCode
        == ErrorCode.unknownTopicOrPartition.rawValue)
    var byId = request(c, isr: [1, 2], version: 2)
    byId.topics[0].topicId = KafkaUuid(high: 1, low: 1)
    #expect(
      c.decisions.alterPartition(byId, version: 2, image: c.image).0.topics.first?.partitions.first?
        .errorCode
        == ErrorCode.unknownTopicId.rawValue)
    var stale = request(c, isr: [1, 2])
    stale.brokerEpoch = 42
    let (response, records) = c.decisions.alterPartition(stale, version: 3, image: c.image)
    #expect(response.errorCode == ErrorCode.staleBrokerEpoch.rawValue && records.isEmpty)
  }

  @Test func recoveringLeaderReportsRecovered() throws {
    var (c, id) = cluster()
    c.setIsr("t", 0, [1])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    let (results, records) = c.decisions.electLeaders(
      type: .unclean, partitions: [TopicPartition("t", 0)], image: c.image)
    #expect(results[TopicPartition("t", 0)] == .some(nil))
    c.apply(records)
    let p = try #require(c.partition("t", 0))
    #expect(p.leader == 2 && p.isr == [2] && p.leaderRecoveryState == 1)
    // Growing the ISR while recovering is refused; reporting RECOVERED clears it.
    #expect(
      send(&c, request(c, isr: [2, 3], brokerId: 2, recovery: 1)).map(\.errorCode)
        == ErrorCode.invalidRequest.rawValue)
    let done = try #require(send(&c, request(c, isr: [2], brokerId: 2, recovery: 0)))
    #expect(done.errorCode == 0 && done.leaderRecoveryState == 0)
    #expect(c.image.topic(id: id)?.partitions.first?.leaderRecoveryState == 0)
  }
}
