import KafkaProtocol
import NIOCore
import Synchronization

/// How the broker side of a node reaches the active controller: registration, heartbeats,
/// ISR changes, producer id blocks, metadata fetches and forwarded admin requests all travel
/// as Kafka requests, in process on a node that is the controller, over the controller
/// listener otherwise — one code path either way.
protocol ControllerChannel: Sendable {
  /// Sends an encoded request body; returns the encoded response body.
  func sendEncoded(api: ApiKey, version: Int16, body: ByteBuffer) async throws -> ByteBuffer
}

extension ControllerChannel {
  /// Sends `request` at `version` and decodes the answer.
  func send<R: KafkaRequestMessage>(_ request: R, version: Int16) async throws -> R.Response {
    var body = ByteBuffer()
    request.encode(to: &body, version: version)
    var answer = try await sendEncoded(api: R.apiKey, version: version, body: body)
    do {
      return try R.Response(from: &answer, version: version)
    } catch {
      throw ControllerChannelError.malformedResponse("\(R.apiKey.name) v\(version): \(error)")
    }
  }

  /// Sends `request` at the newest version both this node's codec and the controller serve.
  func send<R: KafkaRequestMessage>(_ request: R) async throws -> R.Response {
    let version = ControllerApis.versions[R.apiKey]?.upperBound ?? R.validVersions.upperBound
    return try await send(request, version: min(version, R.validVersions.upperBound))
  }
}

/// Why a controller request did not get an answer.
enum ControllerChannelError: Error, CustomStringConvertible {
  case unreachable(String)
  case malformedResponse(String)
  case closed(String)

  var description: String {
    switch self {
    case .unreachable(let why): "controller unreachable: \(why)"
    case .malformedResponse(let why): "malformed controller response: \(why)"
    case .closed(let why): "controller closed the request: \(why)"
    }
  }
}

/// The controller of this very node: requests go straight to its router (set once the
/// handlers it shares with the broker side exist).
final class LocalControllerChannel: ControllerChannel {
  private let router = Mutex<ControllerApis?>(nil)
  let eventLoop: any EventLoop

  init(eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func connect(_ apis: ControllerApis) {
    router.withLock { $0 = apis }
  }

  func sendEncoded(api: ApiKey, version: Int16, body: ByteBuffer) async throws -> ByteBuffer {
    guard let apis = router.withLock({ $0 }) else {
      throw ControllerChannelError.unreachable("the local controller is not started")
    }
    var request = body
    let context = RequestContext(
      apiKey: api, apiVersion: version, correlationId: 0, clientId: "local-broker",
      remoteAddress: "in-process", eventLoop: eventLoop)
    let parts: [ResponsePart]
    switch apis.route(&request, context) {
    case .response(let answer): parts = answer
    case .deferred(let future): parts = try await future.get()
    case .noResponse: throw ControllerChannelError.closed("no response to \(api.name)")
    case .close(let why): throw ControllerChannelError.closed(why)
    }
    var framed = ByteBuffer()
    for part in parts {
      guard case .bytes(var bytes) = part else {
        throw ControllerChannelError.malformedResponse("file-backed answer to \(api.name)")
      }
      framed.writeBuffer(&bytes)
    }
    // Strip the frame: size, correlation id and, for flexible versions, the header's tags.
    framed.moveReaderIndex(forwardBy: 8)
    if api != .apiVersions && api.isFlexible(version) {
      _ = try framed.readUnsignedVarint()
    }
    return framed
  }
}
