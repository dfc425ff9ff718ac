import KafkaProtocol
import NIOCore
import SkeinClient
import Synchronization

/// The controller over its listener: one connection, opened on first use to the first
/// bootstrap server that answers and dropped on any failure so that the next request
/// reconnects. Requests on it are answered in order, so long-polls get a channel of their own.
final class RemoteControllerChannel: ControllerChannel {
  private let servers: [(host: String, port: Int)]
  private let configuration: ConnectionConfiguration
  private let eventLoopGroup: any EventLoopGroup
  private let connection = Mutex<KafkaConnection?>(nil)
  private let nextServer = Mutex(0)
  /// Set by `close()`: the node is stopping, so no new connection is opened.
  private let closed = Mutex(false)

  init(
    servers: [(host: String, port: Int)], clientId: String, requestTimeout: Duration,
    eventLoopGroup: any EventLoopGroup
  ) {
    self.servers = servers
    var configuration = ConnectionConfiguration()
    configuration.clientId = clientId
    configuration.requestTimeout = requestTimeout
    configuration.connectTimeout = .seconds(2)
    self.configuration = configuration
    self.eventLoopGroup = eventLoopGroup
  }

  func sendEncoded(api: ApiKey, version: Int16, body: ByteBuffer) async throws -> ByteBuffer {
    let connection = try await connected()
    do {
      return try await connection.sendEncoded(api: api, version: version, body: body)
    } catch {
      drop(connection)
      throw error
    }
  }

  func close() async {
    closed.withLock { $0 = true }
    let open = connection.withLock { c -> KafkaConnection? in
      defer { c = nil }
      return c
    }
    await open?.close()
  }

  private func connected() async throws -> KafkaConnection {
    if let open = connection.withLock({ $0 }), open.isActive { return open }
    guard !closed.withLock({ $0 }) else { throw ControllerChannelError.unreachable("closed") }
    guard !servers.isEmpty else {
      throw ControllerChannelError.unreachable("no controller address")
    }
    var lastError: (any Error)?
    for _ in servers.indices {
      let index = nextServer.withLock { i in
        defer { i = (i + 1) % servers.count }
        return i
      }
      let server = servers[index]
      do {
        let fresh = try await KafkaConnection.connect(
          host: server.host, port: server.port, configuration: configuration,
          eventLoopGroup: eventLoopGroup)
        let stale = connection.withLock { c -> KafkaConnection? in
          defer { c = fresh }
          return c
        }
        await stale?.close()
        return fresh
      } catch {
        lastError = error
      }
    }
    throw ControllerChannelError.unreachable("\(lastError.map { "\($0)" } ?? "no answer")")
  }

  private func drop(_ failed: KafkaConnection) {
    let dropped = connection.withLock { c -> Bool in
      guard let open = c, open === failed else { return false }
      c = nil
      return true
    }
    if dropped { Task { await failed.close() } }
  }
}
