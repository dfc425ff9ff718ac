/// Which offset ListOffsets asks for.
public enum OffsetSpec: Sendable, Hashable {
  /// The log start offset (timestamp -2 in ListOffsets).
  case earliest
  /// The log end offset (timestamp -1).
  case latest
  /// The batch with the largest timestamp (timestamp -3, KIP-734).
  case maxTimestamp
  /// The first batch whose max timestamp is >= the target.
  case timestamp(Int64)
}

/// A ListOffsets answer.
public struct TimestampAndOffset: Sendable {
  /// -1 for earliest and latest; otherwise the found batch's max timestamp.
  public var timestamp: Int64
  /// For `.timestamp`: the found batch's base offset (never below the log start offset).
  /// For `.maxTimestamp`: the last offset of the first batch carrying the largest timestamp
  /// (Kafka's "shallow" offset of max timestamp).
  public var offset: Int64
  /// The found batch itself, so the caller can refine to the exact record (Kafka iterates the
  /// batch's records for the first record with timestamp >= target, or the record carrying the
  /// max timestamp). Nil for earliest and latest.
  public var batch: FetchDataInfo?

  public init(timestamp: Int64, offset: Int64, batch: FetchDataInfo? = nil) {
    self.timestamp = timestamp
    self.offset = offset
    self.batch = batch
  }
}
