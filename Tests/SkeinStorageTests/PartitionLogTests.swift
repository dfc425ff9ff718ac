import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

@Suite struct AppendAndReadTests {
  @Test func appendAndReadAcrossSegments() throws {
    let dir = TemporaryDirectory()
    // Three 81-byte batches fit a 250-byte segment.
    let log = try PartitionLog.openForTest(dir, config: try config(["segment.bytes": "250"]))
    for index in 0..<20 {
      let info = try log.appendBatch(records: 3, timestamp: 1_000 + Int64(index))
      #expect(info.firstOffset == Int64(index) * 3)
      #expect(info.lastOffset == Int64(index) * 3 + 2)
    }
    #expect(log.logEndOffset == 60)
    #expect(log.segmentCount == 7)
    #expect(log.segmentBaseOffsets == [0, 9, 18, 27, 36, 45, 54])
    for offset in Int64(0)..<60 {
      let headers = try log.readHeaders(offset: offset)
      let first = try #require(headers.first)
      #expect(first.baseOffset == offset / 3 * 3)
      // One read stays within one segment and returns its batches up to the end.
      let segmentBase = offset / 9 * 9
      #expect(headers.last?.nextOffset == min(segmentBase + 9, 60))
      for (previous, next) in zip(headers, headers.dropFirst()) {
        #expect(next.baseOffset == previous.nextOffset)
      }
    }
    #expect(try log.read(offset: 60, maxBytes: 1_000, minOneBatch: true).isEmpty)
  }

