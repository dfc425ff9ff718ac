import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

private func epochs(_ log: PartitionLog) -> [[Int64]] {
  log.leaderEpochEntries.map { [Int64($0.epoch), $0.startOffset] }
}

private func epochFile(_ dir: TemporaryDirectory) -> String {
  dir.file("topic-0/" + LeaderEpochFileCache.fileName)
}

/// A log whose batches 0..<count (one record each) carry the leader epochs `epochOf(offset)`.
private func logWithEpochs(
  _ dir: TemporaryDirectory, config: LogConfig = LogConfig(), count: Int64,
  epochOf: (Int64) -> Int32
) throws -> PartitionLog {
  let log = try PartitionLog.openForTest(dir, config: config)
  for offset in 0..<count { try log.appendBatch(leaderEpoch: epochOf(offset)) }
  return log
}

/// Offsets 0-1 epoch 0, 2-4 epoch 1, 5-6 epoch 3.
private func sampleEpoch(_ offset: Int64) -> Int32 { offset < 2 ? 0 : offset < 5 ? 1 : 3 }

@Suite struct LeaderEpochLogTests {
  @Test func appendsRecordEpochsFromBatchHeaders() throws {
    let dir = TemporaryDirectory()
    let log = try logWithEpochs(dir, count: 7, epochOf: sampleEpoch)
    #expect(epochs(log) == [[0, 0], [1, 2], [3, 5]])
    #expect(log.latestLeaderEpoch == 3)
    #expect(try String(contentsOfFile: epochFile(dir), encoding: .utf8) == "0\n3\n0 0\n1 2\n3 5\n")
    #expect(log.endOffset(forLeaderEpoch: 0) == (0, 2))
    #expect(log.endOffset(forLeaderEpoch: 2) == (1, 5))
    #expect(log.endOffset(forLeaderEpoch: 3) == (3, 7))

    // A new leader's epoch starts at the log end, before it has written anything.
    try log.assignLeaderEpoch(5)
    try log.assignLeaderEpoch(5)
    try log.assignLeaderEpoch(4)
    #expect(epochs(log) == [[0, 0], [1, 2], [3, 5], [5, 7]])
    #expect(log.endOffset(forLeaderEpoch: 3) == (3, 7))
    try log.appendBatch(leaderEpoch: 5)
    #expect(epochs(log) == [[0, 0], [1, 2], [3, 5], [5, 7]])
    #expect(log.endOffset(forLeaderEpoch: 5) == (5, 8))

    // Batches without an epoch (-1) add nothing.
    try log.appendBatch()
    #expect(log.latestLeaderEpoch == 5)

    try log.close()
    let reopened = try PartitionLog.openForTest(dir, clean: true)
    #expect(epochs(reopened) == [[0, 0], [1, 2], [3, 5], [5, 7]])
  }

