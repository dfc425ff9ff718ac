import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

@Suite struct GroupAdminTests {
  private func member(
    _ client: KafkaClient, group: String, topics: [String]
  ) async throws -> GroupConsumer {
    var configuration = GroupConsumer.Configuration(groupId: group)
    configuration.heartbeatInterval = .milliseconds(50)
    configuration.fetch.maxWait = .milliseconds(50)
    let consumer = try GroupConsumer(client: client, configuration: configuration)
    try await consumer.subscribe(topics)
    _ = try await consumer.poll(timeout: .milliseconds(100))
    return consumer
  }

  @Test func listsDescribesAndDeletesGroups() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let admin = Admin(client: client, operationTimeout: .seconds(5))
      let consumer = try await member(client, group: "live", topics: ["t"])
      broker.groups.setCommittedOffset("idle", TopicPartition("t", 0), 0)

      let listed = try await admin.listGroups()
      #expect(listed.map(\.groupId) == ["idle", "live"])
      #expect(listed.first { $0.groupId == "live" }?.state == "Stable")
      #expect(listed.allSatisfy { $0.coordinator == 1 })

      let description = try await admin.describeGroup("live")
      #expect(description.state == "Stable")
      #expect(description.assignor == "range")
      #expect(!description.isInactive)
      let only = try #require(description.members.first)
      #expect(only.memberId == (await consumer.currentMemberId))
      #expect(only.clientId == "skein")
      #expect(only.subscription == ["t"])
      #expect(only.assignment == [TopicPartition("t", 0), TopicPartition("t", 1)])
      #expect(try await admin.describeGroup("nobody").state == "Dead")

      do {
        try await admin.deleteGroups(["live"])
        Issue.record("a group with members cannot be deleted")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .nonEmptyGroup)
      }
      await consumer.close()
      try await admin.deleteGroups(["live", "idle"])
      #expect(try await admin.listGroups().isEmpty)
    }
  }

  @Test func altersListsAndDeletesOffsets() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let admin = Admin(client: client, operationTimeout: .seconds(5))
      try await admin.alterConsumerGroupOffsets(
        "g",
        offsets: [
          TopicPartition("t", 0): OffsetAndMetadata(offset: 4),
          TopicPartition("t", 1): OffsetAndMetadata(offset: 7, metadata: "note"),
        ])
      #expect(broker.groups.commitRequests.last?.generation == -1)
      #expect(broker.groups.commitRequests.last?.memberId == "")
      let offsets = try await admin.listConsumerGroupOffsets("g")
      #expect(offsets[TopicPartition("t", 0)]?.offset == 4)
      #expect(offsets[TopicPartition("t", 1)]?.metadata == "note")
      try await admin.deleteConsumerGroupOffsets("g", partitions: [TopicPartition("t", 0)])
      #expect(broker.groups.committedOffsets("g") == [TopicPartition("t", 1): 7])

      // A live member subscribed to the topic keeps its offsets and refuses admin commits.
      let consumer = try await member(client, group: "g", topics: ["t"])
      await #expect(throws: KafkaClientError.self) {
        try await admin.deleteConsumerGroupOffsets("g", partitions: [TopicPartition("t", 1)])
      }
      await #expect(throws: KafkaClientError.self) {
        try await admin.alterConsumerGroupOffsets(
          "g", offsets: [TopicPartition("t", 1): OffsetAndMetadata(offset: 0)])
      }
      await consumer.close()
    }
  }

  @Test func plansResetsFromTheLogAndTheCommittedOffsets() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      var configuration = Producer.Configuration()
      configuration.linger = .zero
      let producer = try Producer(client: client, configuration: configuration)
      for (index, timestamp) in [1_000, 2_000, 3_000].enumerated() {
        try await producer.send(
          ProducerRecord(
            topic: "t", partition: 0, key: nil, value: "v\(index)", timestamp: Int64(timestamp)))
      }
      await producer.close()
      broker.groups.setCommittedOffset("g", TopicPartition("t", 0), 1)
      let admin = Admin(client: client, operationTimeout: .seconds(5))
      let p0 = TopicPartition("t", 0)
      func plan(_ strategy: OffsetResetStrategy) async throws -> Int64? {
        try await admin.planOffsetReset("g", partitions: [p0], strategy: strategy)[p0]
      }
      #expect(try await plan(.toEarliest) == 0)
      #expect(try await plan(.toLatest) == 3)
      #expect(try await plan(.toOffset(2)) == 2)
      #expect(try await plan(.toDatetime(1_500)) == 1)
      #expect(try await plan(.toDatetime(9_000)) == 3)
      #expect(try await plan(.shiftBy(1)) == 2)
      #expect(try await plan(.shiftBy(-5)) == 0)
    }
  }
}

