import KafkaProtocol
import NIOCore

/// The producer's batching, without I/O: one open batch per partition that records are
/// appended to, sealed when the next record would pass `batchSize`, and handed out when sealed,
/// when it is `linger` old, or on flush; at most one batch per partition in flight, so retries
/// cannot reorder records. `Delivery` is whatever the producer completes per record.
struct RecordAccumulator<Delivery: Sendable>: Sendable {
  /// A batch ready to be sent: its bytes and one delivery per record, in offset order.
  struct ReadyBatch: Sendable {
    var partition: TopicPartition
    var records: ByteBuffer
    var deliveries: [Delivery]
    var createdAt: ContinuousClock.Instant
    /// Sends so far (the first send is attempt 1).
    var attempts = 0
    /// The idempotent producer's id, epoch and sequence, set at the first send.
    var stamp: ProducerStamp?
    var recordCount: Int32 { Int32(clamping: deliveries.count) }

    var sizeInBytes: Int { records.readableBytes }
  }

  private struct OpenBatch: Sendable {
    var builder: RecordBatchBuilder
    var deliveries: [Delivery]
    var createdAt: ContinuousClock.Instant
  }

  private struct PartitionQueue: Sendable {
    var open: OpenBatch?
    var sealed: [ReadyBatch] = []
    var inFlight = false

    var isIdle: Bool { open == nil && sealed.isEmpty && !inFlight }
  }

  /// What an append did, for the producer's scheduling.
  struct AppendResult: Equatable {
    /// A batch became ready (full) and the partition is not in flight: drain now.
    var readyNow: Bool
    /// A new open batch was started: it is due at this time.
    var newBatchDeadline: ContinuousClock.Instant?
  }

  let batchSize: Int
  let linger: Duration
  private var queues: [TopicPartition: PartitionQueue] = [:]
  /// Bytes held in all batches not yet completed, for the producer's memory bound.
  private(set) var bufferedBytes = 0
  /// Records appended and not yet completed.
  private(set) var pendingRecords = 0

  init(batchSize: Int, linger: Duration) {
    self.batchSize = max(1, batchSize)
    self.linger = linger
  }

  var isEmpty: Bool { pendingRecords == 0 }

  /// Bytes one record adds to a batch at most (varints at their widest).
  static func estimatedSize(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader]) -> Int {
    var size = 5 + 1 + 10 + 5 + 5 + 5 + 5
    size += key?.readableBytes ?? 0
    size += value?.readableBytes ?? 0
    for header in headers {
      size += 5 + header.key.utf8.count + 5 + (header.value?.readableBytes ?? 0)
    }
    return size
  }

  mutating func append(
    to partition: TopicPartition, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader],
    timestamp: Int64, delivery: Delivery, now: ContinuousClock.Instant
  ) -> AppendResult {
    // Taken out of the dictionary so the open batch's buffer stays uniquely referenced and
    // appends do not copy it.
    var queue = queues.removeValue(forKey: partition) ?? PartitionQueue()
    let estimate = Self.estimatedSize(key: key, value: value, headers: headers)
    if let open = queue.open, open.builder.sizeInBytes + estimate > batchSize {
      seal(&queue, partition)
    }
    var deadline: ContinuousClock.Instant?
    if queue.open == nil {
      queue.open = OpenBatch(
        builder: RecordBatchBuilder(
          initialCapacity: max(RecordBatchHeader.size + estimate, min(batchSize, 4096))),
        deliveries: [], createdAt: now)
      deadline = now + linger
    }
    guard var open = queue.open else {
      queues[partition] = queue
      return AppendResult(readyNow: false)
    }
    queue.open = nil
    // A new batch's header counts too: held bytes are exactly the batches' sizes.
    let before = open.deliveries.isEmpty ? 0 : open.builder.sizeInBytes
    open.builder.append(key: key, value: value, headers: headers, timestamp: timestamp)
    open.deliveries.append(delivery)
    bufferedBytes += open.builder.sizeInBytes - before
    pendingRecords += 1
    queue.open = open
    if open.builder.sizeInBytes >= batchSize {
      seal(&queue, partition)
    }
    let ready = !queue.inFlight && !queue.sealed.isEmpty
    queues[partition] = queue
    return AppendResult(readyNow: ready, newBatchDeadline: queue.open == nil ? nil : deadline)
  }

  private func seal(_ queue: inout PartitionQueue, _ partition: TopicPartition) {
    guard var open = queue.open else { return }
    queue.open = nil
    // Move the builder out so `build()` finishes its buffer in place instead of copying it.
    var builder = RecordBatchBuilder(initialCapacity: 0)
    swap(&builder, &open.builder)
    let records = builder.build()
    guard records.readableBytes > 0 else { return }
    queue.sealed.append(
      ReadyBatch(
        partition: partition, records: records, deliveries: open.deliveries,
        createdAt: open.createdAt))
  }

  /// When the earliest open batch of a partition not in flight is due, if any.
  func nextDeadline() -> ContinuousClock.Instant? {
    var earliest: ContinuousClock.Instant?
    for queue in queues.values where !queue.inFlight {
      guard let open = queue.open else { continue }
      let due = open.createdAt + linger
      if earliest.map({ due < $0 }) ?? true { earliest = due }
    }
    return earliest
  }

  /// The batches to send now: per partition not in flight, its oldest sealed batch, or its
  /// open batch when due or `flushing`. Their partitions are in flight until `complete`.
  mutating func drain(now: ContinuousClock.Instant, flushing: Bool) -> [ReadyBatch] {
    var ready: [ReadyBatch] = []
    for partition in queues.keys.sorted() {
      guard var queue = queues.removeValue(forKey: partition) else { continue }
      if queue.inFlight {
        queues[partition] = queue
        continue
      }
      if queue.sealed.isEmpty, let open = queue.open, flushing || now >= open.createdAt + linger {
        seal(&queue, partition)
      }
      guard !queue.sealed.isEmpty else {
        queues[partition] = queue
        continue
      }
      let batch = queue.sealed.removeFirst()
      queue.inFlight = true
      queues[partition] = queue
      ready.append(batch)
    }
    return ready
  }

  /// The in-flight batch of `partition` (of `bytes` bytes and `records` records) finished,
  /// delivered or failed for good.
  mutating func complete(_ batch: ReadyBatch) {
    complete(batch.partition, bytes: batch.sizeInBytes, records: batch.deliveries.count)
  }

  mutating func complete(_ partition: TopicPartition, bytes: Int, records: Int) {
    guard var queue = queues[partition] else { return }
    queue.inFlight = false
    bufferedBytes -= bytes
    pendingRecords -= records
    if queue.isIdle {
      queues[partition] = nil
    } else {
      queues[partition] = queue
    }
  }

  /// Partitions holding records (open, sealed or in flight).
  var partitions: [TopicPartition] { queues.keys.sorted() }
}