  @Test func newLogWritesTheFileWithItsFirstEpoch() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    #expect(!FileManager.default.fileExists(atPath: epochFile(dir)))
    try log.appendBatch()
    #expect(!FileManager.default.fileExists(atPath: epochFile(dir)))
    try log.appendBatch(leaderEpoch: 0)
    #expect(try String(contentsOfFile: epochFile(dir), encoding: .utf8) == "0\n1\n0 1\n")
  }

  @Test func oneAppendOfSeveralEpochsAddsEach() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    var batches = TestBatch.make(baseOffset: 0, records: 2, leaderEpoch: 1)
    var second = TestBatch.make(baseOffset: 2, records: 1, leaderEpoch: 1)
    var third = TestBatch.make(baseOffset: 3, records: 3, leaderEpoch: 4)
    batches.writeBuffer(&second)
    batches.writeBuffer(&third)
    try log.appendAsFollower(batches, nowMs: 0)
    #expect(epochs(log) == [[1, 0], [4, 3]])
  }

  @Test func truncationTrimsTheCacheAndTheHighWatermark() throws {
    let dir = TemporaryDirectory()
    let log = try logWithEpochs(dir, count: 7, epochOf: sampleEpoch)
    log.setHighWatermarkFromLeader(6)
    #expect(try log.truncateTo(5))
    #expect(log.logEndOffset == 5 && log.highWatermark == 5)
    #expect(epochs(log) == [[0, 0], [1, 2]])
    #expect(log.endOffset(forLeaderEpoch: 1) == (1, 5))
    #expect(try log.truncateTo(2))
    #expect(epochs(log) == [[0, 0]])
    #expect(log.highWatermark == 2)

    // A leader that assigned its epoch and wrote nothing: truncating at the log end drops it.
    try log.assignLeaderEpoch(6)
    #expect(epochs(log) == [[0, 0], [6, 2]])
    #expect(try !log.truncateTo(2))
    #expect(epochs(log) == [[0, 0]])

    try log.close()
    #expect(epochs(try PartitionLog.openForTest(dir, clean: true)) == [[0, 0]])
  }

  @Test func truncateFullyClearsTheCache() throws {
    let dir = TemporaryDirectory()
    let log = try logWithEpochs(dir, count: 7, epochOf: sampleEpoch)
    try log.truncateFullyAndStartAt(100)
    #expect(log.leaderEpochEntries.isEmpty)
    #expect(log.latestLeaderEpoch == nil)
    #expect(try String(contentsOfFile: epochFile(dir), encoding: .utf8) == "0\n0\n")
    #expect(log.endOffset(forLeaderEpoch: 3) == (-1, -1))
    try log.appendAsFollower(TestBatch.make(baseOffset: 100, leaderEpoch: 2), nowMs: 0)
    #expect(epochs(log) == [[2, 100]])
  }

  @Test func retentionAndDeleteRecordsTrimFromTheStart() throws {
    let dir = TemporaryDirectory()
    let oneBatchSegments = try config([
      "segment.bytes": String(TestBatch.size()), "retention.ms": "1000",
    ])
    let log = try PartitionLog.openForTest(dir, config: oneBatchSegments)
    for offset in Int64(0)..<7 {
      try log.appendBatch(timestamp: offset < 3 ? 1 : 10_000, leaderEpoch: sampleEpoch(offset))
    }
    log.updateHighWatermark(log.logEndOffset)
    #expect(try log.deleteOldSegments(nowMs: 5_000) == 3)
    #expect(log.logStartOffset == 3)
    #expect(epochs(log) == [[1, 3], [3, 5]])
    #expect(try log.deleteRecordsBefore(4) == 4)
    #expect(epochs(log) == [[1, 4], [3, 5]])
    #expect(try log.deleteRecordsBefore(6) == 6)
    #expect(epochs(log) == [[3, 6]])
    #expect(try String(contentsOfFile: epochFile(dir), encoding: .utf8) == "0\n1\n3 6\n")
  }

  @Test func deletedOrTornFileIsRebuiltFromBatchHeaders() throws {
    let dir = TemporaryDirectory()
    let segments = try config(["segment.bytes": String(TestBatch.size() * 2)])
    let log = try logWithEpochs(dir, config: segments, count: 7, epochOf: sampleEpoch)
    try log.close()
    let path = epochFile(dir)
    for damage in ["delete", "torn", "garbage"] {
      switch damage {
      case "delete": try FileManager.default.removeItem(atPath: path)
      case "torn": try "0\n3\n0 0\n".write(toFile: path, atomically: true, encoding: .utf8)
      default: try Data([0xFF, 0x00, 0x41]).write(to: URL(fileURLWithPath: path))
      }
      let reopened = try PartitionLog.openForTest(dir, config: segments, clean: true)
      #expect(epochs(reopened) == [[0, 0], [1, 2], [3, 5]], "\(damage)")
      #expect(
        try String(contentsOfFile: path, encoding: .utf8) == "0\n3\n0 0\n1 2\n3 5\n", "\(damage)")
      try reopened.close()
    }

    // Rebuilt above a recorded log start: the first entry starts there.
    try FileManager.default.removeItem(atPath: path)
    let trimmed = try PartitionLog.openForTest(
      dir, config: segments, logStartOffset: 3, clean: true)
    #expect(epochs(trimmed) == [[1, 3], [3, 5]])
  }

  @Test func uncleanRecoveryTrimsTheCacheToTheRecoveredEnd() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try logWithEpochs(dir, count: 5, epochOf: sampleEpoch)
      try log.appendBatch(leaderEpoch: 3)  // offset 5, then torn by the "crash"
      #expect(epochs(log) == [[0, 0], [1, 2], [3, 5]])
    }
    let segment = dir.file("topic-0/" + segmentFile(0, LogSegment.logSuffix))
    let handle = try #require(FileHandle(forWritingAtPath: segment))
    try handle.truncate(atOffset: UInt64(TestBatch.size() * 6 - 3))
    try handle.close()

    let recovered = try PartitionLog.openForTest(dir)
    #expect(recovered.logEndOffset == 5)
    #expect(epochs(recovered) == [[0, 0], [1, 2]])
    #expect(try String(contentsOfFile: epochFile(dir), encoding: .utf8) == "0\n2\n0 0\n1 2\n")
  }
}

