import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

private func groupConsumer(
  _ client: KafkaClient, group: String = "g", topics: [String] = ["t"],
  configure: (inout GroupConsumer.Configuration) -> Void = { _ in }
) async throws -> GroupConsumer {
  var configuration = GroupConsumer.Configuration(groupId: group)
  configuration.heartbeatInterval = .milliseconds(50)
  configuration.sessionTimeout = .seconds(10)
  configuration.defaultApiTimeout = .seconds(5)
  configuration.fetch.maxWait = .milliseconds(50)
  configuration.fetch.autoOffsetReset = .earliest
  configure(&configuration)
  let consumer = try GroupConsumer(client: client, configuration: configuration)
  try await consumer.subscribe(topics)
  return consumer
}

/// Polls until `count` records arrived or `timeout` passed.
private func pollRecords(
  _ consumer: GroupConsumer, count: Int, timeout: Duration = .seconds(5)
) async throws -> [ConsumerRecord] {
  var records: [ConsumerRecord] = []
  let deadline = ContinuousClock.now + timeout
  while records.count < count, ContinuousClock.now < deadline {
    records += try await consumer.poll(timeout: .milliseconds(100))
  }
  return records
}

private func produce(_ client: KafkaClient, _ topic: String, _ values: [(Int32, String)])
  async throws
{
  var configuration = Producer.Configuration()
  configuration.linger = .zero
  let producer = try Producer(client: client, configuration: configuration)
  for (partition, value) in values {
    try await producer.send(topic: topic, partition: partition, value: value)
  }
  await producer.close()
}

private func count(_ broker: FakeBroker, _ api: ApiKey) -> Int {
  broker.receivedRequests.filter { $0.requestApiKey == api.rawValue }.count
}

