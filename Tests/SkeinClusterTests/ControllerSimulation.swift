import KafkaProtocol

@testable import SkeinCluster

/// Knobs of one simulated run. Times are simulated milliseconds.
struct SimulationSettings {
  var brokers = 5
  var chaosMs: Int64 = 90_000
  var quietMs: Int64 = 30_000
  var stepMs: Int64 = 200
  var heartbeatIntervalMs: Int64 = 2000
  var sessionTimeoutMs: Int64 = 9000
  var dropProbability = 0.05
  var maxDelayMs: Int64 = 400
  /// Mean simulated seconds between crashes, pauses and controlled shutdowns, per broker.
  var crashEverySeconds = 80.0
  var pauseEverySeconds = 80.0
  var shutdownEverySeconds = 100.0
  var controllerRestartEverySeconds = 120.0
}

/// What a run did, summed over seeds to show that every path was exercised.
struct SimulationStats {
  var fences = 0
  var unfences = 0
  var controlledShutdowns = 0
  var leaderChanges = 0
  var uncleanElections = 0
  var alterPartitionAccepted = 0
  var alterPartitionRefused = 0
  var duplicateRegistrations = 0
  var staleHeartbeats = 0
  var adminElections = 0
  var controllerRestarts = 0

  static func += (lhs: inout SimulationStats, rhs: SimulationStats) {
    lhs.fences += rhs.fences
    lhs.unfences += rhs.unfences
    lhs.controlledShutdowns += rhs.controlledShutdowns
    lhs.leaderChanges += rhs.leaderChanges
    lhs.uncleanElections += rhs.uncleanElections
    lhs.alterPartitionAccepted += rhs.alterPartitionAccepted
    lhs.alterPartitionRefused += rhs.alterPartitionRefused
    lhs.duplicateRegistrations += rhs.duplicateRegistrations
    lhs.staleHeartbeats += rhs.staleHeartbeats
    lhs.adminElections += rhs.adminElections
    lhs.controllerRestarts += rhs.controllerRestarts
  }
}

/// A deterministic simulation of the controller (the decisions, an in-memory metadata log and
/// heartbeat tracker) and brokers over a network that drops, delays and reorders messages, with
/// broker crashes, restarts under new incarnations, pauses and controlled shutdowns. Kafka's
/// invariants are checked after every record and every decision.
struct ControllerSimulation {
  enum Message {
    case register(BrokerRegistrationRequest)
    case heartbeat(BrokerHeartbeatRequest)
    case alterPartition(AlterPartitionRequest, version: Int16)
    case fetchMetadata(from: Int)
    case registered(Result<Int64, ControllerError>)
    case heartbeatAnswer(brokerEpoch: Int64, Result<BrokerHeartbeatOutcome, ControllerError>)
    case alterPartitionAnswer(AlterPartitionResponse)
    case metadata(from: Int, records: [MetadataRecord])
  }

  /// A message in flight. `broker` and `incarnation` name the broker process at the other end
  /// (sender of a request, addressee of an answer); `toController` says which way it goes.
  struct Envelope {
    var deliverAt: Int64
    var sequence: Int
    var toController: Bool
    var broker: Int32
    var incarnation: KafkaUuid
    var message: Message
  }

  let settings: SimulationSettings
  let uncleanTopics: Set<String>
  var rng: SeededGenerator
  var now: Int64 = 0
  var inFlight: [Envelope] = []
  var sequence = 0
  var controller: SimulatedController
  var brokers: [SimulatedBroker]
  var stats = SimulationStats()
  var chaos = true
  /// The metadata log's length 3 s before the end: every broker must have read that far.
  var logLengthBeforeEnd = 0
  var controllerDownUntilMs: Int64 = 0

  init(seed: UInt64, settings: SimulationSettings = SimulationSettings()) {
    self.settings = settings
    var rng = SeededGenerator(seed: seed)
    uncleanTopics = Bool.random(using: &rng) ? ["c"] : []
    self.rng = rng
    controller = SimulatedController(settings: settings, uncleanTopics: uncleanTopics)
    brokers = (0..<Int32(settings.brokers)).map {
      SimulatedBroker(id: $0, rack: $0 < Int32(settings.brokers) / 2 ? "R1" : "R2")
    }
  }

  mutating func run() throws(InvariantViolation) {
    let end = settings.chaosMs + settings.quietMs
    while now < end {
      if chaos && now >= settings.chaosMs { endChaos() }
      if now == end - 3000 { logLengthBeforeEnd = controller.log.count }
      do throws(InvariantViolation) {
        try deliver(upTo: now)
        if chaos && chance(everySeconds: settings.controllerRestartEverySeconds) {
          controller.restart(now: now)
          controllerDownUntilMs = now + Int64.random(in: 500...5000, using: &rng)
          stats.controllerRestarts += 1
        }
        if now >= controllerDownUntilMs {
          try controller.tick(now: now, stats: &stats)
          if chaos && chance(everySeconds: 10) { try adminElection() }
        }
        for index in brokers.indices { step(index) }
      } catch {
        throw InvariantViolation(timeMs: now, message: error.message)
      }
      now += settings.stepMs
    }
    do throws(InvariantViolation) { try checkConverged() } catch {
      throw InvariantViolation(timeMs: now, message: error.message)
    }
  }

