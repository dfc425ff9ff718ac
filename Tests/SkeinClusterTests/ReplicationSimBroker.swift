import KafkaProtocol

@testable import SkeinCluster

/// Where a simulated message goes. A request to a broker names only its id (any live
/// incarnation that accepts connections takes it); an answer names the incarnation that asked.
enum ReplicationSimAddress: Equatable {
  case controller
  case producer
  case broker(Int32, incarnation: KafkaUuid?)
}

/// A follower's Fetch for one partition, as `ReplicaFetcher` sends it.
struct ReplicationSimFetch {
  var tp: TopicPartition
  var replica: Int32
  var brokerEpoch: Int64
  var currentLeaderEpoch: Int32
  var fetchOffset: Int64
  var lastFetchedEpoch: Int32
}

/// What the leader answers a replica fetch with (`readForFetch` on the leader side).
enum ReplicationSimFetchResult {
  case error(ErrorCode, leaderLogEndOffset: Int64)
  case diverging(epoch: Int32, endOffset: Int64, highWatermark: Int64)
  case records([ReplicationSimLog.Entry], highWatermark: Int64)
}

struct ReplicationSimProduce {
  var id: Int
  var tp: TopicPartition
  var record: Int64
}

enum ReplicationSimProduceResult {
  case committed(offset: Int64, leaderEpoch: Int32)
  case error(ErrorCode)
}

enum ReplicationSimMessage {
  /// Registration, heartbeats and metadata fetches, as the controller simulation has them.
  case control(ControllerSimulation.Message)
  /// `id` tells a broker's requests apart, so a late answer does not settle a later one.
  case alterPartition(AlterPartitionRequest, tp: TopicPartition, leaderEpoch: Int32, id: Int)
  case alterPartitionAnswer(
    AlterPartitionResponse?, tp: TopicPartition, leaderEpoch: Int32, id: Int)
  case fetch(ReplicationSimFetch)
  case fetchAnswer(ReplicationSimFetch, ReplicationSimFetchResult)
  case produce(ReplicationSimProduce)
  case produceAnswer(ReplicationSimProduce, ReplicationSimProduceResult)
}

/// What a broker did that the invariants look at.
enum ReplicationSimEvent {
  /// It acts as leader of `tp` in `epoch` (its metadata says so and it accepts clients).
  case leading(TopicPartition, epoch: Int32, broker: Int32)
  case violation(String)
}

/// One hosted partition on a simulated broker: its log and role, mirroring SkeinBroker's
/// `Partition` (leader state, committed ISR and epochs) and its fetcher state. A class so the
/// broker updates it in place (a debug build copies structs in arrays on every access).
final class ReplicationSimReplica {
  enum Role: Equatable {
    case leader
    case follower(leaderId: Int32)
    case offline
  }

  var tp: TopicPartition
  var topicId: KafkaUuid
  var log: ReplicationSimLog
  var role = Role.offline
  var leaderEpoch: Int32 = -1
  var partitionEpoch: Int32 = -1
  var replicas: [Int32] = []
  var isr: [Int32] = []
  var leaderState: PartitionLeaderState?
  /// The high watermark when this leadership began, raised as it moves: it must never drop.
  var termHighWatermark: Int64?
  /// The follower's fetch in flight (sent at), and when it may fetch again after an error.
  var fetchSentAt: Int64?
  var fetchDelayedUntil: Int64 = 0
  /// The latest AlterPartition in flight: its id, leader epoch and when it was sent.
  var alterInFlight: (id: Int, leaderEpoch: Int32, sentAt: Int64)?

  init(tp: TopicPartition, topicId: KafkaUuid, log: ReplicationSimLog) {
    self.tp = tp
    self.topicId = topicId
    self.log = log
  }

  func effectiveMinIsr(_ minIsr: Int) -> Int { min(minIsr, max(replicas.count, 1)) }
}

