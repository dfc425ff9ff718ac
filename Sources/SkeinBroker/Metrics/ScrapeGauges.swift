import CoreMetrics
import Synchronization

/// Gauges whose values are read from the node's state when a scrape asks (partition counts,
/// log offsets, lag), rather than kept up to date on every change. Each `update` sets the
/// gauges it is given and drops the ones it no longer lists (a deleted partition's, say).
public final class ScrapeGauges: Sendable {
  /// One gauge value: its name and label pairs as Prometheus shows them.
  public struct Sample: Sendable {
    public var name: String
    public var labels: [(String, String)]
    public var value: Double

    public init(_ name: String, _ labels: [(String, String)] = [], _ value: Double) {
      self.name = name
      self.labels = labels
      self.value = value
    }
  }

  private struct Key: Hashable {
    var name: String
    var labels: [String]
  }

  private let factory: any MetricsFactory
  private let meters = Mutex<[Key: Meter]>([:])

  public init(factory: any MetricsFactory) {
    self.factory = factory
  }

  public func update(_ samples: [Sample]) {
    meters.withLock { meters in
      var seen = Set<Key>()
      for sample in samples {
        let key = Key(name: sample.name, labels: sample.labels.flatMap { [$0.0, $0.1] })
        seen.insert(key)
        let meter =
          meters[key]
          ?? Meter(label: sample.name, dimensions: sample.labels, factory: factory)
        meters[key] = meter
        meter.set(sample.value)
      }
      for (key, meter) in meters where !seen.contains(key) {
        meter.destroy()
        meters[key] = nil
      }
    }
  }
}
