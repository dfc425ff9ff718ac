import Logging
import NIOCore

/// Splits the byte stream into Kafka's size-prefixed frames, refusing a size above
/// `socket.request.max.bytes` before anything is allocated for it.
struct RequestFrameDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer

  let maxFrameSize: Int

  enum FrameError: Error, CustomStringConvertible {
    case invalidSize(Int32, limit: Int)
    var description: String {
      switch self {
      case .invalidSize(let size, let limit):
        "request size \(size) is outside 0...\(limit) (socket.request.max.bytes)"
      }
    }
  }

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws
    -> DecodingState
  {
    guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else {
      return .needMoreData
    }
    guard size >= 0, Int(size) <= maxFrameSize else {
      throw FrameError.invalidSize(size, limit: maxFrameSize)
    }
    guard buffer.readableBytes >= 4 + Int(size) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    guard let frame = buffer.readSlice(length: Int(size)) else { return .needMoreData }
    context.fireChannelRead(Self.wrapInboundOut(frame))
    return .continue
  }

  mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool)
    throws -> DecodingState
  {
    while try decode(context: context, buffer: &buffer) == .continue {}
    return .needMoreData
  }
}
