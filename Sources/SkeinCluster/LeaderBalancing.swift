import KafkaProtocol

/// Automatic leader rebalancing (`auto.leader.rebalance.enable`): leadership moves back to the
/// preferred replica once it is in the ISR and acceptable, a bounded number per pass, as
/// Kafka's controller does every `leader.imbalance.check.interval.seconds`.
extension ControllerDecisions {
  /// Partitions with a leader that is not their preferred replica, sorted.
  public func imbalanced(image: MetadataImage) -> [TopicPartition] {
    image.partitions { $0.leader != PartitionInfo.noLeader && $0.leader != $0.preferredReplica }
  }

  /// Preferred-leader elections for up to `maxElections` imbalanced partitions whose preferred
  /// replica can lead now.
  public func balancePartitionLeaders(image: MetadataImage, maxElections: Int) -> [MetadataRecord] {
    var records: [MetadataRecord] = []
    for tp in imbalanced(image: image) {
      guard records.count < maxElections else { break }
      guard let topicId = image.topicId(of: tp.topic), let partition = image.partition(tp),
        partition.isr.contains(partition.preferredReplica),
        PartitionElection.isAcceptableLeader(partition.preferredReplica, image: image)
      else { continue }
      let election = PartitionElection(
        topicId: topicId, partition: partition, image: image, election: .preferred)
      if let change = election.build() { records.append(.partitionChange(change)) }
    }
    return records
  }
}
