import NIOCore
import NIOHTTP1
import NIOPosix

/// A one-shot HTTP/1.1 GET to another node's HTTP listener, over SwiftNIO's HTTP codec: what a
/// node needs to ask the others' admin API. A connection per request, closed after it.
struct PeerHTTPClient: Sendable {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  var timeout: TimeAmount = .seconds(1)
  /// Bodies above this are refused: an admin answer is far smaller.
  var maxBodyBytes = 64 << 20

  /// The status and body of `GET path` at `host:port`.
  func get(host: String, port: Int, path: String) async throws -> (status: UInt, body: ByteBuffer) {
    let loop = group.next()
    let promise = loop.makePromise(of: (UInt, ByteBuffer).self)
    let maxBody = maxBodyBytes
    let bootstrap = ClientBootstrap(group: loop)
      .connectTimeout(timeout)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          try channel.pipeline.syncOperations.addHandler(
            ResponseCollector(promise: promise, maxBodyBytes: maxBody))
        }
      }
    let channel = try await bootstrap.connect(host: host, port: port).get()
    let deadline = loop.scheduleTask(in: timeout) {
      promise.fail(Failure(description: "no answer from \(host):\(port) in \(timeout)"))
    }
    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
    head.headers.add(name: "Host", value: "\(host):\(port)")
    head.headers.add(name: "Connection", value: "close")
    channel.write(HTTPClientRequestPart.head(head), promise: nil)
    channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    defer {
      deadline.cancel()
      channel.close(promise: nil)
    }
    let (status, body) = try await promise.futureResult.get()
    return (status, body)
  }
}

/// Collects one response into the promise; a connection that closes first fails it.
private final class ResponseCollector: ChannelInboundHandler {
  typealias InboundIn = HTTPClientResponsePart

  private let promise: EventLoopPromise<(UInt, ByteBuffer)>
  private let maxBodyBytes: Int
  private var status: UInt = 0
  private var body: ByteBuffer?

  init(promise: EventLoopPromise<(UInt, ByteBuffer)>, maxBodyBytes: Int) {
    self.promise = promise
    self.maxBodyBytes = maxBodyBytes
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let head):
      status = head.status.code
    case .body(var part):
      if body == nil { body = context.channel.allocator.buffer(capacity: part.readableBytes) }
      guard (body?.readableBytes ?? 0) + part.readableBytes <= maxBodyBytes else {
        promise.fail(PeerHTTPClient.Failure(description: "answer larger than \(maxBodyBytes)"))
        context.close(promise: nil)
        return
      }
      body?.writeBuffer(&part)
    case .end:
      promise.succeed((status, body ?? context.channel.allocator.buffer(capacity: 0)))
      context.close(promise: nil)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    promise.fail(PeerHTTPClient.Failure(description: "connection closed before the answer"))
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    promise.fail(error)
    context.close(promise: nil)
  }
}
