import KafkaProtocol

@testable import SkeinCluster

/// Knobs of one replication run. Times are simulated milliseconds; Kafka's defaults scaled
/// down so that a run of a minute or so sees many ISR changes. The cluster's knobs (brokers,
/// phases, step, heartbeats, network, faults) are the controller simulation's.
@dynamicMemberLookup
struct ReplicationSimSettings {
  var cluster: SimulationSettings = {
    var s = SimulationSettings()
    s.chaosMs = 40_000
    s.quietMs = 22_000
    s.stepMs = 100
    s.dropProbability = 0.03
    s.maxDelayMs = 200
    s.crashEverySeconds = 40
    s.pauseEverySeconds = 40
    return s
  }()
  /// The producer stops this long before the end, so every replica can catch up.
  var produceStopsBeforeEndMs: Int64 = 12_000
  var lagTimeMaxMs: Int64 = 5000
  var minIsr = 2
  var fetchWaitMaxMs: Int64 = 500
  var fetchBackoffMs: Int64 = 1000
  var fetchMaxEntries = 25
  var requestTimeoutMs: Int64 = 3000
  var produceTimeoutMs: Int64 = 5000
  var highWatermarkCheckpointIntervalMs: Int64 = 5000
  /// Mean produce calls per simulated second, and how many may be in flight.
  var producesPerSecond = 20.0
  var maxProducesInFlight = 16
  /// Kafka's fetcher drops a response once its partition moved on (new role, new epoch, or
  /// another log end); SkeinBroker's `ReplicaFetcher` applies what its fetch snapshot took.
  var strictFetcher = true
  /// Whether leader epoch caches answer an epoch older than their first as Kafka's do (see
  /// `ReplicationSimLog.kafkaFloorForOldEpochs`).
  var kafkaFloorForOldEpochs = true

  subscript<T>(dynamicMember keyPath: WritableKeyPath<SimulationSettings, T>) -> T {
    get { cluster[keyPath: keyPath] }
    set { cluster[keyPath: keyPath] = newValue }
  }
}

/// What a run did, summed over seeds to show that the faults and paths were exercised.
struct ReplicationSimStats {
  var acked = 0
  var refused = 0
  var crashes = 0
  var pauses = 0
  var controlledShutdowns = 0
  var truncations = 0
  var leaderships = 0
  var isrShrinks = 0
  var isrExpands = 0

  static func += (lhs: inout ReplicationSimStats, rhs: ReplicationSimStats) {
    let counters: [WritableKeyPath<ReplicationSimStats, Int>] = [
      \.acked, \.refused, \.crashes, \.pauses, \.controlledShutdowns, \.truncations,
      \.leaderships, \.isrShrinks, \.isrExpands,
    ]
    for counter in counters { lhs[keyPath: counter] += rhs[keyPath: counter] }
  }
}

/// A client producing with acks=all to the leaders its (possibly stale) metadata names.
struct ReplicationSimProducer {
  var image = MetadataImage()
  var partitions: [TopicPartition] = []
  var nextRefreshMs: Int64 = 0
  var nextRecord: Int64 = 1
  var nextCall = 1
  var inFlight: [Int: Int64] = [:]
  /// Acknowledged records by partition: offset → record id.
  var acked: [TopicPartition: [Int64: Int64]] = [:]
}

/// A deterministic simulation of replication: the controller of `ControllerSimulation`
/// (the real decisions, in-memory metadata log, heartbeat tracker and its invariant checks),
/// brokers whose partitions follow SkeinBroker's replication rules over
/// `PartitionLeaderState`, and an acks=all producer, over a network that drops, delays and
/// reorders, with crashes, restarts, pauses and controlled shutdowns. Kafka's replication
/// invariants are checked as it runs and at the end.
struct ReplicationSimulation {
  struct Envelope {
    var deliverAt: Int64
    var from: ReplicationSimAddress
    var to: ReplicationSimAddress
    var message: ReplicationSimMessage
  }

