import KafkaProtocol
import NIOCore
import SkeinCluster
import SkeinStorage

// Fetch: read whole batches below the high watermark within the response and partition
// byte limits (KIP-74: the first batch always, so consumers progress), and long-poll until
// min_bytes arrive or max_wait passes. Fetch sessions (KIP-227) are declined: every response
// carries session id 0, so clients keep sending full fetches, which are answered in full.

/// A fetch response whose records are still in the segment files: `slices[i]` replaces the
/// records marker `ZeroCopyFetchEncoder.marker(i)` when the response is written.
struct FileBackedFetchResponse: Sendable {
  var response: FetchResponse
  var slices: [FetchDataInfo] = []
}

extension BrokerHandlers {
  func fetch(_ request: FetchRequest, _ context: RequestContext) -> Reply<FileBackedFetchResponse> {
    if request.sessionId != 0 {
      return .now(
        FileBackedFetchResponse(
          response: FetchResponse(
            errorCode: ErrorCode.fetchSessionIdNotFound.rawValue, sessionId: 0)))
    }
    if request.sessionEpoch > 0 {
      return .now(
        FileBackedFetchResponse(
          response: FetchResponse(
            errorCode: ErrorCode.invalidFetchSessionEpoch.rawValue, sessionId: 0)))
    }
    let first = readForFetch(request, version: context.apiVersion, recordProgress: true)
    let wanted = Set(first.partitions)
    if request.maxWaitMs <= 0 || first.bytes >= Int(request.minBytes) || first.hasError
      || wanted.isEmpty
    {
      recordBytesOut(first.result, request: request, version: context.apiVersion)
      return .now(first.result)
    }
    let promise = context.eventLoop.makePromise(of: FileBackedFetchResponse.self)
    let delayed = DelayedFetch(
      handlers: self, request: request, version: context.apiVersion, partitions: wanted,
      eventLoop: context.eventLoop, promise: promise)
    context.eventLoop.execute { delayed.start(maxWaitMs: Int64(request.maxWaitMs)) }
    return .later(promise.futureResult)
  }

  /// Counts an answer's record bytes per topic (BytesOut, or ReplicationBytesOut for a
  /// follower). Slices follow the response's partitions with records, in order.
  func recordBytesOut(_ result: FileBackedFetchResponse, request: FetchRequest, version: Int16) {
    guard !result.slices.isEmpty else { return }
    let replicaId = version >= 15 ? request.replicaState.replicaId : request.replicaId
    var image: MetadataImage?  // read only when a topic is named by id (Fetch v13+)
    var next = 0
    for topic in result.response.responses {
      var bytes = 0
      for p in topic.partitions where (p.records?.readableBytes ?? 0) > 0 {
        guard next < result.slices.count else { return }
        bytes += result.slices[next].length
        next += 1
      }
      guard bytes > 0 else { continue }
      var name = topic.topic
      if name.isEmpty {
        if image == nil { image = metadata.image }
        name = image?.topicNamesById[topic.topicId] ?? ""
      }
      replicaManager.metrics.fetched(topic: name, bytes: Int64(bytes), byFollower: replicaId >= 0)
    }
  }

  struct FetchRead {
    var result: FileBackedFetchResponse
    var bytes: Int
    var hasError: Bool
    var partitions: [TopicPartition]
  }

