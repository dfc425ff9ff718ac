import KafkaProtocol

/// A topic to create. -1 partitions or replication factor means the broker's default
/// (CreateTopics v4+).
public struct NewTopic: Sendable, Hashable {
  public var name: String
  public var partitions: Int32
  public var replicationFactor: Int16
  public var configs: [String: String]

  public init(
    name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1,
    configs: [String: String] = [:]
  ) {
    self.name = name
    self.partitions = partitions
    self.replicationFactor = replicationFactor
    self.configs = configs
  }
}

/// A created (or, with validateOnly, validated) topic as the broker reports it.
public struct CreatedTopic: Sendable, Hashable {
  public var name: String
  public var topicId: KafkaUuid
  /// -1 when the broker did not say (CreateTopics before v5).
  public var partitions: Int32
  public var replicationFactor: Int16
}

/// Kinds of config resources (DescribeConfigs / IncrementalAlterConfigs `resource_type`).
public enum ConfigResourceType: Int8, Sendable, Hashable {
  case topic = 2
  case broker = 4
  case brokerLogger = 8
}

/// A topic or broker whose configuration is described or altered. Brokers are named by node id.
public struct ConfigResource: Sendable, Hashable {
  public var type: ConfigResourceType
  public var name: String

  public init(type: ConfigResourceType, name: String) {
    self.type = type
    self.name = name
  }

  public static func topic(_ name: String) -> ConfigResource { .init(type: .topic, name: name) }
  public static func broker(_ id: Int32) -> ConfigResource { .init(type: .broker, name: "\(id)") }
}

/// Where a config value comes from (Kafka's `ConfigSource`).
public enum ConfigSource: Int8, Sendable, Hashable {
  case unknown = 0
  case dynamicTopicConfig = 1
  case dynamicBrokerConfig = 2
  case dynamicDefaultBrokerConfig = 3
  case staticBrokerConfig = 4
  case defaultConfig = 5
  case dynamicBrokerLoggerConfig = 6
  case clientMetricsConfig = 7
  case groupConfig = 8

  /// Kafka's name, such as `DYNAMIC_TOPIC_CONFIG`.
  public var name: String {
    switch self {
    case .unknown: "UNKNOWN"
    case .dynamicTopicConfig: "DYNAMIC_TOPIC_CONFIG"
    case .dynamicBrokerConfig: "DYNAMIC_BROKER_CONFIG"
    case .dynamicDefaultBrokerConfig: "DYNAMIC_DEFAULT_BROKER_CONFIG"
    case .staticBrokerConfig: "STATIC_BROKER_CONFIG"
    case .defaultConfig: "DEFAULT_CONFIG"
    case .dynamicBrokerLoggerConfig: "DYNAMIC_BROKER_LOGGER_CONFIG"
    case .clientMetricsConfig: "CLIENT_METRICS_CONFIG"
    case .groupConfig: "GROUP_CONFIG"
    }
  }
}

/// One config entry of a resource.
public struct ConfigEntry: Sendable, Hashable {
  public var name: String
  /// nil for sensitive values and unset ones.
  public var value: String?
  public var source: ConfigSource
  public var isReadOnly: Bool
  public var isSensitive: Bool

  public init(
    name: String, value: String?, source: ConfigSource, isReadOnly: Bool = false,
    isSensitive: Bool = false
  ) {
    self.name = name
    self.value = value
    self.source = source
    self.isReadOnly = isReadOnly
    self.isSensitive = isSensitive
  }

  /// Whether the value is the default (not set on the resource or broker).
  public var isDefault: Bool { source == .defaultConfig }
}

/// One change of an IncrementalAlterConfigs request.
public enum AlterConfigOp: Sendable, Hashable {
  case set(String, String)
  /// Back to the default.
  case delete(String)
  /// Adds to a list config.
  case append(String, String)
  /// Removes from a list config.
  case subtract(String, String)

  var wire: IncrementalAlterConfigsRequest.AlterableConfig {
    switch self {
    case .set(let name, let value): .init(name: name, configOperation: 0, value: value)
    case .delete(let name): .init(name: name, configOperation: 1, value: nil)
    case .append(let name, let value): .init(name: name, configOperation: 2, value: value)
    case .subtract(let name, let value): .init(name: name, configOperation: 3, value: value)
    }
  }
}

