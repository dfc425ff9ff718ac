import SkeinBroker
import SkeinCluster

/// `/v1/placement`: the placement explainer over HTTP. Either a plan —
/// `brokers=0:R1,1:R2,…&partitions=N&replication-factor=R` with optional `start-index`
/// (default 0, so the answer is repeatable), `strategy` and `fail`; brokers default to the
/// cluster's unfenced ones — or a live topic — `topic=T` with optional `fail`, answered with
/// the controller's own decision on fencing those brokers. The `partitions` and
/// `failover` keys are those of `skein placement --format json`; `layout` and
/// `failover.layout` are the deck's table before and after, as `/v1/topics/{t}/layout`.
struct PlacementView: Encodable {
  struct PartitionEntry: Encodable {
    var partition: Int32
    var replicas: [Int32]
  }

  struct BrokerEntry: Encodable {
    var id: Int32
    var rack: String?
    var label: String
  }

  struct LeaderEntry: Encodable {
    var partition: Int32
    /// Encoded as null when the partition would be offline.
    var leader: Int32?
    var was: Int32?

    func encode(to encoder: any Encoder) throws {
      var c = encoder.container(keyedBy: CodingKeys.self)
      try c.encode(partition, forKey: .partition)
      try c.encode(leader, forKey: .leader)
      try c.encode(was, forKey: .was)
    }

    enum CodingKeys: String, CodingKey { case partition, leader, was }
  }

  struct CountEntry: Encodable {
    var broker: Int32
    var leaders: Int
  }

  struct FailoverEntry: Encodable {
    var failed: [Int32]
    var leaders: [LeaderEntry]
    var leaderCounts: [CountEntry]
    var offline: [Int32]
    var layout: LayoutView
  }

  var topic: String?
  var brokers: [BrokerEntry]
  var partitions: [PartitionEntry]
  var layout: LayoutView
  var failover: FailoverEntry?

  init(_ explanation: PlacementExplanation, topic: String?) {
    self.topic = topic
    brokers = explanation.brokers.map {
      BrokerEntry(
        id: $0.id, rack: $0.rack, label: ReplicaLayout.Row(broker: $0, positions: []).label)
    }
    partitions = explanation.partitions.map {
      PartitionEntry(partition: $0.partition, replicas: $0.replicas)
    }
    layout = LayoutView(explanation.layout, topic: topic)
    if let failover = explanation.failover, let after = explanation.layoutAfterFailover {
      self.failover = FailoverEntry(
        failed: failover.failed,
        leaders: failover.leaderships.map {
          LeaderEntry(partition: $0.partition, leader: $0.after, was: $0.before)
        },
        leaderCounts: failover.leaderCounts.map {
          CountEntry(broker: $0.broker, leaders: $0.leaders)
        },
        offline: failover.offline, layout: LayoutView(after, topic: topic))
    }
  }

  /// Why a placement question cannot be answered: a bad parameter (400) or an unknown topic
  /// (404).
  enum Refusal: Error {
    case badRequest(String)
    case unknownTopic(String)
  }

  static let parameters: Set<String> = [
    "brokers", "partitions", "replication-factor", "start-index", "strategy", "fail", "topic",
  ]

  /// Answers the question in `query` against the cluster in `image`.
  static func answer(_ query: [String: String], image: MetadataImage) throws(Refusal)
    -> PlacementView
  {
    if let unknown = query.keys.sorted().first(where: { !parameters.contains($0) }) {
      throw .badRequest(
        "unknown parameter \(unknown); use \(parameters.sorted().joined(separator: ", "))")
    }
    func failed(known: [ReplicaPlacement.Broker]) throws(Refusal) -> Set<Int32>? {
      guard let text = query["fail"] else { return nil }
      do {
        return try PlacementExplanation.parseFailed(text, known: Set(known.map(\.id)))
      } catch {
        throw .badRequest("fail: \(error.message)")
      }
    }
    if let topic = query["topic"] {
      for key in ["brokers", "partitions", "replication-factor", "start-index", "strategy"]
      where query[key] != nil {
        throw .badRequest("\(key) plans new partitions; it cannot be given with topic")
      }
      guard let info = image.topics[topic] else { throw .unknownTopic(topic) }
      let known = Set(image.brokers.keys).union(info.partitions.flatMap(\.replicas)).map {
        ReplicaPlacement.Broker(id: $0)
      }
      guard
        let explanation = PlacementExplanation(
          topic: topic, image: image, failed: try failed(known: known))
      else { throw .unknownTopic(topic) }
      return PlacementView(explanation, topic: topic)
    }

    func count(_ key: String, required: Bool, minimum: Int) throws(Refusal) -> Int? {
      guard let text = query[key] else {
        if required { throw .badRequest("\(key) is required (or give topic)") }
        return nil
      }
      guard let value = Int(text), value >= minimum else {
        throw .badRequest("\(key) must be an integer ≥ \(minimum), got '\(text)'")
      }
      return value
    }
    let brokers: [ReplicaPlacement.Broker]
    if let text = query["brokers"] {
      do {
        brokers = try PlacementExplanation.parseBrokers(text)
      } catch {
        throw .badRequest("brokers: \(error.message)")
      }
    } else {
      brokers = image.brokers.values.filter { !$0.fenced }.sorted { $0.id < $1.id }.map {
        ReplicaPlacement.Broker(id: $0.id, rack: $0.rack)
      }
    }
    let partitions = try count("partitions", required: true, minimum: 1) ?? 1
    let replicationFactor = try count("replication-factor", required: true, minimum: 1) ?? 1
    let startIndex = try count("start-index", required: false, minimum: 0) ?? 0
    let strategyName = query["strategy"] ?? ReplicaPlacement.Strategy.kafka.rawValue
    guard let strategy = ReplicaPlacement.Strategy(rawValue: strategyName) else {
      throw .badRequest("strategy must be kafka or round-robin, not '\(strategyName)'")
    }
    do {
      let explanation = try PlacementExplanation(
        planning: brokers, partitions: partitions, replicationFactor: replicationFactor,
        strategy: strategy, startIndex: startIndex, failed: try failed(known: brokers))
      return PlacementView(explanation, topic: nil)
    } catch let error as ControllerError {
      throw .badRequest("\(error.code.kafkaName): \(error.message)")
    } catch let refusal as Refusal {
      throw refusal
    } catch {
      throw .badRequest("\(error)")
    }
  }
}
