import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinClient

@Suite struct AdminTests {
  @Test func createsDescribesListsAndDeletesTopics() async throws {
    try await withCluster { broker, client in
      let admin = Admin(client: client)
      let created = try await admin.createTopic(
        "orders", partitions: 3, replicationFactor: 1, configs: ["retention.ms": "1000"])
      #expect(created.name == "orders")
      #expect(created.partitions == 3)
      #expect(created.topicId != .zero)
      #expect(broker.configs("orders") == ["retention.ms": "1000"])

      try await admin.createTopic("audit", partitions: 1)
      #expect(try await admin.listTopics().map(\.name) == ["audit", "orders"])

      let description = try await admin.describeTopic("orders")
      #expect(description.partitions.map(\.partition) == [0, 1, 2])
      #expect(description.partitions.allSatisfy { $0.leader == 1 && $0.replicas == [1] })
      #expect(description.topicId == created.topicId)

      try await admin.deleteTopics(["audit"])
      #expect(broker.topicNames() == ["orders"])
      #expect(try await admin.listTopics().map(\.name) == ["orders"])
    }
  }

  @Test func reportsBrokerErrorsWithTheirCodes() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 2)
      let admin = Admin(client: client)
      do {
        try await admin.createTopic("t", partitions: 1)
        Issue.record("expected TOPIC_ALREADY_EXISTS")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .topicAlreadyExists)
        #expect(error.description.contains("already exists"))
      }
      do {
        try await admin.deleteTopics(["nope"])
        Issue.record("expected UNKNOWN_TOPIC_OR_PARTITION")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .unknownTopicOrPartition)
      }
      do {
        try await admin.createPartitions("t", totalCount: 1)
        Issue.record("expected INVALID_PARTITIONS")
      } catch let error as KafkaClientError {
        #expect(error.errorCode == .invalidPartitions)
      }
      await #expect(throws: KafkaClientError.self) { try await admin.describeTopic("nope") }
    }
  }

  @Test func validateOnlyCreatesNothing() async throws {
    try await withCluster { broker, client in
      let admin = Admin(client: client)
      let validated = try await admin.createTopic("t", partitions: 4, validateOnly: true)
      #expect(validated.partitions == 4)
      #expect(broker.topicNames().isEmpty)
    }
  }

  @Test func growsPartitions() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1)
      let admin = Admin(client: client)
      _ = try await admin.describeTopic("t")
      try await admin.createPartitions("t", totalCount: 3)
      #expect(broker.partitionCount("t") == 3)
      // The client's cached view follows.
      #expect(try await client.topicMetadata("t").partitionCount == 3)
    }
  }

  @Test func describesAndAltersConfigs() async throws {
    try await withCluster { broker, client in
      broker.createTopic("t", partitions: 1, configs: ["retention.ms": "5"])
      let admin = Admin(client: client)
      let configs = try await admin.describeConfigs(.topic("t"))
      #expect(
        configs == [
          ConfigEntry(name: "retention.ms", value: "5", source: .dynamicTopicConfig),
          ConfigEntry(name: "cleanup.policy", value: "delete", source: .defaultConfig),
        ])
      #expect(configs[1].isDefault)
      try await admin.incrementalAlterConfigs(
        .topic("t"), [.set("cleanup.policy", "compact"), .delete("retention.ms")])
      #expect(broker.configs("t") == ["cleanup.policy": "compact"])
      let only = try await admin.describeConfigs(.topic("t"), keys: ["cleanup.policy"])
      #expect(only.map(\.value) == ["compact"])
      await #expect(throws: KafkaClientError.self) {
        try await admin.describeConfigs(.topic("missing"))
      }
    }
  }

  @Test func followsTheControllerWhenToldNotController() async throws {
    try await withCluster { broker, client in
      let answered = Counter()
      broker.override = { header, _ in
        guard header.requestApiKey == ApiKey.createTopics.rawValue, answered.next() == 0 else {
          return nil
        }
        var response = CreateTopicsResponse()
        response.topics = [
          CreateTopicsResponse.CreatableTopicResult(
            name: "t", errorCode: ErrorCode.notController.rawValue)
        ]
        var body = ByteBuffer()
        response.encode(to: &body, version: header.requestApiVersion)
        return .body(body)
      }
      try await Admin(client: client).createTopic("t", partitions: 1)
      #expect(broker.topicNames() == ["t"])
      #expect(answered.value == 2)
    }
  }
}

/// A thread-safe counter for fake-broker hooks.
final class Counter: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0

  /// Returns the current count, then increments it.
  func next() -> Int {
    lock.withLock {
      defer { count += 1 }
      return count
    }
  }

  var value: Int { lock.withLock { count } }
}
