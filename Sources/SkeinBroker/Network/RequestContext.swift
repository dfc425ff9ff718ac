import KafkaProtocol
import NIOCore

/// What a handler knows about the request it serves besides the body.
public struct RequestContext: Sendable {
  public var apiKey: ApiKey
  public var apiVersion: Int16
  public var correlationId: Int32
  public var clientId: String?
  public var remoteAddress: String
  public var eventLoop: any EventLoop
  /// Where the answer's error codes are counted (`ErrorsPerSec`); nil for requests that reach
  /// a router in-process rather than through a listener.
  var metrics: BrokerMetrics? = nil
}

/// A handler's answer: a response now, one later (long-poll, acks), or none (acks=0).
public enum Reply<Response: Sendable>: Sendable {
  case now(Response)
  case later(EventLoopFuture<Response>)
  case none
}
