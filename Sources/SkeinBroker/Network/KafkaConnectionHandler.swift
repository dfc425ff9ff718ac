import Logging
import NIOCore
import SkeinStorage

/// One client connection: hands each frame to the dispatcher and writes the responses back in
/// request order, even when a later request (say a produce) finishes before an earlier
/// long-polling fetch.
final class KafkaConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = IOData

  private let dispatcher: RequestDispatcher
  private var logger: Logger
  private var nextSequence = 0
  private var nextToWrite = 0
  /// Finished responses waiting for an earlier one; nil marks a request without a response.
  private var finished: [Int: [ResponsePart]?] = [:]
  private var remoteAddress = "unknown"
  private var needsFlush = false
  /// Set once the connection is to be closed (bad input): it closes after the responses of
  /// every request below this sequence are written, and reads nothing more.
  private var closeAt: Int?

  init(dispatcher: RequestDispatcher, logger: Logger) {
    self.dispatcher = dispatcher
    self.logger = logger
  }

  func channelActive(context: ChannelHandlerContext) {
    remoteAddress = context.remoteAddress?.description ?? "unknown"
    logger[metadataKey: "peer"] = "\(remoteAddress)"
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard closeAt == nil else { return }
    let frame = unwrapInboundIn(data)
    let sequence = nextSequence
    nextSequence += 1
    let started = NIODeadline.now()
    let apiKey = frame.getInteger(at: frame.readerIndex, as: Int16.self) ?? -1
    let apiVersion = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self) ?? -1
    let metrics = dispatcher.metrics
    switch dispatcher.dispatch(
      frame: frame, remoteAddress: remoteAddress, eventLoop: context.eventLoop)
    {
    case .response(let response):
      complete(sequence, response, context: context, flushNow: false)
      metrics.request(apiKey, version: apiVersion, since: started)
    case .noResponse:
      complete(sequence, nil, context: context, flushNow: false)
      metrics.request(apiKey, version: apiVersion, since: started)
    case .deferred(let future):
      let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
      future.hop(to: context.eventLoop).whenComplete { result in
        let (handler, context) = loopBound.value
        switch result {
        case .success(let response):
          handler.complete(sequence, response, context: context, flushNow: true)
          metrics.request(apiKey, version: apiVersion, since: started)
        case .failure(let error):
          handler.logger.warning("closing connection: request failed: \(error)")
          context.close(promise: nil)
        }
      }
    case .close(let reason):
      close(at: sequence, reason: reason, context: context)
    }
  }

  func channelReadComplete(context: ChannelHandlerContext) {
    if needsFlush {
      needsFlush = false
      context.flush()
    }
    context.fireChannelReadComplete()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    close(at: nextSequence, reason: "\(error)", context: context)
  }

  /// Closes the connection once the requests before `sequence` are answered: a valid request
  /// followed by garbage in the same read still gets its response.
  private func close(at sequence: Int, reason: String, context: ChannelHandlerContext) {
    guard closeAt == nil else { return }
    logger.info("closing connection: \(reason)")
    closeAt = sequence
    closeIfAnswered(context: context)
  }

  private func closeIfAnswered(context: ChannelHandlerContext) {
    guard let closeAt, nextToWrite >= closeAt else { return }
    needsFlush = false
    context.flush()
    context.close(promise: nil)
  }

  private func complete(
    _ sequence: Int, _ response: [ResponsePart]?, context: ChannelHandlerContext, flushNow: Bool
  ) {
    if sequence == nextToWrite && finished.isEmpty {
      nextToWrite += 1
      if let response { write(response, context: context) }
    } else {
      finished[sequence] = .some(response)
      while let next = finished.removeValue(forKey: nextToWrite) {
        nextToWrite += 1
        if let next { write(next, context: context) }
      }
    }
    if flushNow && needsFlush {
      needsFlush = false
      context.flush()
    }
    closeIfAnswered(context: context)
  }

  private func write(_ response: [ResponsePart], context: ChannelHandlerContext) {
    for part in response {
      switch part {
      case .bytes(let bytes):
        context.write(wrapOutboundOut(.byteBuffer(bytes)), promise: nil)
      case .file(let slice):
        writeFile(slice, context: context)
      }
    }
    needsFlush = true
  }

  /// Sends record batches straight from the segment file; reads them into memory when the
  /// file cannot be handed to the channel.
  private func writeFile(_ slice: FetchDataInfo, context: ChannelHandlerContext) {
    do {
      if let (region, handle) = try slice.makeFileRegion() {
        let promise = context.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenComplete { _ in try? handle.close() }
        context.write(wrapOutboundOut(.fileRegion(region)), promise: promise)
        return
      }
    } catch {
      logger.debug("sendfile unavailable, copying: \(error)")
    }
    do {
      context.write(wrapOutboundOut(.byteBuffer(try slice.readBytes())), promise: nil)
    } catch {
      logger.warning("closing connection: cannot read fetched records: \(error)")
      context.close(promise: nil)
    }
  }
}