/// A simulated broker: lifecycle as in the controller simulation (register, heartbeat,
/// follow the metadata log, controlled shutdown), and replication as SkeinBroker's replica
/// manager, partitions, replica fetchers, AlterPartition manager and delayed produce do it.
/// A class, updated in place (a debug build copies structs in arrays on every access).
final class ReplicationSimBroker {
  enum State: Equatable {
    case running
    case down(untilMs: Int64)
    case paused(untilMs: Int64)
  }

  struct PendingProduce {
    var call: ReplicationSimProduce
    var from: ReplicationSimAddress
    var offset: Int64
    var leaderEpoch: Int32
    var deadline: Int64
  }

  struct HeldFetch {
    var request: ReplicationSimFetch
    var from: ReplicationSimAddress
    var until: Int64
  }

  let id: Int32
  let rack: String
  var state = State.running
  /// Registration, heartbeats, controlled shutdown and the metadata image, as the
  /// controller simulation's broker has them (without its random ISR proposals).
  var lifecycle: SimulatedBroker
  /// Clients and followers are accepted once this incarnation was first unfenced.
  var accepting = false
  var nextShrinkMs: Int64 = 0
  var nextAlterId = 0
  var nextCheckpointMs: Int64 = 0
  var slots: [ReplicationSimReplica] = []
  var slotIndex: [TopicPartition: Int] = [:]
  var pendingProduces: [PendingProduce] = []
  var heldFetches: [HeldFetch] = []
  var outbox: [(ReplicationSimAddress, ReplicationSimMessage)] = []
  /// Truncations that removed records, to show divergence was exercised.
  var truncations = 0
  var events: [ReplicationSimEvent] = []
  /// Set to trace what this broker does (SKEIN_SIM_TRACE with a replayed seed).
  var tracing = false

  init(id: Int32, rack: String) {
    self.id = id
    self.rack = rack
    lifecycle = SimulatedBroker(id: id, rack: rack)
    lifecycle.nextAlterMs = .max
  }

  var incarnation: KafkaUuid { lifecycle.incarnation }
  var image: MetadataImage { lifecycle.image }
  var epoch: Int64? { lifecycle.epoch }
  var address: ReplicationSimAddress { .broker(id, incarnation: incarnation) }

  /// The process dies: everything in memory goes; the logs stay (the page cache has them)
  /// with the high watermark of the last checkpoint.
  func crash(untilMs: Int64) {
    slots = slots.map { slot in
      var log = slot.log
      log.highWatermark = min(log.checkpointedHighWatermark, log.logEndOffset)
      return ReplicationSimReplica(tp: slot.tp, topicId: slot.topicId, log: log)
    }
    state = .down(untilMs: untilMs)
    accepting = false
    nextShrinkMs = 0
    nextCheckpointMs = 0
    pendingProduces = []
    heldFetches = []
    outbox = []
  }

  /// A new process starts on the surviving logs.
  func restart(now: Int64) {
    state = .running
    lifecycle.restart(now: now)
    lifecycle.nextAlterMs = .max
  }

  // MARK: ticks

  func tick(now: Int64, settings: ReplicationSimSettings, rng: inout SeededGenerator) {
    for message in lifecycle.tick(now: now, chaos: false, settings: settings.cluster, rng: &rng) {
      outbox.append((.controller, .control(message)))
    }
    for i in slots.indices {
      fetchIfDue(i, now: now)
      if let inFlight = slots[i].alterInFlight, now - inFlight.sentAt > settings.requestTimeoutMs {
        // The controller channel gave up on it: AlterPartitionManager settles it as refused.
        slots[i].alterInFlight = nil
        isrChangeSettled(i, leaderEpoch: inFlight.leaderEpoch, committed: nil, now: now, settings)
      }
    }
    if accepting && now >= nextShrinkMs {
      nextShrinkMs = now + settings.lagTimeMaxMs / 2
      for i in slots.indices { shrinkIsr(i, now: now, settings) }
    }
    if now >= nextCheckpointMs {
      nextCheckpointMs = now + settings.highWatermarkCheckpointIntervalMs
      for i in slots.indices { slots[i].log.checkpointedHighWatermark = slots[i].log.highWatermark }
    }
    answerHeldFetches(now: now, settings)
    completeProduces(now: now, settings)
    checkLocalInvariants()
  }

