import FoundationEssentials
import KafkaProtocol
import NIOCore

/// One record to produce. A nil `partition` lets the partitioner choose; a nil `timestamp`
/// means now.
public struct ProducerRecord: Sendable {
  public var topic: String
  public var partition: Int32?
  public var key: ByteBuffer?
  public var value: ByteBuffer?
  public var headers: [RecordHeader]
  public var timestamp: Int64?

  public init(
    topic: String, partition: Int32? = nil, key: ByteBuffer? = nil, value: ByteBuffer?,
    headers: [RecordHeader] = [], timestamp: Int64? = nil
  ) {
    self.topic = topic
    self.partition = partition
    self.key = key
    self.value = value
    self.headers = headers
    self.timestamp = timestamp
  }

  /// A record with UTF-8 string key, value and header values.
  public init(
    topic: String, partition: Int32? = nil, key: String?, value: String?,
    headers: [(String, String?)] = [], timestamp: Int64? = nil
  ) {
    self.init(
      topic: topic, partition: partition, key: key.map { ByteBuffer(string: $0) },
      value: value.map { ByteBuffer(string: $0) },
      headers: headers.map { RecordHeader(key: $0.0, value: $0.1.map { ByteBuffer(string: $0) }) },
      timestamp: timestamp)
  }
}

/// Where a produced record landed. `offset` is -1 with acks=0 (the broker does not answer).
public struct RecordMetadata: Sendable, Hashable {
  public var topic: String
  public var partition: Int32
  public var offset: Int64
  /// The record's timestamp: the one it was sent with, or the broker's LogAppendTime.
  public var timestamp: Int64

  public init(topic: String, partition: Int32, offset: Int64, timestamp: Int64) {
    self.topic = topic
    self.partition = partition
    self.offset = offset
    self.timestamp = timestamp
  }
}

/// The pending outcome of one enqueued record: its metadata once the broker acknowledged the
/// batch holding it, or the error that failed it for good.
public struct DeliveryFuture: Sendable {
  let future: EventLoopFuture<RecordMetadata>

  /// Waits for the record's delivery.
  public func get() async throws -> RecordMetadata {
    try await future.get()
  }

  /// Calls `body` (on an event loop; keep it short) once the record is delivered or failed.
  public func whenComplete(
    _ body: @escaping @Sendable (Result<RecordMetadata, any Error>) -> Void
  ) {
    future.whenComplete(body)
  }
}

/// How many replicas must have a batch before the leader acknowledges it.
public enum Acks: Int16, Sendable, Hashable {
  /// Fire and forget: the broker sends no response, offsets are unknown (-1).
  case none = 0
  /// The leader's own append.
  case leader = 1
  /// Every in-sync replica (`acks=all`).
  case all = -1
}

