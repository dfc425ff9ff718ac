import KafkaProtocol
import NIOCore
import NIOPosix

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Settings for one broker connection.
public struct ConnectionConfiguration: Sendable {
  /// Sent in every request header; brokers log it and use it for quotas.
  public var clientId: String = "skein"
  public var connectTimeout: Duration = .seconds(10)
  /// How long a request may wait for its response before the connection is closed.
  public var requestTimeout: Duration = .seconds(30)
  /// Largest response frame accepted; a bigger length prefix closes the connection.
  public var maxResponseSize: Int = 256 << 20
  /// Reported in ApiVersions v3+ (KIP-511).
  public var clientSoftwareName: String = "skein-client"
  public var clientSoftwareVersion: String = "0.1.0"

  public init() {}
}

/// One TCP connection to a Kafka broker: length-prefixed frames, request headers, correlation
/// ids matching pipelined responses to requests, per-request timeouts, and the API versions
/// negotiated with the broker's ApiVersions answer when the connection opened.
public final class KafkaConnection: Sendable {
  public let host: String
  public let port: Int
  public let configuration: ConnectionConfiguration
  /// The version used for each API the broker and this client both serve.
  public let apiVersions: [ApiKey: Int16]
  /// The broker's own ApiVersions ranges, as it advertised them.
  public let brokerApiVersions: [ApiKey: ClosedRange<Int16>]
  private let channel: any Channel

  public var address: String { "\(host):\(port)" }
  /// False once the connection has closed; a closed connection fails every request.
  public var isActive: Bool { channel.isActive }

  private init(
    host: String, port: Int, configuration: ConnectionConfiguration, channel: any Channel,
    apiVersions: [ApiKey: Int16], brokerApiVersions: [ApiKey: ClosedRange<Int16>]
  ) {
    self.host = host
    self.port = port
    self.configuration = configuration
    self.channel = channel
    self.apiVersions = apiVersions
    self.brokerApiVersions = brokerApiVersions
  }

