import Atomics
import CoreMetrics
import KafkaProtocol
import NIOCore
import Synchronization

/// The rates the broker records as it serves requests, under the names the Prometheus JMX
/// exporter gives Kafka's MBeans (`kafka_server_brokertopicmetrics_messagesin_total`, …), so
/// Kafka's dashboards read them unchanged. Handlers are made once per topic or API and then
/// only incremented: the produce and fetch paths do not allocate for metrics.
public final class BrokerMetrics: Sendable {
  /// The rates of one topic, or of all topics together (label `topic=""`, which Prometheus
  /// reads as no topic label: the JMX exporter's unlabeled total).
  public final class TopicRates: Sendable {
    let messagesIn: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let replicationBytesIn: Counter
    let replicationBytesOut: Counter
    let produceRequests: Counter
    let fetchRequests: Counter

    init(topic: String, factory: any MetricsFactory) {
      func counter(_ name: String) -> Counter {
        Counter(
          label: "kafka_server_brokertopicmetrics_\(name)_total", dimensions: [("topic", topic)],
          factory: factory)
      }
      messagesIn = counter("messagesin")
      bytesIn = counter("bytesin")
      bytesOut = counter("bytesout")
      replicationBytesIn = counter("replicationbytesin")
      replicationBytesOut = counter("replicationbytesout")
      produceRequests = counter("totalproducerequests")
      fetchRequests = counter("totalfetchrequests")
    }

    func destroy() {
      for counter in [
        messagesIn, bytesIn, bytesOut, replicationBytesIn, replicationBytesOut, produceRequests,
        fetchRequests,
      ] {
        counter.destroy()
      }
    }
  }

  /// One API's request rate per version, its latency and its answers' error codes, as
  /// `RequestMetrics` has them.
  final class RequestRates: Sendable {
    let byVersion: [Counter]
    let totalTimeMs: Recorder
    let errors: ErrorRates

    init(_ api: ApiKey, versions: ClosedRange<Int16>, factory: any MetricsFactory) {
      byVersion = (0...versions.upperBound).map { version in
        Counter(
          label: "kafka_network_requestmetrics_requests_total",
          dimensions: [("request", api.name), ("version", String(version))], factory: factory)
      }
      totalTimeMs = Recorder(
        label: BrokerMetrics.totalTimeMsName, dimensions: [("request", api.name)],
        aggregate: true, factory: factory)
      errors = ErrorRates(api, factory: factory)
    }
  }

  /// One API's `ErrorsPerSec`: a counter per error code, made when the code first occurs (as
  /// Kafka makes its meters), then found without a lock or an allocation.
  final class ErrorRates: Sendable {
    /// Kafka's codes run from -1 (UNKNOWN_SERVER_ERROR) up; slot `code + 1`.
    static let knownCodes: ClosedRange<Int16> = -1...ErrorRates.highestKnownCode
    static let highestKnownCode: Int16 = 130
    let api: ApiKey
    let factory: any MetricsFactory
    private let byCode: [ManagedAtomicLazyReference<Counter>]
    /// Codes outside `knownCodes`, which Skein's handlers do not answer with.
    private let others = Mutex<[Int16: Counter]>([:])

    init(_ api: ApiKey, factory: any MetricsFactory) {
      self.api = api
      self.factory = factory
      byCode = Self.knownCodes.map { _ in ManagedAtomicLazyReference<Counter>() }
    }

    func counter(_ code: Int16) -> Counter {
      guard Self.knownCodes.contains(code) else {
        return others.withLock { others in
          if let counter = others[code] { return counter }
          let made = make(code)
          others[code] = made
          return made
        }
      }
      let slot = byCode[Int(code) + 1]
      return slot.load() ?? slot.storeIfNilThenLoad(make(code))
    }

    private func make(_ code: Int16) -> Counter {
      Counter(
        label: BrokerMetrics.errorsName,
        dimensions: [("request", api.name), ("error", ErrorCode(rawValue: code).kafkaName)],
        factory: factory)
    }
  }

  /// Error codes in answers (Kafka's `RequestMetrics` `ErrorsPerSec`), by API and error name.
  public static let errorsName = "kafka_network_requestmetrics_errors_total"

