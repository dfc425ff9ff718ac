import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

/// One record as a consumer sees it after cleaning.
private struct Stored: Equatable, CustomStringConvertible {
  var offset: Int64
  var key: String?
  var value: String?
  var description: String { "\(offset):\(key ?? "-")=\(value ?? "null")" }
}

private func string(_ buffer: ByteBuffer?) -> String? {
  buffer.map { String(buffer: $0) }
}

/// Appends one batch of `records` (key, value or nil for a tombstone) with `codec`; returns
/// the records' offsets.
@discardableResult
private func append(
  _ log: PartitionLog, _ records: [(String?, String?)], codec: CompressionType = .none,
  timestamp: Int64 = 1_000, producerId: Int64 = -1, baseSequence: Int32 = -1
) throws -> [Int64] {
  var builder = RecordBatchBuilder(
    producerId: producerId, producerEpoch: producerId >= 0 ? 0 : -1, baseSequence: baseSequence)
  for (key, value) in records {
    builder.append(
      key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
      timestamp: timestamp)
  }
  let built = try builder.build(compression: codec)
  let info = try log.appendAsLeader(nowMs: timestamp) { next in
    var batch = built
    _ = try RecordBatchValidator.assignOffsets(
      in: &batch, firstOffset: next, partitionLeaderEpoch: 0)
    return batch
  }
  log.updateHighWatermark(info.logEndOffset)
  return Array(info.firstOffset...info.lastOffset)
}

/// Every record and batch header readable from the log start, fetched batch by batch as a
/// consumer would.
private func readAll(_ log: PartitionLog) throws -> (
  records: [Stored], batches: [RecordBatchHeader]
) {
  var records: [Stored] = []
  var headers: [RecordBatchHeader] = []
  var offset = log.logStartOffset
  while offset < log.logEndOffset {
    let info = try log.read(offset: offset, maxBytes: 1 << 20, minOneBatch: true)
    var batches = RecordBatchIterator(try info.readBytes())
    var advanced = false
    while let batch = try batches.next() {
      try batch.verifyChecksum()
      headers.append(batch.header)
      var iterator = try batch.decompressedRecords()
      while let record = try iterator.next() {
        records.append(
          Stored(
            offset: batch.offset(of: record), key: string(record.key), value: string(record.value)))
      }
      offset = batch.header.nextOffset
      advanced = true
    }
    if !advanced { break }
  }
  return (records, headers)
}

/// What compaction must leave: below `cleanUpTo`, the latest record per key (tombstones
/// included unless `dropTombstones`); from there on, everything.
private func expectedAfterCleaning(
  _ written: [Stored], cleanUpTo: Int64, dropTombstones: Bool = false
) -> [Stored] {
  var latest: [String: Int64] = [:]
  for record in written where record.offset < cleanUpTo {
    if let key = record.key { latest[key] = record.offset }
  }
  return written.filter { record in
    guard record.offset < cleanUpTo else { return true }
    guard let key = record.key, latest[key] == record.offset else { return false }
    return !(dropTombstones && record.value == nil)
  }
}

private func compactConfig(_ extra: [String: String] = [:]) throws -> LogConfig {
  try LogConfig(
    ["cleanup.policy": "compact", "segment.bytes": "600", "min.cleanable.dirty.ratio": "0.01"]
      .merging(extra) { $1 })
}

private func cleaner(
  _ dir: TemporaryDirectory, _ logs: [PartitionLog], dedupeBufferSize: Int = 1 << 20
) -> LogCleaner {
  var config = LogCleanerConfig()
  config.dedupeBufferSize = dedupeBufferSize
  return LogCleaner(dataDir: dir.path, config: config, logs: { logs }, logger: quietLogger)
}

/// Writes `updates` rounds of updates to `keys` keys, one batch per round.
@discardableResult
private func writeUpdates(
  _ log: PartitionLog, rounds: Int, keys: Int, codec: CompressionType = .none,
  timestamp: Int64 = 1_000
) throws -> [Stored] {
  var written: [Stored] = []
  for round in 0..<rounds {
    let records = (0..<keys).map { ("key-\(($0 + round) % keys)", "value-\(round)-\($0)") }
    let offsets = try append(log, records, codec: codec, timestamp: timestamp)
    for (offset, record) in zip(offsets, records) {
      written.append(Stored(offset: offset, key: record.0, value: record.1))
    }
  }
  return written
}

