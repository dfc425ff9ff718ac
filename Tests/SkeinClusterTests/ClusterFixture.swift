import KafkaProtocol

@testable import SkeinCluster

/// A cluster image built the way the controller builds it, for the decision tests.
struct ClusterFixture {
  let decisions = ControllerDecisions(validateConfigs: { _ in nil })
  var image = MetadataImage()
  /// The metadata log offset the next record gets (broker epochs are registration offsets).
  var nextOffset: Int64 = 0

  init() {}

  /// Brokers started, and topic "t" with these replica assignments.
  init(brokers: [Int32], t assignments: [[Int32]]) {
    start(brokers)
    _ = createTopic("t", assignments)
  }

  mutating func apply(_ records: [MetadataRecord]) {
    for r in records { image.apply(r) }
    nextOffset += Int64(records.count)
  }

  static func incarnation(_ id: Int32, _ generation: UInt64 = 1) -> KafkaUuid {
    KafkaUuid(high: UInt64(id) + 1, low: generation)
  }

  static func registration(_ id: Int32, rack: String? = nil, generation: UInt64 = 1)
    -> BrokerRegistrationRequest
  {
    BrokerRegistrationRequest(
      brokerId: id, clusterId: "c1", incarnationId: incarnation(id, generation),
      listeners: [.init(name: "PLAINTEXT", host: "h\(id)", port: 9092, securityProtocol: 0)],
      rack: rack)
  }

  /// Registers brokers and unfences them by heartbeats, as a starting cluster does.
  mutating func start(_ ids: [Int32]) {
    for id in ids {
      let records = try? decisions.registerBroker(
        Self.registration(id), brokerEpoch: nextOffset, clusterId: "c1", nowMs: 0,
        tracker: BrokerHeartbeatTracker(), sessionTimeoutMs: 9000, image: image
      ).get()
      apply(records ?? [])
    }
    for id in ids { heartbeat(id) }
  }

  @discardableResult
  mutating func heartbeat(
    _ id: Int32, wantFence: Bool = false, wantShutDown: Bool = false, offset: Int64? = nil
  ) -> Result<BrokerHeartbeatOutcome, ControllerError> {
    let request = BrokerHeartbeatRequest(
      brokerId: id, brokerEpoch: image.brokers[id]?.epoch ?? -1,
      currentMetadataOffset: offset ?? (nextOffset - 1), wantFence: wantFence,
      wantShutDown: wantShutDown)
    let result = decisions.brokerHeartbeat(request, nowMs: 0, image: image)
    if case .success(let outcome) = result { apply(outcome.records) }
    return result
  }

  /// Creates a topic with explicit replica assignments.
  mutating func createTopic(_ name: String, _ assignments: [[Int32]]) -> KafkaUuid {
    let id = KafkaUuid(high: 99, low: UInt64(image.topics.count))
    var byPartition: [Int32: [Int32]] = [:]
    for (p, replicas) in assignments.enumerated() { byPartition[Int32(p)] = replicas }
    let records = try? decisions.createTopic(
      name: name, partitions: -1, replicationFactor: -1, assignments: byPartition, configs: [:],
      image: image, topicId: id
    ).get()
    apply(records ?? [])
    return id
  }

  func partition(_ topic: String, _ p: Int32) -> PartitionInfo? {
    image.partition(TopicPartition(topic, p))
  }

  /// Sets a partition's ISR directly (a committed AlterPartition).
  mutating func setIsr(_ topic: String, _ p: Int32, _ isr: [Int32]) {
    guard let id = image.topicId(of: topic) else { return }
    apply([.partitionChange(PartitionChangeRecord(partitionId: p, topicId: id, isr: isr))])
  }
}
