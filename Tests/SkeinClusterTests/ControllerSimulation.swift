import KafkaProtocol

@testable import SkeinCluster

/// A broken invariant, with the simulated time it was seen at.
struct InvariantViolation: Error, CustomStringConvertible {
  var timeMs: Int64 = 0
  var message: String
  var description: String { "at \(timeMs) ms: \(message)" }
}

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

/// Kafka's invariants over the controller's committed state.
struct InvariantChecker {
  let uncleanTopics: Set<String>
  /// Every (partition, leader epoch) ever seen, and its leader.
  var leaderOfEpoch: [TopicPartition: [Int32: Int32]] = [:]
  var lastEpochs: [TopicPartition: (leader: Int32, partition: Int32)] = [:]

  init(uncleanTopics: Set<String>) { self.uncleanTopics = uncleanTopics }

  mutating func check(
    _ record: MetadataRecord, before: MetadataImage, after: MetadataImage,
    stats: inout SimulationStats
  ) throws(InvariantViolation) {
    switch record {
    case .fenceBroker: stats.fences += 1
    case .unfenceBroker: stats.unfences += 1
    default: break
    }
    let tp: TopicPartition
    switch record {
    case .partition(let r):
      guard let name = after.topicNamesById[r.topicId] else { return }
      tp = TopicPartition(name, r.partitionId)
    case .partitionChange(let r):
      guard let name = after.topicNamesById[r.topicId] else { return }
      tp = TopicPartition(name, r.partitionId)
    default: return
    }
    guard let post = after.partition(tp) else {
      throw InvariantViolation(message: "\(tp) vanished")
    }
    let pre = before.partition(tp)
    if let last = lastEpochs[tp] {
      guard post.leaderEpoch >= last.leader, post.partitionEpoch > last.partition else {
        throw InvariantViolation(message: "\(tp) epochs went back: \(last) then \(post)")
      }
    }
    lastEpochs[tp] = (post.leaderEpoch, post.partitionEpoch)
    if let seen = leaderOfEpoch[tp]?[post.leaderEpoch], seen != post.leader {
      throw InvariantViolation(
        message: "\(tp) epoch \(post.leaderEpoch) had leader \(seen), now \(post.leader)")
    }
    leaderOfEpoch[tp, default: [:]][post.leaderEpoch] = post.leader
    if post.leader != PartitionInfo.noLeader && post.leader != pre?.leader {
      guard PartitionElection.isAcceptableLeader(post.leader, image: before) else {
        throw InvariantViolation(message: "\(tp) elected unacceptable leader \(post.leader)")
      }
      stats.leaderChanges += 1
      if let pre, !pre.isr.contains(post.leader) {
        guard uncleanTopics.contains(tp.topic), post.isr == [post.leader],
          post.leaderRecoveryState == PartitionInfo.recovering
        else {
          throw InvariantViolation(
            message: "\(tp) leader \(post.leader) was not in the ISR \(pre.isr) before its election"
          )
        }
        stats.uncleanElections += 1
      }
    }
    for added in post.isr where !(pre?.isr.contains(added) ?? false) {
      guard before.brokers[added]?.isActive ?? false else {
        throw InvariantViolation(message: "\(tp) ISR \(post.isr) took in inactive broker \(added)")
      }
    }
    try checkPartition(tp, post)
  }

  func checkPartition(_ tp: TopicPartition, _ p: PartitionInfo) throws(InvariantViolation) {
    var valid = !p.isr.isEmpty
    for (i, member) in p.isr.enumerated() {
      if !p.replicas.contains(member) || p.isr[(i + 1)...].contains(member) { valid = false }
    }
    guard valid else {
      throw InvariantViolation(message: "\(tp) bad ISR \(p.isr) for replicas \(p.replicas)")
    }
    guard p.leader == PartitionInfo.noLeader || p.isr.contains(p.leader) else {
      throw InvariantViolation(message: "\(tp) leader \(p.leader) not in ISR \(p.isr)")
    }
  }

  /// After each decision: partition shapes, and fenced brokers lead nothing and are in no ISR
  /// of more than one member.
  func checkImage(_ image: MetadataImage) throws(InvariantViolation) {
    for (name, topic) in image.topics {
      for p in topic.partitions {
        let tp = TopicPartition(name, p.partition)
        try checkPartition(tp, p)
        for member in p.isr {
          let broker = image.brokers[member]
          if broker?.fenced ?? true, p.isr.count > 1 || p.leader == member {
            throw InvariantViolation(
              message: "\(tp) has fenced broker \(member) in ISR \(p.isr), leader \(p.leader)")
          }
          if broker?.inControlledShutdown ?? false, p.leader == member {
            throw InvariantViolation(message: "\(tp) is led by \(member) in controlled shutdown")
          }
        }
      }
    }
  }

  /// An accepted AlterPartition came from the leader, at the committed epochs.
  func checkAlterPartition(
    _ request: AlterPartitionRequest, version: Int16, response: AlterPartitionResponse,
    before: MetadataImage
  ) throws(InvariantViolation) {
    for (topic, answers) in zip(request.topics, response.topics) {
      let name = version >= 2 ? before.topicNamesById[topic.topicId] : topic.topicName
      for (data, answer) in zip(topic.partitions, answers.partitions) where answer.errorCode == 0 {
        guard let name, let p = before.partition(TopicPartition(name, data.partitionIndex)),
          p.leader == request.brokerId, p.leaderEpoch == data.leaderEpoch,
          p.partitionEpoch == data.partitionEpoch,
          before.brokers[request.brokerId]?.epoch == request.brokerEpoch
        else {
          throw InvariantViolation(message: "stale AlterPartition accepted: \(request)")
        }
      }
    }
  }
}
