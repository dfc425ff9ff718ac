import KafkaProtocol
import NIOCore

/// Walks the batch headers of a segment file through one reusable read window, never looking at
/// the records. Bytes at or past `limit` (the committed size of the segment) are never read.
struct BatchScanner {
  enum Step {
    case batch(RecordBatchHeader)
    /// `position` is exactly at `limit`.
    case end
    /// The bytes at `position` are not a whole, plausible batch.
    case invalid(String)
  }

  let file: SegmentFile
  let limit: Int
  private let windowSize: Int
  private var window: ByteBuffer
  /// File position of the window's first readable byte.
  private var windowStart = 0

  init(file: SegmentFile, limit: Int, windowSize: Int = 16 * 1024) {
    self.file = file
    self.limit = limit
    self.windowSize = max(windowSize, RecordBatchHeader.size)
    self.window = ByteBufferAllocator().buffer(capacity: self.windowSize)
  }

  /// Makes `count` bytes at `position` readable in the window and returns their buffer index,
  /// or nil when the file (or `limit`) ends before.
  private mutating func ensure(_ position: Int, _ count: Int) throws(StorageError) -> Int? {
    if position >= windowStart && position + count <= windowStart + window.readableBytes {
      return window.readerIndex + (position - windowStart)
    }
    guard position >= 0, count >= 0, position + count <= limit else { return nil }
    window.clear()
    windowStart = position
    let wanted = max(count, min(windowSize, limit - position))
    let read = try file.read(into: &window, at: position, length: wanted)
    return read >= count ? window.readerIndex : nil
  }

  /// The header of the batch at `position`, checked for magic, length, offsets and bounds.
  mutating func step(at position: Int) throws(StorageError) -> Step {
    if position == limit { return .end }
    guard position < limit, limit - position >= RecordBatchHeader.size else {
      return .invalid("truncated batch header")
    }
    guard let index = try ensure(position, RecordBatchHeader.size) else {
      return .invalid("file shorter than expected")
    }
    let header: RecordBatchHeader
    do {
      header = try RecordBatchHeader(peeking: window, at: index)
    } catch {
      return .invalid("\(error)")
    }
    guard header.lastOffsetDelta >= 0, header.baseOffset >= 0,
      header.lastOffset >= header.baseOffset
    else { return .invalid("invalid offsets in batch header") }
    guard header.totalSize <= limit - position else {
      return .invalid("batch of \(header.totalSize) bytes extends past the end")
    }
    return .batch(header)
  }

  /// The header at `position` where every byte below `limit` was fully written: anything but a
  /// valid header or the end is corruption. Nil at the end.
  mutating func header(at position: Int) throws(StorageError) -> RecordBatchHeader? {
    switch try step(at: position) {
    case .batch(let header): return header
    case .end: return nil
    case .invalid(let reason):
      throw .corruptLog(path: file.path, reason: "\(reason) at position \(position)")
    }
  }

  /// CRC32C of `count` bytes at `position`, or nil when the file ends before.
  mutating func checksum(at position: Int, count: Int) throws(StorageError) -> UInt32? {
    var crc: UInt32 = 0
    var position = position
    var remaining = count
    while remaining > 0 {
      let chunk = min(remaining, windowSize)
      guard let index = try ensure(position, chunk) else { return nil }
      let start = index - window.readerIndex
      let seed = crc
      crc = window.withUnsafeReadableBytes { raw in
        CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<(start + chunk)]), seed: seed)
      }
      position += chunk
      remaining -= chunk
    }
    return crc
  }
}
