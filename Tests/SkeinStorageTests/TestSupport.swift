import Foundation
import KafkaProtocol
import Logging
import NIOCore
import Testing

@testable import SkeinStorage

/// A fresh directory under the system temp dir, removed when the value goes away.
final class TemporaryDirectory {
  let path: String

  init() {
    path = NSTemporaryDirectory() + "skein-storage-tests-" + UUID().uuidString
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  deinit {
    try? FileManager.default.removeItem(atPath: path)
  }

  func file(_ name: String) -> String { path + "/" + name }
}

let quietLogger = Logger(label: "skein.storage.tests") { _ in SwiftLogNoOpLogHandler() }

/// Builds v2 record batches without decoding anything: a real header, dummy record bytes, and a
/// correct CRC32C.
enum TestBatch {
  static let overhead = RecordBatchHeader.size

  static func make(
    baseOffset: Int64 = 0, records: Int32 = 1, timestamp: Int64 = 1_000,
    maxTimestamp: Int64? = nil, payload: Int = 20, leaderEpoch: Int32 = -1
  ) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: overhead + payload)
    let header = RecordBatchHeader(
      baseOffset: baseOffset,
      batchLength: Int32(overhead - RecordBatchHeader.logOverhead + payload),
      partitionLeaderEpoch: leaderEpoch, lastOffsetDelta: records - 1, baseTimestamp: timestamp,
      maxTimestamp: maxTimestamp ?? timestamp, recordCount: records)
    header.write(to: &buffer)
    for index in 0..<payload { buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ 7)) }
    let start = RecordBatchHeader.crcCoverageStart
    let crc = CRC32C.checksum(buffer, at: start, length: buffer.readableBytes - start) ?? 0
    buffer.setInteger(crc, at: 17)
    return buffer
  }

  static func size(payload: Int = 20) -> Int { overhead + payload }

  /// Headers of the batches in `buffer`.
  static func headers(_ buffer: ByteBuffer) throws -> [RecordBatchHeader] {
    var result: [RecordBatchHeader] = []
    var index = buffer.readerIndex
    while index < buffer.writerIndex {
      let header = try RecordBatchHeader(peeking: buffer, at: index)
      result.append(header)
      index += header.totalSize
    }
    #expect(index == buffer.writerIndex, "buffer does not end on a batch boundary")
    return result
  }
}

extension PartitionLog {
  static func openForTest(
    _ dir: TemporaryDirectory, config: LogConfig = LogConfig(), recoveryPoint: Int64 = 0,
    logStartOffset: Int64? = nil, clean: Bool = false, nowMs: Int64 = 0
  ) throws -> PartitionLog {
    try PartitionLog.open(
      dir: dir.file("topic-0"), topicPartition: TopicPartition("topic", 0), config: config,
      recoveryPoint: recoveryPoint, logStartOffset: logStartOffset, hadCleanShutdown: clean,
      nowMs: nowMs, logger: quietLogger)
  }

  /// Appends one batch of `records` records at the log end, as the leader does.
  @discardableResult
  func appendBatch(
    records: Int32 = 1, timestamp: Int64 = 1_000, maxTimestamp: Int64? = nil, payload: Int = 20,
    leaderEpoch: Int32 = -1, nowMs: Int64 = 0
  ) throws -> LogAppendInfo {
    try appendAsLeader(nowMs: nowMs) { next in
      TestBatch.make(
        baseOffset: next, records: records, timestamp: timestamp, maxTimestamp: maxTimestamp,
        payload: payload, leaderEpoch: leaderEpoch)
    }
  }

  /// Appends a batch of an idempotent producer at the log end, stamped with `leaderEpoch`, as
  /// the produce path does.
  @discardableResult
  func produce(
    producerId: Int64, epoch: Int16 = 0, sequence: Int32, records: Int32 = 1,
    timestamp: Int64 = 1_000, transactional: Bool = false, leaderEpoch: Int32 = 0
  ) throws -> LogAppendInfo {
    try appendAsLeader(origin: .client, nowMs: 0) { next in
      var batch = producerBatch(
        producerId: producerId, epoch: epoch, sequence: sequence, records: records,
        timestamp: timestamp, transactional: transactional)
      _ = try RecordBatchValidator.assignOffsets(
        in: &batch, firstOffset: next, partitionLeaderEpoch: leaderEpoch)
      return batch
    }
  }

  /// Every batch from `offset` to the log end, as a follower would fetch them.
  func readAll(from offset: Int64 = 0) throws -> ByteBuffer {
    try read(offset: offset, maxBytes: .max, minOneBatch: true).readBytes()
  }

  /// Reads and decodes the headers of what a read returns.
  func readHeaders(
    offset: Int64, maxBytes: Int = .max, maxOffset: Int64? = nil, minOneBatch: Bool = true
  ) throws -> [RecordBatchHeader] {
    let info = try read(
      offset: offset, maxBytes: maxBytes, maxOffset: maxOffset, minOneBatch: minOneBatch)
    return try TestBatch.headers(info.readBytes())
  }
}

/// A batch of an idempotent producer: header fields only, dummy record bytes, a valid CRC. A
/// `control` batch (a transaction marker) has no sequence.
func producerBatch(
  producerId: Int64, epoch: Int16 = 0, sequence: Int32, records: Int32 = 1, baseOffset: Int64 = 0,
  timestamp: Int64 = 1_000, transactional: Bool = false, control: Bool = false,
  leaderEpoch: Int32 = -1
) -> ByteBuffer {
  let payload = 16
  var attributes = RecordBatchAttributes()
  attributes.isTransactional = transactional || control
  attributes.isControl = control
  var buffer = ByteBufferAllocator().buffer(capacity: RecordBatchHeader.size + payload)
  RecordBatchHeader(
    baseOffset: baseOffset,
    batchLength: Int32(RecordBatchHeader.size - RecordBatchHeader.logOverhead + payload),
    partitionLeaderEpoch: leaderEpoch, attributes: attributes, lastOffsetDelta: records - 1,
    baseTimestamp: timestamp,
    maxTimestamp: timestamp, producerId: producerId, producerEpoch: epoch,
    baseSequence: sequence, recordCount: records
  ).write(to: &buffer)
  buffer.writeRepeatingByte(0x2A, count: payload)
  let start = RecordBatchHeader.crcCoverageStart
  buffer.setInteger(
    CRC32C.checksum(buffer, at: start, length: buffer.readableBytes - start) ?? 0, at: 17)
  return buffer
}

func config(_ values: [String: String]) throws -> LogConfig {
  try LogConfig(values)
}

/// Appends raw bytes at the end of a file.
func appendBytes(_ bytes: [UInt8], to path: String) throws {
  let handle = try #require(FileHandle(forWritingAtPath: path))
  defer { try? handle.close() }
  try handle.seekToEnd()
  try handle.write(contentsOf: Data(bytes))
}

/// Overwrites one byte of a file.
func corruptByte(at offset: UInt64, of path: String) throws {
  let handle = try #require(FileHandle(forUpdatingAtPath: path))
  defer { try? handle.close() }
  try handle.seek(toOffset: offset)
  let old = try #require(try handle.read(upToCount: 1)?.first)
  try handle.seek(toOffset: offset)
  try handle.write(contentsOf: Data([old ^ 0xFF]))
}

func fileSize(_ path: String) -> Int {
  ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? -1
}

func segmentFile(_ base: Int64, _ suffix: String) -> String {
  LogSegment.fileStem(base) + suffix
}
