import Dispatch
import KafkaProtocol
import Logging
import NIOCore
import SkeinCoordinator
import SkeinStorage
import Synchronization

/// Runs one `GroupCoordinatorShard` on the `__consumer_offsets` partition this node leads: it
/// loads the shard by replaying the partition, then serializes requests and timer ticks on it,
/// appends the records each step returns and completes the step's answers only once those
/// records are committed (the partition's high watermark passed them), as Kafka's coordinator
/// writes with acks=all. A step that wrote nothing still waits for the shard's earlier writes,
/// since its answer may rest on them (Kafka's CoordinatorRuntime does the same).
final class CoordinatorShardRuntime: Sendable {
  enum Phase {
    case loading
    case active(GroupCoordinatorShard)
    case unloaded
  }

  /// Answers held until the high watermark reaches `offset`.
  private struct PendingCommit {
    var offset: Int64
    var deadlineMs: Int64
    /// What a timeout answers: COORDINATOR_NOT_AVAILABLE for writes, NOT_COORDINATOR for
    /// offset reads (Kafka's mappings; consumers before 3.9 retry only the latter there).
    var timeoutCode: ErrorCode
    /// The step's own JoinGroup / SyncGroup promise, failed with the step.
    var token: UInt64
    var joinReplies: [(EventLoopPromise<JoinGroupResponse>, JoinGroupResponse)] = []
    var syncReplies: [(EventLoopPromise<SyncGroupResponse>, SyncGroupResponse)] = []
    /// Completes the caller's answer: `.none` once committed, else the error it gets.
    var complete: (@Sendable (ErrorCode) -> Void)?
  }

  private struct State {
    var phase: Phase = .loading
    var nextToken: UInt64 = 1
    var joins: [UInt64: EventLoopPromise<JoinGroupResponse>] = [:]
    var syncs: [UInt64: EventLoopPromise<SyncGroupResponse>] = [:]
    /// The log end offset after the shard's last append (or its load): answers given from the
    /// shard's state are true once the high watermark reaches it.
    var lastWrittenOffset: Int64 = 0
    /// In offset order (offsets never decrease).
    var pending: [PendingCommit] = []
    /// Whether a wakeup for the next high watermark move is registered, and which.
    var wakeupRegistered = false
    var wakeupGeneration: UInt64 = 0
  }

  let partition: Partition
  /// The leader epoch the shard was loaded in: a new epoch is a new load.
  let leaderEpoch: Int32
  private let state = Mutex(State())
  private let loadedConfig = Mutex<GroupCoordinatorConfig?>(nil)
  private let notifyAppend: @Sendable (TopicPartition) -> Void
  /// Woken whenever the partition's high watermark moves (the replica manager's
  /// `produceWaiters`) or its leadership changes.
  private let commitWaiters: FetchWaitList
  /// `offsets.commit.timeout.ms`: how long an answer waits for its records to be committed.
  let writeTimeoutMs: Int64
  private let logger: Logger

