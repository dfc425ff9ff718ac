import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

@Suite struct RecoveryTests {
  private let smallSegments = ["segment.bytes": String(TestBatch.size() * 3)]

  /// Writes `batches` single-record batches and drops the log without closing it (a crash as far
  /// as the files are concerned: no final time index entries, no flush, no marker).
  private func crashAfter(_ dir: TemporaryDirectory, batches: Int, _ values: [String: String] = [:])
    throws
  {
    let log = try PartitionLog.openForTest(dir, config: try config(values))
    for index in 0..<batches { try log.appendBatch(timestamp: 1_000 + Int64(index)) }
  }

  @Test func tornTailIsTruncatedToTheLastWholeBatch() throws {
    let dir = TemporaryDirectory()
    try crashAfter(dir, batches: 5)
    let logFile = dir.file("topic-0/" + segmentFile(0, ".log"))
    let partial = TestBatch.make(baseOffset: 5).getBytes(at: 0, length: 30) ?? []
    try appendBytes(partial, to: logFile)

    let log = try PartitionLog.openForTest(dir)
    #expect(log.loadInfo.recoveredSegments == 1)
    #expect(log.loadInfo.truncatedBytes == 30)
    #expect(log.logEndOffset == 5)
    #expect(fileSize(logFile) == 5 * TestBatch.size())
    try log.appendBatch()
    #expect(try log.readHeaders(offset: 4).map(\.baseOffset) == [4, 5])
  }

  @Test func garbageTailIsTruncated() throws {
    let dir = TemporaryDirectory()
    try crashAfter(dir, batches: 2)
    try appendBytes(
      [UInt8](repeating: 0, count: 4_096), to: dir.file("topic-0/" + segmentFile(0, ".log")))
    let log = try PartitionLog.openForTest(dir)
    #expect(log.logEndOffset == 2)
    #expect(log.loadInfo.truncatedBytes == 4_096)
  }

  @Test func corruptCRCInTheLastSegmentCutsFromThatBatch() throws {
    let dir = TemporaryDirectory()
    try crashAfter(dir, batches: 8, smallSegments)  // segments 0, 3, 6
    // Flip a record byte of batch 7 (second batch of the last segment).
    let lastLog = dir.file("topic-0/" + segmentFile(6, ".log"))
    try corruptByte(at: UInt64(TestBatch.size() + 70), of: lastLog)

    let log = try PartitionLog.openForTest(dir, config: try config(smallSegments))
    #expect(log.logEndOffset == 7)
    #expect(log.loadInfo.truncatedBytes == TestBatch.size())
    #expect(log.segmentBaseOffsets == [0, 3, 6])
    #expect(try log.readHeaders(offset: 6).map(\.baseOffset) == [6])
  }

  @Test func corruptionInAnUnflushedSegmentDeletesTheLaterOnes() throws {
    let dir = TemporaryDirectory()
    try crashAfter(dir, batches: 9, smallSegments)  // segments 0, 3, 6
    try corruptByte(
      at: UInt64(TestBatch.size() + 70), of: dir.file("topic-0/" + segmentFile(3, ".log")))

    let log = try PartitionLog.openForTest(dir, config: try config(smallSegments), recoveryPoint: 3)
    #expect(log.loadInfo.recoveredSegments == 1)
    #expect(log.loadInfo.deletedSegments == 1)
    #expect(log.segmentBaseOffsets == [0, 3])
    #expect(log.logEndOffset == 4)
    #expect(!FileManager.default.fileExists(atPath: dir.file("topic-0/" + segmentFile(6, ".log"))))
  }

  @Test func segmentsBelowTheRecoveryPointAreNotRescanned() throws {
    let dir = TemporaryDirectory()
    try crashAfter(dir, batches: 9, smallSegments)
    let log = try PartitionLog.openForTest(dir, config: try config(smallSegments), recoveryPoint: 6)
    #expect(log.loadInfo.recoveredSegments == 1)
    #expect(log.logEndOffset == 9)
    #expect(log.recoveryPoint == 6)
  }

