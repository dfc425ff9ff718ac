import ArgumentParser
import FoundationEssentials
import Glibc
import SkeinClient

/// `skein cluster up`: starts N nodes as background processes and returns once every broker
/// is registered and unfenced.
struct ClusterUpCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "up", abstract: "Start a local cluster of N brokers over R racks.",
    discussion: """
      Node 0 is broker and controller; the others are brokers. Racks R1, R2, … take the brokers \
      in contiguous blocks (6 brokers, 2 racks: 0,1,2 in R1 and 3,4,5 in R2). Broker i listens \
      for clients on BASE-PORT+i; the controller listens on BASE-PORT+N. Node i keeps its data \
      in DIR/node-<i> and its output in DIR/node-<i>/skein.log. DIR/cluster.json records every \
      node and the argv that restarts it.
      """)

  @OptionGroup var directory: ClusterDirectoryOption

  @Option(help: "Number of brokers (node 0 is also the controller).")
  var brokers: Int

  @Option(help: "Number of racks the brokers are split over.")
  var racks: Int = 1

  @Option(name: .customLong("base-port"), help: "Client port of node 0; node i uses BASE+i.")
  var basePort: Int = 9092

  @Option(
    name: .customLong("http-base-port"),
    help:
      "HTTP port (metrics, admin API) of node 0; node i uses it +i (default: after the controller's)."
  )
  var httpBasePort: Int?

  @Option(help: "Address every node listens on.")
  var host: String = "127.0.0.1"

  @Option(
    name: .customLong("set"), help: "A broker config key=value for every node; repeatable.")
  var settings: [String] = []

  @Option(help: "Seconds to wait for every broker to register.")
  var timeout: Double = 60

  func validate() throws {
    guard brokers >= 1 else { throw ValidationError("--brokers must be at least 1") }
    guard (1...brokers).contains(racks) else {
      throw ValidationError("--racks must be between 1 and the number of brokers")
    }
    guard basePort >= 1, basePort + brokers <= 65535 else {
      throw ValidationError("--base-port leaves no room for \(brokers + 1) ports")
    }
    guard httpPort(0) >= 1, httpPort(brokers - 1) <= 65535 else {
      throw ValidationError("--http-base-port leaves no room for \(brokers) ports")
    }
    guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    for setting in settings { _ = try parseKeyValue(setting, option: "--set") }
  }

  /// Node `id`'s HTTP port.
  func httpPort(_ id: Int) -> Int { (httpBasePort ?? basePort + brokers + 1) + id }

  /// The rack of broker `id`: racks take contiguous, near-equal blocks of ids.
  static func rack(of id: Int, brokers: Int, racks: Int) -> String {
    "R\(id * racks / brokers + 1)"
  }

  /// The nodes to start, each with the argv that starts it.
  func plan(executable: String, dir: String) -> ClusterFile {
    let controller = "\(host):\(basePort + brokers)"
    let nodes = (0..<brokers).map { id -> ClusterFile.Node in
      let rack = Self.rack(of: id, brokers: brokers, racks: racks)
      let listen = "\(host):\(basePort + id)"
      let http = "\(host):\(httpPort(id))"
      let dataDir = dir + "/node-\(id)"
      var argv = [
        executable, "serve", "--node-id", String(id), "--rack", rack, "--listen", listen,
        "--data-dir", dataDir, "--http-listen", http,
      ]
      if id == 0 {
        argv += ["--process-roles", "broker,controller", "--controller-listen", controller]
      } else {
        argv += ["--process-roles", "broker", "--controller", controller]
      }
      for setting in settings { argv += ["--set", setting] }
      return ClusterFile.Node(
        id: Int32(id), rack: rack, listen: listen, http: http, pid: nil, dataDir: dataDir,
        argv: argv)
    }
    return ClusterFile(
      controller: controller, bootstrap: nodes.map(\.listen).joined(separator: ","), nodes: nodes)
  }

  func run() async throws {
    try await runClusterCommand {
      let dir = directory.path
      if let existing = try ClusterFile.load(from: dir) {
        let live = existing.nodes.compactMap { node in node.runningPid.map { (node.id, $0) } }
        guard live.isEmpty else {
          let list = live.map { "node \($0.0) (pid \($0.1))" }.joined(separator: ", ")
          throw NodeProcess.Failure(
            description:
              "the cluster in \(dir) is running: \(list); stop it with skein cluster down --dir \(dir)"
          )
        }
      }
      var cluster = plan(executable: try NodeProcess.executablePath(), dir: dir)
      for port in Array(basePort...(basePort + brokers)) + (0..<brokers).map(httpPort)
      where !NodeProcess.portIsFree(host: host, port: port) {
        throw NodeProcess.Failure(description: "port \(port) on \(host) is in use")
      }
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

      for i in cluster.nodes.indices {
        let node = cluster.nodes[i]
        try FileManager.default.createDirectory(
          atPath: node.dataDir, withIntermediateDirectories: true)
        do {
          cluster.nodes[i].pid = try NodeProcess.spawn(
            node.argv, logPath: node.dataDir + "/skein.log")
        } catch {
          await stopAll(&cluster, dir: dir)
          throw error
        }
      }
      try cluster.write(to: dir)

      do {
        try await waitUntilRegistered(cluster)
      } catch {
        await stopAll(&cluster, dir: dir)
        var message = "\(error)"
        for node in cluster.nodes {
          let log = node.dataDir + "/skein.log"
          message += "\n--- node \(node.id): last lines of \(log) ---"
          for line in NodeProcess.lastLines(of: log, count: 15) { message += "\n" + line }
        }
        throw NodeProcess.Failure(description: message)
      }

      CLIOutput.out(
        "cluster of \(brokers) broker(s) over \(racks) rack(s) is up (\(dir)/cluster.json)")
      for node in cluster.nodes {
        let role = node.isController ? "broker,controller" : "broker"
        CLIOutput.out(
          "node \(node.id)\t\(node.rack ?? "-")\t\(node.listen)\tpid \(node.pid ?? -1)\t\(role)")
      }
      CLIOutput.out("bootstrap \(cluster.bootstrap)")
      CLIOutput.out("controller \(cluster.controller)")
    }
  }

  /// Polls Metadata on the bootstrap until every broker is listed (registered and unfenced),
  /// failing early when a node exits.
  private func waitUntilRegistered(_ cluster: ClusterFile) async throws {
    var configuration = KafkaClient.Configuration()
    configuration.connection.clientId = "skein-cluster-up"
    configuration.connection.requestTimeout = .seconds(2)
    let client = try KafkaClient(bootstrap: cluster.bootstrap, configuration: configuration)
    do {
      try await waitUntilListed(cluster, client: client)
      await client.close()
    } catch {
      await client.close()
      throw error
    }
  }

  private func waitUntilListed(_ cluster: ClusterFile, client: KafkaClient) async throws {
    let wanted = Set(cluster.nodes.map(\.id))
    let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
    var listed: Set<Int32> = []
    var lastError: (any Error)?
    while true {
      for node in cluster.nodes {
        guard let pid = node.pid else { continue }
        if let ending = NodeProcess.reap(pid) {
          throw NodeProcess.Failure(description: "node \(node.id) (pid \(pid)) \(ending)")
        }
      }
      do {
        try await client.refreshMetadata(topics: [])
        listed = Set(await client.metadata.brokers.keys)
        if wanted.isSubset(of: listed) { return }
      } catch {
        lastError = error
      }
      if ContinuousClock.now >= deadline {
        let missing = wanted.subtracting(listed).sorted().map(String.init)
        var text = "timed out after \(timeout)s: brokers \(missing.joined(separator: ",")) "
        text += "not registered"
        if let lastError, listed.isEmpty { text += " (last error: \(lastError))" }
        throw NodeProcess.Failure(description: text)
      }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  /// Kills every node this command started and records them as stopped.
  private func stopAll(_ cluster: inout ClusterFile, dir: String) async {
    for i in cluster.nodes.indices {
      guard let pid = cluster.nodes[i].pid else { continue }
      if !(await NodeProcess.stop(
        pid, argv: cluster.nodes[i].argv, signal: SIGTERM, timeout: .seconds(5)))
      {
        _ = await NodeProcess.stop(
          pid, argv: cluster.nodes[i].argv, signal: SIGKILL, timeout: .seconds(5))
      }
      cluster.nodes[i].pid = nil
      cluster.nodes[i].state = "stopped"
    }
    try? cluster.write(to: dir)
  }
}
