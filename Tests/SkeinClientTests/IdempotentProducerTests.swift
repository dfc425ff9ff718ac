import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

private func idempotentProducer(
  _ client: KafkaClient, configure: (inout Producer.Configuration) -> Void = { _ in }
) throws -> Producer {
  var configuration = Producer.Configuration()
  configuration.linger = .milliseconds(1)
  configuration.maxBlock = .seconds(2)
  configuration.requestTimeout = .seconds(2)
  configure(&configuration)
  return try Producer(client: client, configuration: configuration)
}

@Suite struct IdempotentProducerTests {
  @Test func initProducerIdComesFirstThenSequencesCountPerPartition() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let producer = try idempotentProducer(client)
      #expect(await producer.isIdempotent)
      for value in ["a", "b", "c"] {
        try await producer.send(topic: "t", partition: 0, value: value)
      }
      for value in ["d", "e"] { try await producer.send(topic: "t", partition: 1, value: value) }
      // A batch of three records moves the sequence by three.
      for value in ["f", "g", "h"] {
        _ = try await producer.enqueue(
          ProducerRecord(topic: "t", partition: 0, key: nil, value: value))
      }
      await producer.flush()
      try await producer.send(topic: "t", partition: 0, value: "i")

      let apis = broker.receivedRequests.map(\.requestApiKey)
      let initIndex = try #require(apis.firstIndex(of: ApiKey.initProducerId.rawValue))
      let produceIndex = try #require(apis.firstIndex(of: ApiKey.produce.rawValue))
      #expect(initIndex < produceIndex)
      #expect(apis.filter { $0 == ApiKey.initProducerId.rawValue }.count == 1)

