import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

/// A fake broker and a client on it; both are closed after `body`.
func withCluster(_ body: (FakeBroker, KafkaClient) async throws -> Void) async throws {
  try await withFakeBroker { broker in
    var configuration = KafkaClient.Configuration()
    configuration.retryBackoff = .milliseconds(10)
    let client = try KafkaClient(bootstrap: broker.bootstrap, configuration: configuration)
    do {
      try await body(broker, client)
    } catch {
      await client.close()
      throw error
    }
    await client.close()
  }
}

private func producer(
  _ client: KafkaClient, linger: Duration = .milliseconds(1), acks: Acks = .all,
  configure: (inout Producer.Configuration) -> Void = { _ in }
) throws -> Producer {
  var configuration = Producer.Configuration()
  configuration.linger = linger
  configuration.acks = acks
  configuration.maxBlock = .seconds(2)
  configure(&configuration)
  return try Producer(client: client, configuration: configuration)
}

private func consumer(
  _ client: KafkaClient, configure: (inout Consumer.Configuration) -> Void = { _ in }
) -> Consumer {
  var configuration = Consumer.Configuration()
  configuration.maxWait = .milliseconds(50)
  configure(&configuration)
  return Consumer(client: client, configuration: configuration)
}

/// Polls until `count` records arrived or `timeout` passed.
private func pollRecords(
  _ consumer: Consumer, count: Int, timeout: Duration = .seconds(5)
) async throws -> [ConsumerRecord] {
  var records: [ConsumerRecord] = []
  let deadline = ContinuousClock.now + timeout
  while records.count < count, ContinuousClock.now < deadline {
    records += try await consumer.poll(timeout: .milliseconds(200))
  }
  return records
}

private func values(_ records: [ConsumerRecord]) -> [String] {
  records.map { $0.value.map { String(buffer: $0) } ?? "null" }
}