  // MARK: messages

  func receive(
    _ message: ReplicationSimMessage, from: ReplicationSimAddress, now: Int64,
    settings: ReplicationSimSettings
  ) {
    switch message {
    case .control(let control):
      receiveControl(control, now: now, settings: settings)
    case .alterPartitionAnswer(let response, let tp, let leaderEpoch, let requestId):
      guard let i = slotIndex[tp] else { break }
      if slots[i].alterInFlight?.id == requestId { slots[i].alterInFlight = nil }
      // AlterPartitionManager: success settles with the committed state, anything else as
      // refused.
      if let response, response.errorCode == 0,
        let result = response.topics.first?.partitions.first,
        result.errorCode == 0
      {
        isrChangeSettled(
          i, leaderEpoch: result.leaderEpoch, committed: (result.isr, result.partitionEpoch),
          now: now, settings)
      } else {
        isrChangeSettled(i, leaderEpoch: leaderEpoch, committed: nil, now: now, settings)
      }
    case .fetch(let request):
      guard accepting else { break }
      if let answer = readForFetch(request, recordProgress: true, now: now, settings: settings) {
        outbox.append((from, .fetchAnswer(request, answer)))
      } else {
        heldFetches.append(
          HeldFetch(request: request, from: from, until: now + settings.fetchWaitMaxMs))
      }
    case .fetchAnswer(let request, let result):
      handleFetchAnswer(request, result, from: from, now: now, settings: settings)
    case .produce(let call):
      guard accepting else { break }
      produce(call, from: from, now: now, settings: settings)
    case .alterPartition, .produceAnswer:
      break
    }
    completeProduces(now: now, settings)
  }

  func receiveControl(
    _ message: ControllerSimulation.Message, now: Int64, settings: ReplicationSimSettings
  ) {
    let applied = lifecycle.applied
    var ignored = SimulationStats()
    lifecycle.receive(message, now: now, stats: &ignored)
    if case .heartbeatAnswer(let answered, .success(let outcome)) = message,
      answered == lifecycle.epoch, !outcome.isFenced, !accepting
    {
      accepting = true
      nextShrinkMs = now + settings.lagTimeMaxMs / 2
      for slot in slots where slot.role == .leader {
        events.append(.leading(slot.tp, epoch: slot.leaderEpoch, broker: id))
      }
    }
    if lifecycle.applied != applied { applyImage(now: now, settings: settings) }
  }

  // MARK: replica manager

  /// `ReplicaManager.apply` and `Partition.apply`: roles from the image.
  func applyImage(now: Int64, settings: ReplicationSimSettings) {
    let fenced = image.brokers[id]?.fenced ?? true
    // In a fixed order (hashing is seeded per process): a seed replays exactly.
    for tp in image.partitions(replicatedOn: id) {
      guard let topic = image.topics[tp.topic], let p = image.partition(tp) else { continue }
      do {
        let i: Int
        if let existing = slotIndex[tp] {
          i = existing
        } else {
          i = slots.count
          slotIndex[tp] = i
          var log = ReplicationSimLog()
          log.kafkaFloorForOldEpochs = settings.kafkaFloorForOldEpochs
          slots.append(ReplicationSimReplica(tp: tp, topicId: topic.id, log: log))
        }
        var info = p
        if fenced && info.leader == id { info.leader = -1 }
        applyPartition(i, info, now: now, settings: settings)
      }
    }
  }

