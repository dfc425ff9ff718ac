import ArgumentParser
import KafkaProtocol
import SkeinCluster

/// `skein placement`: shows where replicas go for a broker layout, without a running broker.
struct PlacementCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "placement",
    abstract: "Show Kafka's replica placement for a broker layout (no broker needed).",
    discussion: """
      Brokers are given as ID:RACK pairs (--brokers 0:R1,1:R1,3:R2) or plain ids without racks \
      (--brokers 0,1,2). The table lists, per broker of the ordered (rack-alternated) list, the \
      partitions it leads and follows at each replica position.
      """)

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case table, json
  }

  @Option(
    name: .customLong("brokers"),
    help: "Comma-separated brokers: ID:RACK, or ID alone when brokers have no racks.")
  var brokerList: String

  @Option(name: .customLong("partitions"), help: "Number of partitions.")
  var partitionCount: Int

  @Option(name: .customLong("replication-factor"), help: "Replicas per partition.")
  var replicationFactor: Int

  @Option(
    name: .customLong("start-index"),
    help: "Position in the ordered broker list of partition 0's leader (default: random, as Kafka)."
  )
  var startIndex: Int?

  @Option(
    name: .customLong("strategy"),
    help: "kafka (Kafka's assignReplicasToBrokers) or round-robin (the deck's plain picture).")
  var strategyName: String = ReplicaPlacement.Strategy.kafka.rawValue

  @Option(name: .customLong("format"), help: "table or json.")
  var outputFormat: Format = .table

  @Option(
    name: .customLong("fail"),
    help: "Comma-separated broker ids: also show new leaders and lost partitions if they fail.")
  var failList: String?

  func validate() throws {
    _ = try parsedBrokers()
    _ = try strategy()
    if let startIndex, startIndex < 0 {
      throw ValidationError("--start-index must not be negative")
    }
    _ = try failedBrokers(known: Set(parsedBrokers().map(\.id)))
  }

  func run() throws {
    let brokers = try parsedBrokers()
    let failed = try failedBrokers(known: Set(brokers.map(\.id)))
    let assignment: [[Int32]]
    let ordered: [ReplicaPlacement.Broker]
    do {
      assignment = try ReplicaPlacement.assign(
        brokers: brokers, partitions: partitionCount, replicationFactor: replicationFactor,
        strategy: try strategy(), startIndex: startIndex)
      ordered = try ReplicaPlacement.orderedBrokers(brokers)
    } catch let error as ControllerError {
      CLIOutput.error("\(Self.codeName(error.code)): \(error.message)")
      throw ExitCode.failure
    }
    let failover = failed.map {
      Failover(assignment: assignment, brokers: brokers.map(\.id), failed: $0)
    }
    switch outputFormat {
    case .json:
      CLIOutput.out(Self.json(assignment, failover: failover))
    case .table:
      for line in Self.table(assignment, ordered: ordered, failover: failover) {
        CLIOutput.out(line)
      }
    }
  }

  // MARK: Parsing

  func strategy() throws -> ReplicaPlacement.Strategy {
    guard let strategy = ReplicaPlacement.Strategy(rawValue: strategyName) else {
      throw ValidationError("--strategy must be kafka or round-robin, not '\(strategyName)'")
    }
    return strategy
  }

  func parsedBrokers() throws -> [ReplicaPlacement.Broker] {
    var brokers: [ReplicaPlacement.Broker] = []
    var seen: Set<Int32> = []
    for item in brokerList.split(separator: ",", omittingEmptySubsequences: false) {
      let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
      guard let id = Int32(parts[0].trimmingSpaces), id >= 0 else {
        throw ValidationError("--brokers: '\(item)' is not ID or ID:RACK")
      }
      var rack: String?
      if parts.count == 2 {
        let name = parts[1].trimmingSpaces
        guard !name.isEmpty else { throw ValidationError("--brokers: '\(item)' has an empty rack") }
        rack = name
      }
      guard seen.insert(id).inserted else {
        throw ValidationError("--brokers: broker \(id) is listed twice")
      }
      brokers.append(ReplicaPlacement.Broker(id: id, rack: rack))
    }
    return brokers
  }

  func failedBrokers(known: Set<Int32>) throws -> Set<Int32>? {
    guard let failList else { return nil }
    var failed: Set<Int32> = []
    for item in failList.split(separator: ",") {
      guard let id = Int32(item.trimmingSpaces), known.contains(id) else {
        throw ValidationError("--fail: '\(item)' is not one of the brokers")
      }
      failed.insert(id)
    }
    return failed
  }

  static func codeName(_ code: ErrorCode) -> String {
    switch code {
    case .invalidPartitions: "INVALID_PARTITIONS"
    case .invalidReplicationFactor: "INVALID_REPLICATION_FACTOR"
    case .invalidReplicaAssignment: "INVALID_REPLICA_ASSIGNMENT"
    default: "\(code)"
    }
  }

  // MARK: Failure

  /// What happens to leadership when some brokers fail: the first surviving replica leads.
  struct Failover {
    var failed: [Int32]
    /// Per partition, the new leader; nil when no replica survives.
    var leaders: [Int32?]
    /// Leaders per surviving broker, by broker id.
    var leaderCounts: [(broker: Int32, leaders: Int)]
    var offline: [Int] { leaders.indices.filter { leaders[$0] == nil } }

    init(assignment: [[Int32]], brokers: [Int32], failed: Set<Int32>) {
      self.failed = failed.sorted()
      leaders = assignment.map { replicas in replicas.first { !failed.contains($0) } }
      var counts: [Int32: Int] = [:]
      for broker in brokers where !failed.contains(broker) { counts[broker] = 0 }
      for leader in leaders { if let leader { counts[leader, default: 0] += 1 } }
      leaderCounts = counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
  }

  // MARK: Output

  static func json(_ assignment: [[Int32]], failover: Failover?) -> String {
    let partitions = assignment.enumerated().map { p, replicas in
      "{\"partition\":\(p),\"replicas\":[\(replicas.map(String.init).joined(separator: ","))]}"
    }
    var out = "{\"partitions\":[\(partitions.joined(separator: ","))]"
    if let failover {
      let leaders = failover.leaders.enumerated().map { p, leader in
        "{\"partition\":\(p),\"leader\":\(leader.map(String.init) ?? "null")}"
      }
      let counts = failover.leaderCounts.map { "\"\($0.broker)\":\($0.leaders)" }
      out +=
        ",\"failover\":{\"failed\":[\(failover.failed.map(String.init).joined(separator: ","))],"
        + "\"leaders\":[\(leaders.joined(separator: ","))],"
        + "\"leaderCounts\":{\(counts.joined(separator: ","))},"
        + "\"offline\":[\(failover.offline.map(String.init).joined(separator: ","))]}"
    }
    return out + "}"
  }

  static func label(_ broker: ReplicaPlacement.Broker) -> String {
    ReplicaLayout.Row(broker: broker, positions: []).label
  }

  static func table(
    _ assignment: [[Int32]], ordered: [ReplicaPlacement.Broker], failover: Failover?
  ) -> [String] {
    var lines = ReplicaLayout(assignment: assignment, brokers: ordered).tableLines()

    lines.append("")
    for broker in ordered {
      let replicas = assignment.reduce(0) { $0 + ($1.contains(broker.id) ? 1 : 0) }
      let leaders = assignment.reduce(0) { $0 + ($1.first == broker.id ? 1 : 0) }
      lines.append("\(label(broker)): \(replicas) replicas, \(leaders) leaders")
    }

    lines.append("")
    let racks = Dictionary(uniqueKeysWithValues: ordered.map { ($0.id, $0.rack) })
    for (p, replicas) in assignment.enumerated() {
      var line = "P\(p): replicas \(replicas.map(String.init).joined(separator: ","))"
      let spanned = Set(replicas.compactMap { racks[$0] ?? nil }).sorted()
      if !spanned.isEmpty {
        line += "; racks \(spanned.joined(separator: ",")) (\(spanned.count))"
      }
      lines.append(line)
    }

    if let failover {
      lines.append("")
      lines.append(
        "If brokers \(failover.failed.map(String.init).joined(separator: ",")) fail:")
      for (p, leader) in failover.leaders.enumerated() {
        let before = assignment[p][0]
        if let leader {
          lines.append("P\(p): leader \(leader)" + (leader == before ? "" : " (was \(before))"))
        } else {
          lines.append("P\(p): offline, no surviving replica (was led by \(before))")
        }
      }
      let counts = failover.leaderCounts.map { "B\($0.broker) \($0.leaders)" }
      lines.append(
        "Leaders per surviving broker: \(counts.isEmpty ? "none" : counts.joined(separator: ", "))")
      let offline = failover.offline
      lines.append(
        "Partitions without a replica: "
          + (offline.isEmpty ? "none" : offline.map { "P\($0)" }.joined(separator: " ")))
    }
    return lines
  }
}

extension Substring {
  fileprivate var trimmingSpaces: String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}