/// Topic and config administration over a `KafkaClient`: create, delete, list and describe
/// topics, add partitions, describe and alter configs. Each call throws the broker's error
/// for the first resource that failed.
public struct Admin: Sendable {
  public let client: KafkaClient
  /// How long the broker may take (CreateTopics, DeleteTopics and CreatePartitions
  /// `timeout_ms`).
  public var operationTimeout: Duration

  public init(client: KafkaClient, operationTimeout: Duration = .seconds(30)) {
    self.client = client
    self.operationTimeout = operationTimeout
  }

  /// Creates topics (or only validates the request with `validateOnly`).
  @discardableResult
  public func createTopics(
    _ topics: [NewTopic], validateOnly: Bool = false
  ) async throws -> [CreatedTopic] {
    let response = try await withController { connection in
      let version = try connection.version(for: .createTopics)
      if validateOnly, version < 1 {
        throw KafkaClientError.unsupported("validate-only topic creation (CreateTopics v0)")
      }
      var request = CreateTopicsRequest()
      request.timeoutMs = Int32(clamping: operationTimeout.milliseconds)
      request.validateOnly = validateOnly
      request.topics = try topics.map { topic in
        if version < 4, topic.partitions < 0 || topic.replicationFactor < 0 {
          throw KafkaClientError.invalidArgument(
            "the broker needs explicit partitions and replication factor for \(topic.name)")
        }
        return CreateTopicsRequest.CreatableTopic(
          name: topic.name, numPartitions: topic.partitions,
          replicationFactor: topic.replicationFactor,
          configs: topic.configs.keys.sorted().map {
            CreateTopicsRequest.CreatableTopicConfig(name: $0, value: topic.configs[$0])
          })
      }
      let response = try await connection.send(
        request, version: version, timeout: connectionTimeout(connection))
      try Self.checkController(response.topics.map(\.errorCode))
      return response
    }
    await client.invalidateMetadata()
    var created: [CreatedTopic] = []
    for result in response.topics {
      try KafkaClientError.check(
        result.errorCode, "create topic \(result.name)", message: result.errorMessage)
      created.append(
        CreatedTopic(
          name: result.name, topicId: result.topicId, partitions: result.numPartitions,
          replicationFactor: result.replicationFactor))
    }
    return created
  }

  /// Creates one topic.
  @discardableResult
  public func createTopic(
    _ name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1,
    configs: [String: String] = [:], validateOnly: Bool = false
  ) async throws -> CreatedTopic {
    let created = try await createTopics(
      [
        NewTopic(
          name: name, partitions: partitions, replicationFactor: replicationFactor,
          configs: configs)
      ], validateOnly: validateOnly)
    guard let topic = created.first(where: { $0.name == name }) else {
      throw KafkaClientError.malformedResponse("CreateTopics response does not name \(name)")
    }
    return topic
  }

  /// Deletes topics by name.
  public func deleteTopics(_ names: [String]) async throws {
    let response = try await withController { connection in
      var request = DeleteTopicsRequest()
      request.timeoutMs = Int32(clamping: operationTimeout.milliseconds)
      request.topicNames = names
      request.topics = names.map { DeleteTopicsRequest.DeleteTopicState(name: $0) }
      let response = try await connection.send(request, timeout: connectionTimeout(connection))
      try Self.checkController(response.responses.map(\.errorCode))
      return response
    }
    await client.invalidateMetadata()
    for result in response.responses {
      try KafkaClientError.check(
        result.errorCode, "delete topic \(result.name ?? result.topicId.description)",
        message: result.errorMessage)
    }
  }

  /// Every topic in the cluster, sorted by name.
  public func listTopics(includeInternal: Bool = true) async throws -> [TopicMetadata] {
    try await client.refreshMetadata(topics: nil)
    return await client.metadata.topics.values
      .filter { includeInternal || !$0.isInternal }
      .sorted { $0.name < $1.name }
  }

  /// A topic's id and partitions (leader, replicas, ISR), fresh from the cluster.
  public func describeTopic(_ name: String) async throws -> TopicMetadata {
    try await client.topicMetadata(name, forceRefresh: true)
  }

