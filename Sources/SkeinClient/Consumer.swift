import KafkaProtocol
import NIOCore

/// One record read from a partition.
public struct ConsumerRecord: Sendable, Hashable {
  public var topic: String
  public var partition: Int32
  public var offset: Int64
  public var timestamp: Int64
  public var timestampType: TimestampType
  public var key: ByteBuffer?
  public var value: ByteBuffer?
  public var headers: [RecordHeader]
  /// The leader epoch of the batch holding the record, or -1.
  public var leaderEpoch: Int32

  public init(
    topic: String, partition: Int32, offset: Int64, timestamp: Int64,
    timestampType: TimestampType = .createTime, key: ByteBuffer?, value: ByteBuffer?,
    headers: [RecordHeader] = [], leaderEpoch: Int32 = -1
  ) {
    self.topic = topic
    self.partition = partition
    self.offset = offset
    self.timestamp = timestamp
    self.timestampType = timestampType
    self.key = key
    self.value = value
    self.headers = headers
    self.leaderEpoch = leaderEpoch
  }

  public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
}

/// What a consumer does when it has no valid position for a partition (`auto.offset.reset`).
public enum OffsetResetPolicy: Sendable, Hashable {
  case earliest
  case latest
  /// Fail the poll instead.
  case none
}

/// A consumer of explicitly assigned partitions (no consumer group): seek each partition to an
/// offset, the beginning, the end or a timestamp, then poll. Each poll long-polls the leaders
/// with Fetch and returns the records at and after each partition's position, in offset order
/// per partition.
public actor Consumer {
  /// Consumer settings, named after their Kafka counterparts.
  public struct Configuration: Sendable {
    /// `fetch.max.wait.ms`: how long a leader may hold a fetch waiting for `minBytes`.
    public var maxWait: Duration = .milliseconds(500)
    /// `fetch.min.bytes`.
    public var minBytes: Int32 = 1
    /// `fetch.max.bytes`.
    public var maxBytes: Int32 = 50 << 20
    /// `max.partition.fetch.bytes`.
    public var maxPartitionBytes: Int32 = 1 << 20
    /// `max.poll.records`.
    public var maxPollRecords = 500
    /// `auto.offset.reset`: where partitions start without a seek, and where they go when
    /// their position is out of range.
    public var autoOffsetReset: OffsetResetPolicy = .latest
    public var isolationLevel: IsolationLevel = .readUncommitted
    /// `check.crcs`: verify each batch's CRC32C.
    public var checkCRCs = true

    public init() {}
  }

  private enum Position: Sendable, Hashable {
    case unset
    case pending(OffsetSpec)
    case at(Int64)
  }

  public nonisolated let client: KafkaClient
  public nonisolated let configuration: Configuration
  /// Next offset to fetch, per assigned partition.
  private var positions: [TopicPartition: Position] = [:]
  private var assigned: [TopicPartition] = []
  private var buffer: [ConsumerRecord] = []
  private var bufferIndex = 0
  private var rotation = 0
  private var isClosed = false

  public init(client: KafkaClient, configuration: Configuration = Configuration()) {
    self.client = client
    self.configuration = configuration
  }

  /// Replaces the assignment. Partitions kept keep their positions; new ones start per
  /// `autoOffsetReset` unless sought.
  public func assign(_ partitions: [TopicPartition]) {
    let wanted = Set(partitions)
    var next: [TopicPartition: Position] = [:]
    for partition in wanted { next[partition] = positions[partition] ?? .unset }
    positions = next
    assigned = wanted.sorted()
    dropBuffered { !wanted.contains($0) }
  }

  /// The assigned partitions, sorted.
  public var assignment: [TopicPartition] { assigned }

  /// Moves an assigned partition's position; the next poll reads from there.
  public func seek(_ partition: TopicPartition, to spec: OffsetSpec) throws(KafkaClientError) {
    guard positions[partition] != nil else {
      throw .invalidArgument("partition \(partition) is not assigned")
    }
    if case .offset(let offset) = spec {
      guard offset >= 0 else { throw .invalidArgument("negative offset \(offset)") }
      positions[partition] = .at(offset)
    } else {
      positions[partition] = .pending(spec)
    }
    dropBuffered { $0 == partition }
  }

  /// Seeks every assigned partition.
  public func seekAll(to spec: OffsetSpec) throws(KafkaClientError) {
    for partition in assigned { try seek(partition, to: spec) }
  }

  /// The offset of the next record poll returns for `partition`.
  public func position(_ partition: TopicPartition) async throws -> Int64 {
    guard positions[partition] != nil else {
      throw KafkaClientError.invalidArgument("partition \(partition) is not assigned")
    }
    if let record = buffer[bufferIndex...].first(where: { $0.topicPartition == partition }) {
      return record.offset
    }
    try await resolvePositions()
    guard case .at(let offset) = positions[partition] else {
      throw KafkaClientError.invalidArgument("no position for \(partition)")
    }
    return offset
  }

  /// Returns records as soon as some are available, or an empty array after `timeout`.
  /// Retriable failures (leader moves, lost connections) are retried within the timeout.
  public func poll(timeout: Duration = .seconds(1)) async throws -> [ConsumerRecord] {
    guard !isClosed else { throw KafkaClientError.closed }
    guard !assigned.isEmpty else {
      throw KafkaClientError.invalidArgument("poll without assigned partitions")
    }
    let deadline = ContinuousClock.now + timeout
    while true {
      if bufferIndex < buffer.count { return takeBuffered() }
      let progressed = try await resolvePositions()
      let remaining = deadline - .now
      let wait = min(configuration.maxWait, max(.zero, remaining))
      let fetched = progressed ? try await fetchOnce(maxWait: wait) : false
      if bufferIndex < buffer.count { return takeBuffered() }
      if ContinuousClock.now >= deadline { return [] }
      if !fetched {
        // Nothing could be asked (no leader, lost connection): back off, then retry.
        let pause = min(client.configuration.retryBackoff, max(.zero, deadline - .now))
        try await Task.sleep(for: pause)
      }
    }
  }

  /// Stops the consumer; later polls fail with `.closed`. Does not close the shared client.
  public func close() {
    isClosed = true
    buffer.removeAll()
    bufferIndex = 0
  }

  // MARK: Internals

  private func takeBuffered() -> [ConsumerRecord] {
    let end = min(buffer.count, bufferIndex + max(1, configuration.maxPollRecords))
    let records = Array(buffer[bufferIndex..<end])
    bufferIndex = end
    if bufferIndex == buffer.count {
      buffer.removeAll(keepingCapacity: true)
      bufferIndex = 0
    }
    return records
  }

  private func dropBuffered(where shouldDrop: (TopicPartition) -> Bool) {
    guard bufferIndex < buffer.count else { return }
    buffer = buffer[bufferIndex...].filter { !shouldDrop($0.topicPartition) }
    bufferIndex = 0
  }

  /// Looks up the offsets of partitions waiting on a seek or a reset. Returns whether some
  /// partition has a position to fetch from.
  @discardableResult
  private func resolvePositions() async throws -> Bool {
    var specs: [TopicPartition: OffsetSpec] = [:]
    for partition in assigned {
      switch positions[partition] {
      case .pending(let spec)?:
        specs[partition] = spec
      case .unset?:
        switch configuration.autoOffsetReset {
        case .earliest: specs[partition] = .beginning
        case .latest: specs[partition] = .end
        case .none:
          throw KafkaClientError.invalidArgument(
            "no position for \(partition) and no offset reset policy")
        }
      default:
        break
      }
    }
    if !specs.isEmpty {
      let found: [TopicPartition: ListedOffset]
      do {
        found = try await client.listOffsets(specs, isolationLevel: configuration.isolationLevel)
      } catch let error as KafkaClientError where error.isRetriable {
        return positions.values.contains { if case .at = $0 { true } else { false } }
      }
      var pastEnd: [TopicPartition] = []
      for (partition, listed) in found {
        // A seek raced with the lookup: keep the newer request.
        guard let current = positions[partition],
          current == .unset || current == .pending(specs[partition] ?? .end)
        else { continue }
        if listed.offset >= 0 {
          positions[partition] = .at(listed.offset)
        } else {
          pastEnd.append(partition)
        }
      }
      // No record at or after the timestamp: start at the end, as Kafka's tools do.
      for partition in pastEnd { positions[partition] = .pending(.end) }
      if !pastEnd.isEmpty { return try await resolvePositions() }
    }
    return positions.values.contains { if case .at = $0 { true } else { false } }
  }

  /// One round of fetches, one request per leader, all in parallel. Returns false when no
  /// request could be sent.
  private func fetchOnce(maxWait: Duration) async throws -> Bool {
    var byNode: [Int32: [(TopicPartition, Int64)]] = [:]
    let count = assigned.count
    rotation = count == 0 ? 0 : (rotation + 1) % count
    let order = Array(assigned[rotation...] + assigned[..<rotation])
    var retriableFailure = false
    for partition in order {
      guard case .at(let offset)? = positions[partition] else { continue }
      do {
        let leader = try await client.leader(for: partition)
        byNode[leader, default: []].append((partition, offset))
      } catch let error as KafkaClientError where error.isRetriable {
        retriableFailure = true
      }
    }
    guard !byNode.isEmpty else {
      if retriableFailure { await client.invalidateMetadata() }
      return false
    }
    let client = client
    let configuration = configuration
    var sent = false
    var failure: (any Error)?
    await withTaskGroup(of: (Result<FetchResult, any Error>).self) { group in
      for (node, partitions) in byNode {
        group.addTask {
          do {
            return .success(
              try await Self.fetch(
                partitions, from: node, client: client, configuration: configuration,
                maxWait: maxWait))
          } catch {
            return .failure(error)
          }
        }
      }
      for await result in group {
        switch result {
        case .success(let fetched):
          sent = true
          do {
            try apply(fetched)
          } catch {
            failure = failure ?? error
          }
        case .failure(let error):
          if let clientError = error as? KafkaClientError, clientError.isRetriable {
            retriableFailure = true
          } else {
            failure = failure ?? error
          }
        }
      }
    }
    if let failure { throw failure }
    if retriableFailure { await client.invalidateMetadata() }
    return sent
  }

  struct FetchResult: Sendable {
    var requested: [TopicPartition: Int64]
    var partitions: [(TopicPartition, FetchResponse.PartitionData)]
  }

  /// One Fetch request to `node`; maps topic ids (Fetch v13+) back to names.
  static func fetch(
    _ partitions: [(TopicPartition, Int64)], from node: Int32, client: KafkaClient,
    configuration: Configuration, maxWait: Duration
  ) async throws -> FetchResult {
    let connection = try await client.connection(toNode: node)
    var version = try connection.version(for: .fetch)
    var topicIds: [String: KafkaUuid] = [:]
    for (partition, _) in partitions where topicIds[partition.topic] == nil {
      topicIds[partition.topic] = try await client.topicMetadata(partition.topic).topicId
    }
    if version >= 13, topicIds.values.contains(.zero) {
      // Without topic ids (old Metadata), fall back to the last version with names.
      guard connection.brokerApiVersions[.fetch]?.contains(12) ?? false else {
        throw KafkaClientError.unsupportedApi(api: .fetch, address: connection.address)
      }
      version = 12
    }
    var request = FetchRequest()
    request.replicaId = -1
    request.maxWaitMs = Int32(clamping: maxWait.milliseconds)
    request.minBytes = configuration.minBytes
    request.maxBytes = configuration.maxBytes
    request.isolationLevel = configuration.isolationLevel.rawValue
    request.sessionId = 0
    request.sessionEpoch = -1
    var topicOrder: [String] = []
    var byTopic: [String: [FetchRequest.FetchPartition]] = [:]
    for (partition, offset) in partitions {
      if byTopic[partition.topic] == nil { topicOrder.append(partition.topic) }
      byTopic[partition.topic, default: []].append(
        FetchRequest.FetchPartition(
          partition: partition.partition, fetchOffset: offset,
          partitionMaxBytes: configuration.maxPartitionBytes))
    }
    request.topics = topicOrder.map {
      FetchRequest.FetchTopic(
        topic: $0, topicId: topicIds[$0] ?? .zero, partitions: byTopic[$0] ?? [])
    }
    var names: [KafkaUuid: String] = [:]
    for (name, id) in topicIds { names[id] = name }
    let response = try await connection.send(
      request, version: version,
      timeout: client.configuration.connection.requestTimeout + maxWait)
    try KafkaClientError.check(response.errorCode, "fetch from node \(node)")
    var result = FetchResult(
      requested: Dictionary(partitions, uniquingKeysWith: { first, _ in first }), partitions: [])
    for topic in response.responses {
      let name = version >= 13 ? names[topic.topicId] : topic.topic
      guard let name else { continue }
      for partition in topic.partitions {
        result.partitions.append((TopicPartition(name, partition.partitionIndex), partition))
      }
    }
    return result
  }

  /// Buffers the records of a fetch answer and moves positions past what it held.
  private func apply(_ fetched: FetchResult) throws {
    var metadataStale = false
    for (partition, data) in fetched.partitions {
      // Ignore answers for partitions sought (or unassigned) while the fetch was out.
      guard let requested = fetched.requested[partition],
        positions[partition] == .at(requested)
      else { continue }
      let code = ErrorCode(rawValue: data.errorCode)
      switch code {
      case .none:
        if let records = data.records, records.readableBytes > 0 {
          let next = try decode(records, partition: partition, from: requested)
          positions[partition] = .at(next)
        }
      case .offsetOutOfRange:
        switch configuration.autoOffsetReset {
        case .earliest: positions[partition] = .pending(.beginning)
        case .latest: positions[partition] = .pending(.end)
        case .none:
          throw KafkaClientError.broker(
            code, context: "fetch \(partition) at offset \(requested)")
        }
      default:
        if code.isRetriable || code.invalidatesMetadata {
          metadataStale = true
        } else {
          throw KafkaClientError.broker(code, context: "fetch \(partition)")
        }
      }
    }
    if metadataStale {
      Task { await client.invalidateMetadata() }
    }
  }

  /// Appends the records at or after `offset` to the buffer; returns the next fetch offset.
  private func decode(
    _ records: ByteBuffer, partition: TopicPartition, from offset: Int64
  ) throws -> Int64 {
    var next = offset
    var batches = RecordBatchIterator(records, allowsPartialTrailingBatch: true)
    do throws(RecordBatchError) {
      while let batch = try batches.next() {
        let header = batch.header
        if header.nextOffset <= next { continue }
        if configuration.checkCRCs { try batch.verifyChecksum() }
        if header.attributes.isControl || header.recordCount == 0 {
          next = header.nextOffset
          continue
        }
        var iterator = try batch.decompressedRecords()
        while let record = try iterator.next() {
          let recordOffset = header.offset(of: record)
          guard recordOffset >= next else { continue }
          buffer.append(
            ConsumerRecord(
              topic: partition.topic, partition: partition.partition, offset: recordOffset,
              timestamp: header.timestamp(of: record),
              timestampType: header.attributes.timestampType, key: record.key,
              value: record.value, headers: record.headers,
              leaderEpoch: header.partitionLeaderEpoch))
        }
        next = header.nextOffset
      }
    } catch {
      throw KafkaClientError.malformedResponse("fetch of \(partition) at \(next): \(error)")
    }
    return next
  }
}
