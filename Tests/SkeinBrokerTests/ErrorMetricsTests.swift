import CoreMetrics
import KafkaProtocol
import Synchronization
import Testing

@testable import SkeinBroker

/// `kafka_network_requestmetrics_errors_total`: an answer's error codes tallied, then counted
/// under the API and Kafka's name for each error.
@Suite struct ErrorMetricsTests {
  @Test func tallyCountsDistinctCodesInOrderOfFirstOccurrence() {
    var tally = ErrorTally()
    for code: Int16 in [0, 0, 6, 0, 3, 6, 0] {
      let added = tally.add(code)
      #expect(added)
    }
    var seen: [(Int16, Int)] = []
    tally.forEachCode { seen.append(($0, $1)) }
    #expect(seen.map(\.0) == [0, 6, 3])
    #expect(seen.map(\.1) == [4, 2, 1])
  }

  @Test func fullTallyRefusesNewCodesButCountsHeldOnes() {
    var tally = ErrorTally()
    var added: [Bool] = []
    for code: Int16 in 0..<Int16(ErrorTally.capacity) { added.append(tally.add(code)) }
    added.append(tally.add(99))
    added.append(tally.add(0))
    #expect(added == Array(repeating: true, count: ErrorTally.capacity) + [false, true])
    #expect(tally.distinct == ErrorTally.capacity)
    var total = 0
    tally.forEachCode { _, count in total += count }
    #expect(total == ErrorTally.capacity + 1)
  }

  @Test func respondedCountsEachCodeUnderItsApiAndName() {
    let factory = RecordingFactory()
    let metrics = BrokerMetrics(factory: factory, served: [.produce: 0...11, .metadata: 0...12])
    var partitions: [ProduceResponse.PartitionProduceResponse] = (0..<10).map {
      .init(index: $0, errorCode: ErrorCode.none.rawValue)
    }
    partitions[3].errorCode = ErrorCode.notLeaderOrFollower.rawValue
    // Six distinct codes: more than the tally holds inline.
    for (index, code) in [Int16]([-1, 3, 10, 19]).enumerated() {
      partitions[5 + index].errorCode = code
    }
    let response = ProduceResponse(responses: [.init(name: "t", partitionResponses: partitions)])
    metrics.responded(response, version: 9)
    metrics.responded(response, version: 9)

    let produce = { (error: String) in factory.value("Produce", error) }
    #expect(produce("NONE") == 10)
    #expect(produce("NOT_LEADER_OR_FOLLOWER") == 2)
    #expect(produce("UNKNOWN_SERVER_ERROR") == 2)
    #expect(produce("UNKNOWN_TOPIC_OR_PARTITION") == 2)
    #expect(produce("MESSAGE_TOO_LARGE") == 2)
    #expect(produce("NOT_ENOUGH_REPLICAS") == 2)
    // Each counter is made once, on its code's first occurrence.
    #expect(factory.made() == 6)

    metrics.responded(
      MetadataResponse(topics: [.init(errorCode: ErrorCode.unknownTopicOrPartition.rawValue)]),
      version: 12)
    #expect(factory.value("Metadata", "UNKNOWN_TOPIC_OR_PARTITION") == 1)
    #expect(factory.made() == 7)
  }

  @Test func codesOutsideKafkasRangeAreCountedByNumber() {
    let factory = RecordingFactory()
    let metrics = BrokerMetrics(factory: factory, served: [.heartbeat: 0...4])
    metrics.responded(HeartbeatResponse(errorCode: 999), version: 4)
    metrics.responded(HeartbeatResponse(errorCode: 999), version: 4)
    #expect(factory.value("Heartbeat", "UNKNOWN_ERROR_CODE(999)") == 2)
    #expect(factory.made() == 1)
  }

  @Test func apisNoListenerServesAreNotCounted() {
    let factory = RecordingFactory()
    let metrics = BrokerMetrics(factory: factory, served: [.produce: 0...11])
    metrics.responded(HeartbeatResponse(errorCode: 0), version: 4)
    #expect(factory.made() == 0)
  }
}

/// Counters by label and dimensions, for reading back what `BrokerMetrics` counted.
final class RecordingFactory: MetricsFactory, Sendable {
  final class Count: CounterHandler, Sendable {
    let value = Atomic<Int64>(0)
    func increment(by amount: Int64) { value.add(amount, ordering: .relaxed) }
    func reset() { value.store(0, ordering: .relaxed) }
  }

  private let counters = Mutex<[String: Count]>([:])
  private let errorCountersMade = Mutex(0)

  static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
    label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
  }

  func value(_ request: String, _ error: String) -> Int64? {
    let key = Self.key(BrokerMetrics.errorsName, [("request", request), ("error", error)])
    return counters.withLock { $0[key] }?.value.load(ordering: .relaxed)
  }

  /// Error counters made so far.
  func made() -> Int { errorCountersMade.withLock { $0 } }

  func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
    if label == BrokerMetrics.errorsName { errorCountersMade.withLock { $0 += 1 } }
    return counters.withLock { counters in
      let key = Self.key(label, dimensions)
      if let existing = counters[key] { return existing }
      let made = Count()
      counters[key] = made
      return made
    }
  }

  func makeFloatingPointCounter(label: String, dimensions: [(String, String)])
    -> any FloatingPointCounterHandler
  {
    NOOPMetricsHandler.instance.makeFloatingPointCounter(label: label, dimensions: dimensions)
  }

  func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool)
    -> any RecorderHandler
  {
    NOOPMetricsHandler.instance.makeRecorder(
      label: label, dimensions: dimensions, aggregate: aggregate)
  }

  func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
    NOOPMetricsHandler.instance.makeMeter(label: label, dimensions: dimensions)
  }

  func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
    NOOPMetricsHandler.instance.makeTimer(label: label, dimensions: dimensions)
  }

  func destroyCounter(_ handler: any CounterHandler) {}
  func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
  func destroyRecorder(_ handler: any RecorderHandler) {}
  func destroyMeter(_ handler: any MeterHandler) {}
  func destroyTimer(_ handler: any TimerHandler) {}
}
