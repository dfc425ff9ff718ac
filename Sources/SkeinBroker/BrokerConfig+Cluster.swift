import FoundationEssentials

/// What a node does in the cluster (Kafka's `process.roles`).
public enum ProcessRole: String, Sendable, Hashable, CaseIterable {
  case broker
  case controller
}

/// A listener of `listeners`: its name (`PLAINTEXT`, `CONTROLLER`, …) and the address it binds.
public struct ListenerEndpoint: Sendable, Hashable {
  public var name: String
  public var host: String
  public var port: Int

  public init(name: String, host: String, port: Int) {
    self.name = name
    self.host = host
    self.port = port
  }
}

extension BrokerConfig {
  /// Kafka's defaults for node identity, the controller quorum, replication and liveness.
  static let clusterDefaults: [String: String] = [
    "http.listen": "127.0.0.1:9644",
    "process.roles": "broker,controller",
    "controller.listener.names": "CONTROLLER",
    "broker.heartbeat.interval.ms": "2000",
    "broker.session.timeout.ms": "9000",
    "replica.lag.time.max.ms": "30000",
    "replica.fetch.wait.max.ms": "500",
    "replica.fetch.min.bytes": "1",
    "replica.fetch.max.bytes": "1048576",
    "replica.fetch.response.max.bytes": "10485760",
    "replica.fetch.backoff.ms": "1000",
    "num.replica.fetchers": "1",
    "replica.high.watermark.checkpoint.interval.ms": "5000",
    "auto.leader.rebalance.enable": "true",
    "leader.imbalance.check.interval.seconds": "300",
    "leader.imbalance.per.broker.percentage": "10",
    "unclean.leader.election.interval.ms": "300000",
    "controlled.shutdown.enable": "true",
    "metadata.max.idle.interval.ms": "500",
  ]

  /// Whether `node.id` was given (file, `--set` or `--node-id`) rather than defaulted.
  public var hasExplicitNodeId: Bool { explicit["node.id"] != nil }

  // MARK: Roles and listeners

  /// `process.roles`; unknown names are left out (`validate()` reports them).
  public var processRoles: Set<ProcessRole> {
    Set(Self.listItems(string("process.roles") ?? "").compactMap(ProcessRole.init(rawValue:)))
  }

  /// `controller.listener.names`: the listener names that belong to the controller.
  public var controllerListenerNames: [String] {
    Self.listItems(string("controller.listener.names") ?? "").map { $0.uppercased() }
  }

  /// Every entry of `listeners`, by name (a bare `host:port` is `PLAINTEXT`).
  public var listenerEndpoints: [ListenerEndpoint] {
    Self.parseListeners(string("listeners") ?? "") ?? []
  }

  /// The controller's listener: the `listeners` entry named by the first of
  /// `controller.listener.names` (brokers and controllers reach the controller there).
  public var controllerListener: (host: String, port: Int)? {
    guard let name = controllerListenerNames.first,
      let endpoint = listenerEndpoints.first(where: { $0.name == name })
    else { return nil }
    return (endpoint.host, endpoint.port)
  }

  /// Where this node finds the controller: `controller.quorum.bootstrap.servers`
  /// (`host:port,…`), else the addresses of `controller.quorum.voters` (`id@host:port,…`).
  public var controllerBootstrapServers: [(host: String, port: Int)] {
    if let text = explicit["controller.quorum.bootstrap.servers"],
      let servers = Self.parseBootstrapServers(text), !servers.isEmpty
    {
      return servers
    }
    if let text = explicit["controller.quorum.voters"], let voters = Self.parseVoters(text) {
      return voters.map { ($0.host, $0.port) }
    }
    return []
  }

  // MARK: Replication and liveness