@Suite struct OffsetResetPlannerTests {
  let p0 = TopicPartition("t", 0)
  let p1 = TopicPartition("t", 1)

  private func plan(
    _ strategy: OffsetResetStrategy, _ states: [TopicPartition: OffsetResetPlanner.PartitionState]
  ) throws -> [TopicPartition: Int64] {
    try OffsetResetPlanner.plan(strategy, partitions: states)
  }

  @Test func earliestLatestAndExplicitOffsetsAreClamped() throws {
    let states = [
      p0: OffsetResetPlanner.PartitionState(earliest: 5, latest: 20),
      p1: OffsetResetPlanner.PartitionState(earliest: 0, latest: 3),
    ]
    #expect(try plan(.toEarliest, states) == [p0: 5, p1: 0])
    #expect(try plan(.toLatest, states) == [p0: 20, p1: 3])
    #expect(try plan(.toOffset(10), states) == [p0: 10, p1: 3])
    #expect(try plan(.toOffset(1), states) == [p0: 5, p1: 1])
  }

  @Test func shiftByMovesTheCommittedOffsetWithinTheLog() throws {
    let states = [
      p0: OffsetResetPlanner.PartitionState(earliest: 5, latest: 20, committed: 10),
      p1: OffsetResetPlanner.PartitionState(earliest: 0, latest: 3, committed: 3),
    ]
    #expect(try plan(.shiftBy(-2), states) == [p0: 8, p1: 1])
    #expect(try plan(.shiftBy(100), states) == [p0: 20, p1: 3])
    #expect(try plan(.shiftBy(-100), states) == [p0: 5, p1: 0])
    #expect(try plan(.shiftBy(Int64.max), states) == [p0: 20, p1: 3])
    #expect(throws: KafkaClientError.self) {
      try plan(.shiftBy(1), [p0: OffsetResetPlanner.PartitionState(earliest: 0, latest: 1)])
    }
  }

  @Test func datetimeFallsBackToTheLogEnd() throws {
    let states = [
      p0: OffsetResetPlanner.PartitionState(earliest: 0, latest: 9, offsetForTimestamp: 4),
      p1: OffsetResetPlanner.PartitionState(earliest: 0, latest: 9, offsetForTimestamp: -1),
    ]
    #expect(try plan(.toDatetime(0), states) == [p0: 4, p1: 9])
  }
}

@Suite struct DatetimeParsingTests {
  @Test func parsesKafkasResetFormats() throws {
    #expect(try OffsetResetStrategy.parseDatetime("1970-01-01T00:00:00.000") == 0)
    #expect(try OffsetResetStrategy.parseDatetime("2024-02-29T12:34:56.789Z") == 1_709_210_096_789)
    #expect(try OffsetResetStrategy.parseDatetime("2024-02-29T12:34:56Z") == 1_709_210_096_000)
    #expect(
      try OffsetResetStrategy.parseDatetime("2024-02-29T14:34:56.7+02:00") == 1_709_210_096_700)
    #expect(
      try OffsetResetStrategy.parseDatetime("2024-02-29T07:04:56.789-0530") == 1_709_210_096_789)
    for bad in [
      "2024-02-29", "2024-13-01T00:00:00", "2024-02-29T12:34:56.", "yesterday",
      "2024-02-29T12:34:56Zx",
    ] {
      #expect(throws: KafkaClientError.self) { try OffsetResetStrategy.parseDatetime(bad) }
    }
  }
}
