/// A member as a KIP-848 server-side assignor sees it: what it subscribes to and what it owns.
public struct AssignorMember: Sendable, Hashable {
  public var memberId: String
  public var subscribedTopics: Set<String>
  /// The member's current assignment, by topic.
  public var current: [String: Set<Int32>]

  public init(memberId: String, subscribedTopics: Set<String>, current: [String: Set<Int32>] = [:])
  {
    self.memberId = memberId
    self.subscribedTopics = subscribedTopics
    self.current = current
  }
}

/// A target assignment: member id → topic → partitions.
public typealias TargetAssignment = [String: [String: Set<Int32>]]

/// The server-side assignors of KIP-848 (`group.consumer.assignors`: uniform, range). Both are
/// sticky: a member keeps what it owns where the balance allows, so fewer partitions move.
/// Consumer groups (ConsumerGroupHeartbeat) compute their target assignment with them.
public enum ServerAssignor: String, Sendable, CaseIterable {
  case uniform
  case range

  /// Assigns every partition of the subscribed topics (`partitions`: topic → partition count)
  /// to exactly one subscribed member.
  public func assign(members: [AssignorMember], partitions: [String: Int32]) -> TargetAssignment {
    switch self {
    case .uniform: Self.uniform(members, partitions)
    case .range: Self.range(members, partitions)
    }
  }

  /// Balances the number of partitions per member over all topics: members eligible for a
  /// partition differ by at most one partition wherever subscriptions allow.
  static func uniform(_ members: [AssignorMember], _ partitions: [String: Int32])
    -> TargetAssignment
  {
    let sorted = members.sorted { $0.memberId < $1.memberId }
    var owner: [PartitionKey: String] = [:]
    var owned: [String: Set<PartitionKey>] = [:]
    for m in sorted { owned[m.memberId] = [] }
    // Keep what members own and may still own.
    for m in sorted {
      for (topic, ps) in m.current where m.subscribedTopics.contains(topic) {
        for p in ps.sorted() where p >= 0 && p < (partitions[topic] ?? 0) {
          let key = PartitionKey(topic: topic, partition: p)
          if owner[key] == nil {
            owner[key] = m.memberId
            owned[m.memberId, default: []].insert(key)
          }
        }
      }
    }
    let all = partitions.keys.sorted().flatMap { topic in
      (0..<max(partitions[topic] ?? 0, 0)).map { PartitionKey(topic: topic, partition: $0) }
    }
    func eligible(_ key: PartitionKey) -> [String] {
      sorted.filter { $0.subscribedTopics.contains(key.topic) }.map(\.memberId)
    }
    func leastLoaded(_ candidates: [String]) -> String? {
      candidates.min { (owned[$0]?.count ?? 0, $0) < (owned[$1]?.count ?? 0, $1) }
    }
    // Give the rest to the least loaded eligible member.
    for key in all where owner[key] == nil {
      guard let target = leastLoaded(eligible(key)) else { continue }
      owner[key] = target
      owned[target, default: []].insert(key)
    }
    // Move partitions from members two or more above an eligible member until balanced.
    var moved = true
    while moved {
      moved = false
      for key in all {
        guard let from = owner[key], let to = leastLoaded(eligible(key)),
          (owned[to]?.count ?? 0) + 1 < (owned[from]?.count ?? 0)
        else { continue }
        owned[from]?.remove(key)
        owned[to, default: []].insert(key)
        owner[key] = to
        moved = true
      }
    }
    return Self.target(sorted, owned)
  }

  /// Per topic, the subscribed members (by member id) get contiguous shares: the first
  /// `count % members` one more. A member keeps the partitions it owns within its share.
  static func range(_ members: [AssignorMember], _ partitions: [String: Int32]) -> TargetAssignment
  {
    let sorted = members.sorted { $0.memberId < $1.memberId }
    var owned: [String: Set<PartitionKey>] = [:]
    for m in sorted { owned[m.memberId] = [] }
    for topic in partitions.keys.sorted() {
      let count = Int(max(partitions[topic] ?? 0, 0))
      let subscribers = sorted.filter { $0.subscribedTopics.contains(topic) }
      guard !subscribers.isEmpty, count > 0 else { continue }
      let base = count / subscribers.count
      let extra = count % subscribers.count
      var quota: [String: Int] = [:]
      for (i, m) in subscribers.enumerated() { quota[m.memberId] = base + (i < extra ? 1 : 0) }
      var taken: Set<Int32> = []
      var shares: [String: [Int32]] = [:]
      // Sticky first: owned partitions within the quota.
      for m in subscribers {
        for p in (m.current[topic] ?? []).sorted() where p >= 0 && p < count && !taken.contains(p) {
          guard (shares[m.memberId]?.count ?? 0) < (quota[m.memberId] ?? 0) else { break }
          shares[m.memberId, default: []].append(p)
          taken.insert(p)
        }
      }
      // Then the free partitions in order, filling members in member id order.
      var free = (0..<Int32(count)).filter { !taken.contains($0) }[...]
      for m in subscribers {
        while (shares[m.memberId]?.count ?? 0) < (quota[m.memberId] ?? 0), let p = free.popFirst() {
          shares[m.memberId, default: []].append(p)
        }
      }
      for (memberId, ps) in shares {
        for p in ps {
          owned[memberId, default: []].insert(PartitionKey(topic: topic, partition: p))
        }
      }
    }
    return Self.target(sorted, owned)
  }

  private static func target(_ members: [AssignorMember], _ owned: [String: Set<PartitionKey>])
    -> TargetAssignment
  {
    var result: TargetAssignment = [:]
    for m in members {
      var byTopic: [String: Set<Int32>] = [:]
      for key in owned[m.memberId] ?? [] { byTopic[key.topic, default: []].insert(key.partition) }
      result[m.memberId] = byTopic
    }
    return result
  }
}

struct PartitionKey: Hashable, Sendable {
  var topic: String
  var partition: Int32
}
