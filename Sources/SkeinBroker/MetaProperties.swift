import FoundationEssentials
import KafkaProtocol

/// Kafka's `meta.properties` in the data dir: the cluster id and node id this directory
/// belongs to, written once when the directory is formatted.
enum MetaProperties {
  struct Mismatch: Error, CustomStringConvertible {
    var description: String
  }

  /// What a data dir's meta.properties says, after reconciling it with the configuration.
  struct Loaded: Equatable {
    var clusterId: String
    /// The node id the node runs as.
    var nodeId: Int32
    /// Set when the directory's stored node id was taken over the (defaulted) configured one.
    var notice: String?
  }

  /// The cluster id stored in `dataDir`, if the directory has been formatted.
  static func storedClusterId(dataDir: String) -> String? {
    guard let text = try? String(contentsOfFile: dataDir + "/meta.properties", encoding: .utf8)
    else { return nil }
    return BrokerConfig.parseProperties(text)["cluster.id"].flatMap { $0.isEmpty ? nil : $0 }
  }

  /// Reads `dataDir/meta.properties`, or writes it for a fresh directory. A directory formatted
  /// for another node id is refused when `node.id` was given explicitly; when it was only
  /// defaulted, the stored id is kept (a data dir made before node ids defaulted to 0 goes on
  /// working as the node it was).
  /// An unformatted directory is formatted with `clusterId` (a broker joining a cluster takes
  /// its controller's) or a new random one.
  static func loadOrCreate(
    dataDir: String, nodeId: Int32, explicit: Bool = true, clusterId wanted: String? = nil
  ) throws -> Loaded {
    let path = dataDir + "/meta.properties"
    var runAs = nodeId
    var notice: String?
    if let text = try? String(contentsOfFile: path, encoding: .utf8) {
      let values = BrokerConfig.parseProperties(text)
      if let stored = values["node.id"], stored != String(nodeId) {
        guard !explicit, let storedId = Int32(stored), storedId >= 0 else {
          throw Mismatch(
            description:
              "\(path) belongs to node.id \(stored), but this broker is node.id \(nodeId)")
        }
        runAs = storedId
        notice =
          "\(path) belongs to node.id \(stored) and no node.id was given: running as node \(stored)"
      }
      if let clusterId = values["cluster.id"], !clusterId.isEmpty {
        if let wanted, wanted != clusterId {
          throw Mismatch(
            description:
              "\(path) belongs to cluster \(clusterId), but the controller's is \(wanted)")
        }
        return Loaded(clusterId: clusterId, nodeId: runAs, notice: notice)
      }
    }
    let clusterId = wanted ?? KafkaUuid.random().description
    let text = "#\n#Written by skein\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(runAs)\n"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return Loaded(clusterId: clusterId, nodeId: runAs, notice: notice)
  }

  /// The configuration the node runs with: `config` with `node.id` taken from the data dir
  /// when the configuration only defaulted it, and the directory's cluster id.
  static func resolve(_ config: BrokerConfig, dataDir: String, clusterId: String? = nil) throws
    -> (config: BrokerConfig, clusterId: String, notice: String?)
  {
    let loaded = try loadOrCreate(
      dataDir: dataDir, nodeId: config.nodeId, explicit: config.hasExplicitNodeId,
      clusterId: clusterId)
    var resolved = config
    if loaded.nodeId != config.nodeId { resolved.set("node.id", String(loaded.nodeId)) }
    return (resolved, loaded.clusterId, loaded.notice)
  }
}
