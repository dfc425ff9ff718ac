import KafkaProtocol
import Logging
import NIOCore
import SkeinClient
import SkeinStorage
import Synchronization

/// One replica fetcher thread of Kafka's (`ReplicaFetcherThread`): fetches, for the partitions
/// this broker follows on one leader, from each log's end with the Fetch API as a replica
/// (replica id and broker epoch), appends what comes as the leader wrote it, takes the
/// leader's high watermark, and truncates on a diverging epoch so that no record the leader
/// lacks stays here.
final class ReplicaFetcher: Sendable {
  let leaderId: Int32
  private let localId: Int32
  private let settings: ReplicationSettings
  private let address: @Sendable () -> (host: String, port: Int)?
  private let brokerEpoch: @Sendable () -> Int64
  /// Called after each append with the partitions that got records (consumers reading
  /// from this follower, and its group coordinator, are waiting).
  private let onAppend: @Sendable (_ partition: TopicPartition, _ bytes: Int) -> Void
  private let logger: Logger
  private let partitions = Mutex<[TopicPartition: Partition]>([:])
  /// Partitions whose leader answered with an error: not fetched until this time.
  private let delayedUntil = Mutex<[TopicPartition: ContinuousClock.Instant]>([:])
  private let task = Mutex<Task<Void, Never>?>(nil)
  /// The open connection to the leader, closed by `stop()` so an in-flight fetch ends now.
  private let connection = Mutex<KafkaConnection?>(nil)
  /// The last error each partition's fetches got, so a change is logged once.
  private let lastErrors = Mutex<[TopicPartition: Int16]>([:])
  private let eventLoopGroup: any EventLoopGroup

  init(
    leaderId: Int32, localId: Int32, settings: ReplicationSettings,
    address: @escaping @Sendable () -> (host: String, port: Int)?,
    brokerEpoch: @escaping @Sendable () -> Int64,
    onAppend: @escaping @Sendable (_ partition: TopicPartition, _ bytes: Int) -> Void,
    eventLoopGroup: any EventLoopGroup, logger: Logger
  ) {
    self.leaderId = leaderId
    self.localId = localId
    self.settings = settings
    self.address = address
    self.brokerEpoch = brokerEpoch
    self.onAppend = onAppend
    self.eventLoopGroup = eventLoopGroup
    self.logger = logger
  }

  var isEmpty: Bool { partitions.withLock { $0.isEmpty } }

  func add(_ partition: Partition) {
    partitions.withLock { $0[partition.topicPartition] = partition }
    delayedUntil.withLock { $0[partition.topicPartition] = nil }
  }

  func remove(_ tp: TopicPartition) {
    partitions.withLock { $0[tp] = nil }
  }

  func start() {
    let loop = Task { [self] in await run() }
    task.withLock { $0 = loop }
  }

  func stop() {
    task.withLock { $0 }?.cancel()
    if let open = connection.withLock({ $0 }) { Task { await open.close() } }
  }

  /// Stops and returns once the fetch loop has ended and opens no more connections (before
  /// the event loops it connects on shut down).
  func stopAndWait() async {
    stop()
    await task.withLock { $0 }?.value
  }

  private func run() async {
    var connection: KafkaConnection?
    defer {
      self.connection.withLock { $0 = nil }
      if let connection { Task { await connection.close() } }
    }
    while !Task.isCancelled {
      let now = ContinuousClock.now
      let due = partitions.withLock { $0 }.filter { tp, _ in
        delayedUntil.withLock { $0[tp].map { $0 <= now } ?? true }
      }
      if due.isEmpty {
        try? await Task.sleep(for: .milliseconds(50))
        continue
      }
      if connection == nil || connection?.isActive == false {
        guard let target = address() else {
          try? await Task.sleep(for: .milliseconds(settings.fetchBackoffMs))
          continue
        }
        do {
          var configuration = ConnectionConfiguration()
          configuration.clientId = "broker-\(localId)-fetcher-\(leaderId)"
          configuration.connectTimeout = .seconds(3)
          configuration.maxResponseSize = Int(settings.fetchResponseMaxBytes) + (1 << 20)
          let opened = try await KafkaConnection.connect(
            host: target.host, port: target.port, configuration: configuration,
            eventLoopGroup: eventLoopGroup)
          connection = opened
          self.connection.withLock { $0 = opened }
          if Task.isCancelled { break }
        } catch {
          logger.debug("replica fetcher cannot reach leader \(leaderId): \(error)")
          try? await Task.sleep(for: .milliseconds(settings.fetchBackoffMs))
          continue
        }
      }
      guard let open = connection else { continue }
      do {
        try await fetchOnce(open, due)
      } catch {
        logger.debug("replica fetch from \(leaderId) failed: \(error)")
        await open.close()
        connection = nil
        try? await Task.sleep(for: .milliseconds(min(settings.fetchBackoffMs, 500)))
      }
    }
  }