  let settings: ReplicationSimSettings
  var rng: SeededGenerator
  var now: Int64 = 0
  var inFlight: [Envelope] = []
  var controller: SimulatedController
  var controllerStats = SimulationStats()
  var brokers: [ReplicationSimBroker]
  var producer = ReplicationSimProducer()
  var stats = ReplicationSimStats()
  var chaos = true
  var topicsCreated = false
  /// Who led each (partition, leader epoch).
  var leaderOfEpoch: [TopicPartition: [Int32: Int32]] = [:]
  var nextAgreementCheckMs: Int64 = 1000

  init(
    seed: UInt64, settings: ReplicationSimSettings = ReplicationSimSettings(), tracing: Bool = false
  ) {
    self.settings = settings
    self.tracing = tracing
    rng = SeededGenerator(seed: seed)
    controller = SimulatedController(settings: settings.cluster, uncleanTopics: [])
    // Topics are created here, placed with the seeded generator (the decisions' own placement
    // draws from the system generator, which no seed replays).
    controller.topicsCreated = true
    brokers = (0..<Int32(settings.brokers)).map {
      ReplicationSimBroker(id: $0, rack: $0 < Int32(settings.brokers) / 2 ? "R1" : "R2")
    }
    for index in brokers.indices { brokers[index].tracing = tracing }
  }

  let tracing: Bool

  func trace(_ line: @autoclosure () -> String) {
    if tracing { print("\(now) ms: \(line())") }
  }

  var end: Int64 { settings.chaosMs + settings.quietMs }

  mutating func run() throws(InvariantViolation) {
    do throws(InvariantViolation) {
      while now < end {
        if chaos && now >= settings.chaosMs { endChaos() }
        try deliver()
        try createTopicsOnceBrokersAreUp()
        try controller.tick(now: now, stats: &controllerStats)
        for index in brokers.indices { try step(index) }
        try stepProducer()
        if now >= nextAgreementCheckMs {
          nextAgreementCheckMs = now + 2000
          try checkAgreement()
          for index in brokers.indices { brokers[index].checkLeaderViews() }
          for index in brokers.indices { try drain(index) }
        }
        now += settings.stepMs
      }
      try checkConverged()
    } catch {
      throw InvariantViolation(timeMs: now, message: error.message)
    }
  }

  mutating func createTopicsOnceBrokersAreUp() throws(InvariantViolation) {
    guard !topicsCreated, controller.image.brokers.values.filter(\.isActive).count >= 3 else {
      return
    }
    topicsCreated = true
    for (name, partitions, rf) in [("a", 4, 3), ("b", 3, 2), ("c", 2, 3)] {
      let image = controller.image
      let placed: [[Int32]]
      do throws(ControllerError) {
        placed = try ReplicaPlacement.assign(
          brokers: ControllerDecisions.placementBrokers(image), partitions: partitions,
          replicationFactor: rf, using: &rng)
      } catch {
        throw InvariantViolation(message: "topic \(name) not placed: \(error)")
      }
      let records = controller.decisions.createTopic(
        name: name, partitions: -1, replicationFactor: -1,
        assignments: Dictionary(uniqueKeysWithValues: placed.enumerated().map { (Int32($0), $1) }),
        configs: [:], image: image, topicId: KafkaUuid(high: 7, low: UInt64(name.utf8.first ?? 0)))
      guard case .success(let created) = records else {
        throw InvariantViolation(message: "topic \(name) not created: \(records)")
      }
      try controller.append(created, stats: &controllerStats)
    }
  }

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

  // MARK: network

  mutating func send(
    _ message: ReplicationSimMessage, from: ReplicationSimAddress, to: ReplicationSimAddress
  ) {
    if chaos && Double.random(in: 0..<1, using: &rng) < settings.dropProbability { return }
    let delay = Int64.random(in: 1...(chaos ? settings.maxDelayMs : 20), using: &rng)
    let envelope = Envelope(deliverAt: now + delay, from: from, to: to, message: message)
    // After every envelope due at the same time or earlier: same-time order is send order.
    var low = 0
    var high = inFlight.count
    while low < high {
      let mid = (low + high) / 2
      if inFlight[mid].deliverAt <= envelope.deliverAt { low = mid + 1 } else { high = mid }
    }
    inFlight.insert(envelope, at: low)
  }

