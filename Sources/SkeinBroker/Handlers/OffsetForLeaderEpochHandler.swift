import KafkaProtocol

// OffsetForLeaderEpoch (KIP-101, KIP-279, KIP-320): the end offset of a leader epoch in the
// leader's log — the start of the next higher epoch, or the log end for the latest — so that
// a follower truncates to where both logs agree and a consumer checks its position after a
// leader change.

extension BrokerHandlers {
  func offsetForLeaderEpoch(_ request: OffsetForLeaderEpochRequest, _ context: RequestContext)
    -> Reply<OffsetForLeaderEpochResponse>
  {
    .now(
      OffsetForLeaderEpochResponse(
        topics: request.topics.map { topic in
          .init(
            topic: topic.topic,
            partitions: topic.partitions.map { p in
              endOffset(TopicPartition(topic.topic, p.partition), p)
            })
        }))
  }

  private func endOffset(
    _ tp: TopicPartition, _ p: OffsetForLeaderEpochRequest.OffsetForLeaderPartition
  ) -> OffsetForLeaderEpochResponse.EpochEndOffset {
    var result = OffsetForLeaderEpochResponse.EpochEndOffset(
      errorCode: 0, partition: p.partition, leaderEpoch: -1, endOffset: -1)
    guard let partition = replicaManager.partition(tp) else {
      result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
      return result
    }
    guard partition.isLeader else {
      result.errorCode = ErrorCode.notLeaderOrFollower.rawValue
      return result
    }
    let current = partition.leaderEpoch
    if p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch != current {
      result.errorCode =
        (p.currentLeaderEpoch < current
        ? ErrorCode.fencedLeaderEpoch : ErrorCode.unknownLeaderEpoch).rawValue
      return result
    }
    let found = partition.log.endOffset(forLeaderEpoch: p.leaderEpoch)
    result.leaderEpoch = found.epoch
    result.endOffset = found.endOffset
    return result
  }
}