  @Test func readFromTheMiddleOfABatchReturnsTheWholeBatch() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendBatch(records: 5)
    try log.appendBatch(records: 5)
    let info = try log.read(offset: 7, maxBytes: 10_000, minOneBatch: false)
    #expect(info.firstBatchBaseOffset == 5)
    #expect(info.position == TestBatch.size())
    let headers = try TestBatch.headers(info.readBytes())
    #expect(headers.map(\.baseOffset) == [5])
    #expect(headers.first?.recordCount == 5)
  }

  @Test func maxBytesReturnsWholeBatchesAndMinOneBatchTheFirstOneWhole() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for _ in 0..<5 { try log.appendBatch(payload: 100) }
    let size = TestBatch.size(payload: 100)
    #expect(try log.readHeaders(offset: 0, maxBytes: size * 2 + size / 2).count == 2)
    #expect(try log.readHeaders(offset: 1, maxBytes: size * 2).count == 2)
    #expect(try log.readHeaders(offset: 0, maxBytes: size * 10).count == 5)
    #expect(try log.read(offset: 0, maxBytes: size - 1, minOneBatch: false).isEmpty)
    let one = try log.read(offset: 0, maxBytes: size - 1, minOneBatch: true)
    #expect(one.length == size)
    #expect(try log.read(offset: 2, maxBytes: 0, minOneBatch: true).length == size)
    #expect(try log.read(offset: 2, maxBytes: 0, minOneBatch: false).isEmpty)
  }

  @Test func maxOffsetBoundsTheRead() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for _ in 0..<4 { try log.appendBatch(records: 3) }  // 0-2, 3-5, 6-8, 9-11
    #expect(try log.readHeaders(offset: 0, maxOffset: 6).map(\.baseOffset) == [0, 3])
    // A high watermark inside a batch excludes that batch.
    #expect(try log.readHeaders(offset: 0, maxOffset: 7).map(\.baseOffset) == [0, 3])
    #expect(try log.read(offset: 6, maxBytes: 1_000, maxOffset: 6, minOneBatch: true).isEmpty)
    #expect(try log.read(offset: 4, maxBytes: 1_000, maxOffset: 5, minOneBatch: true).isEmpty)
    #expect(try log.readHeaders(offset: 4, maxOffset: 100).map(\.baseOffset) == [3, 6, 9])
  }

  @Test func offsetsOutsideTheLogAreOutOfRange() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendBatch(records: 2)
    #expect(throws: StorageError.offsetOutOfRange(offset: 3, logStartOffset: 0, logEndOffset: 2)) {
      try log.read(offset: 3, maxBytes: 100, minOneBatch: true)
    }
    #expect(throws: StorageError.self) {
      try log.read(offset: -1, maxBytes: 100, minOneBatch: true)
    }
    let atEnd = try log.read(offset: 2, maxBytes: 100, minOneBatch: true)
    #expect(atEnd.isEmpty && atEnd.logEndOffset == 2)
    #expect(
      StorageError.offsetOutOfRange(offset: 3, logStartOffset: 0, logEndOffset: 2).errorCode
        == .offsetOutOfRange)
  }

  @Test func leaderAppendMustStartAtTheLogEnd() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendBatch()
    #expect(throws: StorageError.unexpectedAppendOffset(expected: 1, found: 0)) {
      try log.appendAsLeader(nowMs: 0) { _ in TestBatch.make(baseOffset: 0) }
    }
    var twoBatches = TestBatch.make(baseOffset: 1, records: 2)
    var gapped = TestBatch.make(baseOffset: 5)
    twoBatches.writeBuffer(&gapped)
    #expect(throws: StorageError.self) {
      try log.appendAsLeader(nowMs: 0) { _ in twoBatches }
    }
    var tooBig = try config(["max.message.bytes": "50"])
    tooBig.overrides = [:]
    log.updateConfig(tooBig)
    #expect(throws: StorageError.messageTooLarge(size: TestBatch.size(), max: 50)) {
      try log.appendBatch()
    }
    #expect(log.logEndOffset == 1)
  }

  @Test func oneAppendMayHoldSeveralBatches() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    let info = try log.appendAsLeader(nowMs: 0) { next in
      var buffer = TestBatch.make(baseOffset: next, records: 2, timestamp: 50)
      var second = TestBatch.make(baseOffset: next + 2, records: 3, timestamp: 70)
      buffer.writeBuffer(&second)
      return buffer
    }
    #expect(info.batchCount == 2 && info.firstOffset == 0 && info.lastOffset == 4)
    #expect(info.maxTimestamp == 70 && info.offsetOfMaxTimestamp == 4)
    #expect(try log.readHeaders(offset: 3).map(\.baseOffset) == [2])
  }

  @Test func followerAppendKeepsOffsetsAndChecksCRCs() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendAsFollower(TestBatch.make(baseOffset: 0, records: 2), nowMs: 0)
    // Followers may see gaps (compacted leaders).
    try log.appendAsFollower(TestBatch.make(baseOffset: 10, records: 2), nowMs: 0)
    #expect(log.logEndOffset == 12)
    #expect(try log.readHeaders(offset: 5).map(\.baseOffset) == [10])
    #expect(throws: StorageError.unexpectedAppendOffset(expected: 12, found: 11)) {
      try log.appendAsFollower(TestBatch.make(baseOffset: 11), nowMs: 0)
    }
    var corrupt = TestBatch.make(baseOffset: 12)
    corrupt.setInteger(UInt8(0xAB), at: corrupt.writerIndex - 1)
    #expect(throws: StorageError.self) { try log.appendAsFollower(corrupt, nowMs: 0) }
    var torn = TestBatch.make(baseOffset: 12)
    torn.moveWriterIndex(to: torn.writerIndex - 5)
    #expect(throws: StorageError.invalidBatch(.truncated)) {
      try log.appendAsFollower(torn, nowMs: 0)
    }
    #expect(log.logEndOffset == 12)
  }

  @Test func fetchResultCanBecomeAFileRegion() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendBatch()
    try log.appendBatch()
    let info = try log.read(offset: 1, maxBytes: 1_000, minOneBatch: true)
    let (region, handle) = try #require(try info.makeFileRegion())
    defer { try? handle.close() }
    #expect(region.readerIndex == TestBatch.size())
    #expect(region.endIndex == 2 * TestBatch.size())
  }

  @Test func readersRunConcurrentlyWithAnAppender() async throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try config(["segment.bytes": "4000"]))
    let batches = 2_000
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for index in 0..<batches { try log.appendBatch(records: 2, timestamp: Int64(index)) }
      }
      for _ in 0..<4 {
        group.addTask {
          var offset: Int64 = 0
          while offset < Int64(batches) * 2 {
            let info = try log.read(offset: offset, maxBytes: 600, minOneBatch: true)
            if info.isEmpty {
              await Task.yield()
              continue
            }
            let headers = try TestBatch.headers(info.readBytes())
            #expect(headers.first?.baseOffset == offset)
            offset = headers.last?.nextOffset ?? offset
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(log.logEndOffset == Int64(batches) * 2)
  }
}

@Suite struct ConcurrentMaintenanceTests {
  @Test func flushAndRetentionRunConcurrentlyWithAnAppender() async throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir,
      config: try config([
        "segment.bytes": "2000", "retention.bytes": "6000", "index.interval.bytes": "300",
      ]))
    let batches = 1_000
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        for index in 0..<batches {
          try log.appendBatch(timestamp: Int64(index))
          log.updateHighWatermark(log.logEndOffset)
        }
      }
      group.addTask {
        while log.logEndOffset < Int64(batches) {
          try log.flush(nowMs: 0)
          try log.deleteOldSegments(nowMs: 0)
          #expect(log.recoveryPoint <= log.logEndOffset)
          await Task.yield()
        }
      }
      try await group.waitForAll()
    }
    try log.flush(nowMs: 0)
    try log.deleteOldSegments(nowMs: 0)
    #expect(log.recoveryPoint == Int64(batches))
    #expect(log.size <= 6_000 + 2_000)
    #expect(try log.readHeaders(offset: log.logStartOffset).first?.baseOffset == log.logStartOffset)
  }
}