@Suite struct FollowerAppendTests {
  @Test func followerKeepsTheLeadersOffsetsEpochsAndProducerState() throws {
    let leaderDir = TemporaryDirectory()
    let followerDir = TemporaryDirectory()
    let leader = try PartitionLog.openForTest(leaderDir)
    let follower = try PartitionLog.openForTest(followerDir)
    try leader.assignLeaderEpoch(3)
    try leader.appendBatch(records: 2, leaderEpoch: 3)
    try leader.produce(producerId: 7, sequence: 0, records: 3, leaderEpoch: 3)
    try leader.produce(producerId: 7, sequence: 3, records: 2, leaderEpoch: 3)
    try leader.produce(producerId: 9, epoch: 2, sequence: 0, leaderEpoch: 3)

    let info = try follower.appendAsFollower(try leader.readAll(), nowMs: 0)
    #expect(info.firstOffset == 0 && info.lastOffset == 7 && info.batchCount == 4)
    #expect(info.logEndOffset == 8 && !info.isDuplicate)
    #expect(follower.logEndOffset == leader.logEndOffset)
    #expect(try follower.readHeaders(offset: 0) == leader.readHeaders(offset: 0))
    #expect(follower.producerState.activeProducers == leader.producerState.activeProducers)
    #expect(epochs(follower) == [[3, 0]])
    #expect(follower.highWatermark == 0)

    // The follower becomes leader: a client's retry of the last batch is a duplicate.
    try follower.assignLeaderEpoch(4)
    let retry = try follower.produce(producerId: 7, sequence: 3, records: 2, leaderEpoch: 4)
    #expect(retry.isDuplicate && retry.firstOffset == 5 && retry.lastOffset == 6)
    #expect(follower.logEndOffset == 8)
    let next = try follower.produce(producerId: 7, sequence: 5, leaderEpoch: 4)
    #expect(!next.isDuplicate && next.firstOffset == 8)
    #expect(epochs(follower) == [[3, 0], [4, 8]])

    // And after a restart (state from the snapshot and the log tail).
    try follower.close()
    let reopened = try PartitionLog.openForTest(followerDir, clean: true)
    #expect(try reopened.produce(producerId: 9, epoch: 2, sequence: 0, leaderEpoch: 4).isDuplicate)
  }

