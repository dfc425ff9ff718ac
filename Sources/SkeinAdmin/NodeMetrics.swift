import CoreMetrics
import Prometheus
import SkeinBroker

/// One node's Prometheus registry: the broker records its rates into `factory`, and a scrape
/// sets the gauges read from the broker's state, then writes the registry out.
public final class NodeMetrics: Sendable {
  public let registry: PrometheusCollectorRegistry
  public let factory: any MetricsFactory
  private let gauges: ScrapeGauges

  public init() {
    registry = PrometheusCollectorRegistry()
    factory = DescribedMetricsFactory(
      registry: registry, help: { KafkaMetricNames.help(for: $0) },
      valueBuckets: { _ in BrokerMetrics.totalTimeMsBuckets })
    gauges = ScrapeGauges(factory: factory)
  }

  /// The text a Prometheus scrape gets, with `broker`'s gauges read now and `extra` gauges
  /// (consumer-group lag) beside them.
  public func scrape(_ broker: Broker, extra: [ScrapeGauges.Sample] = []) -> String {
    gauges.update(broker.gaugeSamples() + extra)
    return registry.emitToString()
  }
}
