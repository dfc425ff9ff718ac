import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

private func expectStorageError(
  _ expected: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation,
  _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("expected \(expected)", sourceLocation: sourceLocation)
  } catch let error as StorageError {
    #expect(error.errorCode == expected, "\(error)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
  }
}

@Suite struct ProducerStateTests {
  @Test func retriedBatchIsAnsweredWithItsOriginalOffsets() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.appendBatch(records: 2)  // a non-idempotent batch first: offsets 0-1
    let first = try log.produce(producerId: 7, sequence: 0, records: 3)
    #expect(first.firstOffset == 2 && !first.isDuplicate)
    let retry = try log.produce(producerId: 7, sequence: 0, records: 3)
    #expect(retry.isDuplicate)
    #expect(retry.firstOffset == 2 && retry.lastOffset == 4)
    #expect(log.logEndOffset == 5)
    let next = try log.produce(producerId: 7, sequence: 3, records: 1)
    #expect(next.firstOffset == 5 && !next.isDuplicate)
    let entry = try #require(log.producerState.entry(producerId: 7))
    #expect(entry.producerEpoch == 0 && entry.lastSequence == 3 && entry.lastOffset == 5)
  }

  @Test func sequenceGapsAndOldEpochsAreRefused() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.produce(producerId: 1, epoch: 3, sequence: 0, records: 2)
    expectStorageError(.outOfOrderSequenceNumber) {
      try log.produce(producerId: 1, epoch: 3, sequence: 5)
    }
    expectStorageError(.invalidProducerEpoch) {
      try log.produce(producerId: 1, epoch: 2, sequence: 2)
    }
    // A new epoch starts at sequence 0.
    expectStorageError(.outOfOrderSequenceNumber) {
      try log.produce(producerId: 1, epoch: 4, sequence: 2)
    }
    #expect(try log.produce(producerId: 1, epoch: 4, sequence: 0).firstOffset == 2)
    #expect(log.logEndOffset == 3)
  }

  @Test func unknownProducerMayStartAtAnySequence() throws {
    // Kafka 4: without state for the producer (its batches deleted by retention, say), the
    // first batch is accepted at any sequence.
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    #expect(try log.produce(producerId: 9, sequence: 42).firstOffset == 0)
    #expect(try log.produce(producerId: 9, sequence: 43).firstOffset == 1)
  }

  @Test func onlyTheLastFiveBatchesAreRecognisedAsRetries() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    for sequence in Int32(0)..<6 { try log.produce(producerId: 5, sequence: sequence) }
    #expect(try log.produce(producerId: 5, sequence: 1).isDuplicate)
    expectStorageError(.outOfOrderSequenceNumber) { try log.produce(producerId: 5, sequence: 0) }
  }

  @Test func sequencesWrapAtInt32Max() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.produce(producerId: 2, sequence: Int32.max - 1, records: 2)
    #expect(log.producerState.entry(producerId: 2)?.lastSequence == Int32.max)
    try log.produce(producerId: 2, sequence: 0)
    let wrapped = try log.produce(producerId: 2, sequence: Int32.max - 1, records: 2)
    #expect(wrapped.isDuplicate && wrapped.firstOffset == 0)
  }

  @Test func stateSurvivesACrashThroughSnapshotsAndTheLogTail() throws {
    let dir = TemporaryDirectory()
    let small = try config(["segment.bytes": "300"])
    do {
      let log = try PartitionLog.openForTest(dir, config: small)
      for sequence in Int32(0)..<12 {
        try log.produce(producerId: 11, sequence: sequence * 2, records: 2)
      }
      #expect(log.segmentCount > 2)
      // No close: the process dies here.
    }
    let snapshots = try ProducerSnapshotFile.offsets(in: dir.file("topic-0"))
    #expect(!snapshots.isEmpty)
    let log = try PartitionLog.openForTest(dir, config: small)
    #expect(log.logEndOffset == 24)
    let retry = try log.produce(producerId: 11, sequence: 22, records: 2)
    #expect(retry.isDuplicate && retry.firstOffset == 22)
    #expect(try log.produce(producerId: 11, sequence: 24).firstOffset == 24)
  }

  @Test func cleanShutdownSnapshotsAtTheLogEnd() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try PartitionLog.openForTest(dir)
      try log.produce(producerId: 3, epoch: 1, sequence: 0, records: 4)
      try log.close(nowMs: 0)
    }
    #expect(try ProducerSnapshotFile.offsets(in: dir.file("topic-0")) == [4])
    let log = try PartitionLog.openForTest(dir, clean: true)
    let entry = try #require(log.producerState.entry(producerId: 3))
    #expect(entry.producerEpoch == 1 && entry.lastSequence == 3 && entry.lastOffset == 3)
    #expect(try log.produce(producerId: 3, epoch: 1, sequence: 0, records: 4).isDuplicate)
  }

  @Test func tornSnapshotIsIgnored() throws {
    let dir = TemporaryDirectory()
    do {
      let log = try PartitionLog.openForTest(dir)
      try log.produce(producerId: 4, sequence: 0, records: 2)
      try log.close(nowMs: 0)
    }
    let path = dir.file("topic-0/" + segmentFile(2, ".snapshot"))
    try corruptByte(at: 12, of: path)
    let log = try PartitionLog.openForTest(dir)
    // Rebuilt from the log instead.
    #expect(log.producerState.entry(producerId: 4)?.lastSequence == 1)
    #expect(!FileManager.default.fileExists(atPath: path))
  }

  @Test func truncationRebuildsTheState() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.produce(producerId: 8, sequence: 0, records: 2)
    try log.produce(producerId: 8, sequence: 2, records: 2)
    try log.truncateTo(2)
    #expect(log.producerState.entry(producerId: 8)?.lastSequence == 1)
    // The truncated batch is new again, not a duplicate.
    let again = try log.produce(producerId: 8, sequence: 2, records: 2)
    #expect(!again.isDuplicate && again.firstOffset == 2)
    try log.truncateFullyAndStartAt(10)
    #expect(log.producerState.activeProducers.isEmpty)
  }

  @Test func idleProducersExpire() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir)
    try log.produce(producerId: 1, sequence: 0, timestamp: 1_000)
    try log.produce(producerId: 2, sequence: 0, timestamp: 5_000)
    #expect(log.removeExpiredProducers(nowMs: 6_000, expirationMs: 4_000) == 1)
    #expect(log.producerState.activeProducers.map(\.producerId) == [2])
  }

  @Test func snapshotFormatRoundTrips() throws {
    let entries = [
      ProducerStateEntry(
        producerId: 1000, producerEpoch: 2,
        batches: [
          ProducerBatchMetadata(
            firstSequence: 10, lastSequence: 14, firstOffset: 100, lastOffset: 104,
            timestamp: 123)
        ], coordinatorEpoch: 5, currentTxnFirstOffset: -1, lastTimestamp: 123)
    ]
    let bytes = ProducerSnapshotFile.encode(entries)
    #expect(bytes.count == 6 + 4 + 46)
    #expect(ProducerSnapshotFile.decode(bytes) == entries)
    var torn = bytes
    torn.removeLast()
    #expect(ProducerSnapshotFile.decode(torn) == nil)
  }

  @Test func transactionalBatchesOpenATransactionThatMarkersClose() throws {
    var entry = ProducerStateEntry(producerId: 6)
    var header = try RecordBatchHeader(
      peeking: producerBatch(
        producerId: 6, sequence: 0, records: 2, baseOffset: 40, transactional: true), at: 0)
    try ProducerStateManager.update(&entry, with: header, origin: .replication)
    #expect(entry.currentTxnFirstOffset == 40)
    header.attributes.isControl = true
    header.baseOffset = 42
    header.lastOffsetDelta = 0
    try ProducerStateManager.update(&entry, with: header, origin: .replication)
    #expect(entry.currentTxnFirstOffset == -1 && entry.lastSequence == 1)
  }
}