  func applyPartition(
    _ i: Int, _ info: PartitionInfo, now: Int64, settings: ReplicationSimSettings
  ) {
    let old = (tp: slots[i].tp, role: slots[i].role, leaderEpoch: slots[i].leaderEpoch)
    let newRole: ReplicationSimReplica.Role =
      info.leader == id ? .leader : (info.leader < 0 ? .offline : .follower(leaderId: info.leader))
    let epochChanged = info.leaderEpoch != old.leaderEpoch
    slots[i].role = newRole
    slots[i].leaderEpoch = info.leaderEpoch
    slots[i].partitionEpoch = info.partitionEpoch
    slots[i].replicas = info.replicas
    slots[i].isr = info.isr
    if tracing && (old.role != newRole || epochChanged) {
      print(
        "  b\(id) \(old.tp) \(newRole) epoch \(info.leaderEpoch) isr \(info.isr) leo \(slots[i].log.logEndOffset) hw \(slots[i].log.highWatermark) epochs \(slots[i].log.epochs.map { "\($0.epoch)@\($0.startOffset)" })"
      )
    }
    switch newRole {
    case .leader:
      if old.role == .leader && !epochChanged {
        slots[i].leaderState?.updateCommitted(
          replicas: info.replicas, isr: info.isr, partitionEpoch: info.partitionEpoch, nowMs: now)
      } else {
        // Kafka's makeLeader: the epoch starts at this log's end.
        slots[i].log.assignEpoch(info.leaderEpoch, startOffset: slots[i].log.logEndOffset)
        slots[i].leaderState = PartitionLeaderState(
          leaderId: id, replicas: info.replicas, isr: info.isr,
          partitionEpoch: info.partitionEpoch,
          leaderEpochStartOffset: slots[i].log.logEndOffset, nowMs: now)
        slots[i].termHighWatermark = slots[i].log.highWatermark
        slots[i].fetchSentAt = nil
        slots[i].alterInFlight = nil
        if accepting { events.append(.leading(old.tp, epoch: info.leaderEpoch, broker: id)) }
      }
      maybeAdvanceHighWatermark(i, now: now, settings)
    case .follower:
      slots[i].leaderState = nil
      slots[i].termHighWatermark = nil
      slots[i].alterInFlight = nil
      // `follow` re-adds the partition, so a fetcher backing off retries at once.
      slots[i].fetchDelayedUntil = 0
      if old.role != newRole || epochChanged { slots[i].fetchSentAt = nil }
    case .offline:
      slots[i].leaderState = nil
      slots[i].termHighWatermark = nil
      slots[i].alterInFlight = nil
    }
  }

  /// `Partition.maybeAdvanceHighWatermark`: up to what the ISR has, never down.
  @discardableResult
  func maybeAdvanceHighWatermark(
    _ i: Int, now: Int64, _ settings: ReplicationSimSettings
  ) -> Bool {
    guard slots[i].role == .leader, let leader = slots[i].leaderState,
      let target = leader.highWatermark(
        leaderLogEndOffset: slots[i].log.logEndOffset, minIsr: settings.minIsr, nowMs: now,
        lagTimeMaxMs: settings.lagTimeMaxMs),
      target > slots[i].log.highWatermark
    else { return false }
    slots[i].log.advanceHighWatermark(target)
    return true
  }

  func submit(
    _ change: PartitionLeaderState.PendingIsrChange, _ i: Int, now: Int64
  ) {
    let slot = slots[i]
    let followers = slot.leaderState?.followers ?? [:]
    let brokerEpoch = epoch ?? -1
    let request = AlterPartitionRequest(
      brokerId: id, brokerEpoch: brokerEpoch,
      topics: [
        .init(
          topicName: slot.tp.topic, topicId: slot.topicId,
          partitions: [
            .init(
              partitionIndex: slot.tp.partition, leaderEpoch: slot.leaderEpoch,
              newIsr: change.proposedIsr,
              newIsrWithEpochs: change.proposedIsr.map { member in
                .init(
                  brokerId: member,
                  brokerEpoch: member == id ? brokerEpoch : (followers[member]?.brokerEpoch ?? -1))
              },
              leaderRecoveryState: 0, partitionEpoch: slot.partitionEpoch)
          ])
      ])
    nextAlterId += 1
    slots[i].alterInFlight = (nextAlterId, slot.leaderEpoch, now)
    outbox.append(
      (
        .controller,
        .alterPartition(request, tp: slot.tp, leaderEpoch: slot.leaderEpoch, id: nextAlterId)
      ))
  }