  /// `broker.heartbeat.interval.ms`: how often a broker heartbeats to the controller.
  public var brokerHeartbeatIntervalMs: Int64 { int64("broker.heartbeat.interval.ms", 2000) }
  /// `broker.session.timeout.ms`: a broker without a heartbeat for this long is fenced.
  public var brokerSessionTimeoutMs: Int64 { int64("broker.session.timeout.ms", 9000) }
  /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
  public var replicaLagTimeMaxMs: Int64 { int64("replica.lag.time.max.ms", 30_000) }
  /// `replica.fetch.wait.max.ms`: a follower fetch's max_wait_ms.
  public var replicaFetchWaitMaxMs: Int32 { int32("replica.fetch.wait.max.ms", 500) }
  /// `replica.fetch.min.bytes`: a follower fetch's min_bytes.
  public var replicaFetchMinBytes: Int32 { int32("replica.fetch.min.bytes", 1) }
  /// `replica.fetch.max.bytes`: a follower fetch's per-partition max_bytes.
  public var replicaFetchMaxBytes: Int32 { int32("replica.fetch.max.bytes", 1_048_576) }
  /// `replica.fetch.response.max.bytes`: a follower fetch's max_bytes for the whole response.
  public var replicaFetchResponseMaxBytes: Int32 {
    int32("replica.fetch.response.max.bytes", 10_485_760)
  }
  /// `replica.fetch.backoff.ms`: the pause after a follower fetch fails.
  public var replicaFetchBackoffMs: Int64 { int64("replica.fetch.backoff.ms", 1000) }
  /// `num.replica.fetchers`: fetcher threads per source broker.
  public var numReplicaFetchers: Int { Int(int64("num.replica.fetchers", 1)) }
  /// `replica.high.watermark.checkpoint.interval.ms`: how often high watermarks are written to
  /// `replication-offset-checkpoint`.
  public var replicaHighWatermarkCheckpointIntervalMs: Int64 {
    int64("replica.high.watermark.checkpoint.interval.ms", 5000)
  }
  /// `replica.selector.class` (KIP-392), unset by default: consumers read from the leader.
  public var replicaSelectorClass: String? {
    explicit["replica.selector.class"].flatMap { $0.trimmedOfSpaces.isEmpty ? nil : $0 }
  }
  /// `auto.leader.rebalance.enable`: restore preferred leaders in the background.
  public var autoLeaderRebalanceEnable: Bool { bool("auto.leader.rebalance.enable") }
  /// `leader.imbalance.check.interval.seconds`: how often the preferred leaders are checked.
  public var leaderImbalanceCheckIntervalSeconds: Int64 {
    int64("leader.imbalance.check.interval.seconds", 300)
  }
  /// `leader.imbalance.per.broker.percentage`: the imbalance per broker that triggers a
  /// rebalance.
  public var leaderImbalancePerBrokerPercentage: Int {
    Int(int64("leader.imbalance.per.broker.percentage", 10))
  }
  /// `unclean.leader.election.enable` (broker-wide default of the topic config).
  public var uncleanLeaderElectionEnable: Bool { bool("unclean.leader.election.enable") }
  /// `unclean.leader.election.interval.ms`: how often offline partitions are checked for an
  /// unclean election where it is enabled.
  public var uncleanLeaderElectionIntervalMs: Int64 {
    int64("unclean.leader.election.interval.ms", 300_000)
  }
  /// `controlled.shutdown.enable`: a broker moves its leaderships away before it stops.
  public var controlledShutdownEnable: Bool { bool("controlled.shutdown.enable") }
  /// `metadata.max.idle.interval.ms`: how long the controller lets the metadata log idle before
  /// it appends a no-op record.
  public var metadataMaxIdleIntervalMs: Int64 { int64("metadata.max.idle.interval.ms", 500) }

  /// `http.listen`: where the node serves metrics, the admin API and the web view; nil when
  /// set empty (no HTTP listener).
  public var httpListener: (host: String, port: Int)? {
    Self.parseHostPort((string("http.listen") ?? "").trimmedOfSpaces)
  }

  // MARK: Validation