  mutating func deliver() throws(InvariantViolation) {
    var due = 0
    while due < inFlight.count && inFlight[due].deliverAt <= now { due += 1 }
    let batch = inFlight[..<due]
    inFlight.removeFirst(due)
    for envelope in batch {
      switch envelope.to {
      case .controller:
        try deliverToController(envelope)
      case .producer:
        try receiveAtProducer(envelope.message)
      case .broker(let id, let incarnation):
        let index = Int(id)
        guard brokers[index].state == .running,
          incarnation.map({ $0 == brokers[index].incarnation }) ?? true
        else { continue }
        brokers[index].receive(envelope.message, from: envelope.from, now: now, settings: settings)
        try drain(index)
      }
    }
  }

  mutating func deliverToController(_ envelope: Envelope) throws(InvariantViolation) {
    guard case .broker(let id, _) = envelope.from else { return }
    switch envelope.message {
    case .control(let message):
      if let answer = try controller.handle(message, from: id, now: now, stats: &controllerStats) {
        send(.control(answer), from: .controller, to: envelope.from)
      }
    case .alterPartition(let request, let tp, let leaderEpoch, let requestId):
      let answer = try controller.handle(
        .alterPartition(request, version: 3), from: id, now: now, stats: &controllerStats)
      guard case .alterPartitionAnswer(let response) = answer else { return }
      send(
        .alterPartitionAnswer(response, tp: tp, leaderEpoch: leaderEpoch, id: requestId),
        from: .controller,
        to: envelope.from)
    default:
      break
    }
  }

  /// Sends what a broker queued and checks the events it raised.
  mutating func drain(_ index: Int) throws(InvariantViolation) {
    stats.truncations += brokers[index].truncations
    brokers[index].truncations = 0
    let outbox = brokers[index].outbox
    let events = brokers[index].events
    brokers[index].outbox.removeAll()
    brokers[index].events.removeAll()
    for (to, message) in outbox {
      if case .alterPartition(let request, _, _, _) = message {
        let isr = request.topics.first?.partitions.first?.newIsr.count ?? 0
        let tp = request.topics.first.flatMap { t in
          controller.image.topicNamesById[t.topicId].map {
            TopicPartition($0, t.partitions.first?.partitionIndex ?? 0)
          }
        }
        if let tp, let current = controller.image.partition(tp)?.isr.count {
          if isr < current { stats.isrShrinks += 1 } else if isr > current { stats.isrExpands += 1 }
        }
      }
      send(message, from: brokers[index].address, to: to)
    }
    for event in events {
      switch event {
      case .violation(let message):
        throw InvariantViolation(message: message)
      case .leading(let tp, let epoch, let broker):
        stats.leaderships += 1
        if let seen = leaderOfEpoch[tp]?[epoch], seen != broker {
          throw InvariantViolation(
            message: "\(tp) epoch \(epoch) led by broker \(seen) and then by broker \(broker)")
        }
        leaderOfEpoch[tp, default: [:]][epoch] = broker
        try checkAcked(tp, onLeader: index, why: "new leader in epoch \(epoch)")
      }
    }
  }

  // MARK: brokers and faults

  mutating func chance(everySeconds mean: Double) -> Bool {
    let probability = Double(settings.stepMs) / 1000 / mean
    return Double.random(in: 0..<1, using: &rng) < probability
  }

  mutating func step(_ index: Int) throws(InvariantViolation) {
    switch brokers[index].state {
    case .down(let until):
      if now >= until { brokers[index].restart(now: now) } else { return }
    case .paused(let until):
      if now >= until { brokers[index].state = .running } else { return }
    case .running: break
    }
    if chaos {
      if chance(everySeconds: settings.crashEverySeconds) {
        stats.crashes += 1
        trace("b\(index) crashes")
        brokers[index].crash(untilMs: now + Int64.random(in: 1000...15_000, using: &rng))
        return
      }
      if chance(everySeconds: settings.pauseEverySeconds) {
        stats.pauses += 1
        trace("b\(index) pauses")
        brokers[index].state = .paused(untilMs: now + Int64.random(in: 2000...12_000, using: &rng))
        return
      }
      if brokers[index].epoch != nil && !brokers[index].lifecycle.wantShutDown
        && chance(everySeconds: settings.shutdownEverySeconds)
      {
        brokers[index].lifecycle.wantShutDown = true
      }
    }
    if brokers[index].lifecycle.finishedShutdown {
      stats.controlledShutdowns += 1
      brokers[index].crash(
        untilMs: now + (chaos ? Int64.random(in: 1000...8000, using: &rng) : 1000))
      return
    }
    brokers[index].tick(now: now, settings: settings, rng: &rng)
    try drain(index)
  }

