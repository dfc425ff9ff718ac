import NIOCore

/// The cleaner's dedupe map (Kafka's SkimpyOffsetMap): the latest offset of every key in the
/// dirty part of a log, within a memory budget (`log.cleaner.dedupe.buffer.size` shared by the
/// cleaner threads). Keys are kept whole, so no two keys can ever be confused.
struct OffsetMap {
  /// Bytes a map entry costs besides its key (offset, hash slot, array header).
  static let entryOverhead = 48

  let budgetBytes: Int
  private(set) var usedBytes = 0
  private var offsets: [[UInt8]: Int64] = [:]
  /// The largest offset put so far, or -1.
  private(set) var latestOffset: Int64 = -1

  init(budgetBytes: Int) {
    self.budgetBytes = budgetBytes
  }

  var count: Int { offsets.count }
  var isFull: Bool { usedBytes >= budgetBytes }

  mutating func put(_ key: ByteBuffer, offset: Int64) {
    let bytes = Array(key.readableBytesView)
    if offsets.updateValue(offset, forKey: bytes) == nil {
      usedBytes += bytes.count + Self.entryOverhead
    }
    latestOffset = max(latestOffset, offset)
  }

  func get(_ key: ByteBuffer) -> Int64? {
    offsets[Array(key.readableBytesView)]
  }
}
