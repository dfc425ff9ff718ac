import Foundation
import KafkaProtocol
import NIOCore
import Testing

@testable import SkeinStorage

@Suite struct LogManagerTests {
  private func manager(_ dir: TemporaryDirectory, nowMs: Int64 = 0, interval: Int64 = 60_000)
    throws -> LogManager
  {
    try LogManager(
      dataDir: dir.path, checkpointIntervalMs: interval, nowMs: nowMs, logger: quietLogger)
  }

  @Test func parsesPartitionDirectoryNamesAtTheLastDash() {
    #expect(LogManager.topicPartition(fromDirectoryName: "orders-3") == TopicPartition("orders", 3))
    #expect(
      LogManager.topicPartition(fromDirectoryName: "my-topic-name-12")
        == TopicPartition("my-topic-name", 12))
    #expect(LogManager.topicPartition(fromDirectoryName: "orders") == nil)
    #expect(LogManager.topicPartition(fromDirectoryName: "-3") == nil)
    #expect(LogManager.topicPartition(fromDirectoryName: "orders-x") == nil)
    #expect(LogManager.topicPartition(fromDirectoryName: "orders-+3") == nil)
    #expect(LogManager.topicPartition(fromDirectoryName: "orders-3.abc-delete") == nil)
    #expect(LogManager.topicPartition(fromDirectoryName: "orders-3-future") == nil)
  }

  @Test func reopensAllPartitionsAfterACleanShutdown() throws {
    let dir = TemporaryDirectory()
    let ids = [KafkaUuid.random(), KafkaUuid.random()]
    do {
      let logs = try manager(dir)
      #expect(!logs.hadCleanShutdown)
      for partition in Int32(0)..<3 {
        let log = try logs.getOrCreateLog(
          TopicPartition("a-b", partition), topicId: ids[0], nowMs: 0)
        for _ in 0...partition { try log.appendBatch() }
      }
      try logs.getOrCreateLog(TopicPartition("c", 0), topicId: ids[1], nowMs: 0).appendBatch()
      try logs.shutdown()
    }
    #expect(FileManager.default.fileExists(atPath: dir.file(LogManager.cleanShutdownFileName)))
    // Not partition directories: skipped.
    try FileManager.default.createDirectory(
      atPath: dir.file("lost+found"), withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: dir.file("meta.properties"), contents: Data())

    let logs = try manager(dir)
    #expect(logs.hadCleanShutdown)
    #expect(!FileManager.default.fileExists(atPath: dir.file(LogManager.cleanShutdownFileName)))
    let described = logs.describeLogs()
    #expect(
      described.map(\.topicPartition) == [
        TopicPartition("a-b", 0), TopicPartition("a-b", 1), TopicPartition("a-b", 2),
        TopicPartition("c", 0),
      ])
    #expect(described.map(\.logEndOffset) == [1, 2, 3, 1])
    #expect(described.map(\.size) == [1, 2, 3, 1].map { Int64($0 * TestBatch.size()) })
    #expect(described.map(\.topicId) == [ids[0], ids[0], ids[0], ids[1]])
    for log in logs.allLogs { #expect(log.loadInfo.recoveredSegments == 0) }
    let checkpoint = try OffsetCheckpointFile(
      path: dir.file(OffsetCheckpointFile.recoveryPointFileName)
    ).read()
    #expect(checkpoint[TopicPartition("a-b", 2)] == 3)
  }

  @Test func withoutTheMarkerLogsAreRecoveredFromTheRecoveryPoint() throws {
    let dir = TemporaryDirectory()
    let partition = TopicPartition("t", 0)
    let segmentBytes = try config(["segment.bytes": String(TestBatch.size() * 2)])
    do {
      let logs = try manager(dir, interval: 1_000)
      let log = try logs.getOrCreateLog(partition, topicId: nil, config: segmentBytes, nowMs: 0)
      for _ in 0..<6 { try log.appendBatch() }  // segments 0, 2, 4
      try log.flush(nowMs: 0)
      try log.appendBatch()
      logs.tick(nowMs: 1_000)  // writes the checkpoints; then "crash"
    }
    let logs = try LogManager(
      dataDir: dir.path, topicConfigs: ["t": segmentBytes], nowMs: 0, logger: quietLogger)
    #expect(!logs.hadCleanShutdown)
    let log = try #require(logs.getLog(partition))
    // Flushed up to 6: only segment 4 (holding 6) is rescanned.
    #expect(log.loadInfo.recoveredSegments == 1)
    #expect(log.logEndOffset == 7)
  }

  @Test func tickAppliesRetentionAndCheckpointsTheLogStart() throws {
    let dir = TemporaryDirectory()
    let logs = try manager(dir, interval: 10)
    let log = try logs.getOrCreateLog(
      TopicPartition("t", 0), topicId: nil,
      config: try config(["segment.bytes": String(TestBatch.size()), "retention.ms": "1000"]),
      nowMs: 0)
    for index in 1...4 { try log.appendBatch(timestamp: Int64(index) * 1_000) }
    log.updateHighWatermark(4)
    #expect(logs.tick(nowMs: 4_500).isEmpty)
    #expect(log.logStartOffset == 3)
    let starts = try OffsetCheckpointFile(
      path: dir.file(OffsetCheckpointFile.logStartOffsetFileName)
    ).read()
    #expect(starts[TopicPartition("t", 0)] == 3)
  }

  @Test func getOrCreateChecksTheTopicId() throws {
    let dir = TemporaryDirectory()
    let logs = try manager(dir)
    let partition = TopicPartition("t", 0)
    let id = KafkaUuid.random()
    let log = try logs.getOrCreateLog(partition, topicId: id, nowMs: 0)
    #expect(try logs.getOrCreateLog(partition, topicId: id, nowMs: 0) === log)
    #expect(throws: StorageError.self) {
      try logs.getOrCreateLog(partition, topicId: KafkaUuid.random(), nowMs: 0)
    }
    #expect(throws: StorageError.self) {
      try logs.getOrCreateLog(TopicPartition("../x", 0), topicId: nil, nowMs: 0)
    }
  }

  @Test func deleteLogRemovesThePartitionDirectory() throws {
    let dir = TemporaryDirectory()
    let logs = try manager(dir)
    let partition = TopicPartition("gone", 0)
    let log = try logs.getOrCreateLog(partition, topicId: nil, nowMs: 0)
    try log.appendBatch()
    let reader = try log.read(offset: 0, maxBytes: 1_000, minOneBatch: true)
    try logs.deleteLog(partition)
    #expect(logs.getLog(partition) == nil)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    // A read in flight keeps its bytes.
    #expect(try TestBatch.headers(reader.readBytes()).count == 1)
    #expect(throws: StorageError.logClosed(partition)) { try log.appendBatch() }

    // Leftovers of an interrupted deletion are removed at start.
    try FileManager.default.createDirectory(
      atPath: dir.file("gone-0.0123456789abcdef0123456789abcdef-delete"),
      withIntermediateDirectories: true)
    _ = try manager(dir)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
  }
}

