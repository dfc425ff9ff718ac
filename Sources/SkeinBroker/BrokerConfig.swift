import FoundationEssentials

/// The broker's static configuration: Kafka's server.properties keys, from `--config FILE`
/// and `--set key=value`, with Kafka's defaults for every key Skein honours.
public struct BrokerConfig: Sendable {
  /// Values given explicitly (file, then `--set`), by Kafka key.
  public private(set) var explicit: [String: String]

  public init(_ explicit: [String: String] = [:]) {
    self.explicit = explicit
  }

  /// Reads a server.properties file: `key=value` or `key: value` lines, `#`/`!` comments.
  public static func parseProperties(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    for raw in text.split(whereSeparator: \.isNewline) {
      let line = raw.trimmedOfSpaces
      if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("!") { continue }
      guard let sep = line.firstIndex(where: { $0 == "=" || $0 == ":" }) else { continue }
      let key = line[..<sep].trimmedOfSpaces
      let value = line[line.index(after: sep)...].trimmedOfSpaces
      result[key] = value
    }
    return result
  }

  public mutating func set(_ key: String, _ value: String) {
    explicit[key] = value
  }

  /// Kafka's defaults for the broker keys Skein honours (a plain `skein serve` is node 0, a
  /// combined broker and controller).
  public static let defaults: [String: String] = storageAndNetworkDefaults.merging(
    clusterDefaults
  ) { first, _ in first }

  private static let storageAndNetworkDefaults: [String: String] = [
    "node.id": "0",
    "listeners": "PLAINTEXT://127.0.0.1:9092",
    "log.dirs": "./skein-data",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "auto.create.topics.enable": "true",
    "delete.topic.enable": "true",
    "message.max.bytes": "1048588",
    "socket.request.max.bytes": "104857600",
    "log.segment.bytes": "1073741824",
    "log.roll.hours": "168",
    "log.retention.hours": "168",
    "log.retention.bytes": "-1",
    "log.retention.check.interval.ms": "300000",
    "log.flush.interval.messages": "9223372036854775807",
    "log.flush.scheduler.interval.ms": "9223372036854775807",
    "log.flush.offset.checkpoint.interval.ms": "60000",
    "log.index.interval.bytes": "4096",
    "log.index.size.max.bytes": "10485760",
    "log.message.timestamp.type": "CreateTime",
    "log.cleanup.policy": "delete",
    "log.segment.delete.delay.ms": "60000",
    "min.insync.replicas": "1",
    "compression.type": "producer",
    "unclean.leader.election.enable": "false",
    "num.network.threads": "3",
    "num.io.threads": "8",
    "log.cleaner.enable": "true",
    "log.cleaner.threads": "1",
    "log.cleaner.io.max.bytes.per.second": "1.7976931348623157E308",
    "log.cleaner.backoff.ms": "15000",
    "log.cleaner.dedupe.buffer.size": "134217728",
    "log.cleaner.min.cleanable.ratio": "0.5",
    "log.cleaner.delete.retention.ms": "86400000",
    "log.cleaner.min.compaction.lag.ms": "0",
    "log.cleaner.max.compaction.lag.ms": "9223372036854775807",
  ]

  public func string(_ key: String) -> String? {
    explicit[key] ?? Self.defaults[key]
  }

  public func int(_ key: String) -> Int? {
    string(key).flatMap { Int($0.trimmedOfSpaces) }
  }

  public func bool(_ key: String) -> Bool {
    string(key)?.lowercased() == "true"
  }

  public var nodeId: Int32 { Int32(int("node.id") ?? 0) }
  public var rack: String? { string("broker.rack") }
  public var dataDirectory: String {
    let dirs =
      explicit["log.dirs"] ?? explicit["log.dir"] ?? Self.defaults["log.dirs"] ?? "./skein-data"
    return dirs.split(separator: ",").first.map(String.init) ?? dirs
  }
  public var maxRequestSize: Int { int("socket.request.max.bytes") ?? 104_857_600 }
  public var autoCreateTopics: Bool { bool("auto.create.topics.enable") }
  public var defaultPartitions: Int32 { Int32(int("num.partitions") ?? 1) }
  public var defaultReplicationFactor: Int16 { Int16(int("default.replication.factor") ?? 1) }