  private func fetchOnce(_ connection: KafkaConnection, _ due: [TopicPartition: Partition])
    async throws
  {
    var byTopic: [KafkaUuid: [Partition]] = [:]
    for partition in due.values { byTopic[partition.topicId, default: []].append(partition) }
    // The leader epoch each partition is fetched in: its answer is applied only if this broker
    // still follows the same leader in the same epoch when it arrives.
    let epochs = due.mapValues(\.leaderEpoch)
    let version = min(try connection.version(for: .fetch), 17)
    let request = FetchRequest(
      replicaId: localId, replicaState: .init(replicaId: localId, replicaEpoch: brokerEpoch()),
      maxWaitMs: settings.fetchWaitMaxMs, minBytes: settings.fetchMinBytes,
      maxBytes: settings.fetchResponseMaxBytes, isolationLevel: 0,
      topics: byTopic.map { topicId, partitions in
        .init(
          topic: partitions[0].topicPartition.topic, topicId: topicId,
          partitions: partitions.map { p in
            .init(
              partition: p.topicPartition.partition,
              currentLeaderEpoch: epochs[p.topicPartition] ?? p.leaderEpoch,
              fetchOffset: p.log.logEndOffset, lastFetchedEpoch: p.log.latestLeaderEpoch ?? -1,
              logStartOffset: p.log.logStartOffset, partitionMaxBytes: settings.fetchMaxBytes)
          })
      })
    let response = try await connection.send(
      request, version: version, timeout: .milliseconds(Int64(settings.fetchWaitMaxMs) + 30_000))
    if response.errorCode != 0 {
      logger.warning("fetch from leader \(leaderId): error \(response.errorCode)")
      delayAll(due.keys)
      return
    }
    for topic in response.responses {
      for data in topic.partitions {
        let match = due.values.first {
          $0.topicPartition.partition == data.partitionIndex
            && (version >= 13
              ? $0.topicId == topic.topicId : $0.topicPartition.topic == topic.topic)
        }
        guard let partition = match else { continue }
        await handle(
          data, for: partition, fetchedIn: epochs[partition.topicPartition] ?? -1,
          connection: connection)
      }
    }
  }