  @Test func followerFollowsTransactionsAndMarkers() throws {
    let leaderDir = TemporaryDirectory()
    let followerDir = TemporaryDirectory()
    let leader = try PartitionLog.openForTest(leaderDir)
    let follower = try PartitionLog.openForTest(followerDir)
    try leader.produce(producerId: 11, sequence: 0, records: 2, transactional: true)
    try leader.appendAsLeader(origin: .coordinator, nowMs: 0) { next in
      producerBatch(producerId: 11, sequence: -1, baseOffset: next, control: true, leaderEpoch: 0)
    }
    try leader.produce(producerId: 11, sequence: 2, transactional: true)
    try follower.appendAsFollower(try leader.readAll(), nowMs: 0)
    let entry = try #require(follower.producerState.entry(producerId: 11))
    #expect(entry == leader.producerState.entry(producerId: 11))
    #expect(entry.currentTxnFirstOffset == 3 && entry.lastSequence == 2)
  }

  @Test func followerRefusesOverlapsDisorderAndCorruption() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendAsFollower(TestBatch.make(baseOffset: 0, records: 3, leaderEpoch: 1), nowMs: 0)
    #expect(throws: StorageError.unexpectedAppendOffset(expected: 3, found: 2)) {
      try log.appendAsFollower(TestBatch.make(baseOffset: 2, leaderEpoch: 1), nowMs: 0)
    }
    var disordered = TestBatch.make(baseOffset: 5, records: 2, leaderEpoch: 2)
    var overlapping = TestBatch.make(baseOffset: 6, leaderEpoch: 2)
    disordered.writeBuffer(&overlapping)
    #expect {
      try log.appendAsFollower(disordered, nowMs: 0)
    } throws: { error in
      guard case .offsetsOutOfOrder = error as? StorageError else { return false }
      return true
    }
    var corrupt = TestBatch.make(baseOffset: 3, leaderEpoch: 2)
    corrupt.setInteger(UInt8(0xAB), at: corrupt.writerIndex - 1)
    #expect {
      try log.appendAsFollower(corrupt, nowMs: 0)
    } throws: { error in
      guard case .invalidBatch(.crcMismatch) = error as? StorageError else { return false }
      return true
    }
    // Nothing of the refused appends is in the log or the epoch cache.
    #expect(log.logEndOffset == 3)
    #expect(epochs(log) == [[1, 0]])
  }

  @Test func followerAppendsRollSegmentsAndIndexAsLeaderAppendsDo() throws {
    let dir = TemporaryDirectory()
    let small = try config([
      "segment.bytes": String(TestBatch.size() * 3), "index.interval.bytes": "1",
    ])
    let log = try PartitionLog.openForTest(dir, config: small)
    for base in stride(from: Int64(0), to: 20, by: 2) {
      try log.appendAsFollower(
        TestBatch.make(baseOffset: base, records: 2, leaderEpoch: Int32(base / 8)), nowMs: 0)
    }
    #expect(log.segmentBaseOffsets == [0, 6, 12, 18])
    #expect(try log.readHeaders(offset: 9).first?.baseOffset == 8)
    #expect(try log.readHeaders(offset: 13, maxBytes: 1).map(\.baseOffset) == [12])
    #expect(epochs(log) == [[0, 0], [1, 8], [2, 16]])
    #expect(log.highWatermark == 0)
  }
}

@Suite struct HighWatermarkTests {
  @Test func leaderHighWatermarkIsMonotonicAndBounded() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for _ in 0..<10 { try log.appendBatch() }
    #expect(log.highWatermark == 0)
    #expect(log.updateHighWatermark(6) == 6)
    #expect(log.updateHighWatermark(4) == 6)
    #expect(log.updateHighWatermark(50) == 10)
  }

  @Test func followerHighWatermarkMovesBothWaysWithinTheLog() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for _ in 0..<10 { try log.appendBatch() }
    #expect(log.setHighWatermarkFromLeader(8) == 8)
    #expect(log.setHighWatermarkFromLeader(3) == 3)
    #expect(log.highWatermark == 3)
    #expect(log.setHighWatermarkFromLeader(25) == 10)
    try log.deleteRecordsBefore(5)
    #expect(log.setHighWatermarkFromLeader(2) == 5)
    #expect(log.setHighWatermarkFromLeader(-1) == 5)
  }

  @Test func openStartsAtTheGivenHighWatermarkClamped() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try PartitionLog.openForTest(dir)
      for _ in 0..<10 { try log.appendBatch() }
      try log.close()
    }
    let open = { (hw: Int64?) in
      try PartitionLog.open(
        dir: dir.file("topic-0"), topicPartition: TopicPartition("topic", 0), config: LogConfig(),
        logStartOffset: 2, highWatermark: hw, hadCleanShutdown: true, nowMs: 0,
        logger: quietLogger)
    }
    #expect(try open(7).highWatermark == 7)
    #expect(try open(70).highWatermark == 10)
    #expect(try open(1).highWatermark == 2)
    #expect(try open(nil).highWatermark == 2)
  }
}

