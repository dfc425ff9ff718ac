import NIOCore
import Testing

@testable import SkeinClient

@Suite struct PartitionerTests {
  /// Kafka's own vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java,
  /// testMurmur2), plus the ones akka's Kafka-compatible murmur2 checks.
  @Test(
    arguments: [
      ("21", -973_932_308),
      ("foobar", -790_332_482),
      ("a-little-bit-long-string", -985_981_536),
      ("a-little-bit-longer-string", -1_486_304_829),
      ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
      ("abc", 479_470_107),
      ("1", -1_993_445_489),
      ("12", 126_087_238),
      ("123", -267_702_483),
      ("1234", -1_614_185_708),
      ("12345", -1_188_365_604),
    ] as [(String, Int32)])
  func murmur2MatchesKafka(key: String, expected: Int32) {
    #expect(Partitioner.murmur2(Array(key.utf8)) == expected)
    #expect(Partitioner.murmur2(ByteBuffer(string: key)) == expected)
  }

  @Test func murmur2OfASliceUsesOnlyItsBytes() {
    var buffer = ByteBuffer(string: "xxfoobar")
    buffer.moveReaderIndex(forwardBy: 2)
    #expect(Partitioner.murmur2(buffer) == -790_332_482)
    #expect(Partitioner.murmur2(Array("xxfoobar".utf8)[2...]) == -790_332_482)
    #expect(Partitioner.murmur2([UInt8]()) == 275_646_681)
  }

  @Test func keyedPartitionIsPositiveHashModuloCount() {
    // toPositive(-973932308) = 1173551340; toPositive(-790332482) = 1357151166.
    #expect(Partitioner.partition(forKey: ByteBuffer(string: "21"), partitionCount: 3) == 0)
    #expect(
      Partitioner.partition(forKey: ByteBuffer(string: "21"), partitionCount: 7) == 1_173_551_340
        % 7)
    #expect(Partitioner.partition(forKey: ByteBuffer(string: "foobar"), partitionCount: 10) == 6)
    #expect(Partitioner.partition(forKey: ByteBuffer(string: "abc"), partitionCount: 1) == 0)
  }

  @Test func keyedRecordsIgnoreAvailability() {
    var partitioner = Partitioner(seed: 1)
    let chosen = partitioner.partition(
      topic: "t", key: ByteBuffer(string: "foobar"), partitionCount: 10, availablePartitions: [0],
      recordSize: 10)
    #expect(chosen == 6)
  }

  @Test func stickyKeylessSwitchesAfterABatchOfBytes() {
    var partitioner = Partitioner(keylessStrategy: .sticky, batchSize: 100, seed: 42)
    var picks: [Int32] = []
    for _ in 0..<5 {
      picks.append(
        partitioner.partition(
          topic: "t", key: nil, partitionCount: 4, availablePartitions: [0, 1, 2, 3],
          recordSize: 30))
    }
    // 30, 60, 90 bytes stay below 100; the fourth record still goes there (120), the fifth
    // moves to another partition.
    #expect(Set(picks[0..<4]).count == 1)
    #expect(picks[4] != picks[0])
    // Topics are independent.
    let other = partitioner.partition(
      topic: "u", key: nil, partitionCount: 1, availablePartitions: [0], recordSize: 30)
    #expect(other == 0)
  }

  @Test func stickyKeylessAvoidsPartitionsWithoutLeader() {
    var partitioner = Partitioner(keylessStrategy: .sticky, batchSize: 10, seed: 7)
    for _ in 0..<50 {
      let chosen = partitioner.partition(
        topic: "t", key: nil, partitionCount: 6, availablePartitions: [1, 4], recordSize: 20)
      #expect(chosen == 1 || chosen == 4)
    }
  }

  @Test func roundRobinCyclesOverAvailablePartitions() {
    var partitioner = Partitioner(keylessStrategy: .roundRobin)
    var picks: [Int32] = []
    for _ in 0..<6 {
      picks.append(
        partitioner.partition(
          topic: "t", key: nil, partitionCount: 4, availablePartitions: [0, 2, 3], recordSize: 1))
    }
    #expect(picks == [0, 2, 3, 0, 2, 3])
    var noneAvailable = Partitioner(keylessStrategy: .roundRobin)
    let fallback = (0..<4).map { _ in
      noneAvailable.partition(
        topic: "t", key: nil, partitionCount: 3, availablePartitions: [], recordSize: 1)
    }
    #expect(fallback == [0, 1, 2, 0])
  }
}
