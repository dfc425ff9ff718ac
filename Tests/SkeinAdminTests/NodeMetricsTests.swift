import Foundation
import Logging
import Prometheus
import SkeinBroker
import Testing

@testable import SkeinAdmin

/// The node's metrics text: Kafka's names, a gauge per hosted partition, and no crash when
/// topics and partitions come and go between scrapes.
@Suite struct NodeMetricsTests {
  @Test func scrapeCarriesKafkasNames() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "skein-metrics-\(UUID().uuidString)"
    ).path
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let metrics = NodeMetrics()
    let config = BrokerConfig([
      "listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0", "log.dirs": dir,
    ])
    let broker = try await Broker.start(
      config: config, logger: Logger(label: "test"), metricsFactory: metrics.factory)
    let text = metrics.scrape(broker)
    for name in [
      "kafka_server_replicamanager_partitioncount", "kafka_server_replicamanager_leadercount",
      "kafka_server_replicamanager_underreplicatedpartitions",
      "kafka_controller_kafkacontroller_activecontrollercount",
      "kafka_server_brokertopicmetrics_messagesin_total",
      "kafka_server_replicafetchermanager_maxlag",
    ] {
      #expect(text.contains("# TYPE \(name) "), "\(name)")
    }
    #expect(text.contains("kafka_controller_kafkacontroller_activecontrollercount 1"))
    // A second scrape sets the same gauges again.
    #expect(metrics.scrape(broker).contains("kafka_server_replicamanager_partitioncount 0"))
    await broker.shutdown()
  }
}