@Suite struct CheckpointFileTests {
  @Test func roundTripsKafkasFormat() throws {
    let dir = TemporaryDirectory()
    let file = OffsetCheckpointFile(path: dir.file("recovery-point-offset-checkpoint"))
    #expect(try file.read().isEmpty)
    try file.write([TopicPartition("b-x", 1): 42, TopicPartition("a", 0): 7])
    let text = try String(contentsOfFile: file.path, encoding: .utf8)
    #expect(text == "0\n2\na 0 7\nb-x 1 42\n")
    #expect(try file.read() == [TopicPartition("b-x", 1): 42, TopicPartition("a", 0): 7])
  }

  @Test func rejectsMalformedFiles() throws {
    let dir = TemporaryDirectory()
    let file = OffsetCheckpointFile(path: dir.file("cp"))
    for text in ["1\n0\n", "0\n2\na 0 7\n", "0\n1\na x 7\n", "0\n1\na 0\n", ""] {
      _ = FileManager.default.createFile(atPath: file.path, contents: Data(text.utf8))
      #expect(throws: StorageError.self) { try file.read() }
    }
  }
}

@Suite struct LogConfigTests {
  @Test func defaultsAreKafkas() {
    let config = LogConfig()
    #expect(config.segmentBytes == 1_073_741_824)
    #expect(config.segmentMs == 604_800_000)
    #expect(config.segmentIndexBytes == 10_485_760)
    #expect(config.indexIntervalBytes == 4_096)
    #expect(config.retentionMs == 604_800_000)
    #expect(config.retentionBytes == -1)
    #expect(config.flushMessages == .max && config.flushMs == .max)
    #expect(config.maxMessageBytes == 1_048_588)
    #expect(config.messageTimestampType == .createTime)
    #expect(config.cleanupPolicy == .delete)
    #expect(config.fileDeleteDelayMs == 60_000)
    #expect(config.minInsyncReplicas == 1)
    #expect(config.compressionType == .producer)
  }

  @Test func parsesTopicConfigs() throws {
    let config = try LogConfig([
      "segment.bytes": "1048576", "retention.ms": "-1", "retention.bytes": " 5000 ",
      "message.timestamp.type": "LogAppendTime", "cleanup.policy": "compact,delete",
      "compression.type": "zstd", "min.insync.replicas": "2", "flush.messages": "1",
      "preallocate": "false",
    ])
    #expect(config.segmentBytes == 1_048_576)
    #expect(config.retentionMs == -1)
    #expect(config.retentionBytes == 5_000)
    #expect(config.messageTimestampType == .logAppendTime)
    #expect(config.cleanupPolicy == [.compact, .delete])
    #expect(config.compressionType.codec == .zstd)
    #expect(config.minInsyncReplicas == 2)
    #expect(config.flushMessages == 1)
    #expect(config.value(forName: "cleanup.policy") == "delete,compact")
    #expect(config.value(forName: "preallocate") == "false")
    let described = config.describe()
    #expect(described.first { $0.name == "segment.bytes" }?.isDefault == false)
    #expect(described.first { $0.name == "segment.ms" }?.isDefault == true)
  }

  @Test func invalidValuesNameTheKey() {
    let cases: [(String, String)] = [
      ("segment.bytes", "10"), ("segment.bytes", "abc"), ("segment.bytes", "3000000000"),
      ("retention.ms", "-2"), ("message.timestamp.type", "Now"), ("cleanup.policy", "forever"),
      ("compression.type", "brotli"), ("min.insync.replicas", "0"), ("flush.messages", "0"),
      ("unknown.config", "1"),
    ]
    for (key, value) in cases {
      #expect {
        try LogConfig([key: value])
      } throws: { error in
        (error as? LogConfigError)?.key == key
          && (error as? LogConfigError)?.errorCode == .invalidConfig
      }
    }
  }

  @Test func topicConfigsOverrideBrokerDefaults() throws {
    var defaults = LogConfig()
    defaults.retentionMs = 1_000
    defaults.segmentBytes = 5_000
    let config = try LogConfig(["segment.bytes": "6000"], defaults: defaults)
    #expect(config.retentionMs == 1_000)
    #expect(config.segmentBytes == 6_000)
  }
}