  init(
    partition: Partition, commitWaiters: FetchWaitList, writeTimeoutMs: Int64 = 5000,
    notifyAppend: @escaping @Sendable (TopicPartition) -> Void, logger: Logger
  ) {
    self.partition = partition
    self.commitWaiters = commitWaiters
    self.writeTimeoutMs = writeTimeoutMs
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
      guard case .loading = s.phase else { return }
      s.phase = .active(loaded)
      // What was loaded may not be committed yet (a new leader's log can be ahead of its high
      // watermark): answers wait for it like for the shard's own writes.
      s.lastWrittenOffset = max(s.lastWrittenOffset, end)
    }
    logger.log(
      level: count > 0 ? .info : .debug,
      "group coordinator loaded \(partition.topicPartition): \(count) records, \(loaded.groups.count + loaded.consumerGroups.count) groups"
    )
  }

  /// Stops serving (leadership moved or the partition left): waiting requests get NOT_COORDINATOR.
  func unload() {
    let pending = state.withLock { s in
      s.phase = .unloaded
      defer { s.pending = [] }
      return s.pending
    }
    for commit in pending { finish(commit, .notCoordinator) }
    failWaiters(.notCoordinator)
  }

  /// Runs one step on the shard and answers once its records — and, unless
  /// `waitForEarlierWrites` is false, the shard's earlier ones — are committed. A JoinGroup or
  /// SyncGroup passes its promise, which the state machine completes now or later; a failed
  /// step completes it with the error.
  /// When the append fails the in-memory state is ahead of the log: the step fails and the shard
  /// reloads from the log, the only truth (requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS).
  func execute<R: Sendable>(
    on eventLoop: any EventLoop,
    join: EventLoopPromise<JoinGroupResponse>? = nil,
    sync: EventLoopPromise<SyncGroupResponse>? = nil,
    waitForEarlierWrites: Bool = true,
    _ step: (inout GroupCoordinatorShard, UInt64) -> (CoordinatorOutput, R)
  ) -> CoordinatorReply<R> {
    run(
      on: eventLoop, join: join, sync: sync, waitForEarlierWrites: waitForEarlierWrites,
      timeoutCode: .coordinatorNotAvailable, step)
  }

  /// Runs a step nobody waits for (timers, deleted topics); the answers it completes still
  /// wait for its records.
  func execute(_ step: (inout GroupCoordinatorShard) -> CoordinatorOutput) {
    _ = run(
      on: nil, join: nil, sync: nil, waitForEarlierWrites: true,
      timeoutCode: .coordinatorNotAvailable
    ) { s, _ in (step(&s), ()) }
  }

  /// Reads the shard and answers once every write the answer may reflect is committed, so a
  /// reader never sees what a coordinator fail-over could lose.
  func readCommitted<R: Sendable>(
    on eventLoop: any EventLoop, _ body: (GroupCoordinatorShard) -> R
  ) -> CoordinatorReply<R> {
    run(
      on: eventLoop, join: nil, sync: nil, waitForEarlierWrites: true, timeoutCode: .notCoordinator
    ) { s, _ in (CoordinatorOutput(), body(s)) }
  }

  private func run<R: Sendable>(
    on eventLoop: (any EventLoop)?,
    join: EventLoopPromise<JoinGroupResponse>?,
    sync: EventLoopPromise<SyncGroupResponse>?,
    waitForEarlierWrites: Bool, timeoutCode: ErrorCode,
    _ step: (inout GroupCoordinatorShard, UInt64) -> (CoordinatorOutput, R)
  ) -> CoordinatorReply<R> {
    var commit = PendingCommit(
      offset: 0, deadlineMs: currentTimeMillis() + writeTimeoutMs,
      timeoutCode: timeoutCode, token: 0)
    var appended = false
    var reload = false
    let stepped: Result<R, ErrorCode> = state.withLock { s in
      guard case .active(var shard) = s.phase else {
        if case .loading = s.phase { return .failure(.coordinatorLoadInProgress) }
        return .failure(.notCoordinator)
      }
      let token = s.nextToken
      s.nextToken += 1
      commit.token = token
      // Kafka's coordinator appends with acks=all: below min.insync.replicas a step that writes
      // fails before its append. The step then runs on a copy, kept only if it wrote nothing.
      let underMinIsr = partition.isr.count < partition.effectiveMinIsr
      let before = underMinIsr ? shard : nil
      // Release the stored shard so the step mutates it in place.
      s.phase = .loading
      let (output, value) = step(&shard, token)
      if !output.records.isEmpty {
        if let before {
          s.phase = .active(before)
          return .failure(.coordinatorNotAvailable)
        }
        do {
          s.lastWrittenOffset = try append(output.records)
          appended = true
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
          commit.joinReplies.append((promise, reply.response))
        }
      }
      for reply in output.syncReplies {
        if let promise = s.syncs.removeValue(forKey: reply.token) {
          commit.syncReplies.append((promise, reply.response))
        }
      }
      commit.offset = appended || waitForEarlierWrites ? s.lastWrittenOffset : 0
      return .success(value)
    }
    if reload, let config = loadedConfig.withLock({ $0 }) {
      failWaiters(.notCoordinator)
      DispatchQueue.global(qos: .utility).async {
        self.load(config: config, now: { currentTimeMillis() })
      }
    }
    guard case .success(let value) = stepped else {
      // Failed before the promises were registered.
      if case .failure(let code) = stepped {
        join?.succeed(Self.joinError(code))
        sync?.succeed(SyncGroupResponse(errorCode: code.rawValue))
      }
      return .now(stepped)
    }
    // The high watermark moves here when the ISR is this node alone: then nothing waits.
    if appended { notifyAppend(partition.topicPartition) }
    let waiting: EventLoopFuture<Result<R, ErrorCode>>?? = state.withLock { s in
      if partition.highWatermark >= commit.offset { return .some(nil) }
      // A reload (after another step's failed append) keeps what is in the log: wait on.
      if case .unloaded = s.phase { return nil }
      guard isLeading else { return nil }
      let promise = eventLoop?.makePromise(of: Result<R, ErrorCode>.self)
      if let promise {
        commit.complete = { code in
          promise.succeed(code == .none ? .success(value) : .failure(code))
        }
      }
      s.pending.append(commit)
      return .some(promise?.futureResult)
    }
    switch waiting {
    case .some(nil):
      finish(commit, .none)
      completeCommitted()
      return .now(.success(value))
    case .none:
      finish(commit, .notCoordinator)
      return .now(.failure(.notCoordinator))
    case .some(.some(let future)):
      completeCommitted()
      return .later(future)
    }
  }

  /// The partition is still led here in the epoch the shard was loaded in.
  private var isLeading: Bool {
    partition.isLeader && partition.leaderEpoch == leaderEpoch
  }

  /// Completes the answers whose records the high watermark passed; fails them all when the
  /// partition is no longer led here. Registers for the next high watermark move (before
  /// checking, so a move in between still wakes us) while any wait.
  private func completeCommitted() {
    let (done, failed) = state.withLock { s -> ([PendingCommit], [PendingCommit]) in
      guard !s.pending.isEmpty else { return ([], []) }
      if !s.wakeupRegistered {
        s.wakeupRegistered = true
        s.wakeupGeneration += 1
        let generation = s.wakeupGeneration
        _ = commitWaiters.register(partitions: [partition.topicPartition]) { [weak self] in
          self?.woken(generation)
        }
      }
      let highWatermark = partition.highWatermark
      let committed = s.pending.prefix { $0.offset <= highWatermark }.count
      let done = Array(s.pending.prefix(committed))
      s.pending.removeFirst(committed)
      guard !isLeading, !s.pending.isEmpty else { return (done, []) }
      defer { s.pending = [] }
      return (done, s.pending)
    }
    for commit in done { finish(commit, .none) }
    for commit in failed { finish(commit, .notCoordinator) }
  }

  private func woken(_ generation: UInt64) {
    state.withLock { s in
      if s.wakeupGeneration == generation { s.wakeupRegistered = false }
    }
    completeCommitted()
  }

  /// Fails the answers still waiting at their deadline (`offsets.commit.timeout.ms`) as Kafka 4
  /// maps a timed-out coordinator operation; the records stay in the log.
  func expireWrites(nowMs: Int64) {
    let expired = state.withLock { s -> [PendingCommit] in
      let expired = s.pending.filter { $0.deadlineMs <= nowMs }
      if !expired.isEmpty { s.pending.removeAll { $0.deadlineMs <= nowMs } }
      return expired
    }
    for commit in expired { finish(commit, commit.timeoutCode) }
  }

  /// Sends a step's answers: as the state machine gave them once committed, else `code`.
  private func finish(_ commit: PendingCommit, _ code: ErrorCode) {
    if code == .none {
      for (promise, response) in commit.joinReplies { promise.succeed(response) }
      for (promise, response) in commit.syncReplies { promise.succeed(response) }
    } else {
      let (join, sync) = state.withLock { s in
        (s.joins.removeValue(forKey: commit.token), s.syncs.removeValue(forKey: commit.token))
      }
      for (promise, response) in commit.joinReplies {
        promise.succeed(Self.joinError(code, memberId: response.memberId))
      }
      join?.succeed(Self.joinError(code))
      for promise in commit.syncReplies.map(\.0) + [sync].compactMap({ $0 }) {
        promise.succeed(SyncGroupResponse(errorCode: code.rawValue))
      }
    }
    commit.complete?(code)
  }

  /// The number of answers waiting for their records to be committed.
  var pendingCommits: Int { state.withLock { $0.pending.count } }

  /// Versions below 7 get their protocol name "" from the handler.
  private static func joinError(_ code: ErrorCode, memberId: String = "") -> JoinGroupResponse {
    GroupCoordinatorShard.joinError(code, memberId: memberId, version: 7)
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
    for promise in joins.values { promise.succeed(Self.joinError(code)) }
    for promise in syncs.values { promise.succeed(SyncGroupResponse(errorCode: code.rawValue)) }
  }

  /// Reads the shard as it is, committed or not (admin listings and descriptions).
  func read<R>(_ body: (GroupCoordinatorShard) -> R) -> Result<R, ErrorCode> {
    state.withLock { s in
      switch s.phase {
      case .active(let shard): .success(body(shard))
      case .loading: .failure(.coordinatorLoadInProgress)
      case .unloaded: .failure(.notCoordinator)
      }
    }
  }

  /// One batch with every record, appended as leader; returns the log end offset after it.
  /// Replication moves the high watermark (`notifyAppend`, called once the shard is unlocked).
  private func append(_ records: [CoordinatorRecord]) throws -> Int64 {
    let now = currentTimeMillis()
    var builder = RecordBatchBuilder()
    for record in records {
      builder.append(key: record.encodeKey(), value: record.encodeValue(), timestamp: now)
    }
    var batch = builder.build()
    let epoch = leaderEpoch
    guard isLeading else { throw CoordinatorAppendError.notLeader }
    let info = try partition.log.appendAsLeader(origin: .coordinator, nowMs: now) {
      logEndOffset in
      _ = try RecordBatchValidator.assignOffsets(
        in: &batch, firstOffset: logEndOffset, partitionLeaderEpoch: epoch)
      return batch
    }
    return info.lastOffset + 1
  }
}

/// A coordinator write refused because this broker no longer leads the shard's partition.
enum CoordinatorAppendError: Error {
  case notLeader
}