  @Test func missingIndexIsRebuilt() throws {
    let dir = TemporaryDirectory()
    let values = ["index.interval.bytes": "100", "segment.bytes": String(TestBatch.size() * 10)]
    do {
      let log = try PartitionLog.openForTest(dir, config: try config(values))
      for index in 0..<25 { try log.appendBatch(timestamp: 1_000 + Int64(index)) }
      try log.close()
    }
    let index = dir.file("topic-0/" + segmentFile(0, ".index"))
    let size = fileSize(index)
    #expect(size > 0)
    try FileManager.default.removeItem(atPath: index)

    let log = try PartitionLog.openForTest(dir, config: try config(values), clean: true)
    #expect(log.loadInfo.rebuiltIndexes == 1)
    #expect(log.loadInfo.recoveredSegments == 1)
    #expect(fileSize(index) == size)
    #expect(log.logEndOffset == 25)
    for offset in Int64(0)..<25 {
      #expect(try log.readHeaders(offset: offset, maxBytes: 1).map(\.baseOffset) == [offset])
    }
  }

  @Test func corruptIndexIsRebuilt() throws {
    let dir = TemporaryDirectory()
    let values = ["index.interval.bytes": "100"]
    do {
      let log = try PartitionLog.openForTest(dir, config: try config(values))
      for _ in 0..<10 { try log.appendBatch() }
      try log.close()
    }
    let index = dir.file("topic-0/" + segmentFile(0, ".index"))
    try appendBytes([1, 2, 3], to: index)  // not a multiple of 8
    let log = try PartitionLog.openForTest(dir, config: try config(values), clean: true)
    #expect(log.loadInfo.rebuiltIndexes == 1)
    #expect(fileSize(index) % 8 == 0)

    // Non-monotonic entries are caught too.
    try log.close()
    let file = try #require(FileHandle(forUpdatingAtPath: index))
    try file.write(contentsOf: Data([0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 2, 0]))
    try file.close()
    let again = try PartitionLog.openForTest(dir, config: try config(values), clean: true)
    #expect(again.loadInfo.rebuiltIndexes == 1)
    #expect(try again.readHeaders(offset: 5, maxBytes: 1).map(\.baseOffset) == [5])
  }

  @Test func cleanOpenDoesNotRescan() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try PartitionLog.openForTest(dir, config: try config(smallSegments))
      for _ in 0..<8 { try log.appendBatch() }
      try log.close()
    }
    let clean = try PartitionLog.openForTest(dir, config: try config(smallSegments), clean: true)
    #expect(clean.loadInfo.recoveredSegments == 0)
    #expect(clean.logEndOffset == 8)
    #expect(clean.recoveryPoint == 8)

    let unclean = try PartitionLog.openForTest(dir, config: try config(smallSegments))
    #expect(unclean.loadInfo.recoveredSegments == 3)
    #expect(unclean.logEndOffset == 8)
  }

  @Test func emptyAndOrphanFilesAreHandled() throws {
    let dir = TemporaryDirectory()
    try FileManager.default.createDirectory(
      atPath: dir.file("topic-0"), withIntermediateDirectories: true)
    _ = FileManager.default.createFile(
      atPath: dir.file("topic-0/" + segmentFile(7, ".index")), contents: Data([1]))
    _ = FileManager.default.createFile(
      atPath: dir.file("topic-0/" + segmentFile(0, ".log.deleted")), contents: Data([1]))
    _ = FileManager.default.createFile(atPath: dir.file("topic-0/notes.txt"), contents: Data([1]))
    let log = try PartitionLog.openForTest(dir, logStartOffset: 42)
    #expect(log.segmentBaseOffsets == [42])
    #expect(log.logStartOffset == 42 && log.logEndOffset == 42)
    #expect(
      !FileManager.default.fileExists(atPath: dir.file("topic-0/" + segmentFile(7, ".index"))))
    #expect(
      !FileManager.default.fileExists(atPath: dir.file("topic-0/" + segmentFile(0, ".log.deleted")))
    )
  }

  @Test func topicIdSurvivesReopen() throws {
    let dir = TemporaryDirectory()
    let id = KafkaUuid.random()
    do {
      let log = try PartitionLog.openForTest(dir)
      #expect(log.topicId == nil)
      try log.assignTopicId(id)
    }
    let text = try String(contentsOfFile: dir.file("topic-0/partition.metadata"), encoding: .utf8)
    #expect(text == "version: 0\ntopic_id: \(id)\n")
    let log = try PartitionLog.openForTest(dir)
    #expect(log.topicId == id)
    try log.assignTopicId(id)
    #expect(
      throws: StorageError.inconsistentTopicId(expected: KafkaUuid(high: 1, low: 2), found: id)
    ) {
      try log.assignTopicId(KafkaUuid(high: 1, low: 2))
    }
  }
}
