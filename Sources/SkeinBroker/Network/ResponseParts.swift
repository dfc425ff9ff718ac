import KafkaProtocol
import NIOCore
import SkeinStorage

/// A response on its way to the socket: encoded bytes, and for fetches the record batches
/// still in their segment files, sent with `sendfile` where the channel allows.
enum ResponsePart: Sendable {
  case bytes(ByteBuffer)
  case file(FetchDataInfo)
}

/// Encodes a fetch response whose records stay in the segment files: each file-backed
/// partition carries a 16-byte marker as its records while the response is encoded; the
/// marker and its length prefix are then replaced by the real length and the file region.
enum ZeroCopyFetchEncoder {
  /// 8 bytes that open every marker; the other 8 are the slice's index.
  static let magic: UInt64 = 0x534B_4549_4E5A_4331  // "SKEINZC1"
  static let markerSize = 16

  static func marker(_ index: Int) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(magic)
    buffer.writeInteger(UInt64(index))
    return buffer
  }

  /// Splits the framed response at each marker. `slices[i]` replaces marker i.
  static func parts(framed: ByteBuffer, slices: [FetchDataInfo], compact: Bool) -> [ResponsePart] {
    guard !slices.isEmpty else { return [.bytes(framed)] }
    var parts: [ResponsePart] = []
    parts.reserveCapacity(slices.count * 3 + 1)
    var cursor = framed.readerIndex
    var total = 0
    // Compact lengths are varint(length + 1); the marker's is one byte (17).
    let prefixSize = compact ? 1 : 4
    for (index, slice) in slices.enumerated() {
      guard let at = find(index, in: framed, from: cursor) else { continue }
      let before = at - prefixSize - cursor
      if before > 0, let head = framed.getSlice(at: cursor, length: before) {
        parts.append(.bytes(head))
        total += before
      }
      var length = ByteBuffer()
      if compact {
        length.writeUnsignedVarint(UInt32(slice.length + 1))
      } else {
        length.writeInteger(Int32(slice.length))
      }
      total += length.readableBytes + slice.length
      parts.append(.bytes(length))
      parts.append(.file(slice))
      cursor = at + markerSize
    }
    let rest = framed.writerIndex - cursor
    if rest > 0, let tail = framed.getSlice(at: cursor, length: rest) {
      parts.append(.bytes(tail))
      total += rest
    }
    // The frame's size prefix sits at the start of the first part, the response header.
    if case .bytes(var first) = parts.first {
      first.setInteger(Int32(total - 4), at: first.readerIndex)
      parts[0] = .bytes(first)
    }
    return parts
  }

  private static func find(_ index: Int, in buffer: ByteBuffer, from start: Int) -> Int? {
    var position = start
    let end = buffer.writerIndex - markerSize
    while position <= end {
      if buffer.getInteger(at: position, as: UInt64.self) == magic,
        buffer.getInteger(at: position + 8, as: UInt64.self) == UInt64(index)
      {
        return position
      }
      position += 1
    }
    return nil
  }
}
