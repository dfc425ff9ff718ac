import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

/// Starts a fake broker, runs `body`, and stops the broker whatever happens.
func withFakeBroker(_ body: (FakeBroker) async throws -> Void) async throws {
  let broker = FakeBroker()
  try await broker.start()
  do {
    try await body(broker)
  } catch {
    await broker.stop()
    throw error
  }
  await broker.stop()
}

private func connect(
  _ broker: FakeBroker, requestTimeout: Duration = .seconds(10)
) async throws -> KafkaConnection {
  var configuration = ConnectionConfiguration()
  configuration.clientId = "test-client"
  configuration.requestTimeout = requestTimeout
  return try await KafkaConnection.connect(
    host: "127.0.0.1", port: broker.port, configuration: configuration)
}

private func metadataRequest(_ topics: [String]) -> MetadataRequest {
  MetadataRequest(
    topics: topics.map { MetadataRequest.MetadataRequestTopic(name: $0) },
    allowAutoTopicCreation: false)
}

@Suite struct KafkaConnectionTests {
  @Test func framesRequestHeaderV2ForFlexibleVersions() {
    let request = ApiVersionsRequest(clientSoftwareName: "a", clientSoftwareVersion: "b")
    let frame = KafkaConnection.encodeFrame(
      request, version: 3, clientId: "cl", allocator: ByteBufferAllocator())
    let bytes = Array(frame.readableBytesView)
    let expected: [UInt8] =
      [0, 0, 0, 18]  // length of what follows
      + [0, 18, 0, 3]  // api key 18, version 3
      + [0, 0, 0, 0]  // correlation id, stamped later by the channel handler
      + [0, 2, 99, 108]  // client id "cl" (int16 length even in header v2)
      + [0]  // header tagged fields
      + [2, 97, 2, 98]  // compact strings "a" and "b"
      + [0]  // body tagged fields
    #expect(bytes == expected)
  }

  @Test func framesRequestHeaderV1ForOlderVersions() {
    let frame = KafkaConnection.encodeFrame(
      MetadataRequest(topics: nil, allowAutoTopicCreation: true), version: 4, clientId: nil,
      allocator: ByteBufferAllocator())
    let bytes = Array(frame.readableBytesView)
    let expected: [UInt8] =
      [0, 0, 0, 15] + [0, 3, 0, 4] + [0, 0, 0, 0] + [0xFF, 0xFF]  // null client id
      + [0xFF, 0xFF, 0xFF, 0xFF]  // null topics: all
      + [1]  // allow auto topic creation
    #expect(bytes == expected)
  }