      let stamps = broker.stampedBatches
      #expect(Set(stamps.map(\.producerId)) == [1000])
      #expect(Set(stamps.map(\.producerEpoch)) == [0])
      #expect(stamps.filter { $0.partition == 0 }.map(\.baseSequence) == [0, 1, 2, 3, 6])
      #expect(stamps.filter { $0.partition == 1 }.map(\.baseSequence) == [0, 1])
      #expect(await producer.producerIdAndEpoch?.producerId == 1000)
      #expect(broker.records("t", 0).map(\.value) == ["a", "b", "c", "f", "g", "h", "i"])
    }
  }

  @Test func aRetriedBatchKeepsItsSequenceAndADuplicateIsDelivered() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try idempotentProducer(client)
      try await producer.send(topic: "t", value: "first")
      // The leader writes the next batch but the answer is lost: the retry is a duplicate.
      broker.loseNextProduceResponses(1)
      let metadata = try await producer.send(topic: "t", value: "second")
      #expect(metadata.offset == 1)
      let stamps = broker.stampedBatches
      #expect(stamps.map(\.baseSequence) == [0, 1, 1])
      #expect(stamps[1] == stamps[2])
      #expect(broker.records("t", 0).map(\.value) == ["first", "second"])
      try await producer.send(topic: "t", value: "third")
      #expect(broker.stampedBatches.last?.baseSequence == 2)
      #expect(broker.records("t", 0).map(\.value) == ["first", "second", "third"])
    }
  }

  @Test func retriableErrorsResendTheSameSequence() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.failNextProduces(with: [.notLeaderOrFollower])
      let producer = try idempotentProducer(client)
      try await producer.send(topic: "t", value: "x")
      #expect(broker.stampedBatches.map(\.baseSequence) == [0])
      #expect(broker.records("t", 0).map(\.value) == ["x"])
      // The failed attempt was never parsed by the fake; the retry carried sequence 0.
      #expect(broker.receivedRequests.filter { $0.requestApiKey == 0 }.count == 2)
    }
  }

  @Test func outOfOrderSequenceFailsTheBatchAndBumpsTheEpoch() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let producer = try idempotentProducer(client)
      try await producer.send(topic: "t", partition: 0, value: "a")
      try await producer.send(topic: "t", partition: 1, value: "b")
      broker.failNextProduces(with: [.outOfOrderSequenceNumber])
      do {
        try await producer.send(topic: "t", partition: 0, value: "lost")
        Issue.record("expected OUT_OF_ORDER_SEQUENCE_NUMBER")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .outOfOrderSequenceNumber)
      }
      // The producer goes on under epoch 1, every partition from sequence 0.
      try await producer.send(topic: "t", partition: 0, value: "c")
      try await producer.send(topic: "t", partition: 1, value: "d")
      let last = broker.stampedBatches.suffix(2)
      #expect(last.map(\.producerEpoch) == [1, 1])
      #expect(last.map(\.baseSequence) == [0, 0])
      #expect(broker.records("t", 0).map(\.value) == ["a", "c"])
      #expect(await producer.producerIdAndEpoch?.epoch == 1)
    }
  }

  @Test func unknownProducerIdAfterRetentionRetriesUnderANewEpoch() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.failNextProduces(with: [.unknownProducerId])
      let producer = try idempotentProducer(client)
      let metadata = try await producer.send(topic: "t", value: "x")
      #expect(metadata.offset == 0)
      #expect(broker.records("t", 0).map(\.value) == ["x"])
      #expect(await producer.producerIdAndEpoch?.epoch == 1)
    }
  }

  @Test func invalidProducerEpochFailsTheBatchWithoutBump() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try idempotentProducer(client)
      try await producer.send(topic: "t", value: "a")
      broker.failNextProduces(with: [.invalidProducerEpoch])
      await #expect(throws: KafkaClientError.self) {
        try await producer.send(topic: "t", value: "b")
      }
      // The rejected batch gave its sequence back.
      try await producer.send(topic: "t", value: "c")
      #expect(broker.stampedBatches.last?.baseSequence == 1)
      #expect(broker.records("t", 0).map(\.value) == ["a", "c"])
    }
  }

  @Test func producerFencedIsFatal() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try idempotentProducer(client)
      try await producer.send(topic: "t", value: "a")
      broker.failNextProduces(with: [.producerFenced])
      await #expect(throws: KafkaClientError.self) {
        try await producer.send(topic: "t", value: "b")
      }
      do {
        try await producer.send(topic: "t", value: "c")
        Issue.record("a fenced producer must not send")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .producerFenced)
      }
      #expect(broker.records("t", 0).map(\.value) == ["a"])
    }
  }

  @Test func initProducerIdRetriesCoordinatorErrors() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.failNextInitProducerIds(with: [.coordinatorNotAvailable, .coordinatorLoadInProgress])
      let producer = try idempotentProducer(client)
      try await producer.send(topic: "t", value: "a")
      #expect(
        broker.receivedRequests.filter { $0.requestApiKey == ApiKey.initProducerId.rawValue }
          .count == 3)
      #expect(broker.stampedBatches.map(\.producerId) == [1000])
    }
  }

  @Test func sequencesWrapAtInt32Max() {
    #expect(IdempotentProducerState.incrementSequence(0, by: 5) == 5)
    #expect(IdempotentProducerState.incrementSequence(Int32.max - 1, by: 1) == Int32.max)
    #expect(IdempotentProducerState.incrementSequence(Int32.max, by: 1) == 0)
    #expect(IdempotentProducerState.incrementSequence(Int32.max - 1, by: 3) == 1)
    var state = IdempotentProducerState()
    state.setProducerId(7, epoch: 0)
    let partition = TopicPartition("t", 0)
    _ = state.stamp(partition, recordCount: Int32.max)
    #expect(state.sequence(for: partition) == Int32.max)
    #expect(state.stamp(partition, recordCount: 2).baseSequence == Int32.max)
    #expect(state.sequence(for: partition) == 1)
  }

  @Test func theLastEpochResetsTheProducerId() {
    var state = IdempotentProducerState()
    state.setProducerId(7, epoch: Int16.max - 1)
    state.bumpEpoch()
    #expect(state.producerEpoch == Int16.max)
    state.bumpEpoch()
    #expect(!state.hasProducerId)
  }

  @Test func conflictingSettingsAreAConfigurationError() async throws {
    try await withCluster { _, client in
      #expect(throws: KafkaClientError.self) {
        try idempotentProducer(client) {
          $0.enableIdempotence = true
          $0.acks = .leader
        }
      }
      #expect(throws: KafkaClientError.self) {
        try idempotentProducer(client) {
          $0.enableIdempotence = true
          $0.retries = 0
        }
      }
      // Unset, idempotence yields to acks other than all, as the Java client 3.2+ does.
      let quiet = try idempotentProducer(client) { $0.acks = .leader }
      #expect(await !quiet.isIdempotent)
      let off = try idempotentProducer(client) { $0.enableIdempotence = false }
      #expect(await !off.isIdempotent)
    }
  }

  @Test func disabledIdempotenceSendsNoProducerId() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try idempotentProducer(client) { $0.enableIdempotence = false }
      try await producer.send(topic: "t", value: "a")
      #expect(broker.stampedBatches.map(\.producerId) == [-1])
      #expect(
        !broker.receivedRequests.contains { $0.requestApiKey == ApiKey.initProducerId.rawValue })
    }
  }

  @Test func aBrokerWithoutInitProducerId() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.apiVersions[.initProducerId] = nil
      // The default falls back to plain produce; an explicit request for idempotence fails.
      let plain = try idempotentProducer(client)
      try await plain.send(topic: "t", value: "a")
      #expect(broker.stampedBatches.map(\.producerId) == [-1])
      #expect(await !plain.isIdempotent)
      let strict = try idempotentProducer(client) { $0.enableIdempotence = true }
      do {
        try await strict.send(topic: "t", value: "b")
        Issue.record("expected an unsupported InitProducerId")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .unsupportedVersion)
      }
    }
  }
}