  /// The client listener to bind: the first `listeners` entry that is not a controller
  /// listener (`controller.listener.names`).
  public var listener: (host: String, port: Int) {
    clientEndpoint(string("listeners") ?? "") ?? ("127.0.0.1", 9092)
  }

  /// Where clients are told to connect: `advertised.listeners` (its first non-controller
  /// entry), else the listener.
  public var advertisedListener: (host: String, port: Int) {
    if let text = explicit["advertised.listeners"], let parsed = clientEndpoint(text) {
      return parsed
    }
    let l = listener
    return (l.host == "0.0.0.0" || l.host.isEmpty ? "127.0.0.1" : l.host, l.port)
  }

  private func clientEndpoint(_ text: String) -> (host: String, port: Int)? {
    let controllerNames = Set(controllerListenerNames)
    return Self.parseListeners(text)?.first { !controllerNames.contains($0.name) }.map {
      ($0.host, $0.port)
    }
  }

  /// Parses `host:port` or `[v6]:port`.
  public static func parseHostPort(_ text: String) -> (host: String, port: Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return (host, port)
  }

  /// Broker keys that supply topic-level defaults, by topic config name.
  public static let topicConfigSources: [String: String] = [
    "cleanup.policy": "log.cleanup.policy",
    "compression.type": "compression.type",
    "delete.retention.ms": "log.cleaner.delete.retention.ms",
    "file.delete.delay.ms": "log.segment.delete.delay.ms",
    "flush.messages": "log.flush.interval.messages",
    "flush.ms": "log.flush.interval.ms",
    "index.interval.bytes": "log.index.interval.bytes",
    "max.compaction.lag.ms": "log.cleaner.max.compaction.lag.ms",
    "max.message.bytes": "message.max.bytes",
    "message.timestamp.type": "log.message.timestamp.type",
    "min.cleanable.dirty.ratio": "log.cleaner.min.cleanable.ratio",
    "min.compaction.lag.ms": "log.cleaner.min.compaction.lag.ms",
    "min.insync.replicas": "min.insync.replicas",
    "retention.bytes": "log.retention.bytes",
    "retention.ms": "log.retention.ms",
    "segment.bytes": "log.segment.bytes",
    "segment.index.bytes": "log.index.size.max.bytes",
    "segment.ms": "log.roll.ms",
    "unclean.leader.election.enable": "unclean.leader.election.enable",
  ]

  /// The broker-wide value for a topic config, if the broker configuration sets one
  /// (including Kafka's derived keys such as log.retention.hours → retention.ms).
  public func topicDefaultOverride(_ topicKey: String) -> String? {
    switch topicKey {
    case "retention.ms":
      if let ms = explicit["log.retention.ms"] { return ms }
      if let m = explicit["log.retention.minutes"], let v = Int64(m) { return String(v * 60_000) }
      if let h = explicit["log.retention.hours"], let v = Int64(h) { return String(v * 3_600_000) }
      return nil
    case "segment.ms":
      if let ms = explicit["log.roll.ms"] { return ms }
      if let h = explicit["log.roll.hours"], let v = Int64(h) { return String(v * 3_600_000) }
      return nil
    case "flush.ms":
      return explicit["log.flush.interval.ms"]
    default:
      return Self.topicConfigSources[topicKey].flatMap { explicit[$0] }
    }
  }

  /// The topic config a broker key supplies the default for (log.retention.ms → retention.ms).
  public static func topicKey(forBrokerKey key: String) -> String? {
    switch key {
    case "log.retention.ms": "retention.ms"
    case "log.roll.ms": "segment.ms"
    case "log.flush.interval.ms": "flush.ms"
    default: topicConfigSources.first { $0.value == key }?.key
    }
  }

  /// Topic defaults as server.properties sets them.
  public var topicDefaults: [String: String] {
    var result: [String: String] = [:]
    for key in Self.topicConfigSources.keys {
      if let value = topicDefaultOverride(key) { result[key] = value }
    }
    return result
  }
}

extension StringProtocol {
  /// The text without leading and trailing spaces and tabs (properties-file whitespace).
  var trimmedOfSpaces: String {
    let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = firstIndex(where: { !isSpace($0) }),
      let last = lastIndex(where: { !isSpace($0) })
    else { return "" }
    return String(self[first...last])
  }
}
