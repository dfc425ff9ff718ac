import KafkaProtocol
import Logging
import NIOCore

/// What the connection does with one frame.
enum Dispatched {
  case response([ResponsePart])
  case deferred(EventLoopFuture<[ResponsePart]>)
  case noResponse
  case close(String)
}

/// The APIs one listener serves and the handlers behind them: the client listener's
/// `BrokerApis`, the controller listener's `ControllerApis`.
protocol ApiRouter: Sendable {
  /// The APIs and versions this listener serves, as its ApiVersions advertises them.
  var supportedApis: [ApiKey: ClosedRange<Int16>] { get }
  /// Decodes the body of a request whose header has been read and answers it.
  func route(_ body: inout ByteBuffer, _ context: RequestContext) -> Dispatched
}

extension ApiRouter {
  /// The ApiVersions entries, ordered by key.
  var apiVersionsEntries: [ApiVersionsResponse.ApiVersion] {
    supportedApis.sorted { $0.key.rawValue < $1.key.rawValue }.map {
      ApiVersionsResponse.ApiVersion(
        apiKey: $0.key.rawValue, minVersion: $0.value.lowerBound, maxVersion: $0.value.upperBound)
    }
  }
}

/// Reads a request frame's header, checks the API and version against what the listener
/// serves, and hands the body to the listener's router.
final class RequestDispatcher: Sendable {
  let router: any ApiRouter
  let metrics: BrokerMetrics

  init(router: any ApiRouter, metrics: BrokerMetrics = .discarding()) {
    self.router = router
    self.metrics = metrics
  }

  func dispatch(frame: ByteBuffer, remoteAddress: String, eventLoop: any EventLoop) -> Dispatched {
    var body = frame
    guard let rawKey = frame.getInteger(at: frame.readerIndex, as: Int16.self),
      let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self),
      let correlationId = frame.getInteger(at: frame.readerIndex + 4, as: Int32.self)
    else { return .close("request of \(frame.readableBytes) bytes is shorter than a header") }
    guard let apiKey = ApiKey(rawValue: rawKey), let served = router.supportedApis[apiKey] else {
      return .close("unknown or unsupported API key \(rawKey)")
    }
    guard served.contains(version) else {
      if apiKey == .apiVersions {
        // KIP-511: answer in a v0 body so the client can pick a version it shares with us.
        let response = ApiVersionsResponse(
          errorCode: ErrorCode.unsupportedVersion.rawValue, apiKeys: router.apiVersionsEntries)
        metrics.responded(response, version: 0)
        return .response([
          .bytes(Self.encode(response, apiKey: apiKey, version: 0, correlationId: correlationId))
        ])
      }
      return .close("\(apiKey.name) v\(version) is not supported (serving \(served))")
    }
    let header: RequestHeader
    do {
      header = try RequestHeader(from: &body, version: apiKey.isFlexible(version) ? 2 : 1)
    } catch {
      return .close("undecodable \(apiKey.name) v\(version) request header: \(error)")
    }
    let context = RequestContext(
      apiKey: apiKey, apiVersion: version, correlationId: correlationId, clientId: header.clientId,
      remoteAddress: remoteAddress, eventLoop: eventLoop, metrics: metrics)
    return router.route(&body, context)
  }

  /// Decodes a request body, runs `handler` and frames its answer.
  static func run<R: KafkaRequestMessage>(
    _: R.Type, _ body: inout ByteBuffer, _ context: RequestContext,
    _ handler: (R, RequestContext) -> Reply<R.Response>
  ) -> Dispatched {
    let request: R
    do {
      request = try R(from: &body, version: context.apiVersion)
    } catch {
      return .close("undecodable \(context.apiKey.name) v\(context.apiVersion) request: \(error)")
    }
    switch handler(request, context) {
    case .now(let response):
      context.metrics?.responded(response, version: context.apiVersion)
      return .response([
        .bytes(
          Self.encode(
            response, apiKey: context.apiKey, version: context.apiVersion,
            correlationId: context.correlationId))
      ])
    case .none:
      return .noResponse
    case .later(let future):
      return .deferred(
        future.map { response in
          context.metrics?.responded(response, version: context.apiVersion)
          return [
            .bytes(
              Self.encode(
                response, apiKey: context.apiKey, version: context.apiVersion,
                correlationId: context.correlationId))
          ]
        })
    }
  }

  /// Fetch answers keep their records in the segment files until the socket write.
  static func runFetch(
    _ body: inout ByteBuffer, _ context: RequestContext,
    _ handler: (FetchRequest, RequestContext) -> Reply<FileBackedFetchResponse>
  ) -> Dispatched {
    let request: FetchRequest
    do {
      request = try FetchRequest(from: &body, version: context.apiVersion)
    } catch {
      return .close("undecodable Fetch v\(context.apiVersion) request: \(error)")
    }
    let encode: @Sendable (FileBackedFetchResponse) -> [ResponsePart] = { result in
      context.metrics?.responded(result.response, version: context.apiVersion)
      let framed = Self.encode(
        result.response, apiKey: .fetch, version: context.apiVersion,
        correlationId: context.correlationId)
      return ZeroCopyFetchEncoder.parts(
        framed: framed, slices: result.slices, compact: ApiKey.fetch.isFlexible(context.apiVersion))
    }
    switch handler(request, context) {
    case .now(let result): return .response(encode(result))
    case .later(let future): return .deferred(future.map(encode))
    case .none: return .noResponse
    }
  }

  /// Frames a response body that is already encoded (one relayed from the controller).
  static func frame(encodedBody: ByteBuffer, apiKey: ApiKey, version: Int16, correlationId: Int32)
    -> ByteBuffer
  {
    var buffer = ByteBufferAllocator().buffer(capacity: encodedBody.readableBytes + 16)
    buffer.writeInteger(Int32(0))
    buffer.writeInteger(correlationId)
    if apiKey != .apiVersions && apiKey.isFlexible(version) {
      buffer.writeUnsignedVarint(0)
    }
    var body = encodedBody
    buffer.writeBuffer(&body)
    buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
    return buffer
  }

  /// Frames a response: size, response header (v1 for flexible versions, except ApiVersions),
  /// then the body.
  static func encode<M: KafkaMessage>(
    _ response: M, apiKey: ApiKey, version: Int16, correlationId: Int32
  ) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: 256)
    buffer.writeInteger(Int32(0))
    buffer.writeInteger(correlationId)
    if apiKey != .apiVersions && apiKey.isFlexible(version) {
      buffer.writeUnsignedVarint(0)
    }
    response.encode(to: &buffer, version: version)
    buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
    return buffer
  }
}
