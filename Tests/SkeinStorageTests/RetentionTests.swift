import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

@Suite struct RetentionTests {
  /// Three batches per segment; batch i has timestamp 1000 * (i + 1).
  private func makeLog(_ dir: TemporaryDirectory, _ extra: [String: String] = [:], batches: Int)
    throws -> PartitionLog
  {
    var values = ["segment.bytes": String(TestBatch.size() * 3)]
    values.merge(extra) { $1 }
    let log = try PartitionLog.openForTest(dir, config: try config(values))
    for index in 0..<batches { try log.appendBatch(timestamp: 1_000 * Int64(index + 1)) }
    log.updateHighWatermark(log.logEndOffset)
    return log
  }

  @Test func retentionMsDeletesSegmentsWhoseNewestRecordIsTooOld() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, ["retention.ms": "5000"], batches: 9)
    #expect(log.segmentBaseOffsets == [0, 3, 6])
    // Segment 0 ends at 3000, segment 3 at 6000; older than 5000 ms means strictly older.
    #expect(try log.deleteOldSegments(nowMs: 8_000) == 0)
    #expect(try log.deleteOldSegments(nowMs: 8_001) == 1)
    #expect(log.segmentBaseOffsets == [3, 6])
    #expect(log.logStartOffset == 3)
    #expect(!FileManager.default.fileExists(atPath: dir.file("topic-0/" + segmentFile(0, ".log"))))
    #expect(throws: StorageError.self) { try log.read(offset: 2, maxBytes: 100, minOneBatch: true) }
    #expect(try log.readHeaders(offset: 3).first?.baseOffset == 3)
  }

  @Test func retentionMsRollsFirstWhenEverythingExpired() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, ["retention.ms": "1000"], batches: 7)
    #expect(try log.deleteOldSegments(nowMs: 100_000) == 3)
    // A fresh, empty active segment at the log end remains.
    #expect(log.segmentBaseOffsets == [7])
    #expect(log.logStartOffset == 7 && log.logEndOffset == 7)
    try log.appendBatch(timestamp: 100_000, nowMs: 100_000)
    #expect(try log.deleteOldSegments(nowMs: 100_500) == 0)
  }

  @Test func retentionNeverPassesTheHighWatermark() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, ["retention.ms": "1000"], batches: 9)
    log.setHighWatermarkFromLeader(4)  // the leader's never moves back
    #expect(try log.deleteOldSegments(nowMs: 100_000) == 1)
    #expect(log.segmentBaseOffsets == [3, 6])
  }

  @Test func retentionBytesDeletesOldestSegmentsWhileTooLarge() throws {
    let dir = TemporaryDirectory()
    let segmentSize = TestBatch.size() * 3
    let log = try makeLog(dir, ["retention.bytes": String(segmentSize * 2 + 10)], batches: 11)
    #expect(log.segmentBaseOffsets == [0, 3, 6, 9])
    // 3 full segments + 2 batches: deleting one full segment is enough.
    #expect(try log.deleteOldSegments(nowMs: 0) == 1)
    #expect(log.segmentBaseOffsets == [3, 6, 9])
    #expect(log.logStartOffset == 3)
    #expect(try log.deleteOldSegments(nowMs: 0) == 0)
  }

  @Test func compactOnlyTopicsKeepOldSegments() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, ["retention.ms": "1", "cleanup.policy": "compact"], batches: 9)
    #expect(try log.deleteOldSegments(nowMs: 100_000) == 0)
  }

  @Test func deleteRecordsAdvancesTheLogStartAndDropsSegmentsBelowIt() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, batches: 9)
    #expect(try log.deleteRecordsBefore(4) == 4)
    #expect(log.logStartOffset == 4)
    #expect(log.segmentBaseOffsets == [3, 6])
    #expect(throws: StorageError.self) { try log.read(offset: 3, maxBytes: 100, minOneBatch: true) }
    // Reading at the log start may return the batch that contains it.
    #expect(try log.readHeaders(offset: 4).first?.baseOffset == 4)
    // Never moves back, never past the high watermark.
    #expect(try log.deleteRecordsBefore(2) == 4)
    #expect(throws: StorageError.offsetOutOfRange(offset: 10, logStartOffset: 4, logEndOffset: 9)) {
      try log.deleteRecordsBefore(10)
    }
  }

  @Test func logStartOffsetSurvivesAReopen() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try makeLog(dir, batches: 6)
      try log.deleteRecordsBefore(4)
      try log.close()
    }
    let reopened = try PartitionLog.openForTest(dir, logStartOffset: 4, clean: true)
    #expect(reopened.logStartOffset == 4)
    #expect(reopened.logEndOffset == 6)
  }
}