  // MARK: producer

  mutating func stepProducer() throws(InvariantViolation) {
    if now >= producer.nextRefreshMs {
      producer.image = controller.image
      producer.partitions = producer.image.partitions()
      producer.nextRefreshMs = now + Int64.random(in: 500...3000, using: &rng)
      // Calls whose answer was lost have timed out.
      producer.inFlight = producer.inFlight.filter {
        now - $0.value < settings.produceTimeoutMs * 2
      }
    }
    guard now < end - settings.produceStopsBeforeEndMs else { return }
    let partitions = producer.partitions
    let expected = settings.producesPerSecond * Double(settings.stepMs) / 1000
    var calls = Int(expected)
    if Double.random(in: 0..<1, using: &rng) < expected - Double(calls) { calls += 1 }
    for _ in 0..<calls where producer.inFlight.count < settings.maxProducesInFlight {
      guard let tp = partitions.randomElement(using: &rng),
        let leader = producer.image.partition(tp)?.leader, leader >= 0
      else { continue }
      let call = ReplicationSimProduce(id: producer.nextCall, tp: tp, record: producer.nextRecord)
      producer.nextCall += 1
      producer.nextRecord += 1
      producer.inFlight[call.id] = now
      send(.produce(call), from: .producer, to: .broker(leader, incarnation: nil))
    }
  }

  mutating func receiveAtProducer(_ message: ReplicationSimMessage) throws(InvariantViolation) {
    guard case .produceAnswer(let call, let result) = message else { return }
    producer.inFlight[call.id] = nil
    switch result {
    case .committed(let offset, let leaderEpoch):
      if let previous = producer.acked[call.tp]?[offset], previous != call.record {
        throw InvariantViolation(
          message:
            "\(call.tp) offset \(offset) acknowledged twice: record \(previous), then \(call.record)"
        )
      }
      producer.acked[call.tp, default: [:]][offset] = call.record
      trace("acked \(call.tp) record \(call.record) at \(offset) epoch \(leaderEpoch)")
      stats.acked += 1
      // Whoever leads now in this epoch or a later one has it.
      for index in brokers.indices where brokers[index].state == .running {
        guard let i = brokers[index].slotIndex[call.tp] else { continue }
        let slot = brokers[index].slots[i]
        guard slot.role == .leader, brokers[index].accepting, slot.leaderEpoch >= leaderEpoch
        else { continue }
        guard slot.log.entry(at: offset)?.record == call.record else {
          throw InvariantViolation(
            message:
              "\(call.tp) record \(call.record) acknowledged at \(offset) in epoch \(leaderEpoch) is not on broker \(index), leader in epoch \(slot.leaderEpoch): \(String(describing: slot.log.entry(at: offset)))"
          )
        }
      }
    case .error:
      stats.refused += 1
      producer.nextRefreshMs = min(producer.nextRefreshMs, now + 200)
    }
  }

  // MARK: invariants

  /// Every record acknowledged so far is on this broker's log at its offset.
  func checkAcked(_ tp: TopicPartition, onLeader index: Int, why: String) throws(InvariantViolation)
  {
    guard let i = brokers[index].slotIndex[tp] else {
      throw InvariantViolation(message: "broker \(index) leads \(tp) without a log")
    }
    let log = brokers[index].slots[i].log
    for (offset, record) in producer.acked[tp] ?? [:] where log.entry(at: offset)?.record != record
    {
      throw InvariantViolation(
        message:
          "\(tp) acknowledged record \(record) at \(offset) missing on broker \(index) (\(why)): \(String(describing: log.entry(at: offset)))"
      )
    }
  }

