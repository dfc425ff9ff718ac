import KafkaProtocol
import Logging
import NIOCore
import SkeinCluster
import Synchronization

/// A broker's life as the controller sees it (Kafka's BrokerLifecycleManager): registration
/// with a fresh incarnation id, a heartbeat every `broker.heartbeat.interval.ms` carrying the
/// metadata offset reached, unfencing once caught up, and controlled shutdown — heartbeats that
/// ask to shut down until the controller has moved every leadership away.
final class BrokerLifecycleManager: Sendable {
  struct Registration: Sendable {
    var nodeId: Int32
    var clusterId: String
    var rack: String?
    var host: String
    var port: Int
    var logDirId: KafkaUuid
    /// The HTTP listener (metrics, admin API, web view), registered as the `HTTP` listener
    /// so that any node can reach the others' admin API; nil when it is off.
    var admin: (host: String, port: Int)?
  }

  private struct State {
    var brokerEpoch: Int64 = -1
    var fenced = true
    var wantShutDown = false
    var shutDownGranted = false
  }

  private let registration: Registration
  private let incarnationId = KafkaUuid.random()
  private let channel: any ControllerChannel
  private let metadataOffset: @Sendable () -> Int64
  private let heartbeatIntervalMs: Int64
  private let logger: Logger
  private let state = Mutex(State())
  private let loop = Mutex<Task<Void, Never>?>(nil)
  /// Called with the broker epoch after each successful registration.
  private let onRegistered: @Sendable (Int64) -> Void

  init(
    registration: Registration, channel: any ControllerChannel,
    metadataOffset: @escaping @Sendable () -> Int64, heartbeatIntervalMs: Int64, logger: Logger,
    onRegistered: @escaping @Sendable (Int64) -> Void = { _ in }
  ) {
    self.registration = registration
    self.channel = channel
    self.metadataOffset = metadataOffset
    self.heartbeatIntervalMs = heartbeatIntervalMs
    self.logger = logger
    self.onRegistered = onRegistered
  }

  var brokerEpoch: Int64 { state.withLock { $0.brokerEpoch } }
  var isFenced: Bool { state.withLock { $0.fenced } }

  /// Registers, then heartbeats until this node is unfenced or `timeout` passes (the broker
  /// serves either way; a fenced broker simply leads nothing), and keeps heartbeating.
  func start(timeout: Duration) async {
    let deadline = ContinuousClock.now + timeout
    while !(await register()) {
      if ContinuousClock.now >= deadline { break }
      try? await Task.sleep(for: .milliseconds(200))
    }
    while isFenced && ContinuousClock.now < deadline {
      await heartbeat()
      if isFenced { try? await Task.sleep(for: .milliseconds(50)) }
    }
    if isFenced {
      logger.warning("broker \(registration.nodeId) is still fenced after \(timeout)")
    }
    let interval = heartbeatIntervalMs
    let task = Task { [self] in
      while !Task.isCancelled {
        let pause = state.withLock { $0.wantShutDown } ? min(interval, 200) : interval
        try? await Task.sleep(for: .milliseconds(pause))
        if Task.isCancelled { break }
        if brokerEpoch < 0 {
          _ = await register()
        } else {
          await heartbeat()
        }
      }
    }
    loop.withLock { $0 = task }
  }

  /// Controlled shutdown: asks the controller to move this broker's leaderships away and
  /// waits until it agrees (or `timeout`), then stops heartbeating.
  func controlledShutdown(timeout: Duration) async {
    state.withLock { $0.wantShutDown = true }
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      await heartbeat()
      if state.withLock({ $0.shutDownGranted }) { break }
      try? await Task.sleep(for: .milliseconds(100))
    }
    if !state.withLock({ $0.shutDownGranted }) {
      logger.warning("controlled shutdown not confirmed by the controller within \(timeout)")
    }
    stop()
  }

  func stop() {
    loop.withLock { $0 }?.cancel()
  }

  private func register() async -> Bool {
    let r = registration
    let request = BrokerRegistrationRequest(
      brokerId: r.nodeId, clusterId: r.clusterId, incarnationId: incarnationId,
      listeners: [
        .init(name: "PLAINTEXT", host: r.host, port: UInt16(clamping: r.port), securityProtocol: 0)
      ]
        + (r.admin.map {
          [
            .init(
              name: BrokerInfo.adminListenerName, host: $0.host, port: UInt16(clamping: $0.port),
              securityProtocol: 0)
          ]
        } ?? []),
      features: [], rack: r.rack, logDirs: [r.logDirId],
      previousBrokerEpoch: state.withLock { $0.brokerEpoch })
    do {
      let response = try await channel.send(request)
      guard response.errorCode == 0 else {
        logger.warning("registration refused: error \(response.errorCode)")
        return false
      }
      state.withLock {
        $0.brokerEpoch = response.brokerEpoch
        $0.fenced = true
      }
      onRegistered(response.brokerEpoch)
      return true
    } catch {
      logger.debug("registration failed: \(error)")
      return false
    }
  }

  private func heartbeat() async {
    let (epoch, wantShutDown) = state.withLock { ($0.brokerEpoch, $0.wantShutDown) }
    guard epoch >= 0 else { return }
    let request = BrokerHeartbeatRequest(
      brokerId: registration.nodeId, brokerEpoch: epoch, currentMetadataOffset: metadataOffset(),
      wantFence: false, wantShutDown: wantShutDown)
    do {
      let response = try await channel.send(request)
      if response.errorCode == ErrorCode.staleBrokerEpoch.rawValue {
        // The controller no longer knows this incarnation (restarted or fenced us): register again.
        state.withLock { $0.brokerEpoch = -1 }
        return
      }
      guard response.errorCode == 0 else { return }
      let wasFenced = state.withLock { s -> Bool in
        defer {
          s.fenced = response.isFenced
          if response.shouldShutDown { s.shutDownGranted = true }
        }
        return s.fenced
      }
      if wasFenced != response.isFenced {
        logger.info("broker \(registration.nodeId) is \(response.isFenced ? "fenced" : "unfenced")")
      }
    } catch {
      logger.debug("heartbeat failed: \(error)")
    }
  }
}
