import KafkaProtocol
import NIOCore

/// Walks the batch headers of an append held in memory, never reading the records behind them.
struct BatchHeaderCursor {
  private let records: ByteBuffer
  /// Buffer index of the next batch (past the last one at the end).
  private(set) var index: Int

  init(_ records: ByteBuffer) {
    self.records = records
    self.index = records.readerIndex
  }

  /// The next batch's header and buffer index, nil after the last. Only the header has to be
  /// in the buffer; callers that need the whole batch check `totalSize` themselves.
  mutating func next() throws(StorageError) -> (header: RecordBatchHeader, index: Int)? {
    guard index < records.writerIndex else { return nil }
    let header: RecordBatchHeader
    do {
      header = try RecordBatchHeader(peeking: records, at: index)
    } catch {
      throw .invalidBatch(error)
    }
    let start = index
    index += header.totalSize
    return (header, start)
  }
}
