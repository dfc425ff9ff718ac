import Foundation
import Hummingbird
import Logging
import NIOCore
import Prometheus
import SkeinBroker
import SkeinClient
import Synchronization

/// The node's HTTP listener (`http.listen`): Prometheus metrics at `/metrics` and the admin
/// JSON API under `/v1`, served by Hummingbird beside the Kafka listeners.
public final class AdminServer: Sendable {
  /// The port it listens on (the one the OS picked when asked for port 0).
  public let port: Int
  private let task: Task<Void, Never>
  private let client: KafkaClient?
  private let events: ClusterEventLog

  private init(
    port: Int, task: Task<Void, Never>, client: KafkaClient?, events: ClusterEventLog
  ) {
    self.port = port
    self.task = task
    self.client = client
    self.events = events
  }

  /// Binds `host:port` and serves until `shutdown`; throws when the address cannot be bound.
  public static func start(
    host: String, port: Int, broker: Broker, metrics: NodeMetrics, logger: Logger
  ) async throws -> AdminServer {
    let router = Router(context: BasicRequestContext.self)
    let client: KafkaClient? =
      broker.config.processRoles.contains(.broker)
      ? KafkaClient(
        bootstrapServers: [
          BrokerAddress(host: broker.config.advertisedListener.host, port: broker.boundPort)
        ])
      : nil
    let admin = client.map { Admin(client: $0, operationTimeout: .seconds(5)) }
    AdminRoutes(broker: broker, metrics: metrics, admin: admin).register(on: router)
    let started = StartSignal()
    let app = Application(
      router: router,
      configuration: .init(address: .hostname(host, port: port), serverName: nil),
      onServerRunning: { channel in started.resume(.success(channel.localAddress?.port ?? port)) },
      logger: logger)
    let events = broker.events
    let task = Task {
      do {
        try await app.run()
      } catch {
        started.resume(.failure(error))
        logger.error("HTTP listener on \(host):\(port) stopped: \(error)")
      }
    }
    let bound = try await started.wait()
    logger.info("HTTP listener (metrics, admin API) on \(host):\(bound)")
    return AdminServer(port: bound, task: task, client: client, events: events)
  }

  /// Stops listening; requests in flight finish first.
  public func shutdown() async {
    events.finishStreams()  // an open /v1/events stream would hold the shutdown forever
    task.cancel()
    await task.value
    await client?.close()
  }
}

/// The bound port or the bind error, handed once from the server task to `start`.
private final class StartSignal: Sendable {
  private let state = Mutex<
    (result: Result<Int, any Error>?, waiter: CheckedContinuation<Int, any Error>?)
  >(
    (nil, nil))

  func resume(_ result: Result<Int, any Error>) {
    let waiter: CheckedContinuation<Int, any Error>? = state.withLock { s in
      guard s.result == nil else { return nil }
      s.result = result
      defer { s.waiter = nil }
      return s.waiter
    }
    waiter?.resume(with: result)
  }

  func wait() async throws -> Int {
    try await withCheckedThrowingContinuation { continuation in
      let ready: Result<Int, any Error>? = state.withLock { s in
        if let result = s.result { return result }
        s.waiter = continuation
        return nil
      }
      if let ready { continuation.resume(with: ready) }
    }
  }
}
