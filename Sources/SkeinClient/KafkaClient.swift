import KafkaProtocol
import NIOCore
import NIOPosix

/// The cluster as a client sees it: bootstrap servers, cached Metadata (brokers, topics,
/// partition leaders), and one connection per broker, opened on first use. Producer, Consumer
/// and Admin share one.
public actor KafkaClient {
  /// Settings shared by every connection and metadata lookup of a client.
  public struct Configuration: Sendable {
    public var connection = ConnectionConfiguration()
    /// Pause before retrying after a retriable error.
    public var retryBackoff: Duration = .milliseconds(100)
    /// Cached topic metadata older than this is refreshed on next use.
    public var metadataMaxAge: Duration = .seconds(300)

    public init() {}
  }

  public nonisolated let bootstrapServers: [BrokerAddress]
  public nonisolated let configuration: Configuration
  nonisolated let eventLoopGroup: any EventLoopGroup

  private var cluster = ClusterMetadata()
  private var lastRefresh: ContinuousClock.Instant?
  private var stale = false
  private var refreshInFlight: (topics: Set<String>?, task: Task<[String: ErrorCode], any Error>)?
  private var nodeConnections: [Int32: KafkaConnection] = [:]
  private var connecting: [Int32: Task<KafkaConnection, any Error>] = [:]
  private var bootstrapConnection: KafkaConnection?
  private var isClosed = false

  public init(
    bootstrapServers: [BrokerAddress], configuration: Configuration = Configuration(),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) {
    self.bootstrapServers = bootstrapServers
    self.configuration = configuration
    self.eventLoopGroup = eventLoopGroup
  }

  /// A client for a comma-separated bootstrap list such as `127.0.0.1:9092,other:9092`.
  public init(
    bootstrap: String, configuration: Configuration = Configuration(),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) throws(KafkaClientError) {
    self.init(
      bootstrapServers: try BrokerAddress.parseList(bootstrap), configuration: configuration,
      eventLoopGroup: eventLoopGroup)
  }

  /// The cached cluster view (refresh with `refreshMetadata`).
  public var metadata: ClusterMetadata { cluster }

  /// Marks cached leadership stale, so the next lookup asks the cluster again.
  public func invalidateMetadata() {
    stale = true
  }

  /// Closes every connection; later calls fail with `.closed`.
  public func close() async {
    isClosed = true
    let all = Array(nodeConnections.values) + (bootstrapConnection.map { [$0] } ?? [])
    nodeConnections.removeAll()
    bootstrapConnection = nil
    for task in connecting.values { task.cancel() }
    for connection in all { await connection.close() }
  }

  // MARK: Metadata

  /// Asks the cluster for the brokers and `topics` (nil: every topic) and merges the answer
  /// into the cache; returns the errors topics came back with. Topics already cached are
  /// refreshed along with `topics`.
  @discardableResult
  public func refreshMetadata(
    topics: [String]? = nil, allowAutoTopicCreation: Bool = false
  ) async throws -> [String: ErrorCode] {
    let wanted: Set<String>? = topics.map { Set($0).union(cluster.topics.keys) }
    if let inFlight = refreshInFlight, !allowAutoTopicCreation,
      inFlight.topics == nil || (wanted.map { $0.isSubset(of: inFlight.topics ?? []) } ?? false)
    {
      return try await inFlight.task.value
    }
    let task = Task {
      try await self.fetchMetadata(topics: wanted, autoCreate: allowAutoTopicCreation)
    }
    refreshInFlight = (wanted, task)
    defer {
      if refreshInFlight?.task == task { refreshInFlight = nil }
    }
    return try await task.value
  }

  private func fetchMetadata(
    topics: Set<String>?, autoCreate: Bool
  ) async throws -> [String: ErrorCode] {
    let connection = try await anyConnection()
    let version = try connection.version(for: .metadata)
    var request = MetadataRequest()
    if let topics {
      request.topics = topics.sorted().map { MetadataRequest.MetadataRequestTopic(name: $0) }
    } else {
      request.topics = version == 0 ? [] : nil
    }
    request.allowAutoTopicCreation = autoCreate
    let response: MetadataResponse
    do {
      response = try await connection.send(request, version: version)
    } catch {
      stale = true
      throw error
    }
    return apply(response, requested: topics)
  }

  /// Merges a Metadata response into the cache; returns per-topic errors.
  func apply(_ response: MetadataResponse, requested: Set<String>?) -> [String: ErrorCode] {
    var brokers: [Int32: BrokerInfo] = [:]
    for broker in response.brokers {
      brokers[broker.nodeId] = BrokerInfo(
        nodeId: broker.nodeId, address: BrokerAddress(host: broker.host, port: Int(broker.port)),
        rack: broker.rack)
    }
    cluster.brokers = brokers
    cluster.clusterId = response.clusterId
    cluster.controllerId = response.controllerId
    var errors: [String: ErrorCode] = [:]
    var seen: Set<String> = []
    for topic in response.topics {
      guard let name = topic.name else { continue }
      seen.insert(name)
      let code = ErrorCode(rawValue: topic.errorCode)
      if code != .none {
        errors[name] = code
        if code == .unknownTopicOrPartition || code == .invalidTopicException {
          cluster.topics[name] = nil
        }
        continue
      }
      cluster.topics[name] = TopicMetadata(
        name: name, topicId: topic.topicId, isInternal: topic.isInternal,
        partitions: topic.partitions.map {
          PartitionMetadata(
            partition: $0.partitionIndex, leader: $0.leaderId, leaderEpoch: $0.leaderEpoch,
            replicas: $0.replicaNodes, isr: $0.isrNodes, offlineReplicas: $0.offlineReplicas,
            error: ErrorCode(rawValue: $0.errorCode))
        })
    }
    // A full listing drops topics that are gone; a targeted one those it did not return.
    if requested == nil {
      cluster.topics = cluster.topics.filter { seen.contains($0.key) }
    } else {
      for name in requested ?? [] where !seen.contains(name) {
        cluster.topics[name] = nil
        errors[name] = .unknownTopicOrPartition
      }
    }
    // Connections to brokers that left the cluster or moved are closed.
    for (id, connection) in nodeConnections {
      if let broker = brokers[id], broker.address.host == connection.host,
        broker.address.port == connection.port
      {
        continue
      }
      nodeConnections[id] = nil
      Task { await connection.close() }
    }
    lastRefresh = .now
    stale = false
    return errors
  }

  /// The topic's metadata, from the cache when fresh, otherwise from the cluster. Throws
  /// `.unknownTopicOrPartition` for a topic that does not exist, and the topic's error (such as
  /// LEADER_NOT_AVAILABLE while it is being created) when it has no partitions yet.
  public func topicMetadata(
    _ topic: String, allowAutoTopicCreation: Bool = false, forceRefresh: Bool = false
  ) async throws -> TopicMetadata {
    if !forceRefresh, !isMetadataExpired, let cached = cluster.topics[topic] {
      return cached
    }
    let errors = try await refreshMetadata(
      topics: [topic], allowAutoTopicCreation: allowAutoTopicCreation)
    if let fresh = cluster.topics[topic], !fresh.partitions.isEmpty { return fresh }
    switch errors[topic] {
    case nil, .unknownTopicOrPartition?:
      throw KafkaClientError.unknownTopicOrPartition(topic)
    case let code?:
      throw KafkaClientError.broker(code, context: "topic \(topic)")
    }
  }

  private var isMetadataExpired: Bool {
    guard !stale, let lastRefresh else { return true }
    return ContinuousClock.now - lastRefresh > configuration.metadataMaxAge
  }

  /// The node id of the partition's leader; throws `.leaderNotAvailable` when it has none.
  public func leader(for partition: TopicPartition) async throws -> Int32 {
    let topic = try await topicMetadata(partition.topic)
    guard let info = topic.partition(partition.partition) else {
      throw KafkaClientError.unknownTopicOrPartition(partition.description)
    }
    guard info.leader >= 0 else {
      stale = true
      throw KafkaClientError.leaderNotAvailable(partition)
    }
    return info.leader
  }

  // MARK: Connections

  /// The connection to broker `nodeId`, opened if needed.
  public func connection(toNode nodeId: Int32) async throws -> KafkaConnection {
    guard !isClosed else { throw KafkaClientError.closed }
    if let existing = nodeConnections[nodeId], existing.isActive { return existing }
    if let pending = connecting[nodeId] { return try await pending.value }
    if cluster.brokers[nodeId] == nil {
      try await refreshMetadata()
    }
    guard let broker = cluster.brokers[nodeId] else {
      throw KafkaClientError.noBrokerAvailable("node \(nodeId) is not in the cluster metadata")
    }
    let configuration = configuration.connection
    let group = eventLoopGroup
    let task = Task {
      try await KafkaConnection.connect(
        host: broker.address.host, port: broker.address.port, configuration: configuration,
        eventLoopGroup: group)
    }
    connecting[nodeId] = task
    defer { connecting[nodeId] = nil }
    do {
      let connection = try await task.value
      if isClosed {
        await connection.close()
        throw KafkaClientError.closed
      }
      nodeConnections[nodeId] = connection
      return connection
    } catch {
      stale = true
      throw error
    }
  }

  /// The connection to the partition's leader.
  public func leaderConnection(for partition: TopicPartition) async throws -> KafkaConnection {
    try await connection(toNode: leader(for: partition))
  }

  /// A connection to the controller as Metadata names it (in KRaft, a broker that forwards to
  /// the controller), or to any broker when none is named.
  public func controllerConnection() async throws -> KafkaConnection {
    if cluster.controllerId < 0 || isMetadataExpired {
      _ = try? await refreshMetadata(topics: [])
    }
    let controller = cluster.controllerId
    if controller >= 0, cluster.brokers[controller] != nil,
      let connection = try? await connection(toNode: controller)
    {
      return connection
    }
    return try await anyConnection()
  }

  /// Any live connection: an open one if there is one, else a known broker, else a
  /// bootstrap server.
  public func anyConnection() async throws -> KafkaConnection {
    guard !isClosed else { throw KafkaClientError.closed }
    if let open = nodeConnections.values.first(where: { $0.isActive }) { return open }
    if let bootstrapConnection, bootstrapConnection.isActive { return bootstrapConnection }
    var failures: [String] = []
    for address in bootstrapServers {
      do {
        let connection = try await KafkaConnection.connect(
          host: address.host, port: address.port, configuration: configuration.connection,
          eventLoopGroup: eventLoopGroup)
        if isClosed {
          await connection.close()
          throw KafkaClientError.closed
        }
        if let previous = bootstrapConnection, previous.isActive {
          await connection.close()
          return previous
        }
        bootstrapConnection = connection
        return connection
      } catch let error as KafkaClientError {
        if case .closed = error { throw error }
        failures.append("\(error)")
      }
    }
    for id in cluster.brokers.keys.sorted() {
      if let connection = try? await connection(toNode: id) { return connection }
    }
    throw KafkaClientError.noBrokerAvailable(failures.joined(separator: "; "))
  }

  /// Sends `request` to the leader of `partition` at the negotiated version.
  public func sendToLeader<R: KafkaRequestMessage>(
    _ request: R, partition: TopicPartition, timeout: Duration? = nil
  ) async throws -> R.Response {
    let connection = try await leaderConnection(for: partition)
    return try await connection.send(request, timeout: timeout)
  }
}