@Suite struct ProducerTests {
  @Test func keyedRecordsGoToTheirMurmur2Partition() async throws {
    try await withCluster { broker, client in
      broker.createTopic("keyed", partitions: 4)
      let producer = try producer(client)
      var futures: [(String, DeliveryFuture)] = []
      for index in 0..<40 {
        let key = "key-\(index % 10)"
        futures.append(
          (
            key,
            try await producer.enqueue(
              ProducerRecord(topic: "keyed", key: key, value: "v\(index)"))
          ))
      }
      await producer.flush()
      var nextOffset: [Int32: Int64] = [:]
      for (key, future) in futures {
        let metadata = try await future.get()
        let expected = Partitioner.partition(forKey: ByteBuffer(string: key), partitionCount: 4)
        #expect(metadata.partition == expected)
        #expect(metadata.topic == "keyed")
        // Offsets are consecutive per partition, in send order.
        #expect(metadata.offset == nextOffset[metadata.partition, default: 0])
        nextOffset[metadata.partition] = metadata.offset + 1
      }
      var stored = 0
      for partition in 0..<4 {
        for record in broker.records("keyed", partition) {
          let key = try #require(record.key)
          #expect(
            Partitioner.partition(forKey: ByteBuffer(string: key), partitionCount: 4)
              == Int32(partition))
          stored += 1
        }
      }
      #expect(stored == 40)
      await producer.close()
    }
  }

  @Test func lingerGathersRecordsIntoOneBatch() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try producer(client, linger: .seconds(30))
      var futures: [DeliveryFuture] = []
      for index in 0..<100 {
        futures.append(
          try await producer.enqueue(
            ProducerRecord(
              topic: "t", key: nil, value: "record \(index)", headers: [("h", "\(index)")])))
      }
      #expect(broker.batchCount("t", 0) == 0)
      await producer.flush()
      #expect(broker.batchCount("t", 0) == 1)
      let offsets = try await futures.asyncMap { try await $0.get().offset }
      #expect(offsets == Array(0..<100))
      let records = broker.records("t", 0)
      #expect(records.map(\.value) == (0..<100).map { "record \($0)" })
      #expect(records[7].headers == [RecordHeader(key: "h", value: ByteBuffer(string: "7"))])
      #expect(records.allSatisfy { $0.key == nil })
    }
  }

  @Test func batchSizeSplitsBatches() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try producer(client, linger: .seconds(30)) { $0.batchSize = 1024 }
      for index in 0..<50 {
        _ = try await producer.enqueue(
          ProducerRecord(
            topic: "t", partition: 0, key: nil,
            value: ByteBuffer(string: String(repeating: "x", count: 100) + "\(index)")))
      }
      await producer.flush()
      let batches = broker.batchCount("t", 0)
      #expect(batches >= 5)
      #expect(broker.records("t", 0).count == 50)
    }
  }

  @Test func sendWaitsForTheOffset() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 3)
      let producer = try producer(client, linger: .seconds(30))
      let first = try await producer.send(topic: "t", partition: 2, key: "k", value: "one")
      let second = try await producer.send(topic: "t", partition: 2, key: "k", value: "two")
      #expect(first.partition == 2 && first.offset == 0)
      #expect(second.offset == 1)
      #expect(first.timestamp > 1_600_000_000_000)
      #expect(broker.records("t", 2).map(\.value) == ["one", "two"])
    }
  }

  @Test func acksZeroGetsNoOffsets() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try producer(client, acks: .none)
      let metadata = try await producer.send(topic: "t", value: "fire and forget")
      #expect(metadata.offset == -1)
      for _ in 0..<100 where broker.records("t", 0).isEmpty {
        try await Task.sleep(for: .milliseconds(10))
      }
      #expect(broker.records("t", 0).map(\.value) == ["fire and forget"])
      let produce = broker.receivedRequests.filter { $0.requestApiKey == 0 }
      #expect(produce.count == 1)
    }
  }

  @Test func retriableErrorsAreRetried() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.failNextProduces(with: [.notLeaderOrFollower, .requestTimedOut])
      let producer = try producer(client)
      let metadata = try await producer.send(topic: "t", value: "persistent")
      #expect(metadata.offset == 0)
      #expect(broker.receivedRequests.filter { $0.requestApiKey == 0 }.count == 3)
      #expect(broker.records("t", 0).map(\.value) == ["persistent"])
    }
  }

  @Test func fatalErrorsFailTheRecords() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.failNextProduces(with: [.messageTooLarge])
      let producer = try producer(client)
      do {
        _ = try await producer.send(topic: "t", value: "too big, says the broker")
        Issue.record("expected MESSAGE_TOO_LARGE")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .messageTooLarge)
      }
      // The partition is usable again afterwards.
      let metadata = try await producer.send(topic: "t", value: "fine")
      #expect(metadata.offset == 0)
    }
  }

  @Test func retriesStopAtTheConfiguredCount() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      broker.failNextProduces(with: Array(repeating: .notEnoughReplicas, count: 5))
      let producer = try producer(client) { $0.retries = 2 }
      await #expect(throws: KafkaClientError.self) {
        try await producer.send(topic: "t", value: "x")
      }
      #expect(broker.receivedRequests.filter { $0.requestApiKey == 0 }.count == 3)
    }
  }

  @Test func refusesRecordsThatCanNeverBeSent() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let producer = try producer(client) {
        $0.allowAutoTopicCreation = false
        $0.maxRequestSize = 1000
      }
      do {
        _ = try await producer.enqueue(ProducerRecord(topic: "missing", key: nil, value: "x"))
        Issue.record("expected an unknown topic")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .unknownTopicOrPartition)
      }
      await #expect(throws: KafkaClientError.self) {
        _ = try await producer.enqueue(
          ProducerRecord(topic: "t", partition: 2, key: nil, value: "x"))
      }
      await #expect(throws: KafkaClientError.self) {
        _ = try await producer.enqueue(
          ProducerRecord(topic: "t", value: ByteBuffer(repeating: 1, count: 2000)))
      }
      await producer.close()
      await #expect(throws: KafkaClientError.self) {
        _ = try await producer.enqueue(ProducerRecord(topic: "t", key: nil, value: "late"))
      }
    }
  }

  @Test func autoCreatesTopicsWhenTheBrokerDoes() async throws {
    try await withCluster { broker, client in
      broker.autoCreateTopics = true
      let producer = try producer(client)
      let metadata = try await producer.send(topic: "fresh", value: "hello")
      #expect(metadata.offset == 0)
      #expect(broker.topicNames() == ["fresh"])
    }
  }

  @Test func boundedBufferStillDeliversEverything() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let producer = try producer(client, linger: .zero) {
        $0.bufferMemory = 4096
        $0.batchSize = 512
      }
      var futures: [DeliveryFuture] = []
      for index in 0..<300 {
        futures.append(
          try await producer.enqueue(
            ProducerRecord(topic: "t", key: "\(index % 7)", value: "value \(index)")))
      }
      await producer.flush()
      for future in futures { _ = try await future.get() }
      #expect(broker.records("t", 0).count + broker.records("t", 1).count == 300)
    }
  }
}