  /// Opens a connection and negotiates API versions (ApiVersions, falling back to the version
  /// the broker names when it does not know ours).
  public static func connect(
    host: String, port: Int, configuration: ConnectionConfiguration = ConnectionConfiguration(),
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws -> KafkaConnection {
    let address = "\(host):\(port)"
    let maxFrame = configuration.maxResponseSize
    let channel: any Channel
    do {
      channel = try await ClientBootstrap(group: eventLoopGroup)
        .connectTimeout(TimeAmount(configuration.connectTimeout))
        .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
        .channelOption(ChannelOptions.socketOption(.so_keepalive), value: 1)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: maxFrame)))
            try sync.addHandler(KafkaClientChannelHandler(address: address))
          }
        }
        .connect(host: host, port: port).get()
    } catch {
      throw KafkaClientError.connectionFailed(address: address, reason: describeConnectError(error))
    }
    let bare = KafkaConnection(
      host: host, port: port, configuration: configuration, channel: channel, apiVersions: [:],
      brokerApiVersions: [:])
    do {
      let response = try await bare.negotiateApiVersions()
      var advertised: [ApiKey: ClosedRange<Int16>] = [:]
      for entry in response.apiKeys where entry.minVersion <= entry.maxVersion {
        if let key = ApiKey(rawValue: entry.apiKey) {
          advertised[key] = entry.minVersion...entry.maxVersion
        }
      }
      return KafkaConnection(
        host: host, port: port, configuration: configuration, channel: channel,
        apiVersions: ClientApiVersions.negotiate(broker: response.apiKeys),
        brokerApiVersions: advertised)
    } catch {
      try? await channel.close()
      throw error
    }
  }

  /// ApiVersions at our highest version; a broker that does not know it answers
  /// UNSUPPORTED_VERSION in a v0 body listing its own range (KIP-511), and we retry with that.
  private func negotiateApiVersions() async throws -> ApiVersionsResponse {
    guard let ours = ClientApiVersions.supported[.apiVersions] else {
      throw KafkaClientError.unsupportedApi(api: .apiVersions, address: address)
    }
    var version = ours.upperBound
    let request = ApiVersionsRequest(
      clientSoftwareName: configuration.clientSoftwareName,
      clientSoftwareVersion: configuration.clientSoftwareVersion)
    for _ in 0..<2 {
      guard var body = try await roundTrip(request, version: version, expectResponse: true) else {
        break
      }
      let response = try Self.decodeApiVersions(&body, version: version)
      if response.errorCode == ErrorCode.unsupportedVersion.rawValue {
        let brokerMax = response.apiKeys.first { $0.apiKey == ApiKey.apiVersions.rawValue }?
          .maxVersion
        guard let brokerMax, brokerMax < version, brokerMax >= ours.lowerBound else {
          break
        }
        version = brokerMax
        continue
      }
      try KafkaClientError.check(response.errorCode, "ApiVersions from \(address)")
      return response
    }
    throw KafkaClientError.unsupportedApi(api: .apiVersions, address: address)
  }

  /// An ApiVersions body at `version`, or at v0 when it carries UNSUPPORTED_VERSION (what
  /// brokers send for versions they do not know).
  static func decodeApiVersions(
    _ body: inout ByteBuffer, version: Int16
  ) throws(KafkaClientError) -> ApiVersionsResponse {
    let errorCode = body.getInteger(at: body.readerIndex, as: Int16.self)
    let decodeVersion = errorCode == ErrorCode.unsupportedVersion.rawValue ? 0 : version
    do {
      return try ApiVersionsResponse(from: &body, version: decodeVersion)
    } catch {
      throw .malformedResponse("ApiVersions v\(decodeVersion): \(error)")
    }
  }

  /// The negotiated version for `api`; throws `.unsupportedApi` when there is none.
  public func version(for api: ApiKey) throws(KafkaClientError) -> Int16 {
    guard let version = apiVersions[api] else {
      throw .unsupportedApi(api: api, address: address)
    }
    return version
  }

  /// Sends `request` at the negotiated version and waits for its response.
  public func send<R: KafkaRequestMessage>(
    _ request: R, timeout: Duration? = nil
  ) async throws -> R.Response {
    try await send(request, version: version(for: R.apiKey), timeout: timeout)
  }

  /// Sends `request` at `version` and waits for its response. `timeout` overrides the
  /// configured request timeout (long-polling fetches need more than their max wait).
  public func send<R: KafkaRequestMessage>(
    _ request: R, version: Int16, timeout: Duration? = nil
  ) async throws -> R.Response {
    guard var body = try await roundTrip(request, version: version, timeout: timeout) else {
      throw KafkaClientError.malformedResponse("\(R.apiKey.name): no response")
    }
    do {
      return try R.Response(from: &body, version: version)
    } catch {
      throw KafkaClientError.malformedResponse("\(R.apiKey.name) v\(version): \(error)")
    }
  }

  /// Sends a request the broker does not answer (a Produce with acks=0); returns once written.
  public func sendWithoutResponse<R: KafkaRequestMessage>(
    _ request: R, version: Int16
  ) async throws {
    _ = try await roundTrip(request, version: version, expectResponse: false)
  }

  /// Sends a request body that is already encoded (a request relayed for another client, as a
  /// broker forwards admin requests to the controller) and returns the response body after its
  /// header.
  public func sendEncoded(
    api: ApiKey, version: Int16, body: ByteBuffer, timeout: Duration? = nil
  ) async throws -> ByteBuffer {
    var frame = channel.allocator.buffer(capacity: body.readableBytes + 64)
    frame.writeInteger(Int32(0))
    let header = RequestHeader(
      requestApiKey: api.rawValue, requestApiVersion: version, correlationId: 0,
      clientId: configuration.clientId)
    header.encode(to: &frame, version: api.isFlexible(version) ? 2 : 1)
    var payload = body
    frame.writeBuffer(&payload)
    frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)
    let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
    let outbound = OutboundRequest(
      frame: frame, api: api,
      responseHeaderVersion: api != .apiVersions && api.isFlexible(version) ? 1 : 0,
      responsePromise: promise, timeout: timeout ?? configuration.requestTimeout)
    do {
      try await channel.writeAndFlush(outbound)
      return try await promise.futureResult.get()
    } catch {
      let mapped = Self.mapChannelError(error, address: address)
      promise.fail(mapped)
      throw mapped
    }
  }

  /// Closes the connection; pending requests fail with `.connectionClosed`.
  public func close() async {
    try? await channel.close()
  }

  /// Frames and writes one request; returns the response body after its header, or nil when
  /// no response is expected.
  private func roundTrip<R: KafkaRequestMessage>(
    _ request: R, version: Int16, timeout: Duration? = nil, expectResponse: Bool = true
  ) async throws -> ByteBuffer? {
    guard R.validVersions.contains(version) else {
      throw KafkaClientError.invalidArgument(
        "\(R.apiKey.name) v\(version) is outside the versions the codec knows")
    }
    let frame = Self.encodeFrame(
      request, version: version, clientId: configuration.clientId, allocator: channel.allocator)
    let headerVersion: Int16 =
      R.apiKey == .apiVersions ? 0 : (R.Response.isFlexible(version) ? 1 : 0)
    let promise: EventLoopPromise<ByteBuffer>? =
      expectResponse ? channel.eventLoop.makePromise(of: ByteBuffer.self) : nil
    let outbound = OutboundRequest(
      frame: frame, api: R.apiKey, responseHeaderVersion: headerVersion,
      responsePromise: promise, timeout: timeout ?? configuration.requestTimeout)
    do {
      try await channel.writeAndFlush(outbound)
    } catch {
      // A write that never reached the handler (closed channel) leaves the promise to us;
      // completing an already failed promise again is a no-op.
      let mapped = Self.mapChannelError(error, address: address)
      promise?.fail(mapped)
      throw mapped
    }
    guard let promise else { return nil }
    do {
      return try await promise.futureResult.get()
    } catch {
      throw Self.mapChannelError(error, address: address)
    }
  }

  /// A whole request frame: length prefix, request header (correlation id 0; the channel
  /// handler stamps the real one) and body.
  static func encodeFrame<R: KafkaRequestMessage>(
    _ request: R, version: Int16, clientId: String?, allocator: ByteBufferAllocator
  ) -> ByteBuffer {
    var buffer = allocator.buffer(capacity: 128)
    buffer.writeInteger(Int32(0))
    let header = RequestHeader(
      requestApiKey: R.apiKey.rawValue, requestApiVersion: version, correlationId: 0,
      clientId: clientId)
    header.encode(to: &buffer, version: R.isFlexible(version) ? 2 : 1)
    request.encode(to: &buffer, version: version)
    buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
    return buffer
  }

  static func mapChannelError(_ error: any Error, address: String) -> any Error {
    if error is KafkaClientError { return error }
    if let channelError = error as? ChannelError {
      switch channelError {
      case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed:
        return KafkaClientError.connectionClosed(address: address)
      default:
        break
      }
    }
    return KafkaClientError.connectionClosed(address: address)
  }

  private static func describeConnectError(_ error: any Error) -> String {
    if let connectError = error as? NIOConnectionError {
      if let first = connectError.connectionErrors.first {
        if let io = first.error as? IOError {
          return String(cString: strerror(io.errnoCode)).lowercased()
        }
        return "\(first.error)"
      }
      return "cannot resolve host \(connectError.host)"
    }
    if let io = error as? IOError {
      return String(cString: strerror(io.errnoCode)).lowercased()
    }
    if let channelError = error as? ChannelError, case .connectTimeout = channelError {
      return "connect timed out"
    }
    return "\(error)"
  }
}

