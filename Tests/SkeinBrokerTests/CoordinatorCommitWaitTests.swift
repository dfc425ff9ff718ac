import Foundation
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import SkeinCluster
import SkeinCoordinator
import SkeinStorage
import Synchronization
import Testing

@testable import SkeinBroker

/// A coordinator shard on a `__consumer_offsets` partition led by node 0 with follower 1 in
/// the ISR: its answers wait until the follower's fetch moves the high watermark past them.
final class CommitWaitFixture {
  static let tp = TopicPartition("__consumer_offsets", 0)
  let dir = NSTemporaryDirectory() + "skein-commit-wait-\(UUID().uuidString)"
  let logManager: LogManager
  let partition: Partition
  let waiters = FetchWaitList()
  let shard: CoordinatorShardRuntime
  let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
  var loop: any EventLoop { group.next() }

  init(isr: [Int32] = [0, 1], minIsr: Int = 1, writeTimeoutMs: Int64 = 5000) throws {
    let now = currentTimeMillis()
    logManager = try LogManager(
      dataDir: dir, nowMs: now, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    var config = LogConfig()
    try config.set("min.insync.replicas", String(minIsr))
    let topicId = KafkaUuid.random()
    let log = try logManager.getOrCreateLog(Self.tp, topicId: topicId, config: config, nowMs: now)
    let partition = Partition(
      topicPartition: Self.tp, topicId: topicId, log: log, localId: 0,
      settings: ReplicationSettings())
    _ = partition.apply(
      PartitionInfo(
        partition: 0, replicas: [0, 1], isr: isr, leader: 0, leaderEpoch: 1, partitionEpoch: 1),
      nowMs: now)
    self.partition = partition
    let waiters = self.waiters
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    shard = CoordinatorShardRuntime(
      partition: partition, commitWaiters: waiters, writeTimeoutMs: writeTimeoutMs,
      notifyAppend: { tp in
        // As the replica manager does: the ISR of this node alone commits at once.
        if partition.maybeAdvanceHighWatermark(nowMs: currentTimeMillis()) { waiters.notify(tp) }
      }, logger: logger)
    var coordinatorConfig = GroupCoordinatorConfig()
    coordinatorConfig.initialRebalanceDelayMs = 0
    shard.load(config: coordinatorConfig, now: { currentTimeMillis() })
  }

  deinit {
    try? group.syncShutdownGracefully()
    try? FileManager.default.removeItem(atPath: dir)
  }

  /// Follower 1 fetches from the leader's log end: the high watermark reaches it.
  func followerCatchesUp() {
    let moved = partition.recordFollowerFetch(
      replica: 1, fetchOffset: partition.log.logEndOffset, brokerEpoch: -1, eligible: true,
      nowMs: currentTimeMillis())
    if moved.highWatermarkMoved { waiters.notify(Self.tp) }
  }

  func commit(_ group: String, _ offset: Int64) -> CoordinatorReply<OffsetCommitResponse> {
    let request = OffsetCommitRequest(
      groupId: group, generationIdOrMemberEpoch: -1, memberId: "",
      topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: offset)])])
    let now = currentTimeMillis()
    return shard.execute(on: loop) { s, _ in
      let r = s.commitOffsets(request, version: 8, now: now, partitionExists: { _, _ in true })
      return (r.output, r.response)
    }
  }

  func fetch(_ group: String) -> CoordinatorReply<Int64> {
    shard.readCommitted(on: loop) { s in
      s.fetchOffsets(groupId: group, topics: [("t", [0])]).first?.partitions.first?.value?.offset
        ?? -1
    }
  }
}

/// The result of a reply that waits, or nil when it answered at once.
private func waited<R>(_ reply: CoordinatorReply<R>) -> EventLoopFuture<Result<R, ErrorCode>>? {
  if case .later(let future) = reply { return future }
  return nil
}

private func immediate<R>(_ reply: CoordinatorReply<R>) -> Result<R, ErrorCode>? {
  if case .now(let result) = reply { return result }
  return nil
}

@Suite struct CoordinatorCommitWaitTests {
  @Test func anIsrOfOneAnswersAtOnce() throws {
    let f = try CommitWaitFixture(isr: [0])
    let reply = immediate(f.commit("g", 42))
    #expect((try reply?.get())?.topics.first?.partitions.first?.errorCode == 0)
    #expect(f.partition.highWatermark == f.partition.log.logEndOffset)
    #expect(try immediate(f.fetch("g"))?.get() == 42)
    #expect(f.shard.pendingCommits == 0)
  }

  @Test func anOffsetCommitAnswersOnceTheFollowerHasIt() async throws {
    let f = try CommitWaitFixture()
    let future = try #require(waited(f.commit("g", 7)))
    #expect(f.shard.pendingCommits == 1)
    #expect(f.partition.highWatermark == 0)
    // A reader waits too: the offset it would see is not committed yet.
    let read = try #require(waited(f.fetch("g")))
    f.followerCatchesUp()
    let response = try await future.get().get()
    #expect(response.topics.first?.partitions.first?.errorCode == 0)
    #expect(try await read.get().get() == 7)
    #expect(f.shard.pendingCommits == 0)
    // Nothing pending: a read answers at once.
    #expect(try immediate(f.fetch("g"))?.get() == 7)
  }