  /// `Partition.isrChangeSettled`.
  func isrChangeSettled(
    _ i: Int, leaderEpoch: Int32, committed: (isr: [Int32], partitionEpoch: Int32)?, now: Int64,
    _ settings: ReplicationSimSettings
  ) {
    guard slots[i].role == .leader, slots[i].leaderEpoch == leaderEpoch else { return }
    if let committed, committed.partitionEpoch > slots[i].partitionEpoch {
      slots[i].isr = committed.isr
      slots[i].partitionEpoch = committed.partitionEpoch
      let replicas = slots[i].replicas
      slots[i].leaderState?.updateCommitted(
        replicas: replicas, isr: committed.isr, partitionEpoch: committed.partitionEpoch,
        nowMs: now)
    } else {
      slots[i].leaderState?.abandonPending()
    }
    maybeAdvanceHighWatermark(i, now: now, settings)
  }

  /// `Partition.isrShrink`, proposed every replica.lag.time.max.ms / 2.
  func shrinkIsr(_ i: Int, now: Int64, _ settings: ReplicationSimSettings) {
    guard slots[i].role == .leader, let leader = slots[i].leaderState, leader.pending == nil
    else { return }
    let out = leader.outOfSyncReplicas(
      leaderLogEndOffset: slots[i].log.logEndOffset, nowMs: now,
      lagTimeMaxMs: settings.lagTimeMaxMs)
    guard !out.isEmpty,
      let change = slots[i].leaderState?.propose(isr: leader.isr.filter { !out.contains($0) })
    else { return }
    submit(change, i, now: now)
  }

  // MARK: leader side of replica fetches

  /// `readForFetch` for a follower: epoch checks, divergence, progress, records to the log
  /// end. Nil when there is nothing to send yet (the fetch waits, as a DelayedFetch).
  func readForFetch(
    _ request: ReplicationSimFetch, recordProgress: Bool, now: Int64,
    settings: ReplicationSimSettings
  ) -> ReplicationSimFetchResult? {
    guard let i = slotIndex[request.tp] else {
      return .error(.unknownTopicOrPartition, leaderLogEndOffset: -1)
    }
    guard slots[i].role == .leader else {
      return .error(.notLeaderOrFollower, leaderLogEndOffset: -1)
    }
    if request.currentLeaderEpoch >= 0 && request.currentLeaderEpoch != slots[i].leaderEpoch {
      let code: ErrorCode =
        request.currentLeaderEpoch < slots[i].leaderEpoch ? .fencedLeaderEpoch : .unknownLeaderEpoch
      return .error(code, leaderLogEndOffset: -1)
    }
    let log = slots[i].log
    if request.lastFetchedEpoch >= 0 {
      let ours = log.endOffset(forLeaderEpoch: request.lastFetchedEpoch)
      if ours.epoch < request.lastFetchedEpoch || ours.endOffset < request.fetchOffset {
        return .diverging(
          epoch: ours.epoch, endOffset: ours.endOffset, highWatermark: log.highWatermark)
      }
    }
    if recordProgress {
      if request.fetchOffset > log.logEndOffset || request.fetchOffset < 0 {
        return .error(.offsetOutOfRange, leaderLogEndOffset: log.logEndOffset)
      }
      slots[i].leaderState?.recordFetch(
        replica: request.replica, fetchOffset: request.fetchOffset,
        leaderLogEndOffset: log.logEndOffset, brokerEpoch: request.brokerEpoch, nowMs: now)
      if let leader = slots[i].leaderState,
        leader.mayJoinIsr(request.replica, highWatermark: log.highWatermark),
        let change = slots[i].leaderState?.propose(
          isr: leader.replicas.filter { leader.isr.contains($0) || $0 == request.replica })
      {
        submit(change, i, now: now)
      }
      maybeAdvanceHighWatermark(i, now: now, settings)
    }
    let records = slots[i].log.entries(from: request.fetchOffset, max: settings.fetchMaxEntries)
    if records.isEmpty && recordProgress { return nil }
    return .records(records, highWatermark: slots[i].log.highWatermark)
  }

