import KafkaProtocol
import SkeinCluster
import SkeinStorage
import Synchronization

/// A partition this broker hosts: its log and its role in the partition's replica set. As
/// leader it tracks its followers (`PartitionLeaderState`), moves the high watermark to the
/// minimum log end offset over the ISR and proposes ISR changes; as follower its log is filled
/// by a replica fetcher. The role comes from the metadata image.
final class Partition: Sendable {
  enum Role: Sendable, Equatable {
    case leader
    case follower(leaderId: Int32)
    /// No leader (or this broker is fenced out of the partition): nothing is served.
    case offline
  }

  /// What `apply` changed, for the replica manager to act on.
  enum Transition: Sendable, Equatable {
    case becameLeader
    case becameFollower(leaderId: Int32)
    case becameOffline
    case unchanged
  }

  private struct State {
    var role: Role = .offline
    var leaderEpoch: Int32 = -1
    var partitionEpoch: Int32 = -1
    var replicas: [Int32] = []
    var isr: [Int32] = []
    var leaderState: PartitionLeaderState?
    /// Replicas on brokers that are fenced or shutting down: they hold no high watermark back.
    var ineligibleReplicas: Set<Int32> = []
    /// As a follower: the leader's high watermark minus this log's end, at the last fetch.
    var fetcherLag: Int64 = 0
  }

  let topicPartition: TopicPartition
  let topicId: KafkaUuid
  let log: PartitionLog
  let localId: Int32
  private let settings: ReplicationSettings
  private let state = Mutex(State())
  /// Held by role changes and by a fetcher's writes to the log, so that an answer from the
  /// old leader never lands in a log that now leads or follows someone else (Kafka removes
  /// the fetcher under its partition map lock before makeLeader for the same reason).
  private let roleChange = Mutex(())

  init(
    topicPartition: TopicPartition, topicId: KafkaUuid, log: PartitionLog, localId: Int32,
    settings: ReplicationSettings
  ) {
    self.topicPartition = topicPartition
    self.topicId = topicId
    self.log = log
    self.localId = localId
    self.settings = settings
  }

  var highWatermark: Int64 { log.highWatermark }
  /// How far this follower was behind the leader's high watermark at its last fetch (Kafka's
  /// fetcher lag, the source of `ReplicaFetcherManager` MaxLag).
  var fetcherLag: Int64 { state.withLock { $0.fetcherLag } }
  func setFetcherLag(_ lag: Int64) { state.withLock { $0.fetcherLag = max(lag, 0) } }
  var leaderEpoch: Int32 { state.withLock { $0.leaderEpoch } }
  var role: Role { state.withLock { $0.role } }
  var isLeader: Bool { role == .leader }
  /// The committed ISR and the replica list.
  var isr: [Int32] { state.withLock { $0.isr } }
  var replicas: [Int32] { state.withLock { $0.replicas } }
  var leaderState: PartitionLeaderState? { state.withLock { $0.leaderState } }

  /// `min.insync.replicas` capped by the replication factor (Kafka's effectiveMinIsr).
  var effectiveMinIsr: Int {
    min(log.config.minInsyncReplicas, max(state.withLock { $0.replicas.count }, 1))
  }

  /// Runs `write` (a replica fetcher appending or truncating) only while this broker still
  /// follows `leaderId` in `leaderEpoch`, the epoch its fetch was sent in; nil when it no
  /// longer does (the answer is stale and dropped). A role change waits for a running write.
  func whileFollowing<T>(
    leaderId: Int32, leaderEpoch: Int32, _ write: () throws -> T
  ) rethrows -> T? {
    try roleChange.withLock { _ in
      let current = state.withLock { ($0.role, $0.leaderEpoch) }
      guard current.0 == .follower(leaderId: leaderId), current.1 == leaderEpoch else {
        return nil
      }
      return try write()
    }
  }

  /// Takes the partition's state from the metadata image; `ineligible`: its replicas whose
  /// brokers are fenced or shutting down there.
  func apply(_ info: PartitionInfo, ineligible: Set<Int32> = [], nowMs: Int64) -> Transition {
    state.withLock { $0.ineligibleReplicas = ineligible }
    return roleChange.withLock { _ in applyLocked(info, nowMs: nowMs) }
  }

  private func applyLocked(_ info: PartitionInfo, nowMs: Int64) -> Transition {
    let transition: Transition = state.withLock { s in
      let newRole: Role =
        info.leader == localId
        ? .leader : (info.leader < 0 ? .offline : .follower(leaderId: info.leader))
      let epochChanged = info.leaderEpoch != s.leaderEpoch
      defer {
        s.role = newRole
        s.leaderEpoch = info.leaderEpoch
        s.partitionEpoch = info.partitionEpoch
        s.replicas = info.replicas
        s.isr = info.isr
      }
      switch newRole {
      case .leader:
        if s.role == .leader && !epochChanged {
          s.leaderState?.updateCommitted(
            replicas: info.replicas, isr: info.isr, partitionEpoch: info.partitionEpoch,
            nowMs: nowMs)
          return .unchanged
        }
        // Kafka's makeLeader: the new epoch starts at this log's end.
        try? log.assignLeaderEpoch(info.leaderEpoch)
        s.leaderState = PartitionLeaderState(
          leaderId: localId, replicas: info.replicas, isr: info.isr,
          partitionEpoch: info.partitionEpoch, leaderEpochStartOffset: log.logEndOffset,
          nowMs: nowMs)
        return .becameLeader
      case .follower(let leaderId):
        s.leaderState = nil
        if s.role == newRole && !epochChanged { return .unchanged }
        return .becameFollower(leaderId: leaderId)
      case .offline:
        s.leaderState = nil
        return s.role == .offline ? .unchanged : .becameOffline
      }
    }
    if transition == .becameLeader { _ = maybeAdvanceHighWatermark(nowMs: nowMs) }
    return transition
  }