  /// Problems that keep this configuration from running, one sentence each (empty: fine).
  public func validate() -> [String] {
    var problems: [String] = []
    if let text = explicit["node.id"], Int32(text.trimmedOfSpaces).map({ $0 >= 0 }) != true {
      problems.append("node.id must be a non-negative integer, got '\(text)'")
    }

    if let text = string("http.listen"), !text.trimmedOfSpaces.isEmpty,
      Self.parseHostPort(text.trimmedOfSpaces) == nil
    {
      problems.append("http.listen must be HOST:PORT or empty, got '\(text)'")
    }

    let roleNames = Self.listItems(string("process.roles") ?? "")
    let unknown = roleNames.filter { ProcessRole(rawValue: $0) == nil }
    if !unknown.isEmpty {
      problems.append(
        "process.roles may hold only broker and controller, got '\(unknown.joined(separator: ","))'"
      )
    }
    let roles = processRoles
    if roles.isEmpty && unknown.isEmpty {
      problems.append("process.roles must be broker, controller or broker,controller")
    }

    guard let endpoints = Self.parseListeners(string("listeners") ?? "") else {
      problems.append("listeners must be NAME://HOST:PORT,…, got '\(string("listeners") ?? "")'")
      return problems
    }
    var names: Set<String> = []
    for endpoint in endpoints where !names.insert(endpoint.name).inserted {
      problems.append("listeners names \(endpoint.name) more than once")
    }
    let controllerNames = Set(controllerListenerNames)
    if !endpoints.contains(where: { !controllerNames.contains($0.name) }) && roles.contains(.broker)
    {
      problems.append("a broker needs a client listener in listeners besides the controller's")
    }
    if roles.contains(.controller) && !roles.contains(.broker) && controllerListener == nil {
      problems.append(
        "a controller-only node needs a \(controllerListenerNames.first ?? "CONTROLLER") listener "
          + "in listeners (--controller-listen HOST:PORT)")
    }
    if !roles.contains(.controller) && !roles.isEmpty {
      if controllerListener != nil {
        problems.append(
          "a broker-only node must not have a controller listener (\(controllerListenerNames.first ?? "CONTROLLER")) in listeners"
        )
      }
      if controllerBootstrapServers.isEmpty {
        problems.append(
          "a node without the controller role needs controller.quorum.bootstrap.servers "
            + "or controller.quorum.voters (--controller HOST:PORT)")
      }
    }
    if let text = explicit["controller.quorum.bootstrap.servers"],
      Self.parseBootstrapServers(text) == nil
    {
      problems.append("controller.quorum.bootstrap.servers must be HOST:PORT,…, got '\(text)'")
    }
    if let text = explicit["controller.quorum.voters"], Self.parseVoters(text) == nil {
      problems.append("controller.quorum.voters must be ID@HOST:PORT,…, got '\(text)'")
    }

    for key in Self.clusterDefaults.keys.sorted() where key.hasSuffix(".ms") || isCount(key) {
      if let text = explicit[key], Int64(text.trimmedOfSpaces) == nil {
        problems.append("\(key) must be an integer, got '\(text)'")
      }
    }
    for key in ["auto.leader.rebalance.enable", "controlled.shutdown.enable"] {
      if let text = explicit[key], !["true", "false"].contains(text.lowercased()) {
        problems.append("\(key) must be true or false, got '\(text)'")
      }
    }
    if brokerHeartbeatIntervalMs <= 0 {
      problems.append("broker.heartbeat.interval.ms must be positive")
    }
    if brokerHeartbeatIntervalMs >= brokerSessionTimeoutMs {
      problems.append(
        "broker.heartbeat.interval.ms (\(brokerHeartbeatIntervalMs)) must be less than "
          + "broker.session.timeout.ms (\(brokerSessionTimeoutMs))")
    }
    if Int64(replicaFetchWaitMaxMs) >= replicaLagTimeMaxMs {
      problems.append(
        "replica.fetch.wait.max.ms (\(replicaFetchWaitMaxMs)) must be less than "
          + "replica.lag.time.max.ms (\(replicaLagTimeMaxMs)) to keep followers in the ISR")
    }
    if numReplicaFetchers < 1 { problems.append("num.replica.fetchers must be at least 1") }
    if replicaFetchMaxBytes < 0 || replicaFetchResponseMaxBytes < 0 || replicaFetchMinBytes < 0 {
      problems.append("replica.fetch.*.bytes must not be negative")
    }
    let percentage = leaderImbalancePerBrokerPercentage
    if !(0...100).contains(percentage) {
      problems.append("leader.imbalance.per.broker.percentage must be 0 to 100, got \(percentage)")
    }
    return problems
  }

  private func isCount(_ key: String) -> Bool {
    key.hasSuffix(".bytes") || key.hasSuffix(".seconds") || key.hasSuffix(".percentage")
      || key == "num.replica.fetchers"
  }

  // MARK: Parsing

  private func int64(_ key: String, _ fallback: Int64) -> Int64 {
    string(key).flatMap { Int64($0.trimmedOfSpaces) } ?? fallback
  }

  private func int32(_ key: String, _ fallback: Int32) -> Int32 {
    string(key).flatMap { Int64($0.trimmedOfSpaces) }.map { Int32(clamping: $0) } ?? fallback
  }

  static func listItems(_ text: String) -> [String] {
    text.split(separator: ",").map(\.trimmedOfSpaces).filter { !$0.isEmpty }
  }

  /// Parses `listeners`: `NAME://host:port,…` (a bare `host:port` is `PLAINTEXT`); names are
  /// upper-cased as Kafka's listener names are. Nil when an entry does not parse.
  public static func parseListeners(_ text: String) -> [ListenerEndpoint]? {
    var result: [ListenerEndpoint] = []
    for item in listItems(text) {
      var name = "PLAINTEXT"
      var address = item
      let parts = item.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
      if parts.count == 2 {
        name = parts[0].uppercased()
        address = String(parts[1])
      }
      guard !name.isEmpty, let (host, port) = parseHostPort(address) else { return nil }
      result.append(ListenerEndpoint(name: name, host: host, port: port))
    }
    return result
  }

  /// Parses `host:port,…`; nil when an entry does not parse.
  public static func parseBootstrapServers(_ text: String) -> [(host: String, port: Int)]? {
    var result: [(host: String, port: Int)] = []
    for item in listItems(text) {
      guard let parsed = parseHostPort(item), !parsed.host.isEmpty else { return nil }
      result.append(parsed)
    }
    return result
  }

  /// Parses `controller.quorum.voters`: `id@host:port,…`; nil when an entry does not parse.
  public static func parseVoters(_ text: String) -> [(id: Int32, host: String, port: Int)]? {
    var result: [(id: Int32, host: String, port: Int)] = []
    for item in listItems(text) {
      guard let at = item.firstIndex(of: "@"), let id = Int32(item[..<at]), id >= 0,
        let (host, port) = parseHostPort(String(item[item.index(after: at)...])), !host.isEmpty
      else { return nil }
      result.append((id, host, port))
    }
    return result
  }
}