@Suite struct RollTests {
  @Test func rollsBySize() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try config(["segment.bytes": String(TestBatch.size() * 2)]))
    for _ in 0..<5 { try log.appendBatch() }
    #expect(log.segmentBaseOffsets == [0, 2, 4])
    // A batch larger than a segment still goes into its own segment.
    try log.appendBatch(payload: 500)
    #expect(log.segmentBaseOffsets == [0, 2, 4, 5])
  }

  @Test func rollsByTime() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try config(["segment.ms": "1000"]))
    try log.appendBatch(nowMs: 10_000)
    try log.appendBatch(nowMs: 10_500)
    try log.appendBatch(nowMs: 11_000)
    #expect(log.segmentCount == 1)
    try log.appendBatch(nowMs: 11_001)
    #expect(log.segmentBaseOffsets == [0, 3])
    try log.appendBatch(nowMs: 11_500)
    #expect(log.segmentBaseOffsets == [0, 3])
  }

  @Test func rollsWhenTheIndexIsFull() throws {
    let dir = TemporaryDirectory()
    // An index entry for every batch after a segment's first; 24 bytes hold 3 offset index
    // entries and 2 time index entries.
    let sameTime = try PartitionLog.openForTest(
      dir, config: try config(["segment.index.bytes": "24", "index.interval.bytes": "0"]))
    for _ in 0..<6 { try sameTime.appendBatch() }
    // Equal timestamps add one time index entry only: the offset index fills first.
    #expect(sameTime.segmentBaseOffsets == [0, 4])

    let other = TemporaryDirectory()
    let rising = try PartitionLog.openForTest(
      other, config: try config(["segment.index.bytes": "24", "index.interval.bytes": "0"]))
    for index in 0..<6 { try rising.appendBatch(timestamp: 1_000 + Int64(index)) }
    #expect(rising.segmentBaseOffsets == [0, 3])
  }

  @Test func explicitRollOfAnEmptySegmentIsANoOp() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.roll()
    #expect(log.segmentBaseOffsets == [0])
    try log.appendBatch(records: 4)
    try log.roll()
    try log.roll()
    #expect(log.segmentBaseOffsets == [0, 4])
    try log.appendBatch()
    #expect(try log.readHeaders(offset: 4).map(\.baseOffset) == [4])
  }
}

@Suite struct TruncationTests {
  @Test func truncateToRemovesWholeBatchesAndLaterSegments() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try config(["segment.bytes": String(TestBatch.size() * 2)]))
    for index in 0..<6 { try log.appendBatch(records: 2, timestamp: 100 + Int64(index)) }
    #expect(log.segmentBaseOffsets == [0, 4, 8])
    log.updateHighWatermark(12)
    // Offset 5 is inside batch 4-5: that batch goes too.
    #expect(try log.truncateTo(5))
    #expect(log.logEndOffset == 4)
    #expect(log.highWatermark == 4)
    #expect(log.segmentBaseOffsets == [0, 4])
    #expect(fileSize(dir.file("topic-0/" + segmentFile(4, ".log"))) == 0)
    #expect(!FileManager.default.fileExists(atPath: dir.file("topic-0/" + segmentFile(8, ".log"))))
    #expect(try log.fetchOffset(.maxTimestamp)?.timestamp == 101)
    #expect(try !log.truncateTo(10))
    try log.appendBatch(records: 2)
    #expect(try log.readHeaders(offset: 4).map(\.baseOffset) == [4])
  }

  @Test func truncateFullyRestartsTheLog() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for _ in 0..<3 { try log.appendBatch() }
    try log.truncateFullyAndStartAt(100)
    #expect(log.logStartOffset == 100 && log.logEndOffset == 100)
    #expect(log.segmentBaseOffsets == [100])
    #expect(throws: StorageError.self) { try log.read(offset: 0, maxBytes: 10, minOneBatch: true) }
    try log.appendBatch()
    #expect(try log.readHeaders(offset: 100).map(\.baseOffset) == [100])
  }
}

@Suite struct FlushTests {
  @Test func flushMessagesFlushesOnAppend() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try config(["flush.messages": "3"]))
    try log.appendBatch(records: 2)
    #expect(log.recoveryPoint == 0)
    try log.appendBatch()
    #expect(log.recoveryPoint == 3)
  }

  @Test func flushMsFlushesOnTime() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try config(["flush.ms": "100"]), nowMs: 0)
    try log.appendBatch()
    try log.flushIfNeeded(nowMs: 50)
    #expect(log.recoveryPoint == 0)
    try log.flushIfNeeded(nowMs: 100)
    #expect(log.recoveryPoint == 1)
  }

  @Test func defaultLeavesFlushingToTheOS() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for _ in 0..<10 { try log.appendBatch() }
    try log.flushIfNeeded(nowMs: 1_000_000_000)
    #expect(log.recoveryPoint == 0)
    try log.flush(nowMs: 0)
    #expect(log.recoveryPoint == 10)
  }
}