extension TimeAmount {
  init(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    if nanos.overflow {
      self = .nanoseconds(Int64.max)
    } else {
      self = .nanoseconds(nanos.partialValue &+ attoseconds / 1_000_000_000)
    }
  }
}

extension Duration {
  /// Whole milliseconds, saturating.
  var milliseconds: Int64 {
    let (seconds, attoseconds) = components
    let millis = seconds.multipliedReportingOverflow(by: 1000)
    return millis.overflow ? Int64.max : millis.partialValue &+ attoseconds / 1_000_000_000_000_000
  }
}

/// A framed request on its way to the channel handler.
struct OutboundRequest: Sendable {
  var frame: ByteBuffer
  var api: ApiKey
  var responseHeaderVersion: Int16
  var responsePromise: EventLoopPromise<ByteBuffer>?
  var timeout: Duration
}

/// Splits the inbound byte stream into Kafka frames (a 4-byte big-endian length, then that
/// many bytes), refusing negative or oversized lengths.
struct KafkaFrameDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer
  let maxFrameSize: Int

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws
    -> DecodingState
  {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else {
      return .needMoreData
    }
    guard length >= 0, Int(length) <= maxFrameSize else {
      throw KafkaClientError.malformedResponse(
        "response frame length \(length) outside 0...\(maxFrameSize)")
    }
    guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    guard let frame = buffer.readSlice(length: Int(length)) else { return .needMoreData }
    context.fireChannelRead(wrapInboundOut(frame))
    return .continue
  }

  mutating func decodeLast(
    context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
  ) throws -> DecodingState {
    while try decode(context: context, buffer: &buffer) == .continue {}
    return .needMoreData
  }
}