  /// Held fetches are answered when data arrives or their wait runs out (a DelayedFetch
  /// re-reads without recording progress).
  func answerHeldFetches(now: Int64, _ settings: ReplicationSimSettings) {
    guard !heldFetches.isEmpty else { return }
    var still: [HeldFetch] = []
    for held in heldFetches {
      guard
        let answer = readForFetch(held.request, recordProgress: false, now: now, settings: settings)
      else { continue }
      if case .records(let records, _) = answer, records.isEmpty, now < held.until {
        still.append(held)
        continue
      }
      outbox.append((held.from, .fetchAnswer(held.request, answer)))
    }
    heldFetches = still
  }

  // MARK: follower side

  func fetchIfDue(_ i: Int, now: Int64) {
    guard case .follower(let leaderId) = slots[i].role, now >= slots[i].fetchDelayedUntil else {
      return
    }
    if let sent = slots[i].fetchSentAt, now - sent < 3000 { return }
    let log = slots[i].log
    let request = ReplicationSimFetch(
      tp: slots[i].tp, replica: id, brokerEpoch: epoch ?? -1,
      currentLeaderEpoch: slots[i].leaderEpoch, fetchOffset: log.logEndOffset,
      lastFetchedEpoch: log.latestEpoch ?? -1)
    slots[i].fetchSentAt = now
    outbox.append((.broker(leaderId, incarnation: nil), .fetch(request)))
  }

  /// `ReplicaFetcher.handle`: append, take the high watermark, truncate on divergence.
  func handleFetchAnswer(
    _ request: ReplicationSimFetch, _ result: ReplicationSimFetchResult,
    from: ReplicationSimAddress, now: Int64, settings: ReplicationSimSettings
  ) {
    guard let i = slotIndex[request.tp] else { return }
    let current =
      slots[i].role == .follower(leaderId: leaderId(of: from))
      && slots[i].leaderEpoch == request.currentLeaderEpoch
    if current { slots[i].fetchSentAt = nil }
    if settings.strictFetcher {
      // Kafka's fetcher drops a response whose partition moved on meanwhile.
      guard current, slots[i].log.logEndOffset == request.fetchOffset else { return }
    }
    switch result {
    case .diverging(let epoch, let endOffset, let highWatermark)
    where epoch >= 0 || endOffset >= 0:
      _ = highWatermark
      truncate(i, divergingEpoch: epoch, endOffset: endOffset)
    case .diverging(_, _, let highWatermark):
      slots[i].log.setHighWatermarkFromLeader(min(highWatermark, slots[i].log.logEndOffset))
      slots[i].fetchDelayedUntil = now + 100
    case .records(let records, let highWatermark):
      if !records.isEmpty {
        let leo = slots[i].log.logEndOffset
        if request.fetchOffset < leo {
          // appendAsFollower refuses a batch below the log end.
          slots[i].fetchDelayedUntil = now + settings.fetchBackoffMs
          return
        }
        if request.fetchOffset > leo {
          events.append(
            .violation(
              "broker \(id) \(request.tp): follower append at \(request.fetchOffset) leaves a gap after \(leo)"
            ))
          return
        }
        slots[i].log.appendAsFollower(records)
        if tracing {
          print(
            "  b\(id) \(request.tp) appended \(records.count) at \(leo) (epochs \(records.map(\.epoch))) hw \(highWatermark)"
          )
        }
      } else if current {
        slots[i].fetchDelayedUntil = now + 20
      }
      slots[i].log.setHighWatermarkFromLeader(min(highWatermark, slots[i].log.logEndOffset))
    case .error(.offsetOutOfRange, let leaderEnd):
      truncations += 1
      if leaderEnd >= 0 && leaderEnd < slots[i].log.logEndOffset {
        slots[i].log.truncate(to: leaderEnd)
      } else {
        slots[i].log.truncate(to: 0)
      }
    case .error:
      slots[i].fetchDelayedUntil = now + settings.fetchBackoffMs
    }
  }

  func leaderId(of address: ReplicationSimAddress) -> Int32 {
    if case .broker(let id, _) = address { return id }
    return -1
  }