  /// A follower fetched from `fetchOffset`: its progress is recorded, the high watermark may
  /// advance, and it may be proposed for the ISR. Returns whether the high watermark moved and
  /// the ISR change to send, if any.
  /// `eligible`: the follower's broker may join an ISR now (registered in that epoch,
  /// unfenced, not shutting down — Kafka's isReplicaIsrEligible).
  func recordFollowerFetch(
    replica: Int32, fetchOffset: Int64, brokerEpoch: Int64, eligible: Bool, nowMs: Int64
  ) -> (highWatermarkMoved: Bool, isrChange: PartitionLeaderState.PendingIsrChange?) {
    let leo = log.logEndOffset
    let change: PartitionLeaderState.PendingIsrChange? = state.withLock { s in
      guard s.role == .leader, s.leaderState != nil else { return nil }
      s.leaderState?.recordFetch(
        replica: replica, fetchOffset: fetchOffset, leaderLogEndOffset: leo,
        brokerEpoch: brokerEpoch, nowMs: nowMs)
      guard eligible, let leader = s.leaderState,
        leader.mayJoinIsr(replica, highWatermark: log.highWatermark)
      else { return nil }
      let proposed = leader.replicas.filter { leader.isr.contains($0) || $0 == replica }
      return s.leaderState?.propose(isr: proposed)
    }
    return (maybeAdvanceHighWatermark(nowMs: nowMs), change)
  }

  /// Moves the high watermark up to what the ISR has (never down). Returns whether it moved.
  func maybeAdvanceHighWatermark(nowMs: Int64) -> Bool {
    let minIsr = log.config.minInsyncReplicas
    // Under the partition's lock, so two racing updates cannot move it back.
    return state.withLock { s in
      guard s.role == .leader, let leader = s.leaderState,
        let target = leader.highWatermark(
          leaderLogEndOffset: log.logEndOffset, minIsr: minIsr, nowMs: nowMs,
          lagTimeMaxMs: settings.lagTimeMaxMs, ineligible: s.ineligibleReplicas),
        target > log.highWatermark
      else { return false }
      _ = log.updateHighWatermark(target)
      return true
    }
  }

  /// The ISR shrink to propose: the followers that fell behind for `replica.lag.time.max.ms`.
  func isrShrink(nowMs: Int64) -> PartitionLeaderState.PendingIsrChange? {
    let leo = log.logEndOffset
    return state.withLock { s in
      guard s.role == .leader, let leader = s.leaderState, leader.pending == nil else {
        return nil
      }
      let out = leader.outOfSyncReplicas(
        leaderLogEndOffset: leo, nowMs: nowMs, lagTimeMaxMs: settings.lagTimeMaxMs)
      guard !out.isEmpty else { return nil }
      return s.leaderState?.propose(isr: leader.isr.filter { !out.contains($0) })
    }
  }

  /// The controller's answer to an ISR change: the committed state, or nil when refused.
  func isrChangeSettled(
    leaderEpoch: Int32, isr: [Int32]?, partitionEpoch: Int32?, nowMs: Int64
  ) {
    state.withLock { s in
      guard s.role == .leader, s.leaderEpoch == leaderEpoch else { return }
      if let isr, let partitionEpoch, partitionEpoch > s.partitionEpoch {
        s.isr = isr
        s.partitionEpoch = partitionEpoch
        s.leaderState?.updateCommitted(
          replicas: s.replicas, isr: isr, partitionEpoch: partitionEpoch, nowMs: nowMs)
      } else {
        s.leaderState?.abandonPending()
      }
    }
    _ = maybeAdvanceHighWatermark(nowMs: nowMs)
  }

  /// The partition epoch and leader epoch an AlterPartition for this partition carries.
  var epochs: (leaderEpoch: Int32, partitionEpoch: Int32) {
    state.withLock { ($0.leaderEpoch, $0.partitionEpoch) }
  }
}

/// Replication settings of a broker (Kafka's `replica.*` keys) that partitions and fetchers use.
struct ReplicationSettings: Sendable {
  var lagTimeMaxMs: Int64 = 30_000
  var fetchWaitMaxMs: Int32 = 500
  var fetchMinBytes: Int32 = 1
  var fetchMaxBytes: Int32 = 1_048_576
  var fetchResponseMaxBytes: Int32 = 10_485_760
  var fetchBackoffMs: Int64 = 1000
  var numFetchers: Int = 1
  var highWatermarkCheckpointIntervalMs: Int64 = 5000
  /// `replica.selector.class` is Kafka's RackAwareReplicaSelector (KIP-392).
  var rackAwareSelector = false
}
