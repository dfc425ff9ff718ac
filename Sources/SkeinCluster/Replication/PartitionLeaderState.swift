/// What the leader of a partition knows of its followers, and the rules Kafka's leader applies
/// with it (`Partition.scala`, `Replica.scala`): each follower's log end offset and the last
/// time it was caught up, the high watermark as the minimum log end offset over the ISR, which
/// followers fell out of sync and which may join. Pure and clock-free: times are passed in.
public struct PartitionLeaderState: Sendable, Equatable {
  /// One follower as seen from its fetches.
  public struct Follower: Sendable, Equatable {
    /// The follower's log end offset: the offset of its last fetch.
    public var logEndOffset: Int64 = -1
    /// When its fetches last reached the leader's log end (Kafka's lastCaughtUpTimeMs).
    public var lastCaughtUpTimeMs: Int64 = 0
    public var lastFetchTimeMs: Int64 = 0
    /// The leader's log end at that last fetch.
    public var lastFetchLeaderLogEndOffset: Int64 = -1
    /// The broker epoch its fetches carried (-1 when unknown).
    public var brokerEpoch: Int64 = -1
  }

  /// An ISR change sent to the controller and not yet committed.
  public struct PendingIsrChange: Sendable, Equatable {
    public var proposedIsr: [Int32]
    /// The partition epoch the proposal was made at.
    public var partitionEpoch: Int32
  }

  public let leaderId: Int32
  public private(set) var replicas: [Int32]
  /// The committed ISR, as the metadata log (or the AlterPartition answer) has it.
  public private(set) var isr: [Int32]
  public private(set) var partitionEpoch: Int32
  public private(set) var pending: PendingIsrChange?
  public private(set) var followers: [Int32: Follower]
  /// The leader's log end when it became leader in this epoch (Kafka's epoch start offset).
  public let leaderEpochStartOffset: Int64

  /// A new leadership (Kafka's `makeLeader` → `resetReplicaState`): ISR members count as
  /// caught up now, the others as never.
  public init(
    leaderId: Int32, replicas: [Int32], isr: [Int32], partitionEpoch: Int32,
    leaderEpochStartOffset: Int64, nowMs: Int64
  ) {
    self.leaderId = leaderId
    self.replicas = replicas
    self.isr = isr
    self.partitionEpoch = partitionEpoch
    self.leaderEpochStartOffset = leaderEpochStartOffset
    var followers: [Int32: Follower] = [:]
    for id in replicas where id != leaderId {
      var follower = Follower()
      if isr.contains(id) { follower.lastCaughtUpTimeMs = nowMs }
      followers[id] = follower
    }
    self.followers = followers
  }

  /// The ISR that commitment uses while a change is in flight: the committed ISR plus any
  /// member being added (Kafka's maximal ISR), so in-flight changes only make commitment
  /// stricter.
  public var maximalIsr: [Int32] {
    guard let pending else { return isr }
    return isr + pending.proposedIsr.filter { !isr.contains($0) }
  }

  /// A committed partition state from the metadata log or the controller's answer. States at
  /// or below the current partition epoch are ignored; a newer one settles any pending change.
  public mutating func updateCommitted(
    replicas: [Int32], isr: [Int32], partitionEpoch: Int32, nowMs: Int64
  ) {
    guard partitionEpoch > self.partitionEpoch else { return }
    self.replicas = replicas
    self.isr = isr
    self.partitionEpoch = partitionEpoch
    pending = nil
    for id in replicas where id != leaderId && followers[id] == nil {
      followers[id] = Follower()
    }
    for id in followers.keys where !replicas.contains(id) { followers[id] = nil }
    _ = nowMs
  }