  /// Grows a topic to `totalCount` partitions.
  public func createPartitions(
    _ topic: String, totalCount: Int32, validateOnly: Bool = false
  ) async throws {
    let response = try await withController { connection in
      var request = CreatePartitionsRequest()
      request.timeoutMs = Int32(clamping: operationTimeout.milliseconds)
      request.validateOnly = validateOnly
      request.topics = [
        CreatePartitionsRequest.CreatePartitionsTopic(
          name: topic, count: totalCount, assignments: nil)
      ]
      let response = try await connection.send(request, timeout: connectionTimeout(connection))
      try Self.checkController(response.results.map(\.errorCode))
      return response
    }
    await client.invalidateMetadata()
    for result in response.results {
      try KafkaClientError.check(
        result.errorCode, "create partitions for \(result.name)", message: result.errorMessage)
    }
  }

  /// A resource's config entries: all of them, or only `keys`.
  public func describeConfigs(
    _ resource: ConfigResource, keys: [String]? = nil
  ) async throws -> [ConfigEntry] {
    let connection = try await connection(for: resource)
    let version = try connection.version(for: .describeConfigs)
    var request = DescribeConfigsRequest()
    request.resources = [
      DescribeConfigsRequest.DescribeConfigsResource(
        resourceType: resource.type.rawValue, resourceName: resource.name,
        configurationKeys: keys)
    ]
    let response = try await connection.send(request, version: version)
    guard
      let result = response.results.first(where: {
        $0.resourceType == resource.type.rawValue && $0.resourceName == resource.name
      }) ?? response.results.first
    else {
      throw KafkaClientError.malformedResponse("DescribeConfigs response has no result")
    }
    try KafkaClientError.check(
      result.errorCode, "describe configs of \(resource.name)", message: result.errorMessage)
    return result.configs.map { config in
      let source: ConfigSource
      if version == 0 {
        source = config.isDefault ? .defaultConfig : .unknown
      } else {
        source = ConfigSource(rawValue: config.configSource) ?? .unknown
      }
      return ConfigEntry(
        name: config.name, value: config.value, source: source, isReadOnly: config.readOnly,
        isSensitive: config.isSensitive)
    }
  }

  /// Applies config changes to a resource, leaving other entries as they are.
  public func incrementalAlterConfigs(
    _ resource: ConfigResource, _ operations: [AlterConfigOp], validateOnly: Bool = false
  ) async throws {
    let connection = try await connection(for: resource)
    var request = IncrementalAlterConfigsRequest()
    request.validateOnly = validateOnly
    request.resources = [
      IncrementalAlterConfigsRequest.AlterConfigsResource(
        resourceType: resource.type.rawValue, resourceName: resource.name,
        configs: operations.map(\.wire))
    ]
    let response = try await connection.send(request)
    for result in response.responses {
      try KafkaClientError.check(
        result.errorCode, "alter configs of \(result.resourceName)",
        message: result.errorMessage)
    }
  }

  // MARK: Routing

  /// Broker resources go to that broker; others to any broker.
  private func connection(for resource: ConfigResource) async throws -> KafkaConnection {
    if resource.type != .topic, let node = Int32(resource.name) {
      return try await client.connection(toNode: node)
    }
    return try await client.anyConnection()
  }

  private func connectionTimeout(_ connection: KafkaConnection) -> Duration {
    connection.configuration.requestTimeout + operationTimeout
  }

  /// Throws NOT_CONTROLLER when any result carries it, so `withController` retries.
  private static func checkController(_ codes: [Int16]) throws(KafkaClientError) {
    if codes.contains(ErrorCode.notController.rawValue) {
      throw .broker(.notController, context: "controller request")
    }
  }

  /// Runs `body` against the controller, retrying with fresh metadata when the broker says
  /// it is not the controller (or the connection fails).
  private func withController<T: Sendable>(
    _ body: (KafkaConnection) async throws -> T
  ) async throws -> T {
    var attempt = 0
    while true {
      attempt += 1
      do {
        let connection = try await client.controllerConnection()
        return try await body(connection)
      } catch let error as KafkaClientError where attempt < 3 {
        switch error {
        case .broker(.notController, _, _), .connectionClosed, .connectionFailed:
          await client.invalidateMetadata()
          try await Task.sleep(for: client.configuration.retryBackoff)
        default:
          throw error
        }
      }
    }
  }
}
