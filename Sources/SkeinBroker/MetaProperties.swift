import FoundationEssentials
import KafkaProtocol

/// Kafka's `meta.properties` in the data dir: the cluster id and node id this directory
/// belongs to, written once when the directory is formatted.
enum MetaProperties {
  struct Mismatch: Error, CustomStringConvertible {
    var description: String
  }

  /// The cluster id stored in `dataDir`, if the directory has been formatted.
  static func storedClusterId(dataDir: String) -> String? {
    guard let text = try? String(contentsOfFile: dataDir + "/meta.properties", encoding: .utf8)
    else { return nil }
    return BrokerConfig.parseProperties(text)["cluster.id"].flatMap { $0.isEmpty ? nil : $0 }
  }

  /// The directory's cluster id; an unformatted directory is formatted with `clusterId`
  /// (a broker joining a cluster takes the controller's) or a new random one.
  static func loadOrCreate(dataDir: String, nodeId: Int32, clusterId wanted: String? = nil)
    throws -> String
  {
    let path = dataDir + "/meta.properties"
    if let text = try? String(contentsOfFile: path, encoding: .utf8) {
      let values = BrokerConfig.parseProperties(text)
      if let stored = values["node.id"], stored != String(nodeId) {
        throw Mismatch(
          description: "\(path) belongs to node.id \(stored), but this broker is node.id \(nodeId)")
      }
      if let clusterId = values["cluster.id"], !clusterId.isEmpty {
        if let wanted, wanted != clusterId {
          throw Mismatch(
            description: "\(path) belongs to cluster \(clusterId), but the controller's is \(wanted)")
        }
        return clusterId
      }
    }
    let clusterId = wanted ?? KafkaUuid.random().description
    let text = "#\n#Written by skein\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return clusterId
  }
}
