import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

@Suite struct OffsetIndexTests {
  @Test func lookupsFindTheGreatestEntryAtOrBelow() throws {
    let dir = TemporaryDirectory()
    let file = try SegmentFile(path: dir.file("x.index"))
    let index = OffsetIndex(file: file, baseOffset: 100, maxIndexSize: 80)
    try index.append(offset: 109, position: 500)
    try index.append(offset: 119, position: 1_000)
    try index.append(offset: 119, position: 1_200)  // not increasing: skipped
    try index.append(offset: 129, position: 1_500)
    #expect(index.count == 3)
    #expect(index.lookup(offset: 50) == OffsetPosition(offset: 100, position: 0))
    #expect(index.lookup(offset: 108) == OffsetPosition(offset: 100, position: 0))
    #expect(index.lookup(offset: 109) == OffsetPosition(offset: 109, position: 500))
    #expect(index.lookup(offset: 125) == OffsetPosition(offset: 119, position: 1_000))
    #expect(index.lookup(offset: 1_000) == OffsetPosition(offset: 129, position: 1_500))
    #expect(index.lookup(position: 999) == OffsetPosition(offset: 109, position: 500))
    #expect(index.lookup(position: 1_000) == OffsetPosition(offset: 119, position: 1_000))
    #expect(fileSize(dir.file("x.index")) == 24)

    // The file holds Kafka's layout and loads back.
    let reloaded = OffsetIndex(file: file, baseOffset: 100, maxIndexSize: 80)
    #expect(try reloaded.load(logSize: 2_000))
    #expect(
      reloaded.count == 3 && reloaded.lastEntry == OffsetPosition(offset: 129, position: 1_500))
    // Positions past the log mean the index cannot be trusted.
    #expect(try !reloaded.load(logSize: 1_000))

    try index.truncate(toEntries: index.entryCount(below: 119))
    #expect(index.count == 1)
    #expect(fileSize(dir.file("x.index")) == 8)
  }

  @Test func timeIndexLookups() throws {
    let dir = TemporaryDirectory()
    let index = TimeIndex(
      file: try SegmentFile(path: dir.file("x.timeindex")), baseOffset: 0, maxIndexSize: 120)
    try index.maybeAppend(timestamp: 1_000, offset: 4)
    try index.maybeAppend(timestamp: 900, offset: 9)  // not larger: skipped
    try index.maybeAppend(timestamp: 2_000, offset: 14)
    #expect(index.count == 2)
    #expect(index.lookup(timestamp: 999) == 0)
    #expect(index.lookup(timestamp: 1_000) == 4)
    #expect(index.lookup(timestamp: 1_999) == 4)
    #expect(index.lookup(timestamp: 5_000) == 14)
    #expect(fileSize(dir.file("x.timeindex")) == 24)
  }

  @Test func sparseIndexIsUsedForReads() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try config(["index.interval.bytes": "200"]))
    for index in 0..<50 { try log.appendBatch(records: 2, timestamp: 1_000 + Int64(index)) }
    let indexFile = dir.file("topic-0/" + segmentFile(0, ".index"))
    // An entry each time more than 200 bytes (3 batches of 81) were appended since the last.
    #expect(fileSize(indexFile) == 8 * 16)
    #expect(fileSize(dir.file("topic-0/" + segmentFile(0, ".timeindex"))) == 12 * 16)
    for offset in Int64(0)..<100 {
      #expect(
        try log.readHeaders(offset: offset, maxBytes: 1).map(\.baseOffset) == [offset / 2 * 2])
    }
  }
}

@Suite struct ListOffsetsTests {
  /// Batches of 2 records at timestamps 1000, 2000, ... in several segments.
  private func makeLog(_ dir: TemporaryDirectory, timestamps: [Int64]) throws -> PartitionLog {
    let log = try PartitionLog.openForTest(
      dir,
      config: try config([
        "segment.bytes": String(TestBatch.size() * 4), "index.interval.bytes": "100",
      ]))
    for timestamp in timestamps { try log.appendBatch(records: 2, timestamp: timestamp) }
    return log
  }

  @Test func earliestAndLatest() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, timestamps: [1_000, 2_000, 3_000])
    #expect(try log.fetchOffset(.earliest)?.offset == 0)
    #expect(try log.fetchOffset(.latest)?.offset == 6)
    log.updateHighWatermark(6)
    try log.deleteRecordsBefore(3)
    #expect(try log.fetchOffset(.earliest)?.offset == 3)
  }

  @Test func byTimestampFindsTheFirstBatchAtOrAfterTheTarget() throws {
    let dir = TemporaryDirectory()
    let timestamps = (1...20).map { Int64($0) * 1_000 }
    let log = try makeLog(dir, timestamps: timestamps)
    #expect(log.segmentCount == 5)
    for (index, timestamp) in timestamps.enumerated() {
      let exact = try #require(try log.fetchOffset(.timestamp(timestamp)))
      #expect(exact.offset == Int64(index) * 2)
      #expect(exact.timestamp == timestamp)
      let before = try #require(try log.fetchOffset(.timestamp(timestamp - 1)))
      #expect(before.offset == Int64(index) * 2)
    }
    #expect(try log.fetchOffset(.timestamp(0))?.offset == 0)
    #expect(try log.fetchOffset(.timestamp(20_001)) == nil)
    // The batch comes along so the caller can find the exact record.
    let found = try #require(try log.fetchOffset(.timestamp(7_500)))
    let batch = try #require(found.batch)
    #expect(try TestBatch.headers(batch.readBytes()).map(\.baseOffset) == [14])
  }

  @Test func byTimestampWithOutOfOrderTimestamps() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, timestamps: [5_000, 1_000, 7_000, 2_000, 6_000])
    #expect(try log.fetchOffset(.timestamp(6_000))?.offset == 4)
    #expect(try log.fetchOffset(.timestamp(1_500))?.offset == 0)
    #expect(try log.fetchOffset(.timestamp(7_000))?.timestamp == 7_000)
  }

  @Test func byTimestampNeverAnswersBelowTheLogStart() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, timestamps: [1_000, 2_000, 3_000])
    log.updateHighWatermark(6)
    try log.deleteRecordsBefore(3)
    #expect(try log.fetchOffset(.timestamp(0))?.offset == 3)
  }

  @Test func maxTimestampIsTheLastOffsetOfTheFirstBatchCarryingIt() throws {
    let dir = TemporaryDirectory()
    let log = try makeLog(dir, timestamps: [1_000, 9_000, 3_000, 9_000, 2_000, 4_000])
    let result = try #require(try log.fetchOffset(.maxTimestamp))
    #expect(result.timestamp == 9_000)
    #expect(result.offset == 3)
    #expect(result.batch?.firstBatchBaseOffset == 2)

    let empty = TemporaryDirectory()
    #expect(try PartitionLog.openForTest(empty).fetchOffset(.maxTimestamp) == nil)
  }

  @Test func timestampsSurviveAReopen() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try makeLog(dir, timestamps: (1...12).map { Int64($0) * 1_000 })
      try log.close()
    }
    let reopened = try PartitionLog.openForTest(dir, clean: true)
    #expect(reopened.loadInfo.recoveredSegments == 0)
    #expect(try reopened.fetchOffset(.timestamp(8_500))?.offset == 16)
    #expect(try reopened.fetchOffset(.maxTimestamp)?.offset == 23)
  }
}