@Suite struct GroupConsumerTests {
  @Test func joinsSyncsHeartbeatsCommitsAndLeaves() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 3)
      try await produce(client, "t", [(0, "a"), (1, "b"), (2, "c"), (0, "d")])
      let consumer = try await groupConsumer(client)
      let records = try await pollRecords(consumer, count: 4)
      #expect(
        Set(records.map { String(buffer: $0.value ?? ByteBuffer()) }) == ["a", "b", "c", "d"])
      // MEMBER_ID_REQUIRED, then the join with the given id.
      #expect(broker.groups.joinGroupCount == 2)
      #expect(count(broker, .findCoordinator) >= 1)
      #expect(count(broker, .syncGroup) == 1)
      let memberId = await consumer.currentMemberId
      #expect(broker.groups.memberIds("g") == [memberId])
      #expect(await consumer.generation == 1)
      #expect(
        await consumer.assignment == [
          TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("t", 2),
        ])
      try await Task.sleep(for: .milliseconds(250))
      #expect(count(broker, .heartbeat) >= 2)
      await consumer.close()
      #expect(
        broker.groups.committedOffsets("g") == [
          TopicPartition("t", 0): 2, TopicPartition("t", 1): 1, TopicPartition("t", 2): 1,
        ])
      #expect(broker.groups.commitRequests.last?.generation == 1)
      #expect(broker.groups.commitRequests.last?.memberId == memberId)
      #expect(count(broker, .leaveGroup) == 1)
      #expect(broker.groups.memberIds("g").isEmpty)
      #expect(broker.groups.state("g") == .empty)
    }
  }

  @Test func resumesAfterTheCommittedOffset() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await produce(client, "t", (0..<5).map { (0, "v\($0)") })
      broker.groups.setCommittedOffset("g", TopicPartition("t", 0), 3)
      let consumer = try await groupConsumer(client)
      let records = try await pollRecords(consumer, count: 2)
      #expect(records.map(\.offset) == [3, 4])
      await consumer.close()
      #expect(broker.groups.committedOffsets("g")[TopicPartition("t", 0)] == 5)
      // A second consumer of the group starts where the first one committed.
      try await produce(client, "t", [(0, "v5")])
      let again = try await groupConsumer(client)
      let more = try await pollRecords(again, count: 1)
      #expect(more.map(\.offset) == [5])
      await again.close()
    }
  }

  @Test func withoutACommittedOffsetLatestIsTheDefault() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await produce(client, "t", [(0, "old")])
      let consumer = try await groupConsumer(client) {
        $0.fetch.autoOffsetReset = Consumer.Configuration().autoOffsetReset
      }
      #expect(try await consumer.poll(timeout: .milliseconds(300)).isEmpty)
      try await produce(client, "t", [(0, "new")])
      let records = try await pollRecords(consumer, count: 1)
      #expect(records.map { String(buffer: $0.value ?? ByteBuffer()) } == ["new"])
      await consumer.close()
    }
  }

  @Test func aRebalanceMakesTheMemberRejoin() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let consumer = try await groupConsumer(client)
      _ = try await consumer.poll(timeout: .milliseconds(100))
      #expect(await consumer.generation == 1)
      broker.groups.triggerRebalance("g")
      // The heartbeat hears REBALANCE_IN_PROGRESS; a later poll joins generation 2.
      let deadline = ContinuousClock.now + .seconds(5)
      while await consumer.generation < 2, ContinuousClock.now < deadline {
        _ = try await consumer.poll(timeout: .milliseconds(50))
      }
      #expect(await consumer.generation == 2)
      #expect(await consumer.assignment == [TopicPartition("t", 0)])
      await consumer.close()
    }
  }

  @Test func consumedOffsetsAreCommittedBeforeRejoining() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await produce(client, "t", [(0, "a"), (0, "b")])
      let consumer = try await groupConsumer(client) { $0.autoCommitInterval = .seconds(60) }
      _ = try await pollRecords(consumer, count: 2)
      #expect(broker.groups.committedOffsets("g").isEmpty)
      broker.groups.triggerRebalance("g")
      let deadline = ContinuousClock.now + .seconds(5)
      while await consumer.generation < 2, ContinuousClock.now < deadline {
        _ = try await consumer.poll(timeout: .milliseconds(50))
      }
      #expect(await consumer.generation == 2)
      #expect(broker.groups.committedOffsets("g") == [TopicPartition("t", 0): 2])
      #expect(broker.groups.commitRequests.first?.generation == 1)
      await consumer.close()
    }
  }

  @Test func anUnknownMemberIdStartsOverWithANewId() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let consumer = try await groupConsumer(client)
      _ = try await consumer.poll(timeout: .milliseconds(100))
      let first = await consumer.currentMemberId
      broker.groups.expireMember("g", first)
      // MEMBER_ID_REQUIRED again, then a join with the new id (polled with a deadline: the
      // whole suite runs in parallel on two cores).
      let deadline = ContinuousClock.now + .seconds(10)
      var rejoined = false
      while !rejoined && ContinuousClock.now < deadline {
        _ = try await consumer.poll(timeout: .milliseconds(100))
        let assigned = await !consumer.assignment.isEmpty
        rejoined = broker.groups.joinGroupCount >= 4 && assigned
      }
      #expect(broker.groups.joinGroupCount == 4)
      let second = await consumer.currentMemberId
      #expect(!second.isEmpty && second != first)
      #expect(await consumer.assignment == [TopicPartition("t", 0)])
      await consumer.close()
    }
  }

  @Test func aMemberThatStopsPollingLeavesTheGroup() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let consumer = try await groupConsumer(client) { $0.maxPollInterval = .milliseconds(300) }
      _ = try await consumer.poll(timeout: .milliseconds(50))
      #expect(broker.groups.memberIds("g").count == 1)
      try await Task.sleep(for: .milliseconds(700))
      #expect(count(broker, .leaveGroup) == 1)
      #expect(broker.groups.memberIds("g").isEmpty)
      // The next poll joins again.
      _ = try await consumer.poll(timeout: .milliseconds(50))
      #expect(broker.groups.memberIds("g").count == 1)
      await consumer.close()
    }
  }

  @Test func twoMembersSplitThePartitionsByRange() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 4)
      let first = try await groupConsumer(client)
      let second = try await groupConsumer(client)
      _ = try await first.poll(timeout: .milliseconds(100))
      #expect(await first.assignment.count == 4)
      let deadline = ContinuousClock.now + .seconds(8)
      // Both poll until the group settles on generation 2 with both members.
      async let secondLoop: Void = {
        while ContinuousClock.now < deadline {
          _ = try await second.poll(timeout: .milliseconds(50))
          if await second.generation >= 2, await !second.assignment.isEmpty { return }
        }
      }()
      while ContinuousClock.now < deadline {
        _ = try await first.poll(timeout: .milliseconds(50))
        if await first.generation >= 2, await first.assignment.count == 2 { break }
      }
      try await secondLoop
      let a = await first.assignment
      let b = await second.assignment
      #expect(a.count == 2)
      #expect(b.count == 2)
      #expect(Set(a + b) == Set((0..<4).map { TopicPartition("t", Int32($0)) }))
      await first.close()
      await second.close()
    }
  }

  @Test func aFailedCommitForAnOldGenerationLeadsToARejoin() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await produce(client, "t", [(0, "a")])
      let consumer = try await groupConsumer(client) { $0.enableAutoCommit = false }
      _ = try await pollRecords(consumer, count: 1)
      broker.groups.failNext(.offsetCommit, with: [.illegalGeneration])
      do {
        try await consumer.commit()
        Issue.record("expected ILLEGAL_GENERATION")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .illegalGeneration)
      }
      let joins = broker.groups.joinGroupCount
      _ = try await consumer.poll(timeout: .milliseconds(100))
      #expect(broker.groups.joinGroupCount == joins + 1)
      try await consumer.commit()
      #expect(broker.groups.committedOffsets("g")[TopicPartition("t", 0)] == 1)
      await consumer.close()
    }
  }

  @Test func coordinatorErrorsLeadToANewLookup() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await produce(client, "t", [(0, "a")])
      broker.groups.failNext(.findCoordinator, with: [.coordinatorNotAvailable])
      broker.groups.failNext(.joinGroup, with: [.notCoordinator])
      broker.groups.failNext(.offsetFetch, with: [.coordinatorLoadInProgress])
      let consumer = try await groupConsumer(client) { $0.enableAutoCommit = false }
      let records = try await pollRecords(consumer, count: 1)
      #expect(records.count == 1)
      #expect(count(broker, .findCoordinator) >= 3)
      broker.groups.failNext(.offsetCommit, with: [.notCoordinator])
      try await consumer.commit()
      #expect(broker.groups.committedOffsets("g")[TopicPartition("t", 0)] == 1)
      await consumer.close()
    }
  }
}

