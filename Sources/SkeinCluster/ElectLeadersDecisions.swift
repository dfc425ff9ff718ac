import KafkaProtocol

/// ElectLeaders' election types, numbered as the request numbers them.
public enum ElectionType: Int8, Sendable, Hashable {
  case preferred = 0
  case unclean = 1
}

/// Elections asked for by an admin (ElectLeaders) or run by the controller's periodic task for
/// leaderless partitions of topics that allow unclean election.
extension ControllerDecisions {
  /// ElectLeaders: per partition nil (elected) or Kafka's error, and the records. With
  /// `partitions` nil every partition is tried and those that need no election are left out.
  public func electLeaders(
    type: ElectionType, partitions: [TopicPartition]?, image: MetadataImage
  ) -> ([TopicPartition: ControllerError?], [MetadataRecord]) {
    var next = image
    var results: [TopicPartition: ControllerError?] = [:]
    var records: [MetadataRecord] = []
    for tp in partitions ?? image.partitions() {
      let outcome = Self.elect(tp, type: type, image: next)
      switch outcome {
      case .success(let record):
        next.apply(record)
        records.append(record)
        results[tp] = .some(nil)
      case .failure(let error):
        if partitions == nil && error.code == .electionNotNeeded { continue }
        results[tp] = error
      }
    }
    return (results, records)
  }

  /// Kafka's ReplicationControlManager.electLeader for one partition.
  static func elect(_ tp: TopicPartition, type: ElectionType, image: MetadataImage) -> Result<
    MetadataRecord, ControllerError
  > {
    guard let topicId = image.topicId(of: tp.topic) else {
      return .failure(ControllerError(.unknownTopicOrPartition, "No such topic as \(tp.topic)"))
    }
    guard let partition = image.partition(tp) else {
      return .failure(
        ControllerError(.unknownTopicOrPartition, "No such partition as \(tp)"))
    }
    if (type == .preferred && partition.leader == partition.preferredReplica)
      || (type == .unclean && partition.leader != PartitionInfo.noLeader)
    {
      return .failure(ControllerError(.electionNotNeeded, "Leader election not needed"))
    }
    let election = PartitionElection(
      topicId: topicId, partition: partition, image: image,
      election: type == .preferred ? .preferred : .unclean)
    guard let change = election.build() else {
      return .failure(
        type == .preferred
          ? ControllerError(
            .preferredLeaderNotAvailable, "Failed to elect leader for partition \(tp)")
          : ControllerError(
            .eligibleLeadersNotAvailable, "Failed to elect leader for partition \(tp)"))
    }
    return .success(.partitionChange(change))
  }

  /// Unclean elections for the leaderless partitions of topics where `uncleanEnabled(topic)`
  /// (`unclean.leader.election.enable`, the topic's value or the broker default).
  public func uncleanElections(image: MetadataImage, uncleanEnabled: (String) -> Bool)
    -> [MetadataRecord]
  {
    var records: [MetadataRecord] = []
    for (name, topic) in image.topics.sorted(by: { $0.key < $1.key }) where uncleanEnabled(name) {
      for partition in topic.partitions where partition.leader == PartitionInfo.noLeader {
        let election = PartitionElection(
          topicId: topic.id, partition: partition, image: image, election: .unclean)
        if let change = election.build() { records.append(.partitionChange(change)) }
      }
    }
    return records
  }
}
