import Foundation
import KafkaProtocol
import NIOCore
import Synchronization
import Testing

@testable import SkeinStorage

@Suite("Log compaction with concurrent appends and reads")
struct CompactionConcurrencyTests {
  /// Appends updates of a few keys, cleans over and over, and reads the whole log over and
  /// over at the same time. Every read must be made of valid batches in offset order, show each
  /// key's updates in the order written, and show every key written before the read began:
  /// a key's latest record is never removed, only superseded by a later one.
  @Test("readers see consistent data while the cleaner swaps segments under them")
  func readersDuringCleaning() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir,
      config: try LogConfig([
        "cleanup.policy": "compact", "segment.bytes": "700", "min.cleanable.dirty.ratio": "0",
      ]))
    let cleaner = LogCleaner(
      dataDir: dir.path, config: LogCleanerConfig(), logs: { [log] }, logger: quietLogger)
    let keys = 8
    let keysWritten = Atomic<Int>(0)
    // Keys written once and never again: every read must see each one written before it began.
    let uniqueWritten = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    let problems = Mutex<[String]>([])
    let cleanings = Atomic<Int>(0)
    let reads = Atomic<Int>(0)
    let group = DispatchGroup()

    @Sendable func report(_ problem: String) {
      problems.withLock { if $0.count < 10 { $0.append(problem) } }
    }

    let writer = Thread {
      var round = 0
      while !stop.load(ordering: .relaxed) && round < 3_000 {
        var builder = RecordBatchBuilder()
        for key in 0..<keys where (key + round) % 3 != 0 {
          builder.append(
            key: ByteBuffer(string: "k\(key)"), value: ByteBuffer(string: "k\(key):\(round)"),
            timestamp: 1_000)
        }
        let unique = round % 5 == 0
        if unique {
          builder.append(
            key: ByteBuffer(string: "u\(round)"), value: ByteBuffer(string: "u\(round):\(round)"),
            timestamp: 1_000)
        }
        let built = builder.build()
        do {
          let info = try log.appendAsLeader(nowMs: 1_000) { next in
            var batch = built
            _ = try RecordBatchValidator.assignOffsets(
              in: &batch, firstOffset: next, partitionLeaderEpoch: 0)
            return batch
          }
          log.updateHighWatermark(info.logEndOffset)
        } catch {
          report("append: \(error)")
        }
        if round == 2 { keysWritten.store(keys, ordering: .releasing) }
        if unique { uniqueWritten.store(round / 5 + 1, ordering: .releasing) }
        round += 1
      }
      group.leave()
    }
    let cleanerThread = Thread {
      while !stop.load(ordering: .relaxed) {
        do {
          if try cleaner.cleanFilthiestLog(nowMs: 10_000) != nil {
            cleanings.add(1, ordering: .relaxed)
          }
        } catch {
          report("clean: \(error)")
        }
      }
      group.leave()
    }
    let reader = Thread {
      while !stop.load(ordering: .relaxed) {
        let mustSee = keysWritten.load(ordering: .acquiring)
        let mustSeeUnique = uniqueWritten.load(ordering: .acquiring)
        var lastOffset: Int64 = -1
        var lastRound: [String: Int] = [:]
        var offset = log.logStartOffset
        do {
          while offset < log.logEndOffset {
            let info = try log.read(offset: offset, maxBytes: 4096, minOneBatch: true)
            var batches = RecordBatchIterator(try info.readBytes())
            var advanced = false
            while let batch = try batches.next() {
              try batch.verifyChecksum()
              var records = try batch.records()
              while let record = try records.next() {
                let at = batch.offset(of: record)
                if at <= lastOffset { report("offset \(at) after \(lastOffset)") }
                lastOffset = at
                let key = String(buffer: record.key ?? ByteBuffer())
                let parts = String(buffer: record.value ?? ByteBuffer()).split(separator: ":")
                guard parts.count == 2, String(parts[0]) == key, let round = Int(parts[1]) else {
                  report("malformed record at \(at)")
                  continue
                }
                if let previous = lastRound[key], previous >= round {
                  report("\(key): round \(round) after \(previous)")
                }
                lastRound[key] = round
              }
              offset = batch.header.nextOffset
              advanced = true
            }
            if !advanced { break }
          }
        } catch {
          report("read: \(error)")
        }
        let updated = lastRound.keys.filter { $0.hasPrefix("k") }.count
        if mustSee > 0 && updated < mustSee {
          report("a read saw \(updated) updated keys of \(mustSee)")
        }
        let uniques = lastRound.keys.filter { $0.hasPrefix("u") }.count
        if uniques < mustSeeUnique {
          report("a read saw \(uniques) write-once keys of \(mustSeeUnique)")
        }
        reads.add(1, ordering: .relaxed)
      }
      group.leave()
    }
    for thread in [writer, cleanerThread, reader] {
      group.enter()
      thread.start()
    }
    // At least 3 s, longer (up to 60 s) on a loaded machine until enough cleanings and reads
    // have overlapped.
    let started = Date()
    repeat {
      Thread.sleep(forTimeInterval: 0.1)
    } while Date().timeIntervalSince(started) < 3
      || (cleanings.load(ordering: .relaxed) <= 3 || reads.load(ordering: .relaxed) <= 3)
        && Date().timeIntervalSince(started) < 60
    stop.store(true, ordering: .relaxed)
    group.wait()
    #expect(problems.withLock { $0 } == [])
    #expect(cleanings.load(ordering: .relaxed) > 3)
    #expect(reads.load(ordering: .relaxed) > 3)
  }

  @Test("a swap is refused when retention removed one of the segments meanwhile")
  func swapAfterRetention() throws {
    let dir = TemporaryDirectory()
    let log = try PartitionLog.openForTest(
      dir, config: try LogConfig(["cleanup.policy": "compact", "segment.bytes": "600"]))
    for round in 0..<30 {
      var builder = RecordBatchBuilder()
      builder.append(
        key: ByteBuffer(string: "k\(round % 3)"), value: ByteBuffer(string: "\(round)"),
        timestamp: 1_000)
      let built = builder.build()
      let info = try log.appendAsLeader(nowMs: 1_000) { next in
        var batch = built
        _ = try RecordBatchValidator.assignOffsets(
          in: &batch, firstOffset: next, partitionLeaderEpoch: 0)
        return batch
      }
      log.updateHighWatermark(info.logEndOffset)
    }
    let view = try #require(log.cleanerView())
    let old = view.segments.prefix(2).map(\.segment)
    try log.deleteRecordsBefore(view.segments[1].baseOffset)
    let cleaned = dir.file("topic-0/" + segmentFile(old[0].baseOffset, ".log.cleaned"))
    #expect(FileManager.default.createFile(atPath: cleaned, contents: Data()))
    #expect(try !log.replaceSegments(old, withCleaned: cleaned))
    #expect(!FileManager.default.fileExists(atPath: cleaned))
    #expect(log.segmentBaseOffsets.first == view.segments[1].baseOffset)
  }
}