  /// Replicas of a partition agree below the lower of their high watermarks.
  func checkAgreement() throws(InvariantViolation) {
    for tp in controller.image.partitions() {
      let holders = brokers.indices.compactMap { index -> (Int, ReplicationSimLog)? in
        brokers[index].slotIndex[tp].map { (index, brokers[index].slots[$0].log) }
      }
      for (a, (ia, la)) in holders.enumerated() {
        for (ib, lb) in holders[(a + 1)...] {
          let limit = min(la.highWatermark, lb.highWatermark)
          if let offset = la.firstDifference(with: lb, below: limit) {
            throw InvariantViolation(
              message:
                "\(tp) brokers \(ia) and \(ib) differ at \(offset) below their high watermarks \(la.highWatermark), \(lb.highWatermark): \(String(describing: la.entry(at: offset))) vs \(String(describing: lb.entry(at: offset)))"
            )
          }
        }
      }
      try checkCommittedOnIsr(tp)
    }
  }

  /// What the acting leader has committed is on every member of the committed ISR (what makes
  /// any of them a safe next leader).
  func checkCommittedOnIsr(_ tp: TopicPartition) throws(InvariantViolation) {
    guard let p = controller.image.partition(tp), p.leader >= 0 else { return }
    let leader = brokers[Int(p.leader)]
    guard leader.state == .running, leader.accepting, let li = leader.slotIndex[tp],
      leader.slots[li].role == .leader, leader.slots[li].leaderEpoch == p.leaderEpoch
    else { return }
    let leaderLog = leader.slots[li].log
    for member in p.isr where member != p.leader {
      let log = brokers[Int(member)].slotIndex[tp].map { brokers[Int(member)].slots[$0].log }
      let offset =
        log.map { leaderLog.firstDifference(with: $0, below: leaderLog.highWatermark) }
        ?? (leaderLog.highWatermark > 0 ? 0 : nil)
      if let offset {
        throw InvariantViolation(
          message:
            "\(tp) ISR member \(member) lacks offset \(offset) below leader \(p.leader)'s high watermark \(leaderLog.highWatermark) in epoch \(p.leaderEpoch) (ISR \(p.isr), leader's view \(String(describing: leader.slots[li].leaderState?.maximalIsr)))"
        )
      }
    }
  }

  /// After the quiet phase: every broker back, every partition led with all replicas in its
  /// ISR, every replica's log the leader's, every acknowledged record on all of them.
  func checkConverged() throws(InvariantViolation) {
    guard topicsCreated else { throw InvariantViolation(message: "no topics created") }
    for broker in brokers {
      guard let info = controller.image.brokers[broker.id], info.isActive,
        info.incarnationId == broker.incarnation, broker.accepting
      else {
        throw InvariantViolation(message: "broker \(broker.id) is not back")
      }
    }
    for tp in controller.image.partitions() {
      guard let p = controller.image.partition(tp), p.leader >= 0 else {
        throw InvariantViolation(message: "\(tp) has no leader at the end")
      }
      guard Set(p.isr) == Set(p.replicas) else {
        throw InvariantViolation(
          message: "\(tp) ISR \(p.isr) is not all of \(p.replicas) at the end")
      }
      let leader = brokers[Int(p.leader)]
      guard let li = leader.slotIndex[tp], leader.slots[li].role == .leader,
        leader.slots[li].leaderEpoch == p.leaderEpoch
      else {
        throw InvariantViolation(message: "\(tp) leader \(p.leader) does not act as leader")
      }
      let leaderLog = leader.slots[li].log
      for member in p.isr {
        try checkAcked(tp, onLeader: Int(member), why: "ISR member at the end")
        let broker = brokers[Int(member)]
        guard let i = broker.slotIndex[tp] else { continue }
        let log = broker.slots[i].log
        if let offset = log.firstDifference(with: leaderLog, below: leaderLog.logEndOffset)
          ?? (log.logEndOffset != leaderLog.logEndOffset ? log.logEndOffset : nil)
        {
          throw InvariantViolation(
            message:
              "\(tp) broker \(member) differs from leader \(p.leader) at \(offset) at the end (log ends \(log.logEndOffset), \(leaderLog.logEndOffset))"
          )
        }
      }
    }
  }
}
