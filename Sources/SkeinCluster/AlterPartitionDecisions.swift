import KafkaProtocol

/// AlterPartition (KIP-497) at the controller: a leader's proposed ISR (and recovery state) is
/// checked against the committed partition and the brokers' registrations, then committed as
/// a PartitionChangeRecord (Kafka's ReplicationControlManager.alterPartition).
extension ControllerDecisions {
  /// Validates and commits each partition of the request. Versions 0-1 name topics, 2+ use
  /// topic ids; 3 carries broker epochs with the ISR. Success answers the committed state.
  public func alterPartition(
    _ request: AlterPartitionRequest, version: Int16, image: MetadataImage
  ) -> (AlterPartitionResponse, [MetadataRecord]) {
    var response = AlterPartitionResponse()
    guard let sender = image.brokers[request.brokerId], sender.epoch == request.brokerEpoch else {
      response.errorCode = ErrorCode.staleBrokerEpoch.rawValue
      return (response, [])
    }
    var next = image
    var records: [MetadataRecord] = []
    for topicData in request.topics {
      var topicResult = AlterPartitionResponse.TopicData(
        topicName: topicData.topicName, topicId: topicData.topicId)
      let name = version >= 2 ? next.topicNamesById[topicData.topicId] : topicData.topicName
      guard let name, let topic = next.topics[name] else {
        let code: ErrorCode = version >= 2 ? .unknownTopicId : .unknownTopicOrPartition
        topicResult.partitions = topicData.partitions.map {
          .init(partitionIndex: $0.partitionIndex, errorCode: code.rawValue)
        }
        response.topics.append(topicResult)
        continue
      }
      for data in topicData.partitions {
        let tp = TopicPartition(name, data.partitionIndex)
        let newIsr: [AlterPartitionRequest.BrokerState] =
          version >= 3
          ? data.newIsrWithEpochs : data.newIsr.map { .init(brokerId: $0, brokerEpoch: -1) }
        guard let partition = next.partition(tp) else {
          topicResult.partitions.append(
            .init(
              partitionIndex: data.partitionIndex,
              errorCode: ErrorCode.unknownTopicOrPartition.rawValue))
          continue
        }
        if let error = Self.validate(
          data, newIsr: newIsr, brokerId: request.brokerId, partition: partition, version: version,
          image: next)
        {
          topicResult.partitions.append(
            .init(partitionIndex: data.partitionIndex, errorCode: error.rawValue))
          continue
        }
        var election = PartitionElection(topicId: topic.id, partition: partition, image: next)
        election.targetIsr = newIsr.map(\.brokerId)
        election.targetLeaderRecoveryState = data.leaderRecoveryState
        if let change = election.build() {
          let record = MetadataRecord.partitionChange(change)
          records.append(record)
          next.apply(record)
          if change.leader != -2 && change.leader != request.brokerId {
            let code: ErrorCode = version > 1 ? .newLeaderElected : .fencedLeaderEpoch
            topicResult.partitions.append(
              .init(partitionIndex: data.partitionIndex, errorCode: code.rawValue))
            continue
          }
        }
        guard let committed = next.partition(tp) else { continue }
        topicResult.partitions.append(
          .init(
            partitionIndex: data.partitionIndex, errorCode: 0, leaderId: committed.leader,
            leaderEpoch: committed.leaderEpoch, isr: committed.isr,
            leaderRecoveryState: committed.leaderRecoveryState,
            partitionEpoch: committed.partitionEpoch))
      }
      response.topics.append(topicResult)
    }
    return (response, records)
  }

  /// Kafka's validateAlterPartitionData, in its order.
  static func validate(
    _ data: AlterPartitionRequest.PartitionData, newIsr: [AlterPartitionRequest.BrokerState],
    brokerId: Int32, partition: PartitionInfo, version: Int16, image: MetadataImage
  ) -> ErrorCode? {
    // The sender knows a newer epoch than this controller: it is not the active controller.
    if data.leaderEpoch > partition.leaderEpoch || data.partitionEpoch > partition.partitionEpoch {
      return .notController
    }
    if data.leaderEpoch < partition.leaderEpoch { return .fencedLeaderEpoch }
    if brokerId != partition.leader { return .invalidRequest }
    if data.partitionEpoch < partition.partitionEpoch { return .invalidUpdateVersion }
    let ids = newIsr.map(\.brokerId)
    guard Set(ids).count == ids.count, ids.allSatisfy(partition.replicas.contains),
      ids.contains(partition.leader)
    else { return .invalidRequest }
    guard
      data.leaderRecoveryState == PartitionInfo.recovered
        || data.leaderRecoveryState == PartitionInfo.recovering
    else { return .invalidRequest }
    if data.leaderRecoveryState == PartitionInfo.recovering && ids.count > 1 {
      return .invalidRequest
    }
    if partition.leaderRecoveryState == PartitionInfo.recovered
      && data.leaderRecoveryState == PartitionInfo.recovering
    {
      return .invalidRequest
    }
    let ineligible = newIsr.contains { member in
      guard let broker = image.brokers[member.brokerId], broker.isActive else { return true }
      return member.brokerEpoch != -1 && member.brokerEpoch != broker.epoch
    }
    if ineligible { return version > 1 ? .ineligibleReplica : .operationNotAttempted }
    return nil
  }
}