  /// Reads what the fetch asks for. A follower's fetch (replica id set) reads to the log end
  /// and, with `recordProgress`, reports the follower's position to the partition's leader
  /// state; a consumer's reads below the high watermark, from the leader or (Fetch v11+,
  /// KIP-392) from a follower.
  func readForFetch(_ request: FetchRequest, version: Int16, recordProgress: Bool = false)
    -> FetchRead
  {
    let image = metadata.image
    let replicaId = version >= 15 ? request.replicaState.replicaId : request.replicaId
    let replicaEpoch = version >= 15 ? request.replicaState.replicaEpoch : -1
    let fromFollower = replicaId >= 0
    let usesTopicIds = version >= 13
    var remaining = Int(request.maxBytes)
    var total = 0
    var hasError = false
    var touched: [TopicPartition] = []
    var slices: [FetchDataInfo] = []
    var topics: [FetchResponse.FetchableTopicResponse] = []
    topics.reserveCapacity(request.topics.count)
    for topic in request.topics {
      let name = usesTopicIds ? image.topicNamesById[topic.topicId] : topic.topic
      var partitions: [FetchResponse.PartitionData] = []
      partitions.reserveCapacity(topic.partitions.count)
      for p in topic.partitions {
        var data = FetchResponse.PartitionData(
          partitionIndex: p.partition, abortedTransactions: request.isolationLevel == 0 ? nil : [],
          preferredReadReplica: -1, records: ByteBuffer())
        guard let name else {
          data.errorCode = ErrorCode.unknownTopicId.rawValue
          hasError = true
          partitions.append(data)
          continue
        }
        let tp = TopicPartition(name, p.partition)
        guard let partition = replicaManager.partition(tp),
          !usesTopicIds || partition.topicId == topic.topicId
        else {
          data.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
          hasError = true
          partitions.append(data)
          continue
        }
        touched.append(tp)
        let role = partition.role
        let servable =
          role == .leader
          || (!fromFollower && version >= 11 && role != .offline)
        guard servable else {
          data.errorCode = ErrorCode.notLeaderOrFollower.rawValue
          hasError = true
          partitions.append(data)
          continue
        }
        if p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch != partition.leaderEpoch {
          data.errorCode =
            (p.currentLeaderEpoch < partition.leaderEpoch
            ? ErrorCode.fencedLeaderEpoch : ErrorCode.unknownLeaderEpoch).rawValue
          hasError = true
          partitions.append(data)
          continue
        }
        let log = partition.log
        if fromFollower && p.lastFetchedEpoch >= 0 {
          // Truncation on fetch (KIP-595 / Kafka 2.7+): a follower whose last epoch ends
          // earlier here, or that we do not have, is told where the logs diverge.
          var ours = log.endOffset(forLeaderEpoch: p.lastFetchedEpoch)
          if ours.epoch < 0, let first = log.leaderEpochEntries.first {
            // An epoch older than all of ours (say the follower led an empty epoch this
            // restarted leader never saw) ends where our first one starts, as in Kafka's
            // endOffsetFor; undefined would read as "no divergence" and the follower
            // would never move on.
            ours = (p.lastFetchedEpoch, first.startOffset)
          }
          if ours.epoch < p.lastFetchedEpoch || ours.endOffset < p.fetchOffset {
            data.divergingEpoch = .init(epoch: ours.epoch, endOffset: ours.endOffset)
            data.highWatermark = partition.highWatermark
            data.logStartOffset = log.logStartOffset
            partitions.append(data)
            hasError = true
            continue
          }
        }
        if fromFollower && recordProgress {
          if p.fetchOffset > log.logEndOffset || p.fetchOffset < log.logStartOffset {
            data.errorCode = ErrorCode.offsetOutOfRange.rawValue
            hasError = true
            partitions.append(data)
            continue
          }
          replicaManager.recordFollowerFetch(
            partition, replica: replicaId, fetchOffset: p.fetchOffset, brokerEpoch: replicaEpoch)
        }
        let highWatermark = partition.highWatermark
        data.highWatermark = highWatermark
        data.lastStableOffset = highWatermark
        data.logStartOffset = log.logStartOffset
        if !fromFollower && role == .leader && version >= 11,
          let preferred = replicaManager.preferredReadReplica(
            partition, clientRack: request.rackId, fetchOffset: p.fetchOffset, image: image)
        {
          // KIP-392: the consumer is sent to an in-sync replica in its rack, without records.
          data.preferredReadReplica = preferred
          partitions.append(data)
          hasError = true
          continue
        }
        let limit = min(Int(p.partitionMaxBytes), remaining)
        if limit > 0 || total == 0 {
          do throws(StorageError) {
            let read = try log.read(
              offset: p.fetchOffset, maxBytes: max(limit, 0),
              maxOffset: fromFollower ? nil : highWatermark, minOneBatch: total == 0)
            if !read.isEmpty {
              total += read.length
              remaining -= read.length
              data.records = ZeroCopyFetchEncoder.marker(slices.count)
              slices.append(read)
            }
          } catch {
            data.errorCode = error.errorCode.rawValue
            hasError = true
          }
        }
        partitions.append(data)
      }
      topics.append(
        .init(
          topic: usesTopicIds ? "" : topic.topic, topicId: topic.topicId, partitions: partitions))
    }
    return FetchRead(
      result: FileBackedFetchResponse(
        response: FetchResponse(errorCode: 0, sessionId: 0, responses: topics), slices: slices),
      bytes: total, hasError: hasError, partitions: touched)
  }
}

/// A fetch waiting for `min_bytes`: woken by appends to its partitions, answered with what
/// there is when `max_wait_ms` runs out, whatever happens to the partitions meanwhile.
// Safe as @unchecked Sendable: every mutable field is touched only on `eventLoop`
// (wakeups and the timeout hop there first).
final class DelayedFetch: @unchecked Sendable {
  private let handlers: BrokerHandlers
  private let request: FetchRequest
  private let version: Int16
  private let partitions: Set<TopicPartition>
  private let eventLoop: any EventLoop
  private let promise: EventLoopPromise<FileBackedFetchResponse>
  private var waiterId: UInt64?
  private var timeout: Scheduled<Void>?
  private var done = false

  init(
    handlers: BrokerHandlers, request: FetchRequest, version: Int16,
    partitions: Set<TopicPartition>, eventLoop: any EventLoop,
    promise: EventLoopPromise<FileBackedFetchResponse>
  ) {
    self.handlers = handlers
    self.request = request
    self.version = version
    self.partitions = partitions
    self.eventLoop = eventLoop
    self.promise = promise
  }

  func start(maxWaitMs: Int64) {
    eventLoop.preconditionInEventLoop()
    timeout = eventLoop.scheduleTask(in: .milliseconds(maxWaitMs)) { [self] in finish() }
    check()
  }

  /// Registers for wakeups, then reads: an append between the two still wakes us.
  private func check() {
    guard !done else { return }
    waiterId = handlers.replicaManager.fetchWaiters.register(partitions: partitions) {
      [self] in eventLoop.execute { self.check() }
    }
    let read = handlers.readForFetch(request, version: version)
    if read.bytes >= Int(request.minBytes) || read.hasError {
      complete(read.result)
    }
  }

  private func finish() {
    guard !done else { return }
    complete(handlers.readForFetch(request, version: version).result)
  }

  private func complete(_ response: FileBackedFetchResponse) {
    done = true
    if let waiterId { handlers.replicaManager.fetchWaiters.cancel(waiterId) }
    timeout?.cancel()
    handlers.recordBytesOut(response, request: request, version: version)
    promise.succeed(response)
  }
}
