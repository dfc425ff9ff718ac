/// Where leadership goes when some brokers fail. For a live topic it is what the controller
/// would decide on fencing them (`PlacementExplanation` runs its decision on a copy of the
/// image); for a plan, each partition is led by its first surviving replica. A partition
/// left with no eligible replica is offline.
public struct LeadershipFailover: Sendable, Hashable {
  /// A partition's leader before and after the failure.
  public struct Leadership: Sendable, Hashable {
    public var partition: Int32
    /// The leader before: the live leader, or the preferred (first) replica of a plan.
    public var before: Int32?
    /// The leader after; nil when no eligible replica survives.
    public var after: Int32?
  }

  /// A surviving broker and how many partitions it leads after the failure.
  public struct BrokerLeaders: Sendable, Hashable {
    public var broker: Int32
    public var leaders: Int
  }

  public var failed: [Int32]
  /// By partition number.
  public var leaderships: [Leadership]
  /// Surviving brokers by id, with those that lead nothing.
  public var leaderCounts: [BrokerLeaders]
  /// The partitions as they would be: leaders moved (or -1), ISRs without the failed brokers.
  public var partitions: [ReplicaLayout.Partition]

  /// Partitions left without a leader.
  public var offline: [Int32] { leaderships.filter { $0.after == nil }.map(\.partition) }

  /// The failure of `failed` that turns partitions `before` into `after` (same partitions).
  public init(
    before: [ReplicaLayout.Partition], after: [ReplicaLayout.Partition], brokers: [Int32],
    failed: Set<Int32>
  ) {
    self.failed = failed.sorted()
    let afterByPartition = Dictionary(
      after.map { ($0.partition, $0) }, uniquingKeysWith: { first, _ in first })
    var counts: [Int32: Int] = [:]
    for broker in brokers where !failed.contains(broker) { counts[broker] = 0 }
    var leaderships: [Leadership] = []
    for p in before.sorted(by: { $0.partition < $1.partition }) {
      let was = p.leader.map { $0 >= 0 ? $0 : nil } ?? p.replicas.first
      let now = afterByPartition[p.partition]?.leader.flatMap { $0 >= 0 ? $0 : nil }
      if let now { counts[now, default: 0] += 1 }
      leaderships.append(Leadership(partition: p.partition, before: was, after: now))
    }
    self.leaderships = leaderships
    self.partitions = after.sorted { $0.partition < $1.partition }
    leaderCounts = counts.sorted { $0.key < $1.key }.map {
      BrokerLeaders(broker: $0.key, leaders: $0.value)
    }
  }

  /// The failure of `failed` for a planned assignment: each partition's first surviving
  /// replica leads; the failed brokers leave the ISR.
  public init(planned before: [ReplicaLayout.Partition], brokers: [Int32], failed: Set<Int32>) {
    let after = before.map { p in
      let survivors = p.replicas.filter { !failed.contains($0) }
      return ReplicaLayout.Partition(
        partition: p.partition, replicas: p.replicas, leader: survivors.first ?? -1,
        isr: survivors)
    }
    self.init(before: before, after: after, brokers: brokers, failed: failed)
  }
}