  private func handle(
    _ data: FetchResponse.PartitionData, for partition: Partition, fetchedIn epoch: Int32,
    connection: KafkaConnection
  ) async {
    let tp = partition.topicPartition
    let log = partition.log
    let previous = lastErrors.withLock { errors -> Int16? in
      defer { errors[tp] = data.errorCode == 0 ? nil : data.errorCode }
      return errors[tp]
    }
    if data.errorCode != 0 && previous != data.errorCode {
      logger.info("fetching \(tp) from leader \(leaderId): error \(data.errorCode)")
    }
    switch ErrorCode(rawValue: data.errorCode) {
    case .none:
      do {
        let appended = try partition.whileFollowing(leaderId: leaderId, leaderEpoch: epoch) {
          () throws -> Int in
          if data.divergingEpoch.epoch >= 0 || data.divergingEpoch.endOffset >= 0 {
            try truncate(partition, toDiverging: data.divergingEpoch)
            return 0
          }
          var appended = 0
          if let records = data.records, records.readableBytes > 0 {
            _ = try log.appendAsFollower(records, nowMs: currentTimeMillis())
            appended = records.readableBytes
          }
          _ = log.setHighWatermarkFromLeader(min(data.highWatermark, log.logEndOffset))
          partition.setFetcherLag(data.highWatermark - log.logEndOffset)
          if data.logStartOffset > log.logStartOffset {
            _ = try log.deleteRecordsBefore(min(data.logStartOffset, log.highWatermark))
          }
          return appended
        }
        switch appended {
        case nil:
          logger.debug("\(tp): dropped an answer of leader \(leaderId) in stale epoch \(epoch)")
        case 0?: break
        case let bytes?: onAppend(tp, bytes)
        }
      } catch {
        logger.error("follower append to \(tp) at \(log.logEndOffset) failed: \(error)")
        delay(tp)
      }
    case .offsetOutOfRange:
      await resetOutOfRange(partition, fetchedIn: epoch, connection: connection)
    default:
      // NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH, unknown topic:
      // this broker's metadata is behind or ahead of the leader's; wait for the next image.
      logger.debug("fetch of \(tp) from \(leaderId): error \(data.errorCode)")
      delay(tp)
    }
  }

  /// The leader says our log diverged after `diverging.endOffset` in `diverging.epoch`:
  /// truncate to where both logs agree (Kafka's truncateOnFetchResponse).
  private func truncate(_ partition: Partition, toDiverging diverging: FetchResponse.EpochEndOffset)
    throws
  {
    let log = partition.log
    let ours = log.endOffset(forLeaderEpoch: diverging.epoch)
    var target: Int64
    if ours.epoch < 0 {
      target = log.highWatermark
    } else if ours.epoch == diverging.epoch {
      target = min(diverging.endOffset, ours.endOffset)
    } else {
      target = ours.endOffset
    }
    target = min(target, log.logEndOffset)
    logger.info(
      "truncating \(partition.topicPartition) to \(target) (leader \(leaderId) diverges at epoch \(diverging.epoch), offset \(diverging.endOffset))"
    )
    _ = try log.truncateTo(target)
  }

  /// Our fetch offset is outside the leader's log: after an unclean election the leader may
  /// be behind us (truncate to its end), or retention moved its start past us (start again
  /// from its start).
  private func resetOutOfRange(
    _ partition: Partition, fetchedIn epoch: Int32, connection: KafkaConnection
  ) async {
    let tp = partition.topicPartition
    do {
      func leaderOffset(_ timestamp: Int64) async throws -> Int64 {
        let response = try await connection.send(
          ListOffsetsRequest(
            replicaId: localId, isolationLevel: 0,
            topics: [
              .init(
                name: tp.topic,
                partitions: [
                  .init(
                    partitionIndex: tp.partition, currentLeaderEpoch: partition.leaderEpoch,
                    timestamp: timestamp)
                ])
            ]))
        guard let p = response.topics.first?.partitions.first, p.errorCode == 0 else {
          throw ControllerChannelError.closed("ListOffsets of \(tp) refused")
        }
        return p.offset
      }
      let leaderEnd = try await leaderOffset(-1)
      let leaderStart = try await leaderOffset(-2)
      let log = partition.log
      try partition.whileFollowing(leaderId: leaderId, leaderEpoch: epoch) {
        if leaderEnd < log.logEndOffset {
          logger.warning("\(tp): leader \(leaderId) ends at \(leaderEnd), below us; truncating")
          _ = try log.truncateTo(leaderEnd)
        } else {
          logger.warning("\(tp): our log is below leader \(leaderId)'s start \(leaderStart)")
          try log.truncateFullyAndStartAt(leaderStart)
        }
      }
    } catch {
      logger.warning("cannot reset \(tp) out of range: \(error)")
      delay(tp)
    }
  }

  private func delay(_ tp: TopicPartition) {
    let until = ContinuousClock.now + .milliseconds(settings.fetchBackoffMs)
    delayedUntil.withLock { $0[tp] = until }
  }

  private func delayAll(_ tps: some Sequence<TopicPartition>) {
    for tp in tps { delay(tp) }
  }
}
