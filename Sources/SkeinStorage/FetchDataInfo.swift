import NIOCore

/// What a read returns: a range of whole record batches in one segment file.
///
/// The value keeps the segment's file open, so it stays readable even if retention deletes the
/// segment before the bytes are sent. Send it with `readBytes` (pread into a buffer) or as a
/// `FileRegion` (sendfile) from `makeFileRegion`.
public struct FetchDataInfo: Sendable {
  /// The offset that was asked for; the first batch may start before it.
  public var fetchOffset: Int64
  /// The segment file, nil when nothing is returned.
  public var file: SegmentFile?
  /// Where the first batch starts in `file`.
  public var position: Int
  /// Bytes of whole batches from `position`.
  public var length: Int
  /// Base offset of the first batch returned (-1 when empty).
  public var firstBatchBaseOffset: Int64
  /// The log's start and end offsets when the read happened.
  public var logStartOffset: Int64
  public var logEndOffset: Int64

  public init(
    fetchOffset: Int64, file: SegmentFile?, position: Int, length: Int,
    firstBatchBaseOffset: Int64, logStartOffset: Int64, logEndOffset: Int64
  ) {
    self.fetchOffset = fetchOffset
    self.file = file
    self.position = position
    self.length = length
    self.firstBatchBaseOffset = firstBatchBaseOffset
    self.logStartOffset = logStartOffset
    self.logEndOffset = logEndOffset
  }

  static func empty(at offset: Int64, logStartOffset: Int64, logEndOffset: Int64) -> Self {
    FetchDataInfo(
      fetchOffset: offset, file: nil, position: 0, length: 0, firstBatchBaseOffset: -1,
      logStartOffset: logStartOffset, logEndOffset: logEndOffset)
  }

  public var isEmpty: Bool { length == 0 }

  /// The batches' bytes, read from the file.
  public func readBytes(allocator: ByteBufferAllocator = ByteBufferAllocator())
    throws(StorageError) -> ByteBuffer
  {
    guard let file, length > 0 else { return allocator.buffer(capacity: 0) }
    return try file.readBytes(at: position, length: length, allocator: allocator)
  }

  /// A `FileRegion` over the batches, on a duplicated descriptor. The caller must close the
  /// returned handle once the region has been written (or failed). Nil when empty.
  public func makeFileRegion() throws(StorageError) -> (region: FileRegion, handle: NIOFileHandle)?
  {
    guard let file, length > 0 else { return nil }
    let handle = try file.makeFileHandle()
    return (
      FileRegion(fileHandle: handle, readerIndex: position, endIndex: position + length), handle
    )
  }
}
