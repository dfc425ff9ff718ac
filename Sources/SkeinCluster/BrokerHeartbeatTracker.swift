/// The controller's in-memory record of when each broker last heartbeated (Kafka's
/// BrokerHeartbeatManager). Not persisted: a new controller starts from `init(image:nowMs:)`,
/// giving every live broker a full session to reach it.
public struct BrokerHeartbeatTracker: Sendable, Hashable {
  private var lastContactMs: [Int32: Int64] = [:]

  public init() {}

  /// A tracker that has just heard from every unfenced broker of `image`.
  public init(image: MetadataImage, nowMs: Int64) {
    for broker in image.brokers.values where !broker.fenced { lastContactMs[broker.id] = nowMs }
  }

  /// Notes a registration or heartbeat from `brokerId` at `nowMs`.
  public mutating func touch(brokerId: Int32, nowMs: Int64) {
    lastContactMs[brokerId] = max(nowMs, lastContactMs[brokerId] ?? nowMs)
  }

  public func lastContact(_ brokerId: Int32) -> Int64? { lastContactMs[brokerId] }

  /// Whether `brokerId` was heard from within the session timeout.
  public func hasValidSession(_ brokerId: Int32, nowMs: Int64, sessionTimeoutMs: Int64) -> Bool {
    guard let last = lastContactMs[brokerId] else { return false }
    return nowMs - last <= sessionTimeoutMs
  }

  /// The tracked brokers whose last contact is older than the session timeout, sorted. The
  /// runtime fences each (`fenceBroker`) and then `remove`s it, so it is reported once.
  public func expired(nowMs: Int64, sessionTimeoutMs: Int64) -> [Int32] {
    lastContactMs.filter { nowMs - $0.value > sessionTimeoutMs }.keys.sorted()
  }

  public mutating func remove(_ brokerId: Int32) { lastContactMs[brokerId] = nil }
}
