import KafkaProtocol
import Logging
import NIOCore
import SkeinCoordinator
import SkeinStorage
import Synchronization

/// Runs one `GroupCoordinatorShard` on the `__consumer_offsets` partition this node leads: it
/// loads the shard by replaying the partition, then serializes requests and timer ticks on it,
/// appends the records each step returns and only then completes the step's answers.
final class CoordinatorShardRuntime: Sendable {
  enum Phase {
    case loading
    case active(GroupCoordinatorShard)
    case unloaded
  }

  private struct State {
    var phase: Phase = .loading
    var nextToken: UInt64 = 1
    var joins: [UInt64: EventLoopPromise<JoinGroupResponse>] = [:]
    var syncs: [UInt64: EventLoopPromise<SyncGroupResponse>] = [:]
  }

  let partition: Partition
  /// The leader epoch the shard was loaded in: a new epoch is a new load.
  let leaderEpoch: Int32
  private let state = Mutex(State())
  private let loadedConfig = Mutex<GroupCoordinatorConfig?>(nil)
  private let notifyAppend: @Sendable (TopicPartition) -> Void
  private let logger: Logger

  init(
    partition: Partition, notifyAppend: @escaping @Sendable (TopicPartition) -> Void,
    logger: Logger
  ) {
    self.partition = partition
    self.notifyAppend = notifyAppend
    self.leaderEpoch = partition.leaderEpoch
    self.logger = logger
  }

  var isActive: Bool {
    state.withLock { if case .active = $0.phase { true } else { false } }
  }

  /// Replays the partition to its log end into a fresh shard, then starts serving. A new leader's
  /// log is the partition's truth (followers truncate to it), and its high watermark may still
  /// lag the records the previous leader committed, so the whole log is read, as Kafka does.
  func load(config: GroupCoordinatorConfig, now: @Sendable () -> Int64) {
    loadedConfig.withLock { $0 = config }
    var shard = GroupCoordinatorShard(config: config)
    let log = partition.log
    var offset = log.logStartOffset
    let end = log.logEndOffset
    var count = 0
    do {
      while offset < end {
        let data = try log.read(offset: offset, maxBytes: 1 << 20, minOneBatch: true)
        if data.isEmpty { break }
        var batches = RecordBatchIterator(try data.readBytes())
        var progressed = false
        while let batch = try batches.next() {
          progressed = true
          offset = batch.header.nextOffset
          if batch.header.attributes.isControl { continue }
          var records = try batch.decompressedRecords()
          while let record = try records.next() {
            guard let key = record.key else { continue }
            do {
              if let decoded = try CoordinatorRecord.decode(key: key, value: record.value) {
                shard.replay(decoded)
                count += 1
              }
            } catch {
              logger.warning("skipping undecodable record in \(partition.topicPartition): \(error)")
            }
          }
        }
        if !progressed { break }
      }
    } catch {
      logger.error("loading \(partition.topicPartition) failed at offset \(offset): \(error)")
    }
    shard.onLoaded(now: now())
    let loaded = shard
    state.withLock { s in
      if case .loading = s.phase { s.phase = .active(loaded) }
    }
    logger.log(
      level: count > 0 ? .info : .debug,
      "group coordinator loaded \(partition.topicPartition): \(count) records, \(loaded.groups.count + loaded.consumerGroups.count) groups"
    )
  }

  /// Stops serving (leadership moved or the partition left): waiting requests get NOT_COORDINATOR.
  func unload() {
    state.withLock { $0.phase = .unloaded }
    failWaiters(.notCoordinator)
  }

