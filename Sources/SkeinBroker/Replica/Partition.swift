import KafkaProtocol
import SkeinStorage

/// A partition this broker hosts: its log, its role and the leader epoch it serves under.
/// On a single node every hosted partition is led here and the high watermark is the log end.
final class Partition: Sendable {
  let topicPartition: TopicPartition
  let topicId: KafkaUuid
  let log: PartitionLog
  let leaderEpoch: Int32

  init(topicPartition: TopicPartition, topicId: KafkaUuid, log: PartitionLog, leaderEpoch: Int32) {
    self.topicPartition = topicPartition
    self.topicId = topicId
    self.log = log
    self.leaderEpoch = leaderEpoch
  }

  var highWatermark: Int64 { log.highWatermark }
}