@Suite struct RangeAssignorTests {
  private func tp(_ topic: String, _ partition: Int32) -> TopicPartition {
    TopicPartition(topic, partition)
  }

  /// Kafka's RangeAssignor javadoc: C0 and C1 subscribed to t0 and t1 of three partitions each.
  @Test func kafkasDocumentedExample() {
    let plan = RangeAssignor.assign(
      members: [
        .init(memberId: "C1", topics: ["t0", "t1"]), .init(memberId: "C0", topics: ["t0", "t1"]),
      ],
      partitionCounts: ["t0": 3, "t1": 3])
    #expect(plan["C0"] == [tp("t0", 0), tp("t0", 1), tp("t1", 0), tp("t1", 1)])
    #expect(plan["C1"] == [tp("t0", 2), tp("t1", 2)])
  }

  @Test func moreMembersThanPartitionsLeavesSomeEmpty() {
    let plan = RangeAssignor.assign(
      members: [
        .init(memberId: "a", topics: ["t"]), .init(memberId: "b", topics: ["t"]),
        .init(memberId: "c", topics: ["t"]),
      ],
      partitionCounts: ["t": 2])
    #expect(plan["a"] == [tp("t", 0)])
    #expect(plan["b"] == [tp("t", 1)])
    #expect(plan["c"] == [])
  }

  @Test func eachTopicIsSplitAmongItsOwnSubscribers() {
    let plan = RangeAssignor.assign(
      members: [
        .init(memberId: "a", topics: ["t0"]), .init(memberId: "b", topics: ["t0", "t1"]),
        .init(memberId: "c", topics: ["t1", "missing"]),
      ],
      partitionCounts: ["t0": 5, "t1": 2])
    #expect(plan["a"] == [tp("t0", 0), tp("t0", 1), tp("t0", 2)])
    #expect(plan["b"] == [tp("t0", 3), tp("t0", 4), tp("t1", 0)])
    #expect(plan["c"] == [tp("t1", 1)])
  }

  @Test func staticMembersSortByInstanceId() {
    let plan = RangeAssignor.assign(
      members: [
        .init(memberId: "a", groupInstanceId: "z", topics: ["t"]),
        .init(memberId: "b", groupInstanceId: "y", topics: ["t"]),
      ],
      partitionCounts: ["t": 2])
    #expect(plan["b"] == [tp("t", 0)])
    #expect(plan["a"] == [tp("t", 1)])
  }
}

@Suite struct ConsumerProtocolTests {
  @Test func subscriptionAndAssignmentRoundTrip() throws {
    let bytes = ConsumerProtocol.encodeSubscription(topics: ["b", "a"])
    #expect(bytes.getInteger(at: 0, as: Int16.self) == 1)
    #expect(try ConsumerProtocol.decodeSubscription(bytes).topics == ["a", "b"])
    let partitions = [TopicPartition("b", 1), TopicPartition("a", 0), TopicPartition("b", 0)]
    let assignment = ConsumerProtocol.encodeAssignment(partitions)
    #expect(try ConsumerProtocol.decodeAssignment(assignment) == partitions.sorted())
    #expect(try ConsumerProtocol.decodeAssignment(ByteBuffer()).isEmpty)
  }

  /// The Java consumer sends v3 subscriptions; a newer version is read as the newest known.
  @Test func readsOtherClientsVersions() throws {
    var subscription = ConsumerProtocolSubscription()
    subscription.topics = ["t"]
    subscription.generationId = 4
    subscription.rackId = "r1"
    var bytes = ByteBuffer()
    bytes.writeInteger(Int16(3))
    subscription.encode(to: &bytes, version: 3)
    #expect(try ConsumerProtocol.decodeSubscription(bytes).rackId == "r1")
    var future = ByteBuffer()
    future.writeInteger(Int16(9))
    subscription.encode(to: &future, version: 3)
    future.writeInteger(Int32(7))
    #expect(try ConsumerProtocol.decodeSubscription(future).topics == ["t"])
    #expect(throws: KafkaClientError.self) {
      try ConsumerProtocol.decodeSubscription(ByteBuffer(bytes: [0]))
    }
  }
}
