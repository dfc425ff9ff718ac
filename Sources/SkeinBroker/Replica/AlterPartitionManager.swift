import KafkaProtocol
import Logging
import SkeinCluster
import Synchronization

/// Sends a leader's ISR changes to the controller (Kafka's AlterPartitionManager): one
/// AlterPartition per change, at most one in flight per partition (the partition refuses a
/// second proposal meanwhile), the answer settling the partition's state either way.
final class AlterPartitionManager: Sendable {
  private let localId: Int32
  private let channel: any ControllerChannel
  private let brokerEpoch: @Sendable () -> Int64
  private let logger: Logger

  init(
    localId: Int32, channel: any ControllerChannel, brokerEpoch: @escaping @Sendable () -> Int64,
    logger: Logger
  ) {
    self.localId = localId
    self.channel = channel
    self.brokerEpoch = brokerEpoch
    self.logger = logger
  }

  func submit(
    _ change: PartitionLeaderState.PendingIsrChange, for partition: Partition,
    onCommitted: @escaping @Sendable () -> Void
  ) {
    let (leaderEpoch, partitionEpoch) = partition.epochs
    let followers = partition.leaderState?.followers ?? [:]
    let request = AlterPartitionRequest(
      brokerId: localId, brokerEpoch: brokerEpoch(),
      topics: [
        .init(
          topicName: partition.topicPartition.topic, topicId: partition.topicId,
          partitions: [
            .init(
              partitionIndex: partition.topicPartition.partition, leaderEpoch: leaderEpoch,
              newIsr: change.proposedIsr,
              newIsrWithEpochs: change.proposedIsr.map { id in
                .init(
                  brokerId: id,
                  brokerEpoch: id == localId ? brokerEpoch() : (followers[id]?.brokerEpoch ?? -1))
              },
              leaderRecoveryState: 0, partitionEpoch: partitionEpoch)
          ])
      ])
    let tp = partition.topicPartition
    let logger = logger
    let channel = channel
    Task {
      let now = { currentTimeMillis() }
      do {
        let response = try await channel.send(request)
        guard response.errorCode == 0,
          let result = response.topics.first?.partitions.first
        else {
          logger.warning("AlterPartition for \(tp) refused: error \(response.errorCode)")
          partition.isrChangeSettled(
            leaderEpoch: leaderEpoch, isr: nil, partitionEpoch: nil, nowMs: now())
          return
        }
        if result.errorCode == 0 {
          logger.info(
            "ISR of \(tp) is now \(result.isr) (was \(partition.isr), partition epoch \(result.partitionEpoch))"
          )
          partition.isrChangeSettled(
            leaderEpoch: result.leaderEpoch, isr: result.isr,
            partitionEpoch: result.partitionEpoch, nowMs: now())
          onCommitted()
        } else {
          logger.info("AlterPartition for \(tp) answered error \(result.errorCode)")
          partition.isrChangeSettled(
            leaderEpoch: leaderEpoch, isr: nil, partitionEpoch: nil, nowMs: now())
        }
      } catch {
        logger.warning("AlterPartition for \(tp) failed: \(error)")
        partition.isrChangeSettled(
          leaderEpoch: leaderEpoch, isr: nil, partitionEpoch: nil, nowMs: now())
      }
    }
  }
}
