import Foundation
import KafkaProtocol
import NIOCore
import SkeinCluster
import SkeinStorage
import Testing

@testable import SkeinBroker

/// A fetch answered by the old leader can arrive after this broker changed role (a cut-off
/// leader's answer delivered once the link is back): it must not be written to the log.
@Suite("Follower writes only in the epoch they were fetched in")
struct PartitionFollowerWriteTests {
  private static func batch(baseOffset: Int64, records: Int32, leaderEpoch: Int32) -> ByteBuffer {
    let payload = 20
    let size = RecordBatchHeader.size + payload
    var buffer = ByteBufferAllocator().buffer(capacity: size)
    RecordBatchHeader(
      baseOffset: baseOffset, batchLength: Int32(size - RecordBatchHeader.logOverhead),
      partitionLeaderEpoch: leaderEpoch, lastOffsetDelta: records - 1, baseTimestamp: 1_000,
      maxTimestamp: 1_000, recordCount: records
    ).write(to: &buffer)
    buffer.writeRepeatingByte(7, count: payload)
    let start = RecordBatchHeader.crcCoverageStart
    let crc = CRC32C.checksum(buffer, at: start, length: buffer.readableBytes - start) ?? 0
    buffer.setInteger(crc, at: 17)
    return buffer
  }

  private static func info(leader: Int32, epoch: Int32) -> PartitionInfo {
    PartitionInfo(
      partition: 0, replicas: [0, 1, 2], isr: [0, 1, 2], leader: leader, leaderEpoch: epoch,
      partitionEpoch: epoch)
  }

  @Test("an answer of the old leader is dropped once this broker leads or follows another")
  func staleAnswersAreDropped() throws {
    let dir = NSTemporaryDirectory() + "skein-partition-test-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let tp = TopicPartition("t", 0)
    let log = try PartitionLog.open(dir: dir, topicPartition: tp, config: LogConfig(), nowMs: 0)
    let partition = Partition(
      topicPartition: tp, topicId: KafkaUuid.random(), log: log, localId: 0,
      settings: ReplicationSettings())

    #expect(
      partition.apply(Self.info(leader: 2, epoch: 0), nowMs: 0) == .becameFollower(leaderId: 2))
    let first = try partition.whileFollowing(leaderId: 2, leaderEpoch: 0) {
      try log.appendAsFollower(Self.batch(baseOffset: 0, records: 5, leaderEpoch: 0), nowMs: 0)
    }
    #expect(first != nil && log.logEndOffset == 5)

    // Elected in epoch 1 while a fetch to broker 2 (epoch 0) was in flight.
    #expect(partition.apply(Self.info(leader: 0, epoch: 1), nowMs: 0) == .becameLeader)
    var ran = false
    let late = try partition.whileFollowing(leaderId: 2, leaderEpoch: 0) {
      ran = true
      return try log.appendAsFollower(
        Self.batch(baseOffset: 5, records: 3, leaderEpoch: 0), nowMs: 0)
    }
    #expect(late == nil && !ran && log.logEndOffset == 5)
    #expect(log.endOffset(forLeaderEpoch: 0) == (epoch: 0, endOffset: 5))
    #expect(log.latestLeaderEpoch == 1)

    // Following broker 1 in epoch 2: only answers fetched from broker 1 in epoch 2 apply.
    #expect(
      partition.apply(Self.info(leader: 1, epoch: 2), nowMs: 0) == .becameFollower(leaderId: 1))
    #expect(partition.whileFollowing(leaderId: 2, leaderEpoch: 0) { true } == nil)
    #expect(partition.whileFollowing(leaderId: 1, leaderEpoch: 1) { true } == nil)
    #expect(partition.whileFollowing(leaderId: 1, leaderEpoch: 2) { true } == true)
  }
}
