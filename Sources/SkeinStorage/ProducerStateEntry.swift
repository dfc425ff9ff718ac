/// Where one producer batch landed: its sequence range and offsets (Kafka's BatchMetadata).
public struct ProducerBatchMetadata: Sendable, Hashable {
  public var firstSequence: Int32
  public var lastSequence: Int32
  public var firstOffset: Int64
  public var lastOffset: Int64
  /// The batch's max timestamp.
  public var timestamp: Int64

  public init(
    firstSequence: Int32, lastSequence: Int32, firstOffset: Int64, lastOffset: Int64,
    timestamp: Int64
  ) {
    self.firstSequence = firstSequence
    self.lastSequence = lastSequence
    self.firstOffset = firstOffset
    self.lastOffset = lastOffset
    self.timestamp = timestamp
  }
}

/// What a partition knows of one producer id: its epoch and its last batches, which are what
/// duplicate detection compares a retried batch with (Kafka's ProducerStateEntry).
public struct ProducerStateEntry: Sendable, Hashable {
  /// Batches remembered per producer for duplicate detection, as Kafka: a producer has at most
  /// five requests in flight per partition.
  public static let retainedBatches = 5

  public var producerId: Int64
  /// -1 until the first batch.
  public var producerEpoch: Int16
  /// Oldest first, at most `retainedBatches`.
  public private(set) var batches: [ProducerBatchMetadata]
  public var coordinatorEpoch: Int32
  /// First offset of the ongoing transaction, -1 when none.
  public var currentTxnFirstOffset: Int64
  /// Max timestamp of the last batch, for `producer.id.expiration.ms`.
  public var lastTimestamp: Int64

  public init(
    producerId: Int64, producerEpoch: Int16 = -1, batches: [ProducerBatchMetadata] = [],
    coordinatorEpoch: Int32 = -1, currentTxnFirstOffset: Int64 = -1, lastTimestamp: Int64 = -1
  ) {
    self.producerId = producerId
    self.producerEpoch = producerEpoch
    self.batches = batches
    self.coordinatorEpoch = coordinatorEpoch
    self.currentTxnFirstOffset = currentTxnFirstOffset
    self.lastTimestamp = lastTimestamp
  }

  public var lastSequence: Int32 { batches.last?.lastSequence ?? -1 }
  public var lastOffset: Int64 { batches.last?.lastOffset ?? -1 }

  /// The remembered batch with exactly this sequence range under this epoch: a retry.
  public func duplicate(epoch: Int16, firstSequence: Int32, lastSequence: Int32)
    -> ProducerBatchMetadata?
  {
    guard epoch == producerEpoch else { return nil }
    return batches.first { $0.firstSequence == firstSequence && $0.lastSequence == lastSequence }
  }

  /// Records a batch appended under `epoch`; a new epoch forgets the old epoch's batches.
  mutating func append(_ batch: ProducerBatchMetadata, epoch: Int16) {
    if epoch != producerEpoch {
      producerEpoch = epoch
      batches.removeAll(keepingCapacity: true)
    }
    if batches.count == Self.retainedBatches { batches.removeFirst() }
    batches.append(batch)
    lastTimestamp = batch.timestamp
  }
}

/// Sequence arithmetic of producer batches: sequences wrap from Int32.max to 0.
enum ProducerSequence {
  /// The sequence `delta` after `sequence`.
  static func advance(_ sequence: Int32, by delta: Int32) -> Int32 {
    if sequence > Int32.max - delta { return delta - (Int32.max - sequence) - 1 }
    return sequence + delta
  }

  /// The sequence `delta` before `sequence`.
  static func retreat(_ sequence: Int32, by delta: Int32) -> Int32 {
    if sequence < delta { return Int32.max - (delta - sequence) + 1 }
    return sequence - delta
  }

  /// `next` directly follows `last`.
  static func follows(_ last: Int32, _ next: Int32) -> Bool {
    Int64(next) == Int64(last) + 1 || (next == 0 && last == Int32.max)
  }
}
