import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinCluster

@Suite struct MetadataImageTests {
  let decisions = ControllerDecisions(validateConfigs: { configs in
    configs.keys.first { $0 == "bogus" }.map { "Unknown topic config name: \($0)" }
  })

  func imageWithBrokers(_ ids: [Int32]) -> MetadataImage {
    var image = MetadataImage()
    for id in ids {
      image.apply(
        .registerBroker(
          RegisterBrokerRecord(
            brokerId: id, endPoints: [.init(name: "PLAINTEXT", host: "h\(id)", port: 9092)],
            rack: nil, fenced: false)))
    }
    return image
  }

  @Test func recordsRoundTripThroughKRaftFraming() throws {
    let id = KafkaUuid.random()
    let records: [MetadataRecord] = [
      .topic(TopicRecord(name: "orders", topicId: id)),
      .partition(
        PartitionRecord(
          partitionId: 0, topicId: id, replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 0,
          partitionEpoch: 0)),
      .config(
        ConfigRecord(resourceType: 2, resourceName: "orders", name: "retention.ms", value: "1")),
      .removeTopic(RemoveTopicRecord(topicId: id)),
      .fenceBroker(FenceBrokerRecord(id: 3, epoch: 12)),
      .unfenceBroker(UnfenceBrokerRecord(id: 3, epoch: 12)),
      .brokerRegistrationChange(
        BrokerRegistrationChangeRecord(
          brokerId: 3, brokerEpoch: 12, fenced: -1, inControlledShutdown: 1)),
      .unregisterBroker(UnregisterBrokerRecord(brokerId: 3, brokerEpoch: 12)),
      .partitionChange(
        PartitionChangeRecord(
          partitionId: 0, topicId: id, isr: [2], leader: 2, leaderRecoveryState: 1)),
    ]
    for record in records {
      var buffer = ByteBuffer()
      record.encode(to: &buffer)
      #expect(buffer.getInteger(at: 0, as: UInt8.self) == 1)  // frame version
      let decoded = try MetadataRecord.decode(from: &buffer)
      #expect(decoded == record)
      #expect(buffer.readableBytes == 0)
    }
  }

  @Test func unknownFrameVersionIsAnError() {
    var buffer = ByteBuffer(bytes: [7, 2, 0])
    #expect(throws: DecodeError.self) { try MetadataRecord.decode(from: &buffer) }
  }

  @Test func createTopicThenDeleteIt() throws {
    var image = imageWithBrokers([1, 2, 3])
    let records = try decisions.createTopic(
      name: "invoice", partitions: 10, replicationFactor: 3, configs: ["retention.ms": "1000"],
      image: image
    ).get()
    for r in records { image.apply(r) }
    let topic = try #require(image.topics["invoice"])
    #expect(topic.partitions.count == 10)
    #expect(topic.partitions.allSatisfy { Set($0.replicas).count == 3 && $0.isr == $0.replicas })
    #expect(topic.partitions.map(\.leader).filter { $0 == 1 }.count >= 3)
    #expect(image.topicConfigs("invoice") == ["retention.ms": "1000"])
    #expect(image.topic(id: topic.id)?.name == "invoice")

    for r in try decisions.deleteTopic(name: "invoice", image: image).get() { image.apply(r) }
    #expect(image.topics["invoice"] == nil)
    #expect(image.topicConfigs("invoice").isEmpty)
    #expect(image.topic(id: topic.id) == nil)
  }

