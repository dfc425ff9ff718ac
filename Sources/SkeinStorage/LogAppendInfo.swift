/// What an append stored.
public struct LogAppendInfo: Sendable, Equatable {
  /// Base offset of the first batch (the log end offset before the append).
  public var firstOffset: Int64
  /// Last offset of the last batch (firstOffset - 1 when nothing was appended).
  public var lastOffset: Int64
  /// The largest batch max timestamp of the append, -1 when none.
  public var maxTimestamp: Int64
  /// Last offset of the first batch that carries `maxTimestamp`.
  public var offsetOfMaxTimestamp: Int64
  public var batchCount: Int
  public var bytes: Int
  /// The log start offset after the append.
  public var logStartOffset: Int64
  /// The log end offset after the append.
  public var logEndOffset: Int64
  /// The batch was a producer's retry of one already in the log: nothing was appended, and
  /// the offsets and `maxTimestamp` are those of the original.
  public var isDuplicate = false
}