@Suite struct ReplicationOffsetCheckpointTests {
  private let partition = TopicPartition("t", 0)

  private func manager(_ dir: TemporaryDirectory, interval: Int64 = 5_000) throws -> LogManager {
    try LogManager(
      dataDir: dir.path, replicationOffsetCheckpointIntervalMs: interval, nowMs: 0,
      logger: quietLogger)
  }

  /// The log of `partition` in `logs`, with `batches` one-record batches appended.
  private func logWithBatches(in logs: LogManager, _ batches: Int) throws -> PartitionLog {
    let log = try logs.getOrCreateLog(partition, topicId: nil, nowMs: 0)
    for _ in 0..<batches { try log.appendBatch() }
    return log
  }

  private func checkpointText(_ dir: TemporaryDirectory) throws -> String {
    try String(
      contentsOfFile: dir.file(OffsetCheckpointFile.replicationOffsetFileName), encoding: .utf8)
  }

  @Test func highWatermarksSurviveACleanShutdown() throws {
    let dir = TemporaryDirectory()
    do {
      let logs = try manager(dir)
      let log = try logWithBatches(in: logs, 5)
      log.updateHighWatermark(3)
      let other = try logs.getOrCreateLog(TopicPartition("a-b", 2), topicId: nil, nowMs: 0)
      try other.appendBatch()
      try logs.shutdown()
    }
    #expect(try checkpointText(dir) == "0\n2\na-b 2 0\nt 0 3\n")
    let logs = try manager(dir)
    #expect(logs.getLog(partition)?.highWatermark == 3)
    #expect(logs.getLog(TopicPartition("a-b", 2))?.highWatermark == 0)
  }

  @Test func tickWritesThemAndACrashKeepsTheLastCheckpoint() throws {
    let dir = TemporaryDirectory()
    do {
      let logs = try manager(dir, interval: 1_000)
      let log = try logWithBatches(in: logs, 6)
      try log.flush(nowMs: 0)
      log.updateHighWatermark(4)
      logs.tick(nowMs: 999)
      #expect(
        !FileManager.default.fileExists(
          atPath: dir.file(OffsetCheckpointFile.replicationOffsetFileName)))
      logs.tick(nowMs: 1_000)
      #expect(try checkpointText(dir) == "0\n1\nt 0 4\n")
      log.updateHighWatermark(6)  // not checkpointed before the "crash"
      logs.tick(nowMs: 1_500)
      // A log created after the last checkpoint.
      try logs.getOrCreateLog(TopicPartition("new", 0), topicId: nil, nowMs: 0).appendBatch()
    }
    let logs = try manager(dir)
    #expect(!logs.hadCleanShutdown)
    #expect(logs.getLog(partition)?.highWatermark == 4)
    #expect(logs.getLog(TopicPartition("new", 0))?.highWatermark == 0)
  }

  @Test func restoredHighWatermarkIsClampedToTheLog() throws {
    let dir = TemporaryDirectory()
    do {
      let logs = try manager(dir)
      _ = try logWithBatches(in: logs, 5)
      try logs.shutdown()
    }
    try OffsetCheckpointFile(path: dir.file(OffsetCheckpointFile.replicationOffsetFileName))
      .write([partition: 100])
    #expect(try manager(dir).getLog(partition)?.highWatermark == 5)
  }
}
