import KafkaProtocol
import NIOCore

/// What a coordinator step answers: at once, or once the shard's records it depends on are
/// committed (the high watermark of `__consumer_offsets` passed them). Failures carry the
/// error code the request gets.
enum CoordinatorReply<R: Sendable>: Sendable {
  case now(Result<R, ErrorCode>)
  case later(EventLoopFuture<Result<R, ErrorCode>>)

  /// The handler's reply: `respond` maps the step's result to the response.
  func reply<Response: Sendable>(
    _ respond: @escaping @Sendable (Result<R, ErrorCode>) -> Response
  ) -> Reply<Response> {
    switch self {
    case .now(let result): .now(respond(result))
    case .later(let future): .later(future.map(respond))
    }
  }

  /// Every reply's result in order: at once when all are ready, else when the last one is.
  static func all(_ replies: [CoordinatorReply<R>], on eventLoop: any EventLoop)
    -> CoordinatorReply<[Result<R, ErrorCode>]>
  {
    var ready: [Result<R, ErrorCode>] = []
    for case .now(let result) in replies { ready.append(result) }
    if ready.count == replies.count { return .now(.success(ready)) }
    let futures = replies.map { reply in
      switch reply {
      case .now(let result): eventLoop.makeSucceededFuture(result)
      case .later(let future): future
      }
    }
    return .later(EventLoopFuture.whenAllSucceed(futures, on: eventLoop).map { .success($0) })
  }
}