  /// Records a follower's fetch (Kafka's `updateFetchStateOrThrow`): its log end offset is the
  /// fetch offset; it was caught up now if it asked for the leader's log end, or at its previous
  /// fetch if it now asks for what was the log end then.
  public mutating func recordFetch(
    replica: Int32, fetchOffset: Int64, leaderLogEndOffset: Int64, brokerEpoch: Int64,
    nowMs: Int64
  ) {
    guard var follower = followers[replica] else { return }
    if fetchOffset >= leaderLogEndOffset {
      follower.lastCaughtUpTimeMs = max(follower.lastCaughtUpTimeMs, nowMs)
    } else if fetchOffset >= follower.lastFetchLeaderLogEndOffset {
      follower.lastCaughtUpTimeMs = max(follower.lastCaughtUpTimeMs, follower.lastFetchTimeMs)
    }
    follower.logEndOffset = fetchOffset
    follower.lastFetchLeaderLogEndOffset = leaderLogEndOffset
    follower.lastFetchTimeMs = nowMs
    follower.brokerEpoch = brokerEpoch
    followers[replica] = follower
  }

  /// Kafka's `isCaughtUp`: at the leader's log end, or caught up within `lagTimeMaxMs`.
  public func isCaughtUp(
    _ replica: Int32, leaderLogEndOffset: Int64, nowMs: Int64, lagTimeMaxMs: Int64
  ) -> Bool {
    guard let follower = followers[replica] else { return replica == leaderId }
    return follower.logEndOffset == leaderLogEndOffset
      || nowMs - follower.lastCaughtUpTimeMs <= lagTimeMaxMs
  }

  /// The high watermark the leader may move to: the minimum log end offset over the maximal
  /// ISR and over the followers outside it that are caught up (so a catching-up follower is
  /// not starved) and ISR-eligible — a follower on a fenced or shutting-down broker
  /// (`ineligible`) holds nothing back (Kafka's isReplicaIsrEligible, KIP-841). Nil when the ISR
  /// is below `minIsr` (Kafka 4's strict min-ISR rule: the high watermark does not advance then).
  public func highWatermark(
    leaderLogEndOffset: Int64, minIsr: Int, nowMs: Int64, lagTimeMaxMs: Int64,
    ineligible: Set<Int32> = []
  ) -> Int64? {
    let effectiveMinIsr = min(minIsr, replicas.count)
    if isr.count < effectiveMinIsr { return nil }
    var hw = leaderLogEndOffset
    for id in replicas where id != leaderId {
      guard let follower = followers[id] else { continue }
      let counts =
        maximalIsr.contains(id)
        || !ineligible.contains(id)
          && isCaughtUp(
            id, leaderLogEndOffset: leaderLogEndOffset, nowMs: nowMs, lagTimeMaxMs: lagTimeMaxMs)
          && follower.logEndOffset >= 0
      if counts { hw = min(hw, max(follower.logEndOffset, 0)) }
    }
    return hw
  }

  /// Followers in the ISR that have not caught up within `lagTimeMaxMs` (Kafka's
  /// `getOutOfSyncReplicas`); never the leader.
  public func outOfSyncReplicas(leaderLogEndOffset: Int64, nowMs: Int64, lagTimeMaxMs: Int64)
    -> [Int32]
  {
    isr.filter { id in
      id != leaderId
        && !isCaughtUp(
          id, leaderLogEndOffset: leaderLogEndOffset, nowMs: nowMs, lagTimeMaxMs: lagTimeMaxMs)
    }
  }

  /// Whether `replica` may join the ISR (Kafka's `isFollowerInSync` with the expand checks):
  /// not in it yet, no change in flight, and its log end at or past both the high watermark
  /// and this epoch's start offset. Lag time is deliberately not checked.
  public func mayJoinIsr(_ replica: Int32, highWatermark: Int64) -> Bool {
    guard pending == nil, !isr.contains(replica), let follower = followers[replica] else {
      return false
    }
    return follower.logEndOffset >= highWatermark
      && follower.logEndOffset >= leaderEpochStartOffset
  }

  /// Starts an ISR change: the caller sends it to the controller. Refused while one is in
  /// flight or when it changes nothing.
  public mutating func propose(isr proposed: [Int32]) -> PendingIsrChange? {
    guard pending == nil, proposed != isr, proposed.contains(leaderId) else { return nil }
    let change = PendingIsrChange(proposedIsr: proposed, partitionEpoch: partitionEpoch)
    pending = change
    return change
  }

  /// Drops the change in flight (refused, or lost with its connection); the next check may
  /// propose again.
  public mutating func abandonPending() {
    pending = nil
  }
}
