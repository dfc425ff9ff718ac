import Foundation
import Testing

@testable import SkeinBroker

@Suite("Node, controller and replication broker keys")
struct BrokerConfigClusterTests {
  @Test("a plain config is one combined node 0 with Kafka's defaults, and is valid")
  func defaults() {
    let config = BrokerConfig()
    #expect(config.nodeId == 0 && !config.hasExplicitNodeId)
    #expect(config.processRoles == [.broker, .controller])
    #expect(config.controllerListenerNames == ["CONTROLLER"])
    #expect(config.controllerListener == nil)
    #expect(config.controllerBootstrapServers.isEmpty)
    #expect(config.listener == ("127.0.0.1", 9092))
    #expect(config.rack == nil)
    #expect(config.brokerHeartbeatIntervalMs == 2000 && config.brokerSessionTimeoutMs == 9000)
    #expect(config.replicaLagTimeMaxMs == 30_000 && config.replicaFetchWaitMaxMs == 500)
    #expect(config.replicaFetchMinBytes == 1 && config.replicaFetchMaxBytes == 1_048_576)
    #expect(config.replicaFetchResponseMaxBytes == 10_485_760)
    #expect(config.replicaFetchBackoffMs == 1000 && config.numReplicaFetchers == 1)
    #expect(config.replicaHighWatermarkCheckpointIntervalMs == 5000)
    #expect(config.replicaSelectorClass == nil)
    #expect(config.autoLeaderRebalanceEnable && config.controlledShutdownEnable)
    #expect(config.leaderImbalanceCheckIntervalSeconds == 300)
    #expect(config.leaderImbalancePerBrokerPercentage == 10)
    #expect(!config.uncleanLeaderElectionEnable)
    #expect(config.uncleanLeaderElectionIntervalMs == 300_000)
    #expect(config.metadataMaxIdleIntervalMs == 500)
    #expect(config.validate() == [])
    // DescribeConfigs lists every default, the new keys among them.
    #expect(BrokerConfig.defaults["process.roles"] == "broker,controller")
    #expect(BrokerConfig.defaults["replica.lag.time.max.ms"] == "30000")
    #expect(BrokerConfig.defaults["node.id"] == "0")
  }