/// A batching producer: records are partitioned (murmur2 of the key, sticky for keyless
/// records), collected per partition into v2 record batches (`batchSize`, `linger`), sent to
/// each partition's leader, and retried on retriable errors, one batch per partition in
/// flight so order holds. Idempotent by default, as the Java client: InitProducerId first,
/// then every batch carries the producer id, epoch and a per-partition sequence, so a retry
/// the leader already wrote is dropped instead of written twice.
public actor Producer {
  /// Producer settings, named after their Kafka counterparts.
  public struct Configuration: Sendable {
    public var acks: Acks = .all
    /// `linger.ms`: how long a batch may wait for more records.
    public var linger: Duration = .milliseconds(5)
    /// `batch.size`: bytes at which a batch is sent without waiting.
    public var batchSize = 16384
    /// `max.request.size`: larger records are refused.
    public var maxRequestSize = 1 << 20
    /// `buffer.memory`: `send` waits while this many bytes are unacknowledged.
    public var bufferMemory = 32 << 20
    /// `request.timeout.ms`: the broker's wait for acks, and ours for a response.
    public var requestTimeout: Duration = .seconds(30)
    /// `delivery.timeout.ms`: no retry starts after a batch is this old.
    public var deliveryTimeout: Duration = .seconds(120)
    /// `retries`: sends after the first one.
    public var retries = Int.max
    /// `max.block.ms`: how long `send` waits for a topic's metadata.
    public var maxBlock: Duration = .seconds(60)
    public var keylessPartitioning: Partitioner.KeylessStrategy = .sticky
    /// Ask brokers to create unknown topics (if they are configured to).
    public var allowAutoTopicCreation = true
    /// `enable.idempotence`. nil, the default, means on unless `acks` is not `.all` or
    /// `retries` is 0, when it is quietly off (as the Java client 3.2+ treats an unset
    /// value); true makes those settings a configuration error; false turns it off.
    public var enableIdempotence: Bool?

    public init() {}

    /// Whether batches carry producer ids and sequences; throws for settings that contradict
    /// an explicit `enableIdempotence = true`.
    public func idempotenceEnabled() throws(KafkaClientError) -> Bool {
      switch enableIdempotence {
      case false?:
        return false
      case nil:
        return acks == .all && retries > 0
      case true?:
        guard acks == .all else {
          throw .invalidArgument(
            "Must set acks to all in order to use the idempotent producer. "
              + "Otherwise we cannot guarantee idempotence.")
        }
        guard retries > 0 else {
          throw .invalidArgument(
            "Must set retries to non-zero when using the idempotent producer.")
        }
        return true
      }
    }
  }

  /// One record's completion and the timestamp it was sent with.
  struct Delivery: Sendable {
    enum Completion: Sendable {
      case promise(EventLoopPromise<RecordMetadata>)
      case callback(@Sendable (Result<RecordMetadata, any Error>) -> Void)
    }

    var completion: Completion
    var timestamp: Int64

    func complete(_ result: Result<RecordMetadata, any Error>) {
      switch completion {
      case .promise(let promise): promise.completeWith(result)
      case .callback(let callback): callback(result)
      }
    }
  }

  typealias Batch = RecordAccumulator<Delivery>.ReadyBatch

  public nonisolated let client: KafkaClient
  public nonisolated let configuration: Configuration
  private nonisolated let eventLoop: any EventLoop
  private var accumulator: RecordAccumulator<Delivery>
  private var partitioner: Partitioner
  private var topics: [String: (metadata: TopicMetadata, fetchedAt: ContinuousClock.Instant)] = [:]
  private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
  private var flushWaiters: [CheckedContinuation<Void, Never>] = []
  private var flushing = 0
  private var isClosed = false
  private var timer: (deadline: ContinuousClock.Instant, task: Task<Void, Never>)?
  /// Whether batches are stamped; turned off when idempotence was only the default and no
  /// broker serves InitProducerId.
  private var idempotent: Bool
  private var idempotence = IdempotentProducerState()
  private var initProducerIdTask: Task<Void, any Error>?

  /// Throws `.invalidArgument` for settings that contradict each other (explicit
  /// idempotence with acks other than all, or without retries).
  public init(
    client: KafkaClient, configuration: Configuration = Configuration()
  ) throws(KafkaClientError) {
    self.client = client
    self.configuration = configuration
    self.idempotent = try configuration.idempotenceEnabled()
    self.eventLoop = client.eventLoopGroup.any()
    self.accumulator = RecordAccumulator(
      batchSize: configuration.batchSize, linger: configuration.linger)
    self.partitioner = Partitioner(
      keylessStrategy: configuration.keylessPartitioning, batchSize: configuration.batchSize)
  }

  /// Sends one record and waits until it is acknowledged. Awaiting each record in turn sends
  /// one batch per record; use `enqueue` to keep many in flight.
  @discardableResult
  public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
    let future = try await enqueue(record)
    flushing += 1
    drainAndSend()
    flushing -= 1
    return try await future.get()
  }

  /// Sends one record with string key, value and headers and waits for it.
  @discardableResult
  public func send(
    topic: String, partition: Int32? = nil, key: String? = nil, value: String?,
    headers: [(String, String?)] = []
  ) async throws -> RecordMetadata {
    try await send(
      ProducerRecord(topic: topic, partition: partition, key: key, value: value, headers: headers))
  }

  /// Adds a record to its partition's batch and returns at once (after waiting for the topic's
  /// metadata, or for buffer space); the future completes when the batch is acknowledged.
  /// Throws for records that can never be sent (unknown topic, invalid partition, too large).
  public func enqueue(_ record: ProducerRecord) async throws -> DeliveryFuture {
    let promise = eventLoop.makePromise(of: RecordMetadata.self)
    do {
      try await append(record, completion: .promise(promise))
    } catch {
      promise.fail(error)
      throw error
    }
    return DeliveryFuture(future: promise.futureResult)
  }

  /// Like `enqueue(_:)`, but reports each record's outcome to `onDelivery`, called on the
  /// producer before `flush()` returns; keep it short. Cheaper than a future per record.
  public func enqueue(
    _ record: ProducerRecord,
    onDelivery: @escaping @Sendable (Result<RecordMetadata, any Error>) -> Void
  ) async throws {
    try await append(record, completion: .callback(onDelivery))
  }

  /// Enqueues `records` in order with one call, reporting each outcome to `onDelivery`. On a
  /// record that can never be sent it throws; the records before it stay enqueued.
  public func enqueue(
    contentsOf records: [ProducerRecord],
    onDelivery: @escaping @Sendable (Result<RecordMetadata, any Error>) -> Void
  ) async throws {
    for record in records {
      try await append(record, completion: .callback(onDelivery))
    }
  }

  private func append(_ record: ProducerRecord, completion: Delivery.Completion) async throws {
    guard !isClosed else { throw KafkaClientError.closed }
    let estimate =
      RecordBatchHeader.size
      + RecordAccumulator<Delivery>.estimatedSize(
        key: record.key, value: record.value, headers: record.headers)
    guard estimate <= configuration.maxRequestSize else {
      throw KafkaClientError.broker(
        .messageTooLarge, context: "record for \(record.topic)",
        message: "about \(estimate) bytes, more than the maximum request size "
          + "\(configuration.maxRequestSize)")
    }
    while accumulator.bufferedBytes > 0,
      accumulator.bufferedBytes + estimate > configuration.bufferMemory
    {
      drainAndSend()
      await withCheckedContinuation { spaceWaiters.append($0) }
      guard !isClosed else { throw KafkaClientError.closed }
    }
    let topic = try await topicMetadata(record.topic)
    let partition: Int32
    if let requested = record.partition {
      guard requested >= 0, requested < topic.partitionCount else {
        throw KafkaClientError.unknownTopicOrPartition(
          "partition \(requested) of \(record.topic) (it has \(topic.partitionCount))")
      }
      partition = requested
    } else {
      partition = partitioner.partition(
        topic: record.topic, key: record.key, partitionCount: topic.partitionCount,
        availablePartitions: topic.availablePartitions, recordSize: estimate)
    }
    guard !isClosed else { throw KafkaClientError.closed }
    let timestamp = record.timestamp ?? currentTimeMillis()
    let result = accumulator.append(
      to: TopicPartition(record.topic, partition), key: record.key, value: record.value,
      headers: record.headers, timestamp: timestamp,
      delivery: Delivery(completion: completion, timestamp: timestamp), now: .now)
    if result.readyNow || configuration.linger <= .zero || flushing > 0 {
      drainAndSend()
    } else if result.newBatchDeadline != nil {
      scheduleTimer()
    }
  }

  /// Sends every batch now and waits until all records enqueued so far are delivered or
  /// failed.
  public func flush() async {
    flushing += 1
    defer { flushing -= 1 }
    drainAndSend()
    while !accumulator.isEmpty {
      await withCheckedContinuation { flushWaiters.append($0) }
      drainAndSend()
    }
  }

  /// Flushes, then refuses further records. Does not close the shared client.
  public func close() async {
    await flush()
    isClosed = true
    timer?.task.cancel()
    timer = nil
    let waiters = spaceWaiters
    spaceWaiters.removeAll()
    for waiter in waiters { waiter.resume() }
  }

  // MARK: Metadata

  private func topicMetadata(_ name: String) async throws -> TopicMetadata {
    if let cached = topics[name],
      ContinuousClock.now - cached.fetchedAt < client.configuration.metadataMaxAge
    {
      return cached.metadata
    }
    let deadline = ContinuousClock.now + configuration.maxBlock
    var attempt = 0
    while true {
      do {
        let metadata = try await client.topicMetadata(
          name, allowAutoTopicCreation: configuration.allowAutoTopicCreation,
          forceRefresh: attempt > 0)
        topics[name] = (metadata, .now)
        return metadata
      } catch let error as KafkaClientError {
        let retry: Bool
        switch error {
        case .unknownTopicOrPartition: retry = configuration.allowAutoTopicCreation
        default: retry = error.isRetriable
        }
        guard retry, ContinuousClock.now + client.configuration.retryBackoff < deadline else {
          if case .unknownTopicOrPartition = error, attempt > 0 {
            throw KafkaClientError.unknownTopicOrPartition(
              "\(name) (not in the metadata after \(configuration.maxBlock.milliseconds) ms)")
          }
          throw error
        }
      }
      attempt += 1
      try await Task.sleep(for: client.configuration.retryBackoff)
    }
  }

  // MARK: Sending

  private func scheduleTimer() {
    guard let deadline = accumulator.nextDeadline() else {
      timer?.task.cancel()
      timer = nil
      return
    }
    if let timer, timer.deadline <= deadline { return }
    timer?.task.cancel()
    let task = Task { [weak self] in
      do {
        try await Task.sleep(until: deadline, clock: .continuous)
      } catch {
        return
      }
      await self?.timerFired()
    }
    timer = (deadline, task)
  }

  private func timerFired() {
    timer = nil
    drainAndSend()
  }

  /// Hands every batch that is due to a delivery task, then re-arms the linger timer.
  private func drainAndSend() {
    let batches = accumulator.drain(now: .now, flushing: flushing > 0 || isClosed)
    if !batches.isEmpty {
      Task { await self.deliver(batches) }
    }
    scheduleTimer()
  }

  /// The producer id and epoch of an idempotent producer, after InitProducerId if needed.
  public var producerIdAndEpoch: (producerId: Int64, epoch: Int16)? {
    idempotent && idempotence.hasProducerId
      ? (idempotence.producerId, idempotence.producerEpoch) : nil
  }

  /// Whether this producer stamps its batches (idempotence on and served).
  public var isIdempotent: Bool { idempotent }

  /// Sends `batches` to their leaders, retrying retriable failures after a metadata refresh
  /// and a back-off, until each is acknowledged, fails for good, or runs out of time.
  private func deliver(_ batches: [Batch]) async {
    var pending = batches
    while !pending.isEmpty {
      var retry: [Batch] = []
      var byNode: [Int32: [Batch]] = [:]
      if idempotent {
        do {
          try await ensureProducerId(deadline: pending.map(\.createdAt).min())
        } catch {
          for batch in pending { fail(batch, error: error) }
          return
        }
        if idempotent {
          // A retry keeps its stamp, so the leader recognises a batch it already wrote.
          for index in pending.indices where pending[index].stamp == nil {
            let stamp = idempotence.stamp(
              pending[index].partition, recordCount: pending[index].recordCount)
            pending[index].stamp = stamp
            RecordBatchHeader.applyStamp(stamp, to: &pending[index].records)
          }
        }
      }
      for var batch in pending {
        batch.attempts += 1
        do {
          let leader = try await client.leader(for: batch.partition)
          byNode[leader, default: []].append(batch)
        } catch {
          settle(batch, error: error, retry: &retry)
        }
      }
      let client = client
      let acks = configuration.acks
      let timeout = configuration.requestTimeout
      await withTaskGroup(of: [ProduceResult].self) { group in
        for (node, batches) in byNode {
          group.addTask {
            await Self.produce(
              batches, to: node, client: client, acks: acks, timeout: timeout)
          }
        }
        for await results in group {
          for (batch, result, logStartOffset) in results {
            switch result {
            case .success(let outcome): succeed(batch, outcome)
            case .failure(let error):
              settle(batch, error: error, logStartOffset: logStartOffset, retry: &retry)
            }
          }
        }
      }
      if !retry.isEmpty {
        await client.invalidateMetadata()
        for batch in retry { topics[batch.partition.topic] = nil }
        try? await Task.sleep(for: self.client.configuration.retryBackoff)
      }
      pending = retry
    }
  }

  /// Retries `batch` when the error allows it and time remains, else fails its records.
  private func settle(
    _ batch: Batch, error: any Error, logStartOffset: Int64 = -1, retry: inout [Batch]
  ) {
    let clientError = error as? KafkaClientError
    let expired = ContinuousClock.now - batch.createdAt >= configuration.deliveryTimeout
    let canRetry = !expired && batch.attempts <= configuration.retries
    if idempotent, let stamp = batch.stamp, let code = clientError?.errorCode {
      switch code {
      case .unknownProducerId:
        // Retention removed the producer's state on this partition: nothing is lost, so a
        // new epoch starts the sequences over and the batch goes again.
        if canRetry,
          idempotence.producerStateExpired(
            batch.partition, logStartOffset: logStartOffset)
        {
          if !idempotence.isStale(stamp) { idempotence.bumpEpoch() }
          var restamped = batch
          restamped.stamp = nil
          retry.append(restamped)
          return
        }
        if !idempotence.isStale(stamp) { idempotence.bumpEpoch() }
        fail(batch, error: error)
        return
      case .outOfOrderSequenceNumber:
        // A gap in the log: this batch fails, and a new epoch lets later ones through.
        if !idempotence.isStale(stamp) { idempotence.bumpEpoch() }
        fail(batch, error: error)
        return
      case .invalidProducerEpoch:
        // Sent under an epoch the producer has since bumped: send again under the new one.
        if canRetry, idempotence.isStale(stamp) {
          var restamped = batch
          restamped.stamp = nil
          retry.append(restamped)
          return
        }
        fail(batch, error: error)
        return
      case .producerFenced, .clusterAuthorizationFailed, .unsupportedVersion:
        if let clientError { idempotence.fail(clientError) }
        fail(batch, error: error)
        return
      default:
        break
      }
    }
    if clientError?.isRetriable ?? false, canRetry {
      retry.append(batch)
      return
    }
    fail(batch, error: error)
  }

  /// Fails every record of `batch`. A stamped batch that the leader may have written (the
  /// outcome is unknown) leaves a possible gap, so the epoch is bumped; one the leader
  /// rejected gives its sequences back.
  private func fail(_ batch: Batch, error: any Error) {
    if idempotent, let stamp = batch.stamp, !idempotence.isStale(stamp) {
      let code = (error as? KafkaClientError)?.errorCode
      // Only a first attempt the leader answered with an error is known not to be written.
      let rejected: Bool
      switch error as? KafkaClientError {
      case .broker?:
        rejected = batch.attempts == 1 && code != .requestTimedOut && code != .networkException
      default: rejected = false
      }
      if rejected,
        idempotence.sequence(for: batch.partition)
          == IdempotentProducerState.incrementSequence(
            stamp.baseSequence, by: batch.recordCount)
      {
        idempotence.rollBack(batch.partition, to: stamp.baseSequence)
      } else if !rejected {
        idempotence.bumpEpoch()
      }
    }
    for delivery in batch.deliveries { delivery.complete(.failure(error)) }
    finish(batch)
  }

  /// Asks for a producer id (InitProducerId without a transactional id) once, shared by
  /// every delivery; retriable errors are retried until `deadline` plus the delivery timeout.
  private func ensureProducerId(deadline createdAt: ContinuousClock.Instant?) async throws {
    if let fatal = idempotence.fatalError { throw fatal }
    if idempotence.hasProducerId { return }
    if let task = initProducerIdTask {
      try await task.value
      return
    }
    let deadline = (createdAt ?? .now) + configuration.deliveryTimeout
    let task = Task { try await self.initProducerId(until: deadline) }
    initProducerIdTask = task
    defer { initProducerIdTask = nil }
    try await task.value
  }

  private func initProducerId(until deadline: ContinuousClock.Instant) async throws {
    var request = InitProducerIdRequest()
    request.transactionalId = nil
    request.transactionTimeoutMs = Int32.max
    request.producerId = -1
    request.producerEpoch = -1
    while true {
      do {
        let connection = try await client.anyConnection()
        guard let version = connection.apiVersions[.initProducerId] else {
          if configuration.enableIdempotence == nil {
            // Idempotence was only the default and this broker cannot give producer ids.
            idempotent = false
            return
          }
          let error = KafkaClientError.unsupportedApi(
            api: .initProducerId, address: connection.address)
          idempotence.fail(error)
          throw error
        }
        let response = try await connection.send(
          request, version: version, timeout: configuration.requestTimeout)
        try KafkaClientError.check(response.errorCode, "InitProducerId")
        idempotence.setProducerId(response.producerId, epoch: response.producerEpoch)
        return
      } catch let error as KafkaClientError {
        guard error.isRetriable, ContinuousClock.now < deadline else {
          if !error.isRetriable { idempotence.fail(error) }
          throw error
        }
      }
      try await Task.sleep(for: client.configuration.retryBackoff)
    }
  }

  private func succeed(_ batch: Batch, _ outcome: ProduceOutcome) {
    if outcome.baseOffset >= 0 {
      idempotence.acknowledged(
        batch.partition, lastOffset: outcome.baseOffset + Int64(batch.deliveries.count) - 1)
    }
    for (index, delivery) in batch.deliveries.enumerated() {
      let offset = outcome.baseOffset >= 0 ? outcome.baseOffset + Int64(index) : -1
      delivery.complete(
        .success(
          RecordMetadata(
            topic: batch.partition.topic, partition: batch.partition.partition, offset: offset,
            timestamp: outcome.logAppendTime >= 0 ? outcome.logAppendTime : delivery.timestamp)))
    }
    finish(batch)
  }

  private func finish(_ batch: Batch) {
    accumulator.complete(batch)
    let waiters = spaceWaiters
    spaceWaiters.removeAll()
    for waiter in waiters { waiter.resume() }
    if accumulator.isEmpty {
      let flushed = flushWaiters
      flushWaiters.removeAll()
      for waiter in flushed { waiter.resume() }
    }
    drainAndSend()
  }

  struct ProduceOutcome: Sendable {
    var baseOffset: Int64
    var logAppendTime: Int64
  }

  /// A batch's outcome, with the partition's log start offset when the leader sent one.
  typealias ProduceResult = (Batch, Result<ProduceOutcome, any Error>, Int64)

  /// One Produce request to `node` carrying `batches` (one per partition).
  static func produce(
    _ batches: [Batch], to node: Int32, client: KafkaClient, acks: Acks, timeout: Duration
  ) async -> [ProduceResult] {
    var request = ProduceRequest()
    request.acks = acks.rawValue
    request.timeoutMs = Int32(clamping: timeout.milliseconds)
    var topicOrder: [String] = []
    var byTopic: [String: [ProduceRequest.PartitionProduceData]] = [:]
    for batch in batches {
      let topic = batch.partition.topic
      if byTopic[topic] == nil { topicOrder.append(topic) }
      byTopic[topic, default: []].append(
        ProduceRequest.PartitionProduceData(
          index: batch.partition.partition, records: batch.records))
    }
    request.topicData = topicOrder.map {
      ProduceRequest.TopicProduceData(name: $0, partitionData: byTopic[$0] ?? [])
    }
    do {
      let connection = try await client.connection(toNode: node)
      let version = try connection.version(for: .produce)
      if acks == .none {
        try await connection.sendWithoutResponse(request, version: version)
        return batches.map {
          ($0, .success(ProduceOutcome(baseOffset: -1, logAppendTime: -1)), -1)
        }
      }
      let response = try await connection.send(
        request, version: version, timeout: timeout + .seconds(5))
      var results: [TopicPartition: ProduceResponse.PartitionProduceResponse] = [:]
      for topic in response.responses {
        for partition in topic.partitionResponses {
          results[TopicPartition(topic.name, partition.index)] = partition
        }
      }
      return batches.map { batch in
        guard let result = results[batch.partition] else {
          return (
            batch,
            .failure(
              KafkaClientError.malformedResponse(
                "Produce response has no result for \(batch.partition)")),
            -1
          )
        }
        // The leader already has this batch (a retry of one it wrote): delivered.
        if result.errorCode == ErrorCode.duplicateSequenceNumber.rawValue {
          return (
            batch,
            .success(
              ProduceOutcome(
                baseOffset: result.baseOffset, logAppendTime: result.logAppendTimeMs)),
            result.logStartOffset
          )
        }
        guard result.errorCode == 0 else {
          var message = result.errorMessage
          let recordErrors = result.recordErrors.compactMap(\.batchIndexErrorMessage)
          if !recordErrors.isEmpty {
            message = ([message].compactMap { $0 } + recordErrors).joined(separator: "; ")
          }
          return (
            batch,
            .failure(
              KafkaClientError.broker(
                ErrorCode(rawValue: result.errorCode), context: "produce to \(batch.partition)",
                message: message)),
            result.logStartOffset
          )
        }
        return (
          batch,
          .success(
            ProduceOutcome(baseOffset: result.baseOffset, logAppendTime: result.logAppendTimeMs)),
          result.logStartOffset
        )
      }
    } catch {
      return batches.map { ($0, .failure(error), -1) }
    }
  }
}

/// Milliseconds since the Unix epoch, as Kafka timestamps count them.
func currentTimeMillis() -> Int64 {
  Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
}
