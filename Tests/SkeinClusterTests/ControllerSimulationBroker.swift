import KafkaProtocol

@testable import SkeinCluster

/// A broker as the controller sees it: it registers, heartbeats, follows the metadata log a
/// little behind, and, as a leader, proposes ISR changes from its possibly stale view.
struct SimulatedBroker {
  enum State: Equatable {
    case running
    case down(untilMs: Int64)
    case paused(untilMs: Int64)
  }

  let id: Int32
  let rack: String
  var generation: UInt64 = 1
  var state = State.running
  var epoch: Int64?
  var image = MetadataImage()
  var applied = 0
  var wantShutDown = false
  var finishedShutdown = false
  var nextRegisterMs: Int64 = 0
  var nextHeartbeatMs: Int64 = 0
  var nextFetchMs: Int64 = 0
  var nextAlterMs: Int64 = 1000

  init(id: Int32, rack: String) {
    self.id = id
    self.rack = rack
  }

  var incarnation: KafkaUuid { KafkaUuid(high: UInt64(id) + 1, low: generation) }

  /// A new process: new incarnation, nothing registered, the metadata log read from the start.
  mutating func restart(now: Int64) {
    let next = generation + 1
    self = SimulatedBroker(id: id, rack: rack)
    generation = next
    state = .running
    nextRegisterMs = now
    nextFetchMs = now
    nextHeartbeatMs = now
    nextAlterMs = now + 1000
  }

  /// The requests due now; in chaos a heartbeat now and then asks to be fenced.
  mutating func tick(
    now: Int64, chaos: Bool, settings: SimulationSettings, rng: inout SeededGenerator
  ) -> [ControllerSimulation.Message] {
    var out: [ControllerSimulation.Message] = []
    if now >= nextFetchMs {
      out.append(.fetchMetadata(from: applied))
      nextFetchMs = now + Int64.random(in: 400...1600, using: &rng)
    }
    guard let epoch else {
      if now >= nextRegisterMs {
        out.append(
          .register(
            BrokerRegistrationRequest(
              brokerId: id, clusterId: "sim", incarnationId: incarnation,
              listeners: [.init(name: "PLAINTEXT", host: "b\(id)", port: 9092)], rack: rack)))
        nextRegisterMs = now + 1000
      }
      return out
    }
    if now >= nextHeartbeatMs {
      out.append(
        .heartbeat(
          BrokerHeartbeatRequest(
            brokerId: id, brokerEpoch: epoch, currentMetadataOffset: Int64(applied) - 1,
            wantFence: chaos && rng.next() % 40 == 0, wantShutDown: wantShutDown)))
      nextHeartbeatMs = now + (wantShutDown ? 200 : settings.heartbeatIntervalMs)
    }
    if now >= nextAlterMs {
      nextAlterMs = now + Int64.random(in: 500...4000, using: &rng)
      if let request = proposeIsrChange(rng: &rng) { out.append(request) }
    }
    return out
  }

  /// An ISR shrink, expand or recovery report for a partition this broker leads in its view.
  func proposeIsrChange(rng: inout SeededGenerator) -> ControllerSimulation.Message? {
    let led = image.partitions(ledBy: id)
    guard let tp = led.randomElement(using: &rng), let p = image.partition(tp),
      let topicId = image.topicId(of: tp.topic)
    else { return nil }
    var isr = p.isr
    var recovery = p.leaderRecoveryState
    if recovery == PartitionInfo.recovering {
      recovery = PartitionInfo.recovered
    } else if Bool.random(using: &rng),
      let out = isr.filter({ $0 != id }).randomElement(using: &rng)
    {
      isr.removeAll { $0 == out }
    } else if let candidate = p.replicas.filter({ !isr.contains($0) }).randomElement(using: &rng) {
      isr.append(candidate)
    } else {
      return nil
    }
    let version = Int16.random(in: 0...3, using: &rng)
    let data = AlterPartitionRequest.PartitionData(
      partitionIndex: tp.partition, leaderEpoch: p.leaderEpoch,
      newIsr: version < 3 ? isr : [],
      newIsrWithEpochs: version < 3
        ? [] : isr.map { .init(brokerId: $0, brokerEpoch: image.brokers[$0]?.epoch ?? -1) },
      leaderRecoveryState: recovery, partitionEpoch: p.partitionEpoch)
    let request = AlterPartitionRequest(
      brokerId: id, brokerEpoch: epoch ?? -1,
      topics: [
        .init(
          topicName: version < 2 ? tp.topic : "", topicId: version >= 2 ? topicId : .zero,
          partitions: [data])
      ])
    return .alterPartition(request, version: version)
  }

  mutating func receive(
    _ message: ControllerSimulation.Message, now: Int64, stats: inout SimulationStats
  ) {
    switch message {
    case .registered(.success(let newEpoch)):
      if epoch == nil {
        epoch = newEpoch
        nextHeartbeatMs = now
      }
    case .registered(.failure):
      nextRegisterMs = now + 1000
    case .heartbeatAnswer(let answered, _) where answered != epoch:
      break  // an answer to a heartbeat of an earlier registration
    case .heartbeatAnswer(_, .success(let outcome)):
      if outcome.shouldShutDown && wantShutDown { finishedShutdown = true }
    case .heartbeatAnswer(_, .failure(let error)):
      if error.code == .staleBrokerEpoch || error.code == .brokerIdNotRegistered {
        epoch = nil
        nextRegisterMs = now
      }
    case .metadata(let from, let records):
      guard from == applied else { return }
      for r in records { image.apply(r) }
      applied += records.count
    case .alterPartitionAnswer, .register, .heartbeat, .alterPartition, .fetchMetadata:
      break
    }
  }
}