  /// From here on no more faults; stopped brokers come back.
  mutating func endChaos() {
    chaos = false
    for index in brokers.indices {
      switch brokers[index].state {
      case .down: brokers[index].restart(now: now)
      case .paused: brokers[index].state = .running
      case .running: break
      }
    }
  }

  /// An ElectLeaders from an admin: preferred for any partition, unclean only where the topic
  /// allows it (the invariants treat those topics as unclean).
  mutating func adminElection() throws(InvariantViolation) {
    let all = controller.image.partitions()
    guard let tp = all.randomElement(using: &rng) else { return }
    let type: ElectionType =
      uncleanTopics.contains(tp.topic) && Bool.random(using: &rng) ? .unclean : .preferred
    let (results, records) = controller.decisions.electLeaders(
      type: type, partitions: [tp], image: controller.image)
    if results[tp] == .some(nil) { stats.adminElections += 1 }
    try controller.append(records, stats: &stats)
  }

  // MARK: network

  mutating func send(_ message: Message, toController: Bool, broker: Int32, incarnation: KafkaUuid)
  {
    if chaos && Double.random(in: 0..<1, using: &rng) < settings.dropProbability { return }
    let maxDelay = chaos ? settings.maxDelayMs : 50
    let delay = Int64.random(in: 1...maxDelay, using: &rng)
    sequence += 1
    let envelope = Envelope(
      deliverAt: now + delay, sequence: sequence, toController: toController, broker: broker,
      incarnation: incarnation, message: message)
    // Sequence numbers grow, so the envelope goes after every one due at the same time.
    var low = 0
    var high = inFlight.count
    while low < high {
      let mid = (low + high) / 2
      if inFlight[mid].deliverAt <= envelope.deliverAt { low = mid + 1 } else { high = mid }
    }
    inFlight.insert(envelope, at: low)
  }

  mutating func deliver(upTo time: Int64) throws(InvariantViolation) {
    while let first = inFlight.first, first.deliverAt <= time {
      inFlight.removeFirst()
      if first.toController {
        // A restarting controller loses what reaches it.
        guard now >= controllerDownUntilMs else { continue }
        if let answer = try controller.handle(
          first.message, from: first.broker, now: now, stats: &stats)
        {
          send(answer, toController: false, broker: first.broker, incarnation: first.incarnation)
        }
      } else {
        let index = Int(first.broker)
        // A restarted process never sees answers meant for the one before; a paused or
        // stopped one loses them (the connection timed out).
        guard brokers[index].state == .running, brokers[index].incarnation == first.incarnation
        else { continue }
        brokers[index].receive(first.message, now: now, stats: &stats)
      }
    }
  }

  // MARK: brokers

  mutating func chance(everySeconds mean: Double) -> Bool {
    let probability = Double(settings.stepMs) / 1000 / mean
    return rng.next() < UInt64(probability * Double(UInt64.max))
  }

  mutating func step(_ index: Int) {
    switch brokers[index].state {
    case .down(let until):
      if now >= until { brokers[index].restart(now: now) } else { return }
    case .paused(let until):
      if now >= until { brokers[index].state = .running } else { return }
    case .running: break
    }
    if chaos {
      if chance(everySeconds: settings.crashEverySeconds) {
        brokers[index].state = .down(untilMs: now + Int64.random(in: 1000...20_000, using: &rng))
        return
      }
      if chance(everySeconds: settings.pauseEverySeconds) {
        brokers[index].state = .paused(untilMs: now + Int64.random(in: 2000...15_000, using: &rng))
        return
      }
      if brokers[index].epoch != nil && chance(everySeconds: settings.shutdownEverySeconds) {
        brokers[index].wantShutDown = true
      }
    }
    if brokers[index].finishedShutdown {
      let downFor = chaos ? Int64.random(in: 1000...10_000, using: &rng) : 1000
      brokers[index].state = .down(untilMs: now + downFor)
      return
    }
    let messages = brokers[index].tick(
      now: now, chaos: chaos, settings: settings, rng: &rng)
    for message in messages {
      send(
        message, toController: true, broker: brokers[index].id,
        incarnation: brokers[index].incarnation)
    }
  }

  /// After the quiet phase every broker is back, registered, unfenced and caught up, and every
  /// partition has a leader.
  func checkConverged() throws(InvariantViolation) {
    let image = controller.image
    for broker in brokers {
      guard let info = image.brokers[broker.id], info.isActive,
        info.incarnationId == broker.incarnation
      else {
        throw InvariantViolation(
          message:
            "broker \(broker.id) is not back: \(String(describing: image.brokers[broker.id]))")
      }
      guard broker.applied >= logLengthBeforeEnd else {
        throw InvariantViolation(
          message: "broker \(broker.id) applied \(broker.applied) of \(logLengthBeforeEnd) records")
      }
      var replayed = MetadataImage()
      for record in controller.log[..<broker.applied] { replayed.apply(record) }
      for tp in image.partitions() where broker.image.partition(tp) != replayed.partition(tp) {
        throw InvariantViolation(message: "broker \(broker.id) sees \(tp) differently")
      }
    }
    guard controller.topicsCreated else { throw InvariantViolation(message: "no topics created") }
    for tp in image.partitions() where image.partition(tp)?.leader == PartitionInfo.noLeader {
      throw InvariantViolation(
        message: "\(tp) has no leader at the end: \(String(describing: image.partition(tp)))")
    }
  }
}
