import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinBroker

@Suite(.serialized) struct BrokerProtocolTests {
  func produce(
    _ conn: TestConnection, topic: String, partition: Int32 = 0, records: ByteBuffer,
    version: Int16 = 9, acks: Int16 = 1
  ) throws -> ProduceResponse.PartitionProduceResponse? {
    let response = try conn.roundTrip(
      ProduceRequest(
        acks: acks, timeoutMs: 5000,
        topicData: [.init(name: topic, partitionData: [.init(index: partition, records: records)])]),
      version: version)
    return response.responses.first?.partitionResponses.first
  }

  func fetchRequest(
    topic: String, offset: Int64, maxWaitMs: Int32 = 0, minBytes: Int32 = 1,
    partitionMaxBytes: Int32 = 1 << 20
  ) -> FetchRequest {
    FetchRequest(
      maxWaitMs: maxWaitMs, minBytes: minBytes, maxBytes: 50 << 20,
      topics: [
        .init(
          topic: topic,
          partitions: [
            .init(partition: 0, fetchOffset: offset, partitionMaxBytes: partitionMaxBytes)
          ])
      ])
  }

  func createTopic(
    _ conn: TestConnection, _ name: String, partitions: Int32 = 1, configs: [String: String] = [:]
  )
    throws -> CreateTopicsResponse.CreatableTopicResult?
  {
    try conn.roundTrip(
      CreateTopicsRequest(
        topics: [
          .init(
            name: name, numPartitions: partitions, replicationFactor: 1,
            configs: configs.map { .init(name: $0.key, value: $0.value) })
        ]), version: 7
    ).topics.first
  }

  @Test func apiVersionsAdvertisesWithoutDefaultTaggedFields() async throws {
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    let id = conn.write(
      ApiVersionsRequest(clientSoftwareName: "t", clientSoftwareVersion: "1"), version: 3)
    let size = try conn.readExactly(4).reduce(0) { ($0 << 8) | Int($1) }
    let body = try conn.readExactly(size)
    var buffer = ByteBuffer(bytes: body)
    #expect(buffer.readInteger(as: Int32.self) == id)
    let response = try ApiVersionsResponse(from: &buffer, version: 3)
    #expect(response.errorCode == 0)
    #expect(response.apiKeys.contains { $0.apiKey == ApiKey.fetch.rawValue && $0.maxVersion == 17 })
    // The body ends with throttle time then an empty tagged-field section: nothing at default.
    #expect(body.last == 0)
    #expect(buffer.readableBytes == 0)
    await broker.stop()
  }

  @Test func unsupportedApiVersionsVersionGetsV0Body() async throws {
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    var frame = ByteBuffer()
    frame.writeInteger(Int16(18))
    frame.writeInteger(Int16(99))
    frame.writeInteger(Int32(7))
    frame.writeKafkaString("x", compact: false)
    var bytes: [UInt8] = []
    withUnsafeBytes(of: Int32(frame.readableBytes).bigEndian) { bytes += $0 }
    conn.sendRaw(bytes + Array(frame.readableBytesView))
    let size = try conn.readExactly(4).reduce(0) { ($0 << 8) | Int($1) }
    var body = ByteBuffer(bytes: try conn.readExactly(size))
    #expect(body.readInteger(as: Int32.self) == 7)
    let response = try ApiVersionsResponse(from: &body, version: 0)
    #expect(response.errorCode == ErrorCode.unsupportedVersion.rawValue)
    #expect(!response.apiKeys.isEmpty)
    await broker.stop()
  }

  @Test func hostileFramesCloseOnlyTheirConnection() async throws {
    let broker = try await TestBroker.start()
    let good = try broker.connect()
    _ = try createTopic(good, "hostile")

    let huge = try broker.connect()
    huge.sendRaw([0x7F, 0xFF, 0xFF, 0xFF, 0, 0])
    #expect(huge.isClosedByPeer())

    let unknown = try broker.connect()
    unknown.sendRaw([0, 0, 0, 8, 0x7F, 0x00, 0, 0, 0, 0, 0, 1])
    #expect(unknown.isClosedByPeer())

    let badVersion = try broker.connect()
    badVersion.sendRaw([0, 0, 0, 10, 0, 0, 0, 99, 0, 0, 0, 1, 0xFF, 0xFF])
    #expect(badVersion.isClosedByPeer())

    let garbage = try broker.connect()
    garbage.sendRaw([0, 0, 0, 12, 0, 3, 0, 1, 0, 0, 0, 1, 0x00, 0x05, 0x41, 0x42])
    #expect(garbage.isClosedByPeer())

    let result = try produce(good, topic: "hostile", records: makeBatch(count: 3))
    #expect(result?.errorCode == 0)
    #expect(result?.baseOffset == 0)
    await broker.stop()
  }