  @Test func createTopicRefusals() {
    let image = imageWithBrokers([1])
    func code(_ r: Result<[MetadataRecord], ControllerError>) -> ErrorCode? {
      if case .failure(let e) = r { return e.code }
      return nil
    }
    #expect(
      code(
        decisions.createTopic(
          name: "a/b", partitions: 1, replicationFactor: 1, configs: [:], image: image))
        == .invalidTopicException)
    #expect(
      code(
        decisions.createTopic(
          name: "..", partitions: 1, replicationFactor: 1, configs: [:], image: image))
        == .invalidTopicException)
    #expect(
      code(
        decisions.createTopic(
          name: String(repeating: "x", count: 250), partitions: 1, replicationFactor: 1,
          configs: [:], image: image)) == .invalidTopicException)
    #expect(
      code(
        decisions.createTopic(
          name: "t", partitions: 0, replicationFactor: 1, configs: [:], image: image))
        == .invalidPartitions)
    #expect(
      code(
        decisions.createTopic(
          name: "t", partitions: 1, replicationFactor: 2, configs: [:], image: image))
        == .invalidReplicationFactor)
    #expect(
      code(
        decisions.createTopic(
          name: "t", partitions: 1, replicationFactor: 1, configs: ["bogus": "1"], image: image))
        == .invalidConfig)
  }

  @Test func createPartitionsGrowsOnly() throws {
    var image = imageWithBrokers([1, 2])
    for r in try decisions.createTopic(
      name: "t", partitions: 2, replicationFactor: 2, configs: [:], image: image
    ).get() {
      image.apply(r)
    }
    for r in try decisions.createPartitions(topic: "t", count: 5, assignments: nil, image: image)
      .get()
    {
      image.apply(r)
    }
    #expect(image.topics["t"]?.partitions.map(\.partition) == [0, 1, 2, 3, 4])
    if case .failure(let e) = decisions.createPartitions(
      topic: "t", count: 3, assignments: nil, image: image)
    {
      #expect(e.code == .invalidPartitions)
    } else {
      Issue.record("shrinking a topic must fail")
    }
  }

  @Test func partitionChangeBumpsEpochs() throws {
    var image = imageWithBrokers([1, 2])
    for r in try decisions.createTopic(
      name: "t", partitions: 1, replicationFactor: 2, configs: [:], image: image
    ).get() {
      image.apply(r)
    }
    let id = try #require(image.topics["t"]?.id)
    image.apply(
      .partitionChange(PartitionChangeRecord(partitionId: 0, topicId: id, isr: [1], leader: 2)))
    let p = try #require(image.topics["t"]?.partitions.first)
    #expect(p.isr == [1])
    #expect(p.leader == 2)
    #expect(p.leaderEpoch == 1)
    #expect(p.partitionEpoch == 1)
  }

  @Test func lookupsAndRecoveryState() throws {
    var image = imageWithBrokers([1, 2, 3])
    let id = KafkaUuid(high: 5, low: 5)
    image.apply(.topic(TopicRecord(name: "t", topicId: id)))
    image.apply(
      .partition(
        PartitionRecord(
          partitionId: 1, topicId: id, replicas: [2, 3], isr: [2], leader: 2,
          leaderRecoveryState: 1, leaderEpoch: 4, partitionEpoch: 6)))
    image.apply(
      .partition(
        PartitionRecord(
          partitionId: 0, topicId: id, replicas: [1, 2], isr: [1, 2], leader: 1, leaderEpoch: 0,
          partitionEpoch: 0)))
    #expect(image.topicId(of: "t") == id && image.topicId(of: "u") == nil)
    #expect(
      image.partition(TopicPartition("t", 1))?.leaderRecoveryState == PartitionInfo.recovering)
    #expect(image.partition(TopicPartition("t", 2)) == nil)
    #expect(image.partitions(ledBy: 2) == [TopicPartition("t", 1)])
    #expect(image.partitions(replicatedOn: 2) == [TopicPartition("t", 0), TopicPartition("t", 1)])
    #expect(image.partitions(replicatedOn: 3) == [TopicPartition("t", 1)])

    // Leader -2 keeps leader and leader epoch; the recovery state changes only when set.
    image.apply(
      .partitionChange(PartitionChangeRecord(partitionId: 1, topicId: id, isr: [2, 3])))
    var p = try #require(image.partition(TopicPartition("t", 1)))
    #expect(p.leader == 2 && p.leaderEpoch == 4 && p.partitionEpoch == 7 && p.isr == [2, 3])
    #expect(p.leaderRecoveryState == 1)
    image.apply(
      .partitionChange(
        PartitionChangeRecord(partitionId: 1, topicId: id, leader: 3, leaderRecoveryState: 0)))
    p = try #require(image.partition(TopicPartition("t", 1)))
    #expect(
      p.leader == 3 && p.leaderEpoch == 5 && p.partitionEpoch == 8 && p.leaderRecoveryState == 0)
  }
}