  /// `ReplicaFetcher.truncate(toDiverging:)`.
  func truncate(_ i: Int, divergingEpoch: Int32, endOffset: Int64) {
    let log = slots[i].log
    let ours = log.endOffset(forLeaderEpoch: divergingEpoch)
    var target: Int64
    if ours.epoch < 0 {
      target = log.highWatermark
    } else if ours.epoch == divergingEpoch {
      target = min(endOffset, ours.endOffset)
    } else {
      target = ours.endOffset
    }
    target = min(target, log.logEndOffset)
    if target < log.logEndOffset { truncations += 1 }
    if tracing {
      print(
        "  b\(id) \(slots[i].tp) diverging \(divergingEpoch)@\(endOffset): ours \(ours), truncating \(log.logEndOffset) to \(target), epochs \(log.epochs.map { "\($0.epoch)@\($0.startOffset)" })"
      )
    }
    slots[i].log.truncate(to: target)
  }

  // MARK: produce

  func produce(
    _ call: ReplicationSimProduce, from: ReplicationSimAddress, now: Int64,
    settings: ReplicationSimSettings
  ) {
    guard let i = slotIndex[call.tp], slots[i].role == .leader else {
      outbox.append((from, .produceAnswer(call, .error(.notLeaderOrFollower))))
      return
    }
    guard slots[i].isr.count >= slots[i].effectiveMinIsr(settings.minIsr) else {
      outbox.append((from, .produceAnswer(call, .error(.notEnoughReplicas))))
      return
    }
    let offset = slots[i].log.appendAsLeader(record: call.record, epoch: slots[i].leaderEpoch)
    pendingProduces.append(
      PendingProduce(
        call: call, from: from, offset: offset, leaderEpoch: slots[i].leaderEpoch,
        deadline: now + settings.produceTimeoutMs))
    maybeAdvanceHighWatermark(i, now: now, settings)
    answerHeldFetches(now: now, settings)
  }

  /// `DelayedProduce.check`: committed once the high watermark passes the record.
  func completeProduces(now: Int64, _ settings: ReplicationSimSettings) {
    guard !pendingProduces.isEmpty else { return }
    var still: [PendingProduce] = []
    for pending in pendingProduces {
      guard let i = slotIndex[pending.call.tp], slots[i].role == .leader else {
        outbox.append((pending.from, .produceAnswer(pending.call, .error(.notLeaderOrFollower))))
        continue
      }
      if slots[i].log.highWatermark >= pending.offset + 1 {
        let result: ReplicationSimProduceResult =
          slots[i].isr.count >= slots[i].effectiveMinIsr(settings.minIsr)
          ? .committed(offset: pending.offset, leaderEpoch: pending.leaderEpoch)
          : .error(.notEnoughReplicasAfterAppend)
        outbox.append((pending.from, .produceAnswer(pending.call, result)))
      } else if now >= pending.deadline {
        outbox.append((pending.from, .produceAnswer(pending.call, .error(.requestTimedOut))))
      } else {
        still.append(pending)
      }
    }
    pendingProduces = still
  }

  // MARK: invariants of one broker

  /// Every tick: no high watermark above its log end, no leader's high watermark going down.
  func checkLocalInvariants() {
    for slot in slots {
      let hw = slot.log.highWatermark
      if hw > slot.log.logEndOffset {
        events.append(
          .violation(
            "broker \(id) \(slot.tp): high watermark \(hw) above log end \(slot.log.logEndOffset)"
          ))
      }
      if let term = slot.termHighWatermark {
        if hw < term {
          events.append(
            .violation(
              "broker \(id) leader of \(slot.tp) epoch \(slot.leaderEpoch): high watermark went from \(term) down to \(hw)"
            ))
        }
        if hw > term { slot.termHighWatermark = hw }
      }
    }
  }

  /// A leader's view: its ISR within the replicas, itself in it.
  func checkLeaderViews() {
    for slot in slots {
      guard slot.role == .leader, let leader = slot.leaderState else { continue }
      if !leader.isr.allSatisfy(leader.replicas.contains) || !leader.isr.contains(id) {
        events.append(
          .violation(
            "broker \(id) leader of \(slot.tp): ISR \(leader.isr) for replicas \(leader.replicas)"))
      }
    }
  }
}
