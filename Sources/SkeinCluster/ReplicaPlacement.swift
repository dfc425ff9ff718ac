import KafkaProtocol

/// Replica placement: which brokers hold the replicas of each new partition, leader first.
///
/// `.kafka` is the behaviour Kafka documents for `AdminUtils.assignReplicasToBrokers` (KIP-36):
/// - without racks, partition p's first replica is `brokers[(startIndex + p) % n]` and replica
///   j ≥ 1 sits at `(first + 1 + (shift + j - 1) % (n - 1)) % n`, where the shift starts at a start
///   shift and grows by one after each full round of n partitions, so followers do not repeat;
/// - with racks, the brokers are first arranged into the rack-alternated list (racks by name,
///   brokers by id within a rack, one from each rack in turn); leaders go round-robin over that
///   list and followers walk from the leader with the shift multiplied by the number of racks,
///   skipping brokers on a rack that already has a replica until every rack has one, and brokers
///   that already hold one.
///
/// `.roundRobin` is the architecture deck's plain picture: leaders round-robin over the ordered
/// (rack-alternated) list, followers the next brokers in that list, no shift.
public enum ReplicaPlacement {
  /// A broker that can hold replicas: its id and, when known, its rack.
  public struct Broker: Sendable, Hashable {
    public var id: Int32
    public var rack: String?

    public init(id: Int32, rack: String? = nil) {
      self.id = id
      self.rack = rack
    }
  }

  /// How replicas are spread.
  public enum Strategy: String, Sendable, CaseIterable {
    /// Kafka's `assignReplicasToBrokers`: round-robin leaders, followers with an increasing shift.
    case kafka
    /// The deck's plain round-robin: followers are the next brokers in the ordered list.
    case roundRobin = "round-robin"
  }

  /// The ordered broker list the placement walks: the rack-alternated list when brokers have
  /// racks (racks sorted by name, ids sorted within a rack, one broker from each rack in turn),
  /// otherwise the ids in ascending order.
  public static func orderedBrokers(_ brokers: [Broker]) throws(ControllerError) -> [Broker] {
    let sorted = brokers.sorted { $0.id < $1.id }
    if sorted.allSatisfy({ $0.rack == nil }) { return sorted }
    guard sorted.allSatisfy({ $0.rack != nil }) else {
      throw ControllerError(
        .invalidReplicaAssignment,
        "Not all brokers have rack information for replica rack aware assignment.")
    }
    var byRack: [String: [Broker]] = [:]
    for broker in sorted { byRack[broker.rack!, default: []].append(broker) }
    let racks = byRack.keys.sorted().map { byRack[$0]! }
    var result: [Broker] = []
    result.reserveCapacity(sorted.count)
    var round = 0
    while result.count < sorted.count {
      for rack in racks where round < rack.count { result.append(rack[round]) }
      round += 1
    }
    return result
  }

  /// Assigns replicas to `partitions` new partitions numbered from `startPartitionId`; element i
  /// of the result is partition `startPartitionId + i`, replicas in order with the leader first.
  ///
  /// `startIndex` fixes where the first leader goes (Kafka: random when not fixed) and
  /// `startShift` the first follower shift (Kafka: the fixed start index, else random).
  public static func assign(
    brokers: [Broker], partitions: Int, replicationFactor: Int,
    strategy: Strategy = .kafka, startIndex: Int? = nil, startShift: Int? = nil,
    startPartitionId: Int = 0
  ) throws(ControllerError) -> [[Int32]] {
    var generator = SystemRandomNumberGenerator()
    return try assign(
      brokers: brokers, partitions: partitions, replicationFactor: replicationFactor,
      strategy: strategy, startIndex: startIndex, startShift: startShift,
      startPartitionId: startPartitionId, using: &generator)
  }

  /// `assign` drawing the random start index and shift (when not fixed) from `generator`.
  public static func assign<G: RandomNumberGenerator>(
    brokers: [Broker], partitions: Int, replicationFactor: Int,
    strategy: Strategy = .kafka, startIndex: Int? = nil, startShift: Int? = nil,
    startPartitionId: Int = 0, using generator: inout G
  ) throws(ControllerError) -> [[Int32]] {
    guard partitions > 0 else {
      throw ControllerError(.invalidPartitions, "Number of partitions must be larger than 0.")
    }
    guard replicationFactor > 0 else {
      throw ControllerError(
        .invalidReplicationFactor, "Replication factor must be larger than 0.")
    }
    guard replicationFactor <= brokers.count else {
      throw ControllerError(
        .invalidReplicationFactor,
        "Replication factor: \(replicationFactor) larger than available brokers: \(brokers.count)."
      )
    }
    let ordered = try orderedBrokers(brokers)
    let n = ordered.count
    let start: Int
    if let startIndex {
      start = ((startIndex % n) + n) % n
    } else {
      start = Int.random(in: 0..<n, using: &generator)
    }
    let shift: Int
    if let fixed = startShift ?? startIndex {
      shift = fixed
    } else {
      shift = Int.random(in: 0..<n, using: &generator)
    }
    let firstPartition = max(0, startPartitionId)
    switch strategy {
    case .roundRobin:
      return (firstPartition..<firstPartition + partitions).map { p in
        (0..<replicationFactor).map { j in ordered[(start + p + j) % n].id }
      }
    case .kafka:
      let racks = Set(ordered.compactMap(\.rack))
      return kafkaAssignment(
        ordered: ordered, rackCount: racks.count, partitions: partitions,
        replicationFactor: replicationFactor, startIndex: start, startShift: max(0, shift),
        firstPartition: firstPartition)
    }
  }

  /// Where replica `k` (k ≥ 0, counting followers only) goes for a leader at `first`.
  private static func followerIndex(first: Int, shift: Int, k: Int, n: Int) -> Int {
    (first + 1 + (shift + k) % (n - 1)) % n
  }

  private static func kafkaAssignment(
    ordered: [Broker], rackCount: Int, partitions: Int, replicationFactor: Int,
    startIndex: Int, startShift: Int, firstPartition: Int
  ) -> [[Int32]] {
    let n = ordered.count
    var shift = startShift
    var result: [[Int32]] = []
    result.reserveCapacity(partitions)
    for p in firstPartition..<firstPartition + partitions {
      if p > 0 && p % n == 0 { shift += 1 }
      let first = (p + startIndex) % n
      var replicas = [ordered[first].id]
      replicas.reserveCapacity(replicationFactor)
      if rackCount == 0 {
        for k in 0..<replicationFactor - 1 {
          replicas.append(ordered[followerIndex(first: first, shift: shift, k: k, n: n)].id)
        }
      } else {
        var racksWithReplicas: Set<String> = [ordered[first].rack!]
        var brokersWithReplicas: Set<Int32> = [ordered[first].id]
        var k = 0
        for _ in 0..<replicationFactor - 1 {
          while true {
            let broker = ordered[followerIndex(first: first, shift: shift * rackCount, k: k, n: n)]
            k += 1
            let rack = broker.rack!
            let rackFree =
              !racksWithReplicas.contains(rack) || racksWithReplicas.count == rackCount
            let brokerFree =
              !brokersWithReplicas.contains(broker.id) || brokersWithReplicas.count == n
            if rackFree && brokerFree {
              replicas.append(broker.id)
              racksWithReplicas.insert(rack)
              brokersWithReplicas.insert(broker.id)
              break
            }
          }
        }
      }
      result.append(replicas)
    }
    return result
  }
}
