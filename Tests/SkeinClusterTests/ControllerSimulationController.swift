import KafkaProtocol

@testable import SkeinCluster

/// The controller: the decisions under test, the metadata log as an array (offset = index)
/// and the heartbeat tracker, with the invariant checker watching every record.
struct SimulatedController {
  let settings: SimulationSettings
  let uncleanTopics: Set<String>
  let decisions = ControllerDecisions(validateConfigs: { _ in nil })
  var image = MetadataImage()
  var log: [MetadataRecord] = []
  var tracker = BrokerHeartbeatTracker()
  var checker: InvariantChecker
  var topicsCreated = false
  var nextPeriodicMs: Int64 = 5000

  init(settings: SimulationSettings, uncleanTopics: Set<String>) {
    self.settings = settings
    self.uncleanTopics = uncleanTopics
    checker = InvariantChecker(uncleanTopics: uncleanTopics)
  }

  mutating func append(_ records: [MetadataRecord], stats: inout SimulationStats)
    throws(InvariantViolation)
  {
    guard !records.isEmpty else { return }
    for record in records {
      let before = image
      image.apply(record)
      log.append(record)
      try checker.check(record, before: before, after: image, stats: &stats)
    }
    try checker.checkImage(image)
  }

  /// A controller restart: the image is rebuilt from the durable log and the heartbeat
  /// tracker starts over, giving every unfenced broker a new session.
  mutating func restart(now: Int64) {
    image = MetadataImage()
    for record in log { image.apply(record) }
    tracker = BrokerHeartbeatTracker(image: image, nowMs: now)
  }

  mutating func tick(now: Int64, stats: inout SimulationStats) throws(InvariantViolation) {
    for id in tracker.expired(nowMs: now, sessionTimeoutMs: settings.sessionTimeoutMs) {
      try append(decisions.fenceBroker(id, image: image), stats: &stats)
      tracker.remove(id)
    }
    if !topicsCreated && image.brokers.values.filter(\.isActive).count >= 3 {
      topicsCreated = true
      for (name, partitions, rf) in [("a", 4, 3), ("b", 3, 2), ("c", 2, 3)] {
        let records = decisions.createTopic(
          name: name, partitions: Int32(partitions), replicationFactor: Int16(rf), configs: [:],
          image: image, topicId: KafkaUuid(high: 7, low: UInt64(name.utf8.first ?? 0)))
        guard case .success(let created) = records else {
          throw InvariantViolation(message: "topic \(name) not created: \(records)")
        }
        try append(created, stats: &stats)
      }
    }
    if now >= nextPeriodicMs {
      nextPeriodicMs = now + 5000
      try append(decisions.balancePartitionLeaders(image: image, maxElections: 5), stats: &stats)
      try append(
        decisions.uncleanElections(image: image, uncleanEnabled: uncleanTopics.contains),
        stats: &stats)
    }
  }

  mutating func handle(
    _ message: ControllerSimulation.Message, from broker: Int32, now: Int64,
    stats: inout SimulationStats
  ) throws(InvariantViolation) -> ControllerSimulation.Message? {
    switch message {
    case .register(let request):
      let result = decisions.registerBroker(
        request, brokerEpoch: Int64(log.count), clusterId: "sim", nowMs: now, tracker: tracker,
        sessionTimeoutMs: settings.sessionTimeoutMs, image: image)
      switch result {
      case .success(let records):
        let epoch = Int64(log.count)
        try append(records, stats: &stats)
        tracker.touch(brokerId: request.brokerId, nowMs: now)
        return .registered(.success(epoch))
      case .failure(let error):
        if error.code == .duplicateBrokerRegistration { stats.duplicateRegistrations += 1 }
        return .registered(.failure(error))
      }
    case .heartbeat(let request):
      let result = decisions.brokerHeartbeat(request, nowMs: now, image: image)
      if case .success(let outcome) = result {
        try append(outcome.records, stats: &stats)
        tracker.touch(brokerId: request.brokerId, nowMs: now)
        if outcome.shouldShutDown
          && outcome.records.contains(where: {
            if case .fenceBroker = $0 { return true } else { return false }
          })
        {
          stats.controlledShutdowns += 1
        }
      } else {
        stats.staleHeartbeats += 1
      }
      return .heartbeatAnswer(brokerEpoch: request.brokerEpoch, result)
    case .alterPartition(let request, let version):
      let before = image
      let (response, records) = decisions.alterPartition(request, version: version, image: image)
      try checker.checkAlterPartition(request, version: version, response: response, before: before)
      for topic in response.topics {
        for p in topic.partitions {
          if p.errorCode == 0 {
            stats.alterPartitionAccepted += 1
          } else {
            stats.alterPartitionRefused += 1
          }
        }
      }
      try append(records, stats: &stats)
      return .alterPartitionAnswer(response)
    case .fetchMetadata(let from):
      guard from <= log.count else { return nil }
      return .metadata(from: from, records: Array(log[from..<min(log.count, from + 100)]))
    case .registered, .heartbeatAnswer, .alterPartitionAnswer, .metadata:
      return nil
    }
  }
}
