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
    let explanation: PlacementExplanation
    do {
      explanation = try PlacementExplanation(
        planning: brokers, partitions: partitionCount, replicationFactor: replicationFactor,
        strategy: try strategy(), startIndex: startIndex,
        failed: try failedBrokers(known: Set(brokers.map(\.id))))
    } catch let error as ControllerError {
      CLIOutput.error("\(Self.codeName(error.code)): \(error.message)")
      throw ExitCode.failure
    }
    switch outputFormat {
    case .json:
      CLIOutput.out(Self.json(explanation))
    case .table:
      for line in Self.table(explanation) { CLIOutput.out(line) }
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
    do {
      return try PlacementExplanation.parseBrokers(brokerList)
    } catch {
      throw ValidationError("--brokers: \(error.message)")
    }
  }

  func failedBrokers(known: Set<Int32>) throws -> Set<Int32>? {
    guard let failList else { return nil }
    do {
      return try PlacementExplanation.parseFailed(failList, known: known)
    } catch {
      throw ValidationError("--fail: \(error.message)")
    }
  }

  static func codeName(_ code: ErrorCode) -> String {
    switch code {
    case .invalidPartitions: "INVALID_PARTITIONS"
    case .invalidReplicationFactor: "INVALID_REPLICATION_FACTOR"
    case .invalidReplicaAssignment: "INVALID_REPLICA_ASSIGNMENT"
    default: "\(code)"
    }
  }

  // MARK: Output

  /// `{"partitions":[{"partition":0,"replicas":[…]},…]}`, with `"failover"` when brokers fail:
  /// the same keys as `/v1/placement`.
  static func json(_ explanation: PlacementExplanation) -> String {
    func ids(_ list: [Int32]) -> String { list.map(String.init).joined(separator: ",") }
    let partitions = explanation.partitions.map {
      "{\"partition\":\($0.partition),\"replicas\":[\(ids($0.replicas))]}"
    }
    var out = "{\"partitions\":[\(partitions.joined(separator: ","))]"
    if let failover = explanation.failover {
      let leaders = failover.leaderships.map { l in
        "{\"partition\":\(l.partition),\"leader\":\(l.after.map(String.init) ?? "null")}"
      }
      let counts = failover.leaderCounts.map {
        "{\"broker\":\($0.broker),\"leaders\":\($0.leaders)}"
      }
      out +=
        ",\"failover\":{\"failed\":[\(ids(failover.failed))],"
        + "\"leaders\":[\(leaders.joined(separator: ","))],"
        + "\"leader_counts\":[\(counts.joined(separator: ","))],"
        + "\"offline\":[\(ids(failover.offline))]}"
    }
    return out + "}"
  }

  static func label(_ broker: ReplicaPlacement.Broker) -> String {
    ReplicaLayout.Row(broker: broker, positions: []).label
  }

  static func table(_ explanation: PlacementExplanation) -> [String] {
    let ordered = explanation.brokers
    let assignment = explanation.partitions.map(\.replicas)
    var lines = explanation.layout.tableLines()

    lines.append("")
    for broker in ordered {
      let replicas = assignment.reduce(0) { $0 + ($1.contains(broker.id) ? 1 : 0) }
      let leaders = assignment.reduce(0) { $0 + ($1.first == broker.id ? 1 : 0) }
      lines.append("\(label(broker)): \(replicas) replicas, \(leaders) leaders")
    }

    lines.append("")
    let racks = Dictionary(uniqueKeysWithValues: ordered.map { ($0.id, $0.rack) })
    for p in explanation.partitions {
      var line = "P\(p.partition): replicas \(p.replicas.map(String.init).joined(separator: ","))"
      let spanned = Set(p.replicas.compactMap { racks[$0] ?? nil }).sorted()
      if !spanned.isEmpty {
        line += "; racks \(spanned.joined(separator: ",")) (\(spanned.count))"
      }
      lines.append(line)
    }

    if let failover = explanation.failover {
      lines.append("")
      lines.append(
        "If brokers \(failover.failed.map(String.init).joined(separator: ",")) fail:")
      for l in failover.leaderships {
        let before = l.before.map(String.init) ?? "none"
        if let leader = l.after {
          lines.append(
            "P\(l.partition): leader \(leader)" + (leader == l.before ? "" : " (was \(before))"))
        } else {
          lines.append("P\(l.partition): offline, no surviving replica (was led by \(before))")
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