  @Test("explicit values are typed")
  func explicitValues() {
    let config = BrokerConfig([
      "node.id": "4", "broker.rack": "R2", "process.roles": "broker",
      "controller.quorum.bootstrap.servers": "127.0.0.1:9100, [::1]:9101",
      "broker.heartbeat.interval.ms": "500", "broker.session.timeout.ms": "3000",
      "replica.lag.time.max.ms": "4000", "replica.fetch.wait.max.ms": "100",
      "replica.fetch.min.bytes": "10", "replica.fetch.max.bytes": "2048",
      "replica.fetch.response.max.bytes": "4096", "replica.fetch.backoff.ms": "50",
      "num.replica.fetchers": "3", "replica.high.watermark.checkpoint.interval.ms": "250",
      "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
      "auto.leader.rebalance.enable": "false", "leader.imbalance.check.interval.seconds": "5",
      "leader.imbalance.per.broker.percentage": "0", "unclean.leader.election.enable": "true",
      "unclean.leader.election.interval.ms": "1000", "controlled.shutdown.enable": "false",
      "metadata.max.idle.interval.ms": "100",
    ])
    #expect(config.nodeId == 4 && config.hasExplicitNodeId && config.rack == "R2")
    #expect(config.processRoles == [.broker])
    #expect(
      config.controllerBootstrapServers.map { "\($0.host):\($0.port)" } == [
        "127.0.0.1:9100", "::1:9101",
      ])
    #expect(config.brokerHeartbeatIntervalMs == 500 && config.brokerSessionTimeoutMs == 3000)
    #expect(config.replicaLagTimeMaxMs == 4000 && config.replicaFetchWaitMaxMs == 100)
    #expect(config.replicaFetchMinBytes == 10 && config.replicaFetchMaxBytes == 2048)
    #expect(config.replicaFetchResponseMaxBytes == 4096 && config.replicaFetchBackoffMs == 50)
    #expect(config.numReplicaFetchers == 3)
    #expect(config.replicaHighWatermarkCheckpointIntervalMs == 250)
    #expect(
      config.replicaSelectorClass == "org.apache.kafka.common.replica.RackAwareReplicaSelector")
    #expect(!config.autoLeaderRebalanceEnable && !config.controlledShutdownEnable)
    #expect(config.leaderImbalanceCheckIntervalSeconds == 5)
    #expect(config.leaderImbalancePerBrokerPercentage == 0)
    #expect(config.uncleanLeaderElectionEnable && config.uncleanLeaderElectionIntervalMs == 1000)
    #expect(config.metadataMaxIdleIntervalMs == 100)
    #expect(config.validate() == [])
  }

  @Test("the controller listener sits beside the client listener, in either order")
  func controllerListener() {
    let config = BrokerConfig([
      "listeners": "CONTROLLER://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092"
    ])
    #expect(config.listener == ("127.0.0.1", 9092))
    #expect(config.controllerListener.map { "\($0.host):\($0.port)" } == "127.0.0.1:9093")
    #expect(config.advertisedListener == ("127.0.0.1", 9092))
    #expect(
      config.listenerEndpoints == [
        ListenerEndpoint(name: "CONTROLLER", host: "127.0.0.1", port: 9093),
        ListenerEndpoint(name: "PLAINTEXT", host: "127.0.0.1", port: 9092),
      ])

    let renamed = BrokerConfig([
      "listeners": "PLAINTEXT://0.0.0.0:19092,ctl://127.0.0.1:19093",
      "controller.listener.names": "CTL",
      "advertised.listeners": "CTL://10.0.0.1:19093,PLAINTEXT://10.0.0.1:19092",
    ])
    #expect(renamed.controllerListener.map { "\($0.host):\($0.port)" } == "127.0.0.1:19093")
    #expect(renamed.listener == ("0.0.0.0", 19092))
    #expect(renamed.advertisedListener == ("10.0.0.1", 19092))
    #expect(renamed.validate() == [])
  }

  @Test("controller.quorum.voters gives the controller's addresses too")
  func voters() {
    let config = BrokerConfig([
      "process.roles": "broker", "controller.quorum.voters": "0@127.0.0.1:9100,1@host-b:9101",
    ])
    #expect(
      config.controllerBootstrapServers.map { "\($0.host):\($0.port)" } == [
        "127.0.0.1:9100", "host-b:9101",
      ])
    #expect(config.validate() == [])
    // The bootstrap servers win when both are set.
    var both = config
    both.set("controller.quorum.bootstrap.servers", "127.0.0.1:9200")
    #expect(both.controllerBootstrapServers.map(\.port) == [9200])
  }

  @Test("validation: roles, controller bootstrap, controller listener, heartbeat and session")
  func validation() {
    func problems(_ values: [String: String]) -> [String] { BrokerConfig(values).validate() }

    let brokerOnly = problems(["process.roles": "broker"])
    #expect(brokerOnly.count == 1)
    #expect(brokerOnly.first?.contains("controller.quorum.bootstrap.servers") == true)

    let controllerOnly = problems(["process.roles": "controller"])
    #expect(controllerOnly.count == 1 && controllerOnly.first?.contains("CONTROLLER") == true)
    #expect(
      problems([
        "process.roles": "controller", "listeners": "CONTROLLER://127.0.0.1:9093",
      ]) == [])

    let brokerWithControllerListener = problems([
      "process.roles": "broker", "controller.quorum.bootstrap.servers": "127.0.0.1:9093",
      "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9094",
    ])
    #expect(brokerWithControllerListener.count == 1)
    #expect(brokerWithControllerListener.first?.contains("must not have") == true)

    #expect(
      problems(["process.roles": "broker,coordinator"]).first?.contains("coordinator") == true)
    #expect(problems(["process.roles": ""]).count == 1)
    #expect(problems(["node.id": "-1"]).first?.contains("node.id") == true)
    #expect(problems(["node.id": "x"]).first?.contains("node.id") == true)

    let heartbeat = problems(["broker.heartbeat.interval.ms": "9000"])
    #expect(heartbeat.count == 1 && heartbeat.first?.contains("less than") == true)
    #expect(
      problems(["broker.heartbeat.interval.ms": "100", "broker.session.timeout.ms": "200"]) == [])

    #expect(problems(["replica.fetch.wait.max.ms": "30000"]).count == 1)
    #expect(problems(["replica.lag.time.max.ms": "soon"]).first?.contains("integer") == true)
    #expect(problems(["auto.leader.rebalance.enable": "yes"]).count == 1)
    #expect(problems(["controller.quorum.bootstrap.servers": "nowhere"]).count == 1)
    #expect(problems(["controller.quorum.voters": "127.0.0.1:9093"]).count == 1)
    #expect(problems(["listeners": "PLAINTEXT://nohost"]).count == 1)
    #expect(
      problems(["listeners": "CONTROLLER://127.0.0.1:9093"]).first?.contains("client listener")
        == true)
  }

  @Test("meta.properties: a stored id is kept when node.id was only defaulted, refused otherwise")
  func metaProperties() throws {
    let dir = NSTemporaryDirectory() + "skein-meta-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }

    let first = try MetaProperties.resolve(BrokerConfig(["node.id": "1"]), dataDir: dir)
    #expect(first.config.nodeId == 1 && first.notice == nil)

    let defaulted = try MetaProperties.resolve(BrokerConfig(), dataDir: dir)
    #expect(defaulted.config.nodeId == 1 && defaulted.clusterId == first.clusterId)
    #expect(defaulted.notice?.contains("node.id 1") == true)

    #expect(throws: MetaProperties.Mismatch.self) {
      try MetaProperties.resolve(BrokerConfig(["node.id": "0"]), dataDir: dir)
    }
    let same = try MetaProperties.resolve(BrokerConfig(["node.id": "1"]), dataDir: dir)
    #expect(same.config.nodeId == 1 && same.notice == nil)

    let fresh = NSTemporaryDirectory() + "skein-meta-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: fresh, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: fresh) }
    let zero = try MetaProperties.resolve(BrokerConfig(), dataDir: fresh)
    #expect(zero.config.nodeId == 0)
    let text = try String(contentsOfFile: fresh + "/meta.properties", encoding: .utf8)
    #expect(text.contains("node.id=0\n") && text.contains("cluster.id=\(zero.clusterId)\n"))
  }
}
