import KafkaProtocol
import NIOCore

/// The producer id, epoch and sequence a batch was sent with; a retry sends the same stamp so
/// the leader can drop the duplicate.
struct ProducerStamp: Sendable, Hashable {
  var producerId: Int64
  var producerEpoch: Int16
  var baseSequence: Int32
}

/// The idempotent producer's bookkeeping (the non-transactional part of Kafka's
/// TransactionManager): the producer id and epoch from InitProducerId, the next sequence per
/// partition, the last acknowledged offset per partition, and the epoch bump that follows a
/// sequence gap.
struct IdempotentProducerState: Sendable {
  private(set) var producerId: Int64 = -1
  private(set) var producerEpoch: Int16 = -1
  private var nextSequence: [TopicPartition: Int32] = [:]
  private var lastAckedOffset: [TopicPartition: Int64] = [:]
  /// An error after which no batch may be sent (PRODUCER_FENCED, authorization, versions).
  private(set) var fatalError: KafkaClientError?

  var hasProducerId: Bool { producerId >= 0 }

  /// Takes the id InitProducerId returned; every partition starts again at sequence 0.
  mutating func setProducerId(_ id: Int64, epoch: Int16) {
    producerId = id
    producerEpoch = epoch
    nextSequence.removeAll()
  }

  mutating func fail(_ error: KafkaClientError) {
    if fatalError == nil { fatalError = error }
  }

  /// The stamp for a batch of `recordCount` records sent to `partition` for the first time;
  /// the partition's next sequence moves past it.
  mutating func stamp(_ partition: TopicPartition, recordCount: Int32) -> ProducerStamp {
    let base = nextSequence[partition] ?? 0
    nextSequence[partition] = Self.incrementSequence(base, by: recordCount)
    return ProducerStamp(producerId: producerId, producerEpoch: producerEpoch, baseSequence: base)
  }

  /// The next sequence `partition` would get.
  func sequence(for partition: TopicPartition) -> Int32 { nextSequence[partition] ?? 0 }

  /// Whether `stamp` is from an earlier producer id or epoch than the current one.
  func isStale(_ stamp: ProducerStamp) -> Bool {
    stamp.producerId != producerId || stamp.producerEpoch != producerEpoch
  }

  /// Gives back the sequences of a batch the leader rejected without writing, so the next
  /// batch reuses them and no gap forms.
  mutating func rollBack(_ partition: TopicPartition, to sequence: Int32) {
    nextSequence[partition] = sequence
  }

  mutating func acknowledged(_ partition: TopicPartition, lastOffset: Int64) {
    if lastOffset >= 0 {
      lastAckedOffset[partition] = max(lastAckedOffset[partition] ?? -1, lastOffset)
    }
  }

  /// Whether UNKNOWN_PRODUCER_ID means only that retention removed the producer's state: the
  /// partition's log now starts after everything this producer had acknowledged there.
  func producerStateExpired(_ partition: TopicPartition, logStartOffset: Int64) -> Bool {
    guard logStartOffset >= 0 else { return false }
    return (lastAckedOffset[partition] ?? -1) < logStartOffset
  }

  /// After a sequence gap (OUT_OF_ORDER_SEQUENCE_NUMBER, UNKNOWN_PRODUCER_ID) the producer
  /// bumps its epoch itself, which restarts every partition's sequence at 0; at the last epoch
  /// it drops the id instead, so InitProducerId is asked for a new one.
  mutating func bumpEpoch() {
    if producerEpoch == Int16.max {
      producerId = -1
      producerEpoch = -1
    } else {
      producerEpoch += 1
    }
    nextSequence.removeAll()
  }

  /// Adds to a sequence number, wrapping past Int32.max to 0 as record batches do.
  static func incrementSequence(_ sequence: Int32, by increment: Int32) -> Int32 {
    if sequence > Int32.max - increment {
      return increment - (Int32.max - sequence) - 1
    }
    return sequence + increment
  }
}

extension RecordBatchHeader {
  /// Writes producer id, epoch and base sequence into the v2 batch at the start of `records`
  /// and recomputes its CRC32C (which covers them).
  static func applyStamp(_ stamp: ProducerStamp, to records: inout ByteBuffer) {
    let start = records.readerIndex
    records.setInteger(stamp.producerId, at: start + 43)
    records.setInteger(stamp.producerEpoch, at: start + 51)
    records.setInteger(stamp.baseSequence, at: start + 53)
    let coverage = start + crcCoverageStart
    let crc = CRC32C.checksum(records, at: coverage, length: records.writerIndex - coverage) ?? 0
    records.setInteger(crc, at: start + 17)
  }
}
