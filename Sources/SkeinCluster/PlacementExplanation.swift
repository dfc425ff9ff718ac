/// The placement explainer behind `skein placement` and `/v1/placement`: the replicas of
/// each partition over an ordered broker list — planned by `ReplicaPlacement` or read from a
/// live topic — and, for a set of failed brokers, where leadership would move.
public struct PlacementExplanation: Sendable, Hashable {
  /// The brokers in the order placement walks them (rack-alternated when they have racks).
  public var brokers: [ReplicaPlacement.Broker]
  public var partitions: [ReplicaLayout.Partition]
  public var failover: LeadershipFailover?

  /// A planned assignment of new partitions, as `kafka-topics --create` would place them.
  public init(
    planning brokers: [ReplicaPlacement.Broker], partitions: Int, replicationFactor: Int,
    strategy: ReplicaPlacement.Strategy = .kafka, startIndex: Int? = nil,
    failed: Set<Int32>? = nil
  ) throws(ControllerError) {
    let assignment = try ReplicaPlacement.assign(
      brokers: brokers, partitions: partitions, replicationFactor: replicationFactor,
      strategy: strategy, startIndex: startIndex)
    self.init(
      brokers: try ReplicaPlacement.orderedBrokers(brokers),
      partitions: assignment.enumerated().map {
        ReplicaLayout.Partition(partition: Int32($0), replicas: $1)
      }, failed: failed)
  }

  /// Planned partitions (with `failed`, each led by its first surviving replica) over
  /// `brokers`.
  public init(
    brokers: [ReplicaPlacement.Broker], partitions: [ReplicaLayout.Partition],
    failed: Set<Int32>? = nil
  ) {
    self.brokers =
      (try? ReplicaPlacement.orderedBrokers(brokers)) ?? brokers.sorted { $0.id < $1.id }
    self.partitions = partitions.sorted { $0.partition < $1.partition }
    failover = failed.map {
      LeadershipFailover(planned: self.partitions, brokers: self.brokers.map(\.id), failed: $0)
    }
  }

  /// A live topic over the cluster's unfenced brokers; with `failed`, leadership and ISRs as
  /// the controller would change them on fencing those brokers — its own decision, run on a
  /// copy of the image. nil for an unknown topic.
  public init?(topic: String, image: MetadataImage, failed: Set<Int32>? = nil) {
    guard let info = image.topics[topic] else { return nil }
    let brokers = image.brokers.values.filter { !$0.fenced }.map {
      ReplicaPlacement.Broker(id: $0.id, rack: $0.rack)
    }
    self.brokers =
      (try? ReplicaPlacement.orderedBrokers(brokers)) ?? brokers.sorted { $0.id < $1.id }
    partitions = info.partitions.map(\.layoutPartition)
    guard let failed else { return }
    var next = image
    for id in failed.sorted() {
      next.brokers[id]?.fenced = true
      _ = ControllerDecisions.removeFromIsrsAndLeadership(id, image: &next)
    }
    failover = LeadershipFailover(
      before: partitions, after: next.topics[topic]?.partitions.map(\.layoutPartition) ?? [],
      brokers: self.brokers.map(\.id), failed: failed)
  }

  /// The deck's table before any failure.
  public var layout: ReplicaLayout { ReplicaLayout(partitions: partitions, brokers: brokers) }

  /// The deck's table after the failure: failed brokers' rows marked absent, their replicas
  /// out of the ISR, moved leaders and offline partitions marked.
  public var layoutAfterFailover: ReplicaLayout? {
    failover.map { failover in
      let failed = Set(failover.failed)
      var layout = ReplicaLayout(partitions: failover.partitions, brokers: brokers)
      for i in layout.rows.indices where failed.contains(layout.rows[i].broker.id) {
        layout.rows[i].registered = false
      }
      return layout
    }
  }

  /// Brokers written `ID:RACK,…` or `ID,…` (all with racks or none): the explainer's input.
  public static func parseBrokers(_ text: String) throws(PlacementInputError)
    -> [ReplicaPlacement.Broker]
  {
    var brokers: [ReplicaPlacement.Broker] = []
    var seen: Set<Int32> = []
    for item in text.split(separator: ",", omittingEmptySubsequences: false) {
      let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
      guard let first = parts.first, let id = Int32(first.trimmingSpaces), id >= 0 else {
        throw PlacementInputError("'\(item)' is not ID or ID:RACK")
      }
      var rack: String?
      if parts.count == 2 {
        let name = parts[1].trimmingSpaces
        guard !name.isEmpty else { throw PlacementInputError("'\(item)' has an empty rack") }
        rack = name
      }
      guard seen.insert(id).inserted else {
        throw PlacementInputError("broker \(id) is listed twice")
      }
      brokers.append(ReplicaPlacement.Broker(id: id, rack: rack))
    }
    return brokers
  }

  /// Failed brokers written `ID,…`, each one of `known`.
  public static func parseFailed(_ text: String, known: Set<Int32>) throws(PlacementInputError)
    -> Set<Int32>
  {
    var failed: Set<Int32> = []
    for item in text.split(separator: ",") {
      guard let id = Int32(item.trimmingSpaces), known.contains(id) else {
        throw PlacementInputError("'\(item)' is not one of the brokers")
      }
      failed.insert(id)
    }
    return failed
  }
}

extension PartitionInfo {
  /// The partition as the deck's table and the placement explainer see it.
  public var layoutPartition: ReplicaLayout.Partition {
    ReplicaLayout.Partition(partition: partition, replicas: replicas, leader: leader, isr: isr)
  }
}

/// Input to the placement explainer that cannot be read; the message names the bad part.
public struct PlacementInputError: Error, Sendable, Equatable {
  public var message: String
  public init(_ message: String) { self.message = message }
}

extension Substring {
  fileprivate var trimmingSpaces: String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}
