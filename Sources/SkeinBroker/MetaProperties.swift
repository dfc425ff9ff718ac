import FoundationEssentials
import KafkaProtocol

/// Kafka's `meta.properties` in the data dir: the cluster id and node id this directory
/// belongs to, written once when the directory is formatted.
enum MetaProperties {
  struct Mismatch: Error, CustomStringConvertible {
    var description: String
  }

  static func loadOrCreate(dataDir: String, nodeId: Int32) throws -> String {
    let path = dataDir + "/meta.properties"
    if let text = try? String(contentsOfFile: path, encoding: .utf8) {
      let values = BrokerConfig.parseProperties(text)
      if let stored = values["node.id"], stored != String(nodeId) {
        throw Mismatch(
          description: "\(path) belongs to node.id \(stored), but this broker is node.id \(nodeId)")
      }
      if let clusterId = values["cluster.id"], !clusterId.isEmpty { return clusterId }
    }
    let clusterId = KafkaUuid.random().description
    let text = "#\n#Written by skein\nversion=1\ncluster.id=\(clusterId)\nnode.id=\(nodeId)\n"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return clusterId
  }
}