@Suite("Log compaction")
struct CompactionTests {
  @Test(
    "latest value per key, kept offsets unchanged, every codec kept",
    arguments: CompressionType.allCases)
  func latestValuePerKey(codec: CompressionType) throws {
    let dir = TemporaryDirectory()
    let config = try compactConfig(["index.interval.bytes": "64", "segment.bytes": "1500"])
    let log = try PartitionLog.openForTest(dir, config: config)
    let written = try writeUpdates(log, rounds: 40, keys: 4, codec: codec)
    #expect(log.segmentCount > 3)
    let activeBase = try #require(log.segmentBaseOffsets.last)
    let before = try readAll(log)
    #expect(before.records == written)

    let cleaner = cleaner(dir, [log])
    #expect(try cleaner.cleanFilthiestLog(nowMs: 10_000) == log.topicPartition)
    let after = try readAll(log)
    #expect(after.records == expectedAfterCleaning(written, cleanUpTo: activeBase))
    #expect(cleaner.cleanedOffsets[log.topicPartition] == activeBase)
    #expect(
      try OffsetCheckpointFile(path: dir.file(LogCleaner.checkpointFileName)).read()[
        log.topicPartition] == activeBase)
    for header in after.batches where header.recordCount > 0 {
      #expect(header.attributes.compression == codec)
    }
    // Batches keep their original offset ranges: base and last offsets are among the old ones.
    let oldRanges = Set(before.batches.map { [$0.baseOffset, $0.lastOffset] })
    for header in after.batches {
      #expect(oldRanges.contains([header.baseOffset, header.lastOffset]))
    }
    // Nothing left to do: a second pass finds the log clean.
    #expect(try cleaner.cleanFilthiestLog(nowMs: 10_000) == nil)
    #expect(try readAll(log).records == after.records)
    // The indexes written with the cleaned segments are trusted after a clean shutdown, and
    // agree with a rebuild.
    try log.close()
    let trusted = try PartitionLog.openForTest(dir, config: config, clean: true)
    #expect(trusted.loadInfo.recoveredSegments == 0)
    #expect(try readAll(trusted).records == after.records)
    for record in after.records {
      let first = try #require(try trusted.readHeaders(offset: record.offset).first)
      #expect(first.baseOffset <= record.offset && first.lastOffset >= record.offset)
    }
    try trusted.close()
    var built: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: dir.file("topic-0"))
    where name.hasSuffix(".index") || name.hasSuffix(".timeindex") {
      built[name] = FileManager.default.contents(atPath: dir.file("topic-0/\(name)"))
    }
    #expect(built.values.contains { $0.count > 0 })
    for name in try FileManager.default.contentsOfDirectory(atPath: dir.file("topic-0"))
    where name.hasSuffix(".index") || name.hasSuffix(".timeindex") {
      try FileManager.default.removeItem(atPath: dir.file("topic-0/\(name)"))
    }
    let rebuilt = try PartitionLog.openForTest(dir, config: config, clean: true)
    #expect(rebuilt.loadInfo.rebuiltIndexes > 0)
    #expect(try readAll(rebuilt).records == after.records)
    try rebuilt.close()
    for (name, bytes) in built {
      #expect(FileManager.default.contents(atPath: dir.file("topic-0/\(name)")) == bytes, "\(name)")
    }
  }

  @Test("a read of a removed offset returns the next batch; offsets stay dense elsewhere")
  func readsByOffset() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try compactConfig())
    // Offsets 0-9: keys a..j once each (never superseded), then 30 batches updating "x".
    let unique = try append(log, (0..<10).map { ("unique-\($0)", "u\($0)") })
    var xOffsets: [Int64] = []
    for index in 0..<30 { xOffsets += try append(log, [("x", "x\(index)")]) }
    _ = try append(log, [("tail", "t")])
    try log.roll()
    _ = try append(log, [("active", "a")])
    try #require(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: 10_000) != nil)

    let after = try readAll(log).records
    #expect(Array(after.prefix(10).map(\.offset)) == unique)
    #expect(after.filter { $0.key == "x" }.map(\.offset) == [xOffsets[29]])
    // A removed offset: the fetch starts at the batch holding the next kept record.
    let info = try log.read(offset: xOffsets[3], maxBytes: 1 << 20, minOneBatch: true)
    let first = try #require(try TestBatch.headers(info.readBytes()).first)
    #expect(first.baseOffset == xOffsets[29])
    #expect(try log.readHeaders(offset: unique[4]).first?.baseOffset == 0)
  }

  @Test("the active segment is never cleaned")
  func activeSegment() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try compactConfig(["segment.bytes": "100000"]))
    let written = try writeUpdates(log, rounds: 20, keys: 2)
    #expect(log.segmentCount == 1)
    #expect(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: 10_000) == nil)
    #expect(try readAll(log).records == written)
  }

  @Test("nothing at or above the high watermark is cleaned")
  func highWatermark() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try compactConfig())
    let written = try writeUpdates(log, rounds: 40, keys: 4)
    let bases = log.segmentBaseOffsets
    log.setHighWatermarkFromLeader(bases[2] + 1)  // the leader's never moves back
    try #require(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: 10_000) != nil)
    #expect(try readAll(log).records == expectedAfterCleaning(written, cleanUpTo: bases[2]))
  }

  @Test("min.compaction.lag.ms keeps young segments dirty")
  func minCompactionLag() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try compactConfig(["min.compaction.lag.ms": "5000"]))
    var written = try writeUpdates(log, rounds: 20, keys: 4, timestamp: 1_000)
    let youngFrom = log.logEndOffset
    written += try writeUpdates(log, rounds: 20, keys: 4, timestamp: 8_000)
    let cleaner = cleaner(dir, [log])
    // At 4000 nothing is 5 s old.
    #expect(try cleaner.cleanFilthiestLog(nowMs: 4_000) == nil)
    #expect(try readAll(log).records == written)
    // At 9000 the first 20 rounds are; the segments holding later ones are not.
    try #require(try cleaner.cleanFilthiestLog(nowMs: 9_000) != nil)
    let cleanedTo = try #require(cleaner.cleanedOffsets[log.topicPartition])
    #expect(cleanedTo <= youngFrom + 4)
    #expect(cleanedTo > 40)
    #expect(try readAll(log).records == expectedAfterCleaning(written, cleanUpTo: cleanedTo))
  }

  @Test("max.compaction.lag.ms cleans a log below its dirty ratio once dirt is old enough")
  func maxCompactionLag() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir,
      config: try compactConfig([
        "min.cleanable.dirty.ratio": "1", "max.compaction.lag.ms": "10000",
      ]))
    let written = try writeUpdates(log, rounds: 30, keys: 4, timestamp: 1_000)
    let activeBase = try #require(log.segmentBaseOffsets.last)
    let cleaner = cleaner(dir, [log])
    // The whole log is dirty (ratio 1, not above the threshold): only the lag forces it.
    #expect(try cleaner.cleanFilthiestLog(nowMs: 5_000) == nil)
    #expect(try cleaner.cleanFilthiestLog(nowMs: 11_001) == log.topicPartition)
    #expect(try readAll(log).records == expectedAfterCleaning(written, cleanUpTo: activeBase))
  }

  @Test("topic configs of the cleaner parse with Kafka's names, defaults and bounds")
  func configs() throws {
    let defaults = LogConfig()
    #expect(defaults.deleteRetentionMs == 86_400_000 && defaults.minCompactionLagMs == 0)
    #expect(defaults.maxCompactionLagMs == .max && defaults.minCleanableDirtyRatio == 0.5)
    let parsed = try LogConfig([
      "delete.retention.ms": "5", "min.compaction.lag.ms": "6", "max.compaction.lag.ms": "7",
      "min.cleanable.dirty.ratio": "0.25",
    ])
    #expect(parsed.deleteRetentionMs == 5 && parsed.minCompactionLagMs == 6)
    #expect(parsed.maxCompactionLagMs == 7 && parsed.minCleanableDirtyRatio == 0.25)
    #expect(parsed.value(forName: "min.cleanable.dirty.ratio") == "0.25")
    #expect(defaults.value(forName: "max.compaction.lag.ms") == "9223372036854775807")
    #expect(throws: LogConfigError.self) { try LogConfig(["min.cleanable.dirty.ratio": "1.5"]) }
    #expect(throws: LogConfigError.self) { try LogConfig(["max.compaction.lag.ms": "0"]) }
    #expect(defaults.describe().contains { $0.name == "delete.retention.ms" && $0.isDefault })
  }

  @Test("a .swap file at or after an unfinished .cleaned one is discarded at load")
  func swapAfterCleaned() throws {
    let dir = TemporaryDirectory()
    let config = try compactConfig()
    let log = try PartitionLog.openForTest(dir, config: config)
    let written = try writeUpdates(log, rounds: 20, keys: 4)
    let bases = log.segmentBaseOffsets
    try log.close()
    let partition = dir.file("topic-0")
    // A swap for the second segment made of garbage-free but wrong content (a copy of the
    // first segment), and an unfinished cleaning starting at the first: the swap must go.
    let first = partition + "/" + segmentFile(bases[0], ".log")
    try FileManager.default.copyItem(
      atPath: first, toPath: partition + "/" + segmentFile(bases[1], ".log.swap"))
    try FileManager.default.copyItem(
      atPath: first, toPath: partition + "/" + segmentFile(bases[0], ".log.cleaned"))
    let reopened = try PartitionLog.openForTest(dir, config: config)
    #expect(try readAll(reopened).records == written)
    let names = try FileManager.default.contentsOfDirectory(atPath: partition)
    #expect(!names.contains { $0.hasSuffix(".swap") || $0.hasSuffix(".cleaned") })
  }

  @Test("tombstones stay until delete.retention.ms after their first cleaning, then go")
  func tombstones() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try compactConfig(["delete.retention.ms": "1000"]))
    var written = try writeUpdates(log, rounds: 10, keys: 3)
    let tombstone = try append(log, [("key-1", nil)])
    written.append(Stored(offset: tombstone[0], key: "key-1", value: nil))
    written += try writeUpdates(log, rounds: 10, keys: 1).map { record in
      // Reuse "key-0" only; offsets come from the log.
      record
    }
    try log.roll()
    let activeBase = try #require(log.segmentBaseOffsets.last)
    _ = try append(log, [("other", "o")])
    let cleaner = cleaner(dir, [log])
    try #require(try cleaner.cleanFilthiestLog(nowMs: 50_000) != nil)
    var after = try readAll(log)
    #expect(
      after.records == expectedAfterCleaning(written, cleanUpTo: activeBase) + [
        Stored(offset: activeBase, key: "other", value: "o")
      ])
    #expect(after.records.contains(Stored(offset: tombstone[0], key: "key-1", value: nil)))
    let stamped = try #require(after.batches.first { $0.lastOffset == tombstone[0] })
    #expect(stamped.deleteHorizonMs == 51_000)
    // Before the horizon nothing needs doing; after it the tombstone goes.
    #expect(try cleaner.cleanFilthiestLog(nowMs: 50_900) == nil)
    try #require(try cleaner.cleanFilthiestLog(nowMs: 51_000) != nil)
    after = try readAll(log)
    #expect(!after.records.contains { $0.key == "key-1" })
    #expect(
      after.records
        == expectedAfterCleaning(written, cleanUpTo: activeBase, dropTombstones: true) + [
          Stored(offset: activeBase, key: "other", value: "o")
        ])
  }

  @Test("after a restart, stamped delete horizons are read back and expired tombstones go")
  func tombstonesAfterRestart() throws {
    let dir = TemporaryDirectory()
    let config = try compactConfig(["delete.retention.ms": "1000"])
    let log = try PartitionLog.openForTest(dir, config: config)
    try writeUpdates(log, rounds: 10, keys: 3)
    let tombstone = try append(log, [("key-2", nil)])
    try writeUpdates(log, rounds: 10, keys: 2)
    try log.roll()
    _ = try append(log, [("other", "o")])
    try #require(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: 50_000) != nil)
    #expect(try readAll(log).records.contains { $0.offset == tombstone[0] })
    try log.close()

    let reopened = try PartitionLog.openForTest(dir, config: config)
    reopened.updateHighWatermark(reopened.logEndOffset)
    let restarted = cleaner(dir, [reopened])
    // Clean already (checkpointed), so only the horizon read from the batches brings it back.
    #expect(try restarted.cleanFilthiestLog(nowMs: 50_500) == nil)
    #expect(try restarted.cleanFilthiestLog(nowMs: 51_000) != nil)
    let after = try readAll(reopened)
    #expect(!after.records.contains { $0.key == "key-2" })
    #expect(!after.batches.contains { $0.deleteHorizonMs != nil })
    #expect(try restarted.cleanFilthiestLog(nowMs: 60_000) == nil)
  }

  @Test("the last batch of an active producer stays, empty, with its offsets and sequence")
  func producerLastBatch() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try compactConfig())
    _ = try append(log, [("k", "1"), ("j", "1")], producerId: 42, baseSequence: 0)
    let last = try append(log, [("k", "2"), ("j", "2")], producerId: 42, baseSequence: 2)
    _ = try append(log, [("k", "3"), ("j", "3")], producerId: 43, baseSequence: 0)
    _ = try append(log, [("k", "4"), ("j", "4")], producerId: 44, baseSequence: 0)
    try log.roll()
    _ = try append(log, [("k", "5"), ("j", "5")])
    let cleaner = cleaner(dir, [log])
    #expect(log.producerState.lastBatchOffsets == [42: last[1], 43: 5, 44: 7])
    try #require(try cleaner.cleanFilthiestLog(nowMs: 10_000) != nil)
    let after = try readAll(log)
    // The map covers the cleanable part only: "4" is the latest there, "5" is in the active
    // segment.
    #expect(after.records.map(\.value) == ["4", "4", "5", "5"])
    let kept = after.batches.filter { $0.producerId == 42 }
    #expect(kept.count == 1)
    #expect(kept.first?.recordCount == 0)
    #expect(kept.first?.baseOffset == last[0] && kept.first?.lastOffset == last[1])
    #expect(kept.first?.baseSequence == 2 && kept.first?.producerEpoch == 0)
    #expect(after.batches.first { $0.producerId == 43 }?.recordCount == 0)
    #expect(after.batches.first { $0.producerId == 44 }?.recordCount == 2)
  }

  @Test("a log whose cleaning fails is skipped afterwards; others are still cleaned")
  func uncleanable() throws {
    let dir = TemporaryDirectory()
    let broken = try PartitionLog.open(
      dir: dir.file("broken-0"), topicPartition: TopicPartition("broken", 0),
      config: try compactConfig(), nowMs: 0, logger: quietLogger)
    _ = try append(broken, [("k", "1")])
    // A batch that claims gzip but holds garbage (with a valid CRC: it was stored so).
    var builder = RecordBatchBuilder()
    builder.append(key: ByteBuffer(string: "k"), value: ByteBuffer(string: "2"), timestamp: 1)
    var bad = builder.build()
    bad.setInteger(Int16(1), at: 21)
    let crc = CRC32C.checksum(bad, at: 21, length: bad.readableBytes - 21) ?? 0
    bad.setInteger(crc, at: 17)
    let info = try broken.appendAsLeader(nowMs: 0) { next in
      var batch = bad
      _ = try RecordBatchValidator.assignOffsets(
        in: &batch, firstOffset: next, partitionLeaderEpoch: 0)
      return batch
    }
    broken.updateHighWatermark(info.logEndOffset)
    try broken.roll()
    let good = try PartitionLog.openForTest(dir, config: try compactConfig())
    let written = try writeUpdates(good, rounds: 30, keys: 3)
    let activeBase = try #require(good.segmentBaseOffsets.last)
    // The broken log is the dirtiest (everything in it is dirty).
    let cleaner = cleaner(dir, [broken, good])
    #expect(throws: RecordBatchError.self) { try cleaner.cleanFilthiestLog(nowMs: 10_000) }
    #expect(cleaner.uncleanablePartitions == [broken.topicPartition])
    #expect(try cleaner.cleanFilthiestLog(nowMs: 10_000) == good.topicPartition)
    #expect(try readAll(good).records == expectedAfterCleaning(written, cleanUpTo: activeBase))
    #expect(try cleaner.cleanFilthiestLog(nowMs: 10_000) == nil)
    let left = try FileManager.default.contentsOfDirectory(atPath: dir.file("broken-0"))
    #expect(!left.contains { $0.hasSuffix(".cleaned") })
  }

  @Test("keyless records are dropped by cleaning")
  func keyless() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try compactConfig())
    _ = try append(log, [(nil, "no key"), ("k", "1")])
    _ = try append(log, [("k", "2")])
    try log.roll()
    _ = try append(log, [("z", "z")])
    try #require(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: 10_000) != nil)
    #expect(try readAll(log).records.map(\.value) == ["2", "z"])
  }

  @Test("a small dedupe buffer cleans in several passes, each correct")
  func smallDedupeBuffer() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try compactConfig(["min.cleanable.dirty.ratio": "0"]))
    var written: [Stored] = []
    for round in 0..<6 {
      let records = (0..<400).map { ("key-\(round)-\($0)", "v\(round)") }
      let offsets = try append(log, records)
      written += zip(offsets, records).map { Stored(offset: $0, key: $1.0, value: $1.1) }
      written += try writeUpdates(log, rounds: 3, keys: 2)
    }
    try log.roll()
    let activeBase = try #require(log.segmentBaseOffsets.last)
    _ = try append(log, [("end", "e")])
    written.append(Stored(offset: activeBase, key: "end", value: "e"))
    let cleaner = cleaner(dir, [log], dedupeBufferSize: 1 << 16)
    var passes = 0
    while try cleaner.cleanFilthiestLog(nowMs: 10_000) != nil { passes += 1 }
    #expect(passes > 1)
    #expect(try readAll(log).records == expectedAfterCleaning(written, cleanUpTo: activeBase))
  }

  @Test("compact,delete also applies retention; compact alone does not")
  func compactDelete() throws {
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    for policy in ["compact,delete", "compact"] {
      let dir = TemporaryDirectory()
      let log = try PartitionLog.openForTest(
        dir, config: try compactConfig(["cleanup.policy": policy, "retention.ms": "50000"]))
      _ = try writeUpdates(log, rounds: 20, keys: 4, timestamp: now - 100_000)
      try log.roll()
      // The old segments' files are as old as their records.
      let old = Date(timeIntervalSince1970: Double(now - 100_000) / 1000)
      for name in try FileManager.default.contentsOfDirectory(atPath: dir.file("topic-0")) {
        try FileManager.default.setAttributes(
          [.modificationDate: old], ofItemAtPath: dir.file("topic-0/\(name)"))
      }
      _ = try writeUpdates(log, rounds: 2, keys: 4, timestamp: now)
      try #require(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: now) != nil)
      #expect(try readAll(log).records.count == 12)
      let deleted = try log.deleteOldSegments(nowMs: now)
      if policy == "compact" {
        #expect(deleted == 0)
        #expect(log.logStartOffset == 0)
        #expect(try readAll(log).records.count == 12)
      } else {
        #expect(deleted >= 1)
        #expect(log.logStartOffset == 80)
        #expect(try readAll(log).records.count == 8)
      }
    }
  }

  @Test("a reader holding a segment from before the swap still reads its old bytes")
  func concurrentReader() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(dir, config: try compactConfig())
    _ = try writeUpdates(log, rounds: 40, keys: 4)
    let held = try log.read(offset: 5, maxBytes: 1 << 20, minOneBatch: true)
    let before = try held.readBytes()
    try #require(try cleaner(dir, [log]).cleanFilthiestLog(nowMs: 10_000) != nil)
    let again = try held.readBytes()
    #expect(again == before)
    var batches = RecordBatchIterator(again)
    while let batch = try batches.next() { try batch.verifyChecksum() }
  }

  @Test(
    "a crash at any step of the swap recovers with nothing kept lost",
    arguments: [SegmentSwapStep.cleanedWritten, .renamedToSwap, .renamedOldToDeleted, .swappedIn])
  func crashDuringSwap(step: SegmentSwapStep) throws {
    let dir = TemporaryDirectory()
    let config = try compactConfig(["segment.bytes": "2000"])
    let log = try PartitionLog.openForTest(dir, config: config)
    let written = try writeUpdates(log, rounds: 40, keys: 4, codec: .lz4)
    let activeBase = try #require(log.segmentBaseOffsets.last)
    let end = log.logEndOffset
    let cleaner = cleaner(dir, [log])
    cleaner.crashAfter = step
    _ = try cleaner.cleanFilthiestLog(nowMs: 10_000)
    try log.close(flush: false)
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("topic-0"))
    switch step {
    case .cleanedWritten: #expect(names.contains { $0.hasSuffix(".cleaned") })
    case .renamedToSwap: #expect(names.contains { $0.hasSuffix(".swap") })
    case .renamedOldToDeleted:
      #expect(
        names.contains { $0.hasSuffix(".swap") } && names.contains { $0.hasSuffix(".deleted") })
    case .swappedIn: #expect(names.contains { $0.hasSuffix(".deleted") })
    }

    let reopened = try PartitionLog.openForTest(dir, config: config)
    let after = try readAll(reopened).records
    let names2 = try FileManager.default.contentsOfDirectory(atPath: dir.file("topic-0"))
    #expect(
      !names2.contains {
        $0.hasSuffix(".cleaned") || $0.hasSuffix(".swap") || $0.hasSuffix(".deleted")
      })
    #expect(reopened.logEndOffset == end)
    // Every record the cleaning keeps is there with its offset and value...
    let mustKeep = expectedAfterCleaning(written, cleanUpTo: activeBase)
    for record in mustKeep { #expect(after.contains(record), "lost \(record)") }
    // ...everything present was written so, in offset order, and per key the latest wins.
    #expect(after.allSatisfy { written.contains($0) })
    #expect(after.map(\.offset) == after.map(\.offset).sorted())
    // And a full cleaning afterwards gives the clean result.
    reopened.updateHighWatermark(reopened.logEndOffset)
    let again = LogCleaner(
      dataDir: dir.path, config: LogCleanerConfig(), logs: { [reopened] }, logger: quietLogger)
    _ = try again.cleanFilthiestLog(nowMs: 10_000)
    let cleanedAgain = try readAll(reopened).records
    #expect(cleanedAgain == mustKeep)
  }

  @Test("the LogManager runs the cleaner threads and stops them at shutdown")
  func logManagerThreads() throws {
    let dir = TemporaryDirectory()
    var cleanerConfig = LogCleanerConfig()
    cleanerConfig.backoffMs = 50
    let manager = try LogManager(
      dataDir: dir.path, nowMs: 0, cleanerConfig: cleanerConfig, logger: quietLogger)
    let log = try manager.getOrCreateLog(
      TopicPartition("compacted", 0), topicId: nil, config: try compactConfig(), nowMs: 0)
    let written = try writeUpdates(log, rounds: 40, keys: 4)
    let activeBase = try #require(log.segmentBaseOffsets.last)
    let deadline = Date().addingTimeInterval(20)
    while manager.cleaner?.cleanedOffsets[log.topicPartition] != activeBase && Date() < deadline {
      Thread.sleep(forTimeInterval: 0.05)
    }
    #expect(try readAll(log).records == expectedAfterCleaning(written, cleanUpTo: activeBase))
    try manager.shutdown()
  }
}