  @Test func aStepThatWritesNothingWaitsForEarlierWrites() async throws {
    let f = try CommitWaitFixture()
    let first = try #require(waited(f.commit("g", 1)))
    // Heartbeats of an unknown member write nothing; with earlier writes pending they wait,
    // unless told not to (classic Heartbeat, as Kafka).
    let request = HeartbeatRequest(groupId: "g", generationId: 1, memberId: "m")
    let step = { (s: inout GroupCoordinatorShard, _: UInt64) in
      (CoordinatorOutput(), s.heartbeat(request, now: currentTimeMillis()))
    }
    let later = try #require(waited(f.shard.execute(on: f.loop, step)))
    #expect(immediate(f.shard.execute(on: f.loop, waitForEarlierWrites: false, step)) != nil)
    f.followerCatchesUp()
    _ = try await first.get().get()
    #expect(try await later.get().get().errorCode != 0)
  }

  @Test func leadershipLostMeanwhileAnswersNotCoordinator() async throws {
    let f = try CommitWaitFixture()
    let future = try #require(waited(f.commit("g", 5)))
    _ = f.partition.apply(
      PartitionInfo(
        partition: 0, replicas: [0, 1], isr: [0, 1], leader: 1, leaderEpoch: 2, partitionEpoch: 2),
      nowMs: currentTimeMillis())
    f.waiters.notify(CommitWaitFixture.tp)
    #expect(try await future.get() == .failure(.notCoordinator))
    // The shard stops with the leadership: nothing is left waiting.
    f.shard.unload()
    #expect(f.shard.pendingCommits == 0)
    #expect(immediate(f.commit("g", 6)) == .failure(.notCoordinator))
  }

  @Test func unloadingFailsWhatWaits() async throws {
    let f = try CommitWaitFixture()
    let future = try #require(waited(f.commit("g", 5)))
    f.shard.unload()
    #expect(try await future.get() == .failure(.notCoordinator))
  }

  @Test func aCommitNotReplicatedInTimeAnswersCoordinatorNotAvailable() async throws {
    let f = try CommitWaitFixture(writeTimeoutMs: 100)
    let commit = try #require(waited(f.commit("g", 5)))
    let read = try #require(waited(f.fetch("g")))
    f.shard.expireWrites(nowMs: currentTimeMillis() + 50)
    #expect(f.shard.pendingCommits == 2)
    f.shard.expireWrites(nowMs: currentTimeMillis() + 1000)
    #expect(try await commit.get() == .failure(.coordinatorNotAvailable))
    // Offset reads that time out get NOT_COORDINATOR, which every consumer retries.
    #expect(try await read.get() == .failure(.notCoordinator))
  }

  @Test func belowMinInsyncReplicasAWriteIsRefusedBeforeItsAppend() throws {
    let f = try CommitWaitFixture(isr: [0], minIsr: 2)
    let end = f.partition.log.logEndOffset
    #expect(immediate(f.commit("g", 5)) == .failure(.coordinatorNotAvailable))
    #expect(f.partition.log.logEndOffset == end)
    // The state did not move either.
    #expect(try immediate(f.fetch("g"))?.get() == -1)
  }

  @Test func aSyncGroupIsAnsweredOnceItsAssignmentIsCommitted() async throws {
    let f = try CommitWaitFixture()
    let join = f.loop.makePromise(of: JoinGroupResponse.self)
    let request = JoinGroupRequest(
      groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 10_000, memberId: "",
      groupInstanceId: nil, protocolType: "consumer",
      protocols: [.init(name: "range", metadata: ByteBuffer(string: "m"))])
    _ = f.shard.execute(on: f.loop, join: join) { s, token in
      (
        s.joinGroup(
          request, version: 3, clientId: "c", clientHost: "/127.0.0.1", token: token,
          now: currentTimeMillis()), ()
      )
    }
    // The rebalance completes on a tick (the initial delay is 0).
    let joined = Mutex(false)
    join.futureResult.whenComplete { _ in joined.withLock { $0 = true } }
    for _ in 0..<50 where !joined.withLock({ $0 }) {
      f.shard.execute { $0.tick(now: currentTimeMillis() + 10) }
      f.followerCatchesUp()
      try await Task.sleep(for: .milliseconds(10))
    }
    let joinResponse = try await join.futureResult.get()
    #expect(joinResponse.errorCode == 0)
    let sync = f.loop.makePromise(of: SyncGroupResponse.self)
    let syncRequest = SyncGroupRequest(
      groupId: "g", generationId: joinResponse.generationId, memberId: joinResponse.memberId,
      groupInstanceId: nil,
      assignments: [.init(memberId: joinResponse.memberId, assignment: ByteBuffer(string: "a"))])
    let before = f.partition.log.logEndOffset
    _ = f.shard.execute(on: f.loop, sync: sync) { s, token in
      (s.syncGroup(syncRequest, version: 3, token: token, now: currentTimeMillis()), ())
    }
    #expect(f.partition.log.logEndOffset > before)
    let synced = Mutex(false)
    sync.futureResult.whenComplete { _ in synced.withLock { $0 = true } }
    try await Task.sleep(for: .milliseconds(50))
    #expect(!synced.withLock { $0 })
    f.followerCatchesUp()
    let syncResponse = try await sync.futureResult.get()
    #expect(syncResponse.errorCode == 0)
    #expect(syncResponse.assignment == ByteBuffer(string: "a"))
  }
}