  /// Runs one step on the shard. The records are appended before the step's answers complete.
  /// When the append fails the in-memory state is ahead of the log: the step fails and the shard
  /// reloads from the log, the only truth (requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS).
  func execute<R: Sendable>(
    join: EventLoopPromise<JoinGroupResponse>? = nil,
    sync: EventLoopPromise<SyncGroupResponse>? = nil,
    _ step: (inout GroupCoordinatorShard, UInt64) -> (CoordinatorOutput, R)
  ) -> Result<R, ErrorCode> {
    var joinReplies: [(EventLoopPromise<JoinGroupResponse>, JoinGroupResponse)] = []
    var syncReplies: [(EventLoopPromise<SyncGroupResponse>, SyncGroupResponse)] = []
    var reload = false
    let result: Result<R, ErrorCode> = state.withLock { s in
      guard case .active(var shard) = s.phase else {
        if case .loading = s.phase { return .failure(.coordinatorLoadInProgress) }
        return .failure(.notCoordinator)
      }
      let token = s.nextToken
      s.nextToken += 1
      // Release the stored shard so the step mutates it in place.
      s.phase = .loading
      let (output, value) = step(&shard, token)
      if !output.records.isEmpty {
        do {
          try append(output.records)
        } catch {
          logger.error("append to \(partition.topicPartition) failed, reloading: \(error)")
          reload = true
          return .failure(.notCoordinator)
        }
      }
      s.phase = .active(shard)
      if let join { s.joins[token] = join }
      if let sync { s.syncs[token] = sync }
      for reply in output.joinReplies {
        if let promise = s.joins.removeValue(forKey: reply.token) {
          joinReplies.append((promise, reply.response))
        }
      }
      for reply in output.syncReplies {
        if let promise = s.syncs.removeValue(forKey: reply.token) {
          syncReplies.append((promise, reply.response))
        }
      }
      return .success(value)
    }
    for (promise, response) in joinReplies { promise.succeed(response) }
    for (promise, response) in syncReplies { promise.succeed(response) }
    if reload, let config = loadedConfig.withLock({ $0 }) {
      failWaiters(.notCoordinator)
      Task.detached { self.load(config: config, now: { currentTimeMillis() }) }
    }
    return result
  }

  /// Answers every waiting JoinGroup / SyncGroup with `code` (their members rejoin).
  private func failWaiters(_ code: ErrorCode) {
    let (joins, syncs) = state.withLock { s in
      defer {
        s.joins = [:]
        s.syncs = [:]
      }
      return (s.joins, s.syncs)
    }
    let joinError = JoinGroupResponse(
      errorCode: code.rawValue, protocolName: nil, leader: "", memberId: "")
    for promise in joins.values { promise.succeed(joinError) }
    for promise in syncs.values { promise.succeed(SyncGroupResponse(errorCode: code.rawValue)) }
  }

  /// Reads the shard without changing it.
  func read<R>(_ body: (GroupCoordinatorShard) -> R) -> Result<R, ErrorCode> {
    state.withLock { s in
      switch s.phase {
      case .active(let shard): .success(body(shard))
      case .loading: .failure(.coordinatorLoadInProgress)
      case .unloaded: .failure(.notCoordinator)
      }
    }
  }

  /// One batch with every record, appended as leader; replication moves the high watermark.
  private func append(_ records: [CoordinatorRecord]) throws {
    let now = currentTimeMillis()
    var builder = RecordBatchBuilder()
    for record in records {
      builder.append(key: record.encodeKey(), value: record.encodeValue(), timestamp: now)
    }
    var batch = builder.build()
    let epoch = leaderEpoch
    guard partition.isLeader, partition.leaderEpoch == epoch else {
      throw CoordinatorAppendError.notLeader
    }
    try partition.log.appendAsLeader(origin: .coordinator, nowMs: now) { logEndOffset in
      _ = try RecordBatchValidator.assignOffsets(
        in: &batch, firstOffset: logEndOffset, partitionLeaderEpoch: epoch)
      return batch
    }
    notifyAppend(partition.topicPartition)
  }
}

/// A coordinator write refused because this broker no longer leads the shard's partition.
enum CoordinatorAppendError: Error {
  case notLeader
}
