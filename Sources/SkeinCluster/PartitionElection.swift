import KafkaProtocol

/// One partition's next leader and ISR, chosen as Kafka's PartitionChangeBuilder chooses them:
/// set a target ISR (and recovery state) and the kind of election, then `build()` gives the
/// PartitionChangeRecord carrying only what changed, or nil when nothing does.
public struct PartitionElection: Sendable {
  /// How a leader may be chosen.
  public enum Election: Sendable, Hashable {
    /// Keep the current leader while it is valid, else the first valid replica.
    case online
    /// The preferred replica if it is valid, else as `online`.
    case preferred
    /// As `online`, then any acceptable replica even outside the ISR (data may be lost).
    case unclean
  }

  public let topicId: KafkaUuid
  public let partition: PartitionInfo
  public var targetIsr: [Int32]
  public var targetLeaderRecoveryState: Int8
  public var election: Election
  private let brokers: [Int32: BrokerInfo]

  public init(
    topicId: KafkaUuid, partition: PartitionInfo, image: MetadataImage, election: Election = .online
  ) {
    self.topicId = topicId
    self.partition = partition
    self.targetIsr = partition.isr
    self.targetLeaderRecoveryState = partition.leaderRecoveryState
    self.election = election
    self.brokers = image.brokers
  }

  /// Kafka's acceptable leader: registered, unfenced, not in controlled shutdown.
  public static func isAcceptableLeader(_ id: Int32, image: MetadataImage) -> Bool {
    image.brokers[id]?.isActive ?? false
  }

  private func isAcceptable(_ id: Int32) -> Bool { brokers[id]?.isActive ?? false }

  private func isValidNewLeader(_ id: Int32) -> Bool { targetIsr.contains(id) && isAcceptable(id) }

  /// The leader the election gives, and whether it was taken from outside the ISR.
  public func electedLeader() -> (leader: Int32, unclean: Bool) {
    let current = partition.leader
    switch election {
    case .preferred:
      if let preferred = partition.replicas.first, isValidNewLeader(preferred) {
        return (preferred, false)
      }
      if isValidNewLeader(current) { return (current, false) }
      if let leader = partition.replicas.first(where: isValidNewLeader) { return (leader, false) }
      return (PartitionInfo.noLeader, false)
    case .online, .unclean:
      if isValidNewLeader(current) { return (current, false) }
      if let leader = partition.replicas.first(where: isValidNewLeader) { return (leader, false) }
      if election == .unclean, let leader = partition.replicas.first(where: isAcceptable) {
        return (leader, true)
      }
      return (PartitionInfo.noLeader, false)
    }
  }

  /// The change, with `leader: -2` when the leader stays and `isr: nil` when the ISR does.
  public func build() -> PartitionChangeRecord? {
    var isr = targetIsr
    var recovery = targetLeaderRecoveryState
    let (leader, unclean) = electedLeader()
    if unclean {
      isr = [leader]
      recovery = PartitionInfo.recovering
    }
    var record = PartitionChangeRecord(partitionId: partition.partition, topicId: topicId)
    var changed = false
    if leader != partition.leader {
      record.leader = leader
      changed = true
    }
    if isr != partition.isr {
      record.isr = isr
      changed = true
    }
    if recovery != partition.leaderRecoveryState {
      record.leaderRecoveryState = recovery
      changed = true
    }
    return changed ? record : nil
  }
}