  /// The request latency histogram; its buckets are in milliseconds.
  public static let totalTimeMsName = "kafka_network_requestmetrics_totaltimems"
  /// Bucket bounds (ms) for `totalTimeMsName`, from a loopback request to a long-poll's wait.
  public static let totalTimeMsBuckets: [Double] = [
    0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
  ]

  let factory: any MetricsFactory
  let allTopics: TopicRates
  let isrShrinks: Counter
  let isrExpands: Counter
  private let topics = Mutex<[String: TopicRates]>([:])
  /// Indexed by API key; nil for APIs no listener serves.
  private let requests: [RequestRates?]

  /// `served`: every API and version a listener of this node serves.
  public init(factory: any MetricsFactory, served: [ApiKey: ClosedRange<Int16>]) {
    self.factory = factory
    allTopics = TopicRates(topic: "", factory: factory)
    isrShrinks = Counter(label: "kafka_server_replicamanager_isrshrinks_total", factory: factory)
    isrExpands = Counter(label: "kafka_server_replicamanager_isrexpands_total", factory: factory)
    let maxKey = Int(ApiKey.allCases.map(\.rawValue).max() ?? 0)
    var requests = [RequestRates?](repeating: nil, count: maxKey + 1)
    for (api, versions) in served {
      requests[Int(api.rawValue)] = RequestRates(api, versions: versions, factory: factory)
    }
    self.requests = requests
  }

  /// Metrics that go nowhere, for brokers started without a metrics registry (tests).
  public static func discarding() -> BrokerMetrics {
    BrokerMetrics(factory: NOOPMetricsHandler.instance, served: [:])
  }

  func topic(_ name: String) -> TopicRates {
    if let rates = topics.withLock({ $0[name] }) { return rates }
    let made = TopicRates(topic: name, factory: factory)
    return topics.withLock { topics in
      if let existing = topics[name] { return existing }
      topics[name] = made
      return made
    }
  }

  /// Forgets a deleted topic's rates, as Kafka removes its BrokerTopicMetrics.
  func removeTopic(_ name: String) {
    topics.withLock { $0.removeValue(forKey: name) }?.destroy()
  }

  func produced(topic: String, messages: Int64, bytes: Int64) {
    let rates = self.topic(topic)
    rates.messagesIn.increment(by: messages)
    rates.bytesIn.increment(by: bytes)
    rates.produceRequests.increment()
    allTopics.messagesIn.increment(by: messages)
    allTopics.bytesIn.increment(by: bytes)
    allTopics.produceRequests.increment()
  }

  func fetched(topic: String, bytes: Int64, byFollower: Bool) {
    let rates = self.topic(topic)
    (byFollower ? rates.replicationBytesOut : rates.bytesOut).increment(by: bytes)
    (byFollower ? allTopics.replicationBytesOut : allTopics.bytesOut).increment(by: bytes)
    rates.fetchRequests.increment()
    allTopics.fetchRequests.increment()
  }

  func replicated(topic: String, bytes: Int64) {
    self.topic(topic).replicationBytesIn.increment(by: bytes)
    allTopics.replicationBytesIn.increment(by: bytes)
  }

  /// Counts each error code of an answer under its API, as Kafka's `updateErrorMetrics`
  /// counts the response's `errorCounts()`.
  func responded<R: KafkaResponseMessage>(_ response: R, version: Int16) {
    let index = Int(R.apiKey.rawValue)
    guard index >= 0, index < requests.count, let rates = requests[index] else { return }
    var tally = ErrorTally()
    response.forEachErrorCode(version: version) { code in
      if !tally.add(code) { rates.errors.counter(code).increment() }
    }
    tally.forEachCode { code, count in rates.errors.counter(code).increment(by: Int64(count)) }
  }

  /// One answered request (`apiKey` as on the wire; unknown keys are not counted).
  func request(_ apiKey: Int16, version: Int16, since started: NIODeadline) {
    let index = Int(apiKey)
    guard index >= 0, index < requests.count, let rates = requests[index] else { return }
    let elapsedNanos = max((NIODeadline.now() - started).nanoseconds, 0)
    if version >= 0 && Int(version) < rates.byVersion.count {
      rates.byVersion[Int(version)].increment()
    }
    rates.totalTimeMs.record(Double(elapsedNanos) / 1_000_000)
  }
}