/// Stamps correlation ids on outgoing requests, matches responses to them (in any order),
/// strips the response header, and fails requests that time out or outlive the connection.
final class KafkaClientChannelHandler: ChannelDuplexHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundIn = OutboundRequest
  typealias OutboundOut = ByteBuffer

  private struct Pending {
    var promise: EventLoopPromise<ByteBuffer>
    var headerVersion: Int16
    var api: ApiKey
    var timeoutTask: Scheduled<Void>
  }

  private let address: String
  private var pending: [Int32: Pending] = [:]
  private var nextCorrelationId: Int32 = 0
  private var failure: KafkaClientError?

  init(address: String) {
    self.address = address
  }

  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    var request = unwrapOutboundIn(data)
    if let failure {
      request.responsePromise?.fail(failure)
      promise?.fail(failure)
      return
    }
    let id = nextCorrelationId
    nextCorrelationId = id == .max ? 0 : id + 1
    request.frame.setInteger(id, at: request.frame.readerIndex + 8)
    let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
    let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
    let writePromise = context.eventLoop.makePromise(of: Void.self)
    if let responsePromise = request.responsePromise {
      let api = request.api
      let timeout = request.timeout
      let task = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
        loopBound.value.timedOut(
          id, api: api, timeout: timeout, context: contextBound.value)
      }
      pending[id] = Pending(
        promise: responsePromise, headerVersion: request.responseHeaderVersion, api: api,
        timeoutTask: task)
      writePromise.futureResult.whenFailure { error in
        loopBound.value.failOne(id, error: error)
      }
    }
    if let promise { writePromise.futureResult.cascade(to: promise) }
    context.write(wrapOutboundOut(request.frame), promise: writePromise)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var frame = unwrapInboundIn(data)
    guard let id = frame.readInteger(as: Int32.self) else {
      fatal(.malformedResponse("response frame shorter than its header"), context: context)
      return
    }
    guard let entry = pending.removeValue(forKey: id) else {
      fatal(
        .malformedResponse("response with unknown correlation id \(id) from \(address)"),
        context: context)
      return
    }
    entry.timeoutTask.cancel()
    if entry.headerVersion >= 1 {
      do {
        try frame.readTaggedFields()
      } catch {
        entry.promise.fail(
          KafkaClientError.malformedResponse("\(entry.api.name) response header: \(error)"))
        return
      }
    }
    entry.promise.succeed(frame)
  }

  func channelInactive(context: ChannelHandlerContext) {
    if failure == nil { failure = .connectionClosed(address: address) }
    failAll(failure ?? .connectionClosed(address: address))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    let clientError =
      (error as? KafkaClientError) ?? .malformedResponse("\(error) from \(address)")
    fatal(clientError, context: context)
  }

  private func timedOut(
    _ id: Int32, api: ApiKey, timeout: Duration, context: ChannelHandlerContext
  ) {
    guard pending[id] != nil else { return }
    // Like Kafka's clients: a request that timed out leaves the connection in an unknown
    // state, so close it; the caller reconnects.
    let error = KafkaClientError.requestTimedOut(
      api: api, address: address, timeoutMs: timeout.milliseconds)
    failOne(id, error: error)
    if failure == nil { failure = .connectionClosed(address: address) }
    context.close(promise: nil)
  }

  private func failOne(_ id: Int32, error: any Error) {
    guard let entry = pending.removeValue(forKey: id) else { return }
    entry.timeoutTask.cancel()
    entry.promise.fail(KafkaConnection.mapChannelError(error, address: address))
  }

  private func fatal(_ error: KafkaClientError, context: ChannelHandlerContext) {
    if failure == nil { failure = .connectionClosed(address: address) }
    failAll(error)
    context.close(promise: nil)
  }

  private func failAll(_ error: KafkaClientError) {
    let entries = pending
    pending.removeAll()
    for (_, entry) in entries {
      entry.timeoutTask.cancel()
      entry.promise.fail(error)
    }
  }
}