  @Test func produceAssignsOffsetsAndFetchReturnsWholeBatches() async throws {
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    #expect(try createTopic(conn, "orders")?.errorCode == 0)
    #expect(try produce(conn, topic: "orders", records: makeBatch(count: 5))?.baseOffset == 0)
    #expect(try produce(conn, topic: "orders", records: makeBatch(count: 5))?.baseOffset == 5)

    // An offset inside the second batch returns that whole batch (base offset 5).
    let response = try conn.roundTrip(fetchRequest(topic: "orders", offset: 7), version: 11)
    let data = try #require(response.responses.first?.partitions.first)
    #expect(data.errorCode == 0)
    #expect(data.highWatermark == 10)
    #expect(data.preferredReadReplica == -1)
    var batches = RecordBatchIterator(try #require(data.records))
    let batch = try #require(try batches.next())
    #expect(batch.header.baseOffset == 5)
    #expect(batch.header.recordCount == 5)
    #expect(try batches.next() == nil)

    // KIP-74: a partition limit smaller than the first batch still returns that batch.
    let small = try conn.roundTrip(
      fetchRequest(topic: "orders", offset: 0, partitionMaxBytes: 10), version: 11)
    var first = RecordBatchIterator(try #require(small.responses.first?.partitions.first?.records))
    #expect(try first.next()?.header.baseOffset == 0)
    #expect(try first.next() == nil)

    // Past the end: OFFSET_OUT_OF_RANGE.
    let past = try conn.roundTrip(fetchRequest(topic: "orders", offset: 11), version: 11)
    #expect(
      past.responses.first?.partitions.first?.errorCode == ErrorCode.offsetOutOfRange.rawValue)
    await broker.stop()
  }

  @Test func produceErrors() async throws {
    let broker = try await TestBroker.start(settings: ["auto.create.topics.enable": "false"])
    let conn = try broker.connect()
    #expect(try createTopic(conn, "small", configs: ["max.message.bytes": "200"])?.errorCode == 0)
    let missing = try produce(conn, topic: "nope", records: makeBatch(count: 1))
    #expect(missing?.errorCode == ErrorCode.unknownTopicOrPartition.rawValue)
    let big = try produce(conn, topic: "small", records: makeBatch(count: 50))
    #expect(big?.errorCode == ErrorCode.messageTooLarge.rawValue)
    var corrupt = makeBatch(count: 2)
    corrupt.setInteger(UInt8(0x55), at: corrupt.writerIndex - 1)
    #expect(
      try produce(conn, topic: "small", records: corrupt)?.errorCode
        == ErrorCode.corruptMessage.rawValue)
    var oldMagic = makeBatch(count: 1)
    oldMagic.setInteger(Int8(1), at: 16)
    #expect(
      try produce(conn, topic: "small", records: oldMagic)?.errorCode
        == ErrorCode.unsupportedForMessageFormat.rawValue)
    await broker.stop()
  }

  @Test func oldProduceVersionsTakeV2BatchesAndRefuseOldFormats() async throws {
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    _ = try createTopic(conn, "old")
    for version: Int16 in [0, 1, 2] {
      let ok = try produce(conn, topic: "old", records: makeBatch(count: 2), version: version)
      #expect(ok?.errorCode == 0)
      var magic1 = makeBatch(count: 1)
      magic1.setInteger(Int8(1), at: 16)
      let refused = try produce(conn, topic: "old", records: magic1, version: version)
      #expect(refused?.errorCode == ErrorCode.unsupportedForMessageFormat.rawValue)
    }
    let offsets = try conn.roundTrip(
      ListOffsetsRequest(
        replicaId: -1,
        topics: [.init(name: "old", partitions: [.init(partitionIndex: 0, timestamp: -1)])]),
      version: 1)
    #expect(offsets.topics.first?.partitions.first?.offset == 6)
    await broker.stop()
  }

  @Test func longPollAnswersAtMaxWaitAndWakesOnAppend() async throws {
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    _ = try createTopic(conn, "poll")

    let start = Date()
    let empty = try conn.roundTrip(
      fetchRequest(topic: "poll", offset: 0, maxWaitMs: 300), version: 12)
    let waited = Date().timeIntervalSince(start)
    #expect(waited >= 0.25 && waited < 3)
    #expect(empty.responses.first?.partitions.first?.records?.readableBytes == 0)

    // A fetch waiting 10 s is answered as soon as a record arrives, and pipelined requests on the
    // same connection come back in order.
    let fetchId = conn.write(fetchRequest(topic: "poll", offset: 0, maxWaitMs: 10_000), version: 12)
    let producer = try broker.connect()
    try await Task.sleep(for: .milliseconds(200))
    let woke = Date()
    #expect(try produce(producer, topic: "poll", records: makeBatch(count: 1))?.errorCode == 0)
    let (id, response) = try conn.read(FetchRequest.self, version: 12)
    #expect(id == fetchId)
    #expect(Date().timeIntervalSince(woke) < 1)
    #expect((response.responses.first?.partitions.first?.records?.readableBytes ?? 0) > 0)
    await broker.stop()
  }

  @Test func topicsSurviveRestartWithIdsAndConfigs() async throws {
    let first = try await TestBroker.start()
    let conn = try first.connect()
    let created = try #require(
      try createTopic(conn, "kept", partitions: 3, configs: ["retention.ms": "123456"]))
    #expect(created.errorCode == 0)
    #expect(
      try produce(conn, topic: "kept", partition: 2, records: makeBatch(count: 4))?.errorCode == 0)
    await first.stop(removeData: false)

    let second = try await TestBroker.start(dataDir: first.dataDir)
    let again = try second.connect()
    let metadata = try again.roundTrip(
      MetadataRequest(topics: [.init(name: "kept")], allowAutoTopicCreation: false), version: 12)
    let topic = try #require(metadata.topics.first)
    #expect(topic.topicId == created.topicId)
    #expect(topic.partitions.count == 3)
    let configs = try again.roundTrip(
      DescribeConfigsRequest(resources: [
        .init(resourceType: 2, resourceName: "kept", configurationKeys: nil)
      ]),
      version: 4)
    let retention = configs.results.first?.configs.first { $0.name == "retention.ms" }
    #expect(retention?.value == "123456")
    #expect(retention?.configSource == 1)
    let segment = configs.results.first?.configs.first { $0.name == "segment.bytes" }
    #expect(segment?.value == "1073741824")
    #expect(segment?.configSource == 5)
    let offsets = try again.roundTrip(
      ListOffsetsRequest(
        replicaId: -1,
        topics: [.init(name: "kept", partitions: [.init(partitionIndex: 2, timestamp: -1)])]),
      version: 7)
    #expect(offsets.topics.first?.partitions.first?.offset == 4)
    await second.stop()
  }

  @Test func listOffsetsByTimestampFindsTheRecord() async throws {
    let broker = try await TestBroker.start()
    let conn = try broker.connect()
    _ = try createTopic(conn, "times")
    _ = try produce(conn, topic: "times", records: makeBatch(count: 10, timestamp: 1000))
    _ = try produce(conn, topic: "times", records: makeBatch(count: 10, timestamp: 5000))
    func lookUp(_ ts: Int64) throws -> (Int64, Int64)? {
      let r = try conn.roundTrip(
        ListOffsetsRequest(
          replicaId: -1,
          topics: [.init(name: "times", partitions: [.init(partitionIndex: 0, timestamp: ts)])]),
        version: 8)
      return r.topics.first?.partitions.first.map { ($0.offset, $0.timestamp) }
    }
    #expect(try lookUp(1003)?.0 == 3)
    #expect(try lookUp(4000)?.0 == 10)
    #expect(try lookUp(5009)?.0 == 19)
    #expect(try lookUp(9999)?.0 == -1)
    #expect(try lookUp(-2)?.0 == 0)
    #expect(try lookUp(-1)?.0 == 20)
    #expect(try lookUp(-3)?.1 == 5009)
    await broker.stop()
  }
}
