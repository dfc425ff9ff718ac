import ArgumentParser
import SkeinClient
import SkeinCluster

/// `skein cluster status`: the nodes of cluster.json, whether their processes run and whether
/// the cluster lists them, what each broker leads and holds, and the partitions that are
/// under-replicated or offline.
struct ClusterStatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status", abstract: "Show a local cluster's brokers and partition health.")

  enum Format: String, ExpressibleByArgument, CaseIterable {
    case table, json
  }

  @OptionGroup var directory: ClusterDirectoryOption

  @Option(help: "table or json.")
  var format: Format = .table

  @Option(name: .customLong("request-timeout-ms"), help: "How long to wait for the cluster.")
  var requestTimeoutMs = 5000

  /// A broker's line of the status.
  struct BrokerStatus {
    var node: ClusterFile.Node
    var pid: Int32?
    /// Listed by Metadata: registered and not fenced.
    var registered: Bool
    var leaders = 0
    var replicas = 0
  }

  struct Status {
    var cluster: ClusterFile
    var controllerId: Int32?
    var brokers: [BrokerStatus]
    var underReplicated: [ClusterHealth.PartitionState]
    var offline: [ClusterHealth.PartitionState]
    var error: String?
  }

  func run() async throws {
    try await runClusterCommand {
      let cluster = try ClusterFile.require(in: directory.path)
      let status = await Self.collect(cluster, requestTimeoutMs: requestTimeoutMs)
      switch format {
      case .json: CLIOutput.out(Self.json(status).rendered)
      case .table: for line in Self.tableLines(status) { CLIOutput.out(line) }
      }
      if status.error != nil { throw ExitCode.failure }
    }
  }

  static func collect(_ cluster: ClusterFile, requestTimeoutMs: Int) async -> Status {
    var brokers = cluster.nodes.map {
      BrokerStatus(node: $0, pid: $0.runningPid, registered: false)
    }
    var status = Status(
      cluster: cluster, controllerId: nil, brokers: brokers, underReplicated: [], offline: [])
    var configuration = KafkaClient.Configuration()
    configuration.connection.clientId = "skein-cluster-status"
    configuration.connection.requestTimeout = .milliseconds(requestTimeoutMs)
    let client: KafkaClient
    do {
      client = try KafkaClient(bootstrap: cluster.bootstrap, configuration: configuration)
    } catch {
      status.error = "\(error)"
      return status
    }
    do {
      try await client.refreshMetadata(topics: nil)
    } catch {
      await client.close()
      status.error = "cannot reach the cluster at \(cluster.bootstrap): \(error)"
      return status
    }
    let metadata = await client.metadata
    await client.close()

    status.controllerId = metadata.controllerId >= 0 ? metadata.controllerId : nil
    // The same model as the web view's brokers panel (`/v1/cluster`).
    let health = ClusterHealth(
      partitions: metadata.topics.values.flatMap { topic in
        topic.partitions.map {
          ClusterHealth.PartitionState(
            topic: topic.name, partition: $0.partition, leader: $0.leader, replicas: $0.replicas,
            isr: $0.isr)
        }
      })
    for i in brokers.indices {
      brokers[i].registered = metadata.brokers[brokers[i].node.id] != nil
      let load = health.load(of: brokers[i].node.id)
      brokers[i].leaders = load.leaders
      brokers[i].replicas = load.replicas
    }
    status.underReplicated = health.underReplicated
    status.offline = health.offline
    status.brokers = brokers
    return status
  }

  static func tableLines(_ status: Status) -> [String] {
    let controller = status.controllerId.map { " (node \($0))" } ?? ""
    var lines = [
      "bootstrap \(status.cluster.bootstrap)",
      "controller \(status.cluster.controller)\(controller)",
      "",
    ]
    var rows = [["ID", "RACK", "LISTEN", "PID", "PROCESS", "REGISTERED", "LEADERS", "REPLICAS"]]
    for broker in status.brokers {
      let known = status.error == nil
      rows.append([
        String(broker.node.id), broker.node.rack ?? "-", broker.node.listen,
        broker.pid.map(String.init) ?? "-", broker.pid != nil ? "alive" : "down",
        known ? (broker.registered ? "yes" : "no (fenced or gone)") : "?",
        known ? String(broker.leaders) : "?", known ? String(broker.replicas) : "?",
      ])
    }
    lines += table(rows)
    lines.append("")
    if let error = status.error {
      lines.append("error: \(error)")
      return lines
    }
    lines.append(problemLine("Under-replicated partitions", status.underReplicated))
    lines.append(problemLine("Offline partitions", status.offline))
    return lines
  }

  private static func problemLine(_ title: String, _ problems: [ClusterHealth.PartitionState])
    -> String
  {
    guard !problems.isEmpty else { return "\(title): none" }
    let items = problems.map { p in
      "\(p.topic)-\(p.partition) (leader \(p.leader), replicas "
        + "\(p.replicas.map(String.init).joined(separator: ",")), isr "
        + "\(p.isr.map(String.init).joined(separator: ",")))"
    }
    return "\(title) (\(problems.count)): " + items.joined(separator: "; ")
  }

  static func json(_ status: Status) -> JSONText {
    let known = status.error == nil
    let brokers = status.brokers.map { broker -> JSONText in
      .object([
        ("id", .int(broker.node.id)), ("rack", .optional(broker.node.rack)),
        ("listen", .string(broker.node.listen)), ("pid", broker.pid.map { .int($0) } ?? .null),
        ("alive", .bool(broker.pid != nil)),
        ("registered", known ? .bool(broker.registered) : .null),
        ("leaders", known ? .int(broker.leaders) : .null),
        ("replicas", known ? .int(broker.replicas) : .null),
      ])
    }
    func problems(_ list: [ClusterHealth.PartitionState]) -> JSONText {
      .array(
        list.map {
          .object([
            ("topic", .string($0.topic)), ("partition", .int($0.partition)),
            ("leader", .int($0.leader)), ("replicas", .ints($0.replicas)), ("isr", .ints($0.isr)),
          ])
        })
    }
    return .object([
      ("controller", .string(status.cluster.controller)),
      ("controller_id", status.controllerId.map { .int($0) } ?? .null),
      ("bootstrap", .string(status.cluster.bootstrap)),
      ("brokers", .array(brokers)),
      ("under_replicated", known ? problems(status.underReplicated) : .null),
      ("offline", known ? problems(status.offline) : .null),
      ("error", .optional(status.error)),
    ])
  }
}