@Suite struct ConsumerTests {
  /// Produces `count` records with values `v0...` to partition 0 of `topic` as one batch.
  private func fill(
    _ client: KafkaClient, topic: String, count: Int, timestamps: [Int64]? = nil
  ) async throws {
    let producer = try producer(client, linger: .seconds(30))
    for index in 0..<count {
      _ = try await producer.enqueue(
        ProducerRecord(
          topic: topic, partition: 0, key: ByteBuffer(string: "k\(index)"),
          value: ByteBuffer(string: "v\(index)"),
          headers: [RecordHeader(key: "n", value: ByteBuffer(string: "\(index)"))],
          timestamp: timestamps?[index]))
    }
    await producer.close()
  }

  @Test func readsFromTheBeginning() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 10)
      let consumer = consumer(client)
      await consumer.assign([TopicPartition("t", 0)])
      try await consumer.seek(TopicPartition("t", 0), to: .beginning)
      let records = try await pollRecords(consumer, count: 10)
      #expect(values(records) == (0..<10).map { "v\($0)" })
      #expect(records.map(\.offset) == Array(0..<10))
      #expect(records[3].key.map { String(buffer: $0) } == "k3")
      #expect(records[3].headers == [RecordHeader(key: "n", value: ByteBuffer(string: "3"))])
      #expect(records[3].timestampType == .createTime)
      #expect(try await consumer.position(TopicPartition("t", 0)) == 10)
    }
  }

  @Test func skipsRecordsBelowTheOffsetInsideABatch() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 10)
      #expect(broker.batchCount("t", 0) == 1)
      let consumer = consumer(client)
      let partition = TopicPartition("t", 0)
      await consumer.assign([partition])
      try await consumer.seek(partition, to: .offset(6))
      let records = try await pollRecords(consumer, count: 4)
      #expect(records.map(\.offset) == [6, 7, 8, 9])
      // Seeking back re-reads.
      try await consumer.seek(partition, to: .offset(2))
      let again = try await pollRecords(consumer, count: 8)
      #expect(again.map(\.offset) == Array(2..<10))
    }
  }

  @Test func endWaitsForNewRecords() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 3)
      let consumer = consumer(client)
      await consumer.assign([TopicPartition("t", 0)])
      try await consumer.seekAll(to: .end)
      #expect(try await consumer.poll(timeout: .milliseconds(100)).isEmpty)
      #expect(try await consumer.position(TopicPartition("t", 0)) == 3)
      let producer = try producer(client)
      try await producer.send(topic: "t", partition: 0, value: "new")
      let records = try await pollRecords(consumer, count: 1)
      #expect(values(records) == ["new"])
      #expect(records.first?.offset == 3)
    }
  }

  @Test func seeksByTimestamp() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 4, timestamps: [1_000, 2_000, 3_000, 4_000])
      let consumer = consumer(client)
      let partition = TopicPartition("t", 0)
      await consumer.assign([partition])
      try await consumer.seek(partition, to: .timestamp(2_500))
      let records = try await pollRecords(consumer, count: 2)
      #expect(records.map(\.offset) == [2, 3])
      #expect(records.map(\.timestamp) == [3_000, 4_000])
      // Past the last timestamp: the end.
      try await consumer.seek(partition, to: .timestamp(9_000))
      #expect(try await consumer.position(partition) == 4)
      let listed = try await client.listOffsets([partition: .beginning])
      #expect(listed[partition]?.offset == 0)
    }
  }

  @Test func outOfRangeOffsetsResetByPolicy() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 5)
      let partition = TopicPartition("t", 0)
      let earliest = consumer(client) { $0.autoOffsetReset = .earliest }
      await earliest.assign([partition])
      try await earliest.seek(partition, to: .offset(100))
      #expect(try await pollRecords(earliest, count: 5).map(\.offset) == Array(0..<5))
      let strict = consumer(client) { $0.autoOffsetReset = .none }
      await strict.assign([partition])
      try await strict.seek(partition, to: .offset(100))
      do {
        _ = try await strict.poll(timeout: .seconds(1))
        Issue.record("expected OFFSET_OUT_OF_RANGE")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .offsetOutOfRange)
      }
    }
  }

  @Test func readsManyPartitionsAndLimitsPollSize() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 3)
      let producer = try producer(client)
      for partition in Int32(0)..<3 {
        for index in 0..<5 {
          _ = try await producer.enqueue(
            ProducerRecord(
              topic: "t", partition: partition, key: nil, value: "p\(partition)-\(index)"))
        }
      }
      await producer.close()
      let consumer = consumer(client) {
        $0.maxPollRecords = 4
        $0.autoOffsetReset = .earliest
      }
      await consumer.assign((0..<3).map { TopicPartition("t", $0) })
      var records: [ConsumerRecord] = []
      let deadline = ContinuousClock.now + .seconds(5)
      while records.count < 15, ContinuousClock.now < deadline {
        let batch = try await consumer.poll(timeout: .milliseconds(200))
        #expect(batch.count <= 4)
        records += batch
      }
      #expect(records.count == 15)
      for partition in Int32(0)..<3 {
        let mine = records.filter { $0.partition == partition }
        #expect(mine.map(\.offset) == Array(0..<5))
        #expect(values(mine) == (0..<5).map { "p\(partition)-\($0)" })
      }
    }
  }

  @Test(arguments: [12, 17] as [Int16])
  func fetchesByNameOrByTopicId(maxFetchVersion: Int16) async throws {
    try await withCluster { broker, client in
      broker.apiVersions[.fetch] = 4...maxFetchVersion
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 2)
      let consumer = consumer(client) { $0.autoOffsetReset = .earliest }
      await consumer.assign([TopicPartition("t", 0)])
      #expect(values(try await pollRecords(consumer, count: 2)) == ["v0", "v1"])
      let fetch = try #require(broker.receivedRequests.last { $0.requestApiKey == 1 })
      #expect(fetch.requestApiVersion == maxFetchVersion)
    }
  }

  @Test func skipsControlBatches() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      var control = RecordBatchBuilder(
        producerId: 5, producerEpoch: 0, baseSequence: -1, isControl: true)
      control.append(
        key: ByteBuffer(bytes: [0, 0, 0, 0]), value: ByteBuffer(bytes: [0, 0, 0, 0, 0, 0]),
        timestamp: 1)
      try broker.append("t", 0, batch: control.build())
      try await fill(client, topic: "t", count: 1)
      let consumer = consumer(client) { $0.autoOffsetReset = .earliest }
      let partition = TopicPartition("t", 0)
      await consumer.assign([partition])
      let records = try await pollRecords(consumer, count: 1)
      #expect(records.map(\.offset) == [1])
      #expect(values(records) == ["v0"])

    }
  }

  @Test func rejectsBatchesWithBadChecksums() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      try await fill(client, topic: "t", count: 3)
      broker.corruptLastBatch("t", 0)
      let consumer = consumer(client) { $0.autoOffsetReset = .earliest }
      await consumer.assign([TopicPartition("t", 0)])
      do {
        _ = try await consumer.poll(timeout: .seconds(1))
        Issue.record("expected a CRC failure")
      } catch let error as KafkaClientError {
        guard case .malformedResponse(let message) = error else {
          Issue.record("unexpected \(error)")
          return
        }
        #expect(message.contains("crc"))
      }
    }
  }

  @Test func unassignedPartitionsAreRejected() async throws {
    try await withCluster { _, client in
      let consumer = consumer(client)
      await #expect(throws: KafkaClientError.self) { try await consumer.poll(timeout: .zero) }
      await #expect(throws: KafkaClientError.self) {
        try await consumer.seek(TopicPartition("t", 0), to: .beginning)
      }
    }
  }
}

extension Sequence {
  func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
    var result: [T] = []
    for element in self { result.append(try await transform(element)) }
    return result
  }
}

@Suite struct ClientRecoveryTests {
  @Test func producerAndConsumerRideOutABrokerRestart() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let producer = try producer(client) { $0.deliveryTimeout = .seconds(10) }
      try await producer.send(topic: "t", value: "before")
      let consumer = consumer(client) { $0.autoOffsetReset = .earliest }
      await consumer.assign([TopicPartition("t", 0)])
      #expect(values(try await pollRecords(consumer, count: 1)) == ["before"])

      let port = broker.port
      await broker.stop()
      let pending = try await producer.enqueue(
        ProducerRecord(topic: "t", key: nil, value: "during"))
      try await Task.sleep(for: .milliseconds(300))
      #expect(try await consumer.poll(timeout: .milliseconds(200)).isEmpty)
      try await broker.start(port: port)

      let metadata = try await pending.get()
      #expect(metadata.offset == 1)
      #expect(values(try await pollRecords(consumer, count: 1)) == ["during"])
    }
  }
}