  @Test func negotiatesTheHighestCommonVersion() async throws {
    try await withFakeBroker { broker in
      broker.apiVersions = [
        .apiVersions: 0...3, .metadata: 0...9, .fetch: 0...20, .produce: 0...2,
      ]
      let connection = try await connect(broker)
      defer { Task { await connection.close() } }
      #expect(connection.apiVersions[.apiVersions] == 3)
      #expect(connection.apiVersions[.metadata] == 9)
      // The client caps at what it implements: Fetch 17; Produce needs v3+.
      #expect(connection.apiVersions[.fetch] == 17)
      #expect(connection.apiVersions[.produce] == nil)
      #expect(connection.brokerApiVersions[.produce] == 0...2)
      await #expect(throws: KafkaClientError.self) {
        try await connection.send(ProduceRequest())
      }
      let response = try await connection.send(metadataRequest([]))
      #expect(response.controllerId == 1)
      let header = try #require(broker.receivedRequests.last)
      #expect(header.requestApiVersion == 9)
      #expect(header.clientId == "test-client")
    }
  }

  @Test func retriesApiVersionsAtTheBrokersVersion() async throws {
    try await withFakeBroker { broker in
      broker.apiVersions = [.apiVersions: 0...2, .metadata: 0...12]
      let connection = try await connect(broker)
      defer { Task { await connection.close() } }
      let versions = broker.receivedRequests.map(\.requestApiVersion)
      #expect(versions == [4, 2])
      #expect(connection.apiVersions[.metadata] == 12)
    }
  }

  @Test func correlatesPipelinedResponsesInAnyOrder() async throws {
    try await withFakeBroker { broker in
      broker.createTopic("a", partitions: 1)
      broker.createTopic("b", partitions: 2)
      broker.createTopic("c", partitions: 3)
      let connection = try await connect(broker)
      defer { Task { await connection.close() } }
      // Answers are held until three requests arrived, then written last one first.
      broker.reverseEvery = 3
      try await withThrowingTaskGroup(of: (String, Int).self) { group in
        for name in ["a", "b", "c"] {
          group.addTask {
            let response = try await connection.send(metadataRequest([name]))
            let topic = try #require(response.topics.first)
            return (topic.name ?? "", topic.partitions.count)
          }
        }
        var seen: [String: Int] = [:]
        for try await (name, count) in group { seen[name] = count }
        #expect(seen == ["a": 1, "b": 2, "c": 3])
      }
      let ids = broker.receivedRequests.map(\.correlationId)
      #expect(Set(ids).count == ids.count)
    }
  }

  @Test func timedOutRequestFailsAndClosesTheConnection() async throws {
    try await withFakeBroker { broker in
      broker.override = { header, _ in header.requestApiKey == 3 ? .noResponse : nil }
      let connection = try await connect(broker, requestTimeout: .milliseconds(200))
      let started = ContinuousClock.now
      do {
        _ = try await connection.send(metadataRequest([]))
        Issue.record("expected a timeout")
      } catch let error as KafkaClientError {
        guard case .requestTimedOut(let api, _, let timeoutMs) = error else {
          Issue.record("unexpected \(error)")
          return
        }
        #expect(api == .metadata)
        #expect(timeoutMs == 200)
        #expect(error.isRetriable)
      }
      #expect(ContinuousClock.now - started < .seconds(5))
      try await Task.sleep(for: .milliseconds(50))
      #expect(!connection.isActive)
      await #expect(throws: KafkaClientError.self) {
        try await connection.send(metadataRequest([]))
      }
    }
  }

  @Test func closedConnectionFailsPendingRequests() async throws {
    try await withFakeBroker { broker in
      broker.override = { header, _ in header.requestApiKey == 3 ? .close : nil }
      let connection = try await connect(broker)
      do {
        _ = try await connection.send(metadataRequest([]))
        Issue.record("expected a failure")
      } catch let error as KafkaClientError {
        guard case .connectionClosed = error else {
          Issue.record("unexpected \(error)")
          return
        }
        #expect(error.errorCode == .networkException)
      }
    }
  }

  @Test func rejectsOversizedAndUnknownFrames() async throws {
    try await withFakeBroker { broker in
      var huge = ByteBuffer()
      huge.writeInteger(Int32.max)
      huge.writeInteger(Int32(0))
      let hugeFrame = huge
      broker.override = { header, _ in header.requestApiKey == 3 ? .raw(hugeFrame) : nil }
      let connection = try await connect(broker)
      await #expect(throws: KafkaClientError.self) {
        try await connection.send(metadataRequest([]))
      }
      #expect(!connection.isActive)
    }
    try await withFakeBroker { broker in
      var stray = ByteBuffer()
      stray.writeInteger(Int32(4))
      stray.writeInteger(Int32(12_345))
      let strayFrame = stray
      broker.override = { header, _ in header.requestApiKey == 3 ? .raw(strayFrame) : nil }
      let connection = try await connect(broker)
      await #expect(throws: KafkaClientError.self) {
        try await connection.send(metadataRequest([]))
      }
    }
  }

  @Test func malformedBodyIsAnErrorNotACrash() async throws {
    try await withFakeBroker { broker in
      broker.override = { header, _ in
        guard header.requestApiKey == 3 else { return nil }
        var frame = ByteBuffer()
        frame.writeInteger(Int32(7))
        frame.writeInteger(header.correlationId)
        frame.writeBytes([0, 0, 0])  // a Metadata body cut short
        return .raw(frame)
      }
      let connection = try await connect(broker)
      defer { Task { await connection.close() } }
      do {
        _ = try await connection.send(metadataRequest([]), version: 4)
        Issue.record("expected a decode failure")
      } catch let error as KafkaClientError {
        guard case .malformedResponse = error else {
          Issue.record("unexpected \(error)")
          return
        }
      }
    }
  }

  @Test func connectFailureNamesTheAddress() async throws {
    let broker = FakeBroker()
    try await broker.start()
    let port = broker.port
    await broker.stop()
    do {
      _ = try await KafkaConnection.connect(host: "127.0.0.1", port: port)
      Issue.record("expected a connection failure")
    } catch let error as KafkaClientError {
      guard case .connectionFailed(let address, _) = error else {
        Issue.record("unexpected \(error)")
        return
      }
      #expect(address == "127.0.0.1:\(port)")
    }
  }

  @Test func parsesBootstrapLists() throws {
    #expect(
      try BrokerAddress.parseList("a:1, b:9093,[::1]:9094,c")
        == [
          BrokerAddress(host: "a", port: 1), BrokerAddress(host: "b", port: 9093),
          BrokerAddress(host: "::1", port: 9094), BrokerAddress(host: "c", port: 9092),
        ])
    #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList("") }
    #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList("a:0") }
    #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList("a:x") }
    #expect(throws: KafkaClientError.self) { try BrokerAddress.parseList(":9092") }
    #expect(BrokerAddress(host: "::1", port: 1).description == "[::1]:1")
  }

  @Test func errorsReadWell() {
    let error = KafkaClientError.broker(
      .topicAlreadyExists, context: "create topic t", message: "Topic 't' already exists.")
    #expect(
      error.description
        == "create topic t: TOPIC_ALREADY_EXISTS (error 36): Topic 't' already exists.")
    #expect(ErrorCode.notLeaderOrFollower.kafkaName == "NOT_LEADER_OR_FOLLOWER")
    #expect(ErrorCode(rawValue: 999).kafkaName == "UNKNOWN_ERROR_CODE(999)")
    #expect(ErrorCode.notLeaderOrFollower.isRetriable)
    #expect(!ErrorCode.topicAlreadyExists.isRetriable)
  }
}
