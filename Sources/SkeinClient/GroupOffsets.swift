import KafkaProtocol

/// A committed position: the next offset to read, with the leader epoch of the record before
/// it and free-form metadata (Kafka's OffsetAndMetadata).
public struct OffsetAndMetadata: Sendable, Hashable {
  public var offset: Int64
  public var leaderEpoch: Int32
  public var metadata: String?

  public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String? = nil) {
    self.offset = offset
    self.leaderEpoch = leaderEpoch
    self.metadata = metadata
  }
}

/// OffsetFetch and OffsetCommit as both the group consumer and the admin client send them.
enum GroupOffsets {
  /// The group's committed offsets for `partitions` (nil: every partition it has offsets
  /// for); partitions without a committed offset are left out.
  static func fetch(
    _ coordinator: GroupCoordinator, partitions: [TopicPartition]?,
    deadline: ContinuousClock.Instant
  ) async throws -> [TopicPartition: OffsetAndMetadata] {
    let groupId = coordinator.groupId
    let topics = partitions.map { ConsumerProtocol.grouped($0) }
    while true {
      let connection = try await coordinator.connection(deadline: deadline)
      let version = try connection.version(for: .offsetFetch)
      var request = OffsetFetchRequest()
      request.requireStable = true
      if version >= 8 {
        request.groups = [
          OffsetFetchRequest.OffsetFetchRequestGroup(
            groupId: groupId, memberId: nil, memberEpoch: -1,
            topics: topics?.map {
              OffsetFetchRequest.OffsetFetchRequestTopics(name: $0.0, partitionIndexes: $0.1)
            })
        ]
      } else {
        request.groupId = groupId
        request.topics = topics?.map {
          OffsetFetchRequest.OffsetFetchRequestTopic(name: $0.0, partitionIndexes: $0.1)
        }
      }
      let response = try await coordinator.send(request, deadline: deadline) {
        response -> ErrorCode in
        ErrorCode(
          rawValue: version >= 8 ? response.groups.first?.errorCode ?? 0 : response.errorCode)
      }
      var entries: [(TopicPartition, Int64, Int32, String?, Int16)] = []
      var groupCode = response.errorCode
      if version >= 8 {
        guard let group = response.groups.first(where: { $0.groupId == groupId }) else {
          throw KafkaClientError.malformedResponse("OffsetFetch answered no entry for \(groupId)")
        }
        groupCode = group.errorCode
        for topic in group.topics {
          for partition in topic.partitions {
            entries.append(
              (
                TopicPartition(topic.name, partition.partitionIndex), partition.committedOffset,
                partition.committedLeaderEpoch, partition.metadata, partition.errorCode
              ))
          }
        }
      } else {
        for topic in response.topics {
          for partition in topic.partitions {
            entries.append(
              (
                TopicPartition(topic.name, partition.partitionIndex), partition.committedOffset,
                partition.committedLeaderEpoch, partition.metadata, partition.errorCode
              ))
          }
        }
      }
      // UNSTABLE_OFFSET_COMMIT: a transaction's offsets are pending; ask again shortly.
      let unstable =
        groupCode == ErrorCode.unstableOffsetCommit.rawValue
        || entries.contains { $0.4 == ErrorCode.unstableOffsetCommit.rawValue }
      if unstable, ContinuousClock.now + coordinator.client.configuration.retryBackoff < deadline {
        try await Task.sleep(for: coordinator.client.configuration.retryBackoff)
        continue
      }
      try KafkaClientError.check(groupCode, "OffsetFetch for group \(groupId)")
      var result: [TopicPartition: OffsetAndMetadata] = [:]
      for (partition, offset, epoch, metadata, code) in entries {
        try KafkaClientError.check(code, "OffsetFetch of \(partition) for group \(groupId)")
        if offset >= 0 {
          result[partition] = OffsetAndMetadata(
            offset: offset, leaderEpoch: epoch, metadata: metadata)
        }
      }
      return result
    }
  }

  /// Commits `offsets` as member `memberId` of `generation` (the admin client commits as
  /// generation -1 with an empty member id). Throws the first partition error.
  static func commit(
    _ coordinator: GroupCoordinator, offsets: [TopicPartition: OffsetAndMetadata],
    generation: Int32, memberId: String, groupInstanceId: String?,
    deadline: ContinuousClock.Instant
  ) async throws {
    guard !offsets.isEmpty else { return }
    let groupId = coordinator.groupId
    var request = OffsetCommitRequest()
    request.groupId = groupId
    request.generationIdOrMemberEpoch = generation
    request.memberId = memberId
    request.groupInstanceId = groupInstanceId
    request.retentionTimeMs = -1
    request.topics = ConsumerProtocol.grouped(Array(offsets.keys)).map { topic, partitions in
      OffsetCommitRequest.OffsetCommitRequestTopic(
        name: topic,
        partitions: partitions.map { index in
          let entry = offsets[TopicPartition(topic, index)] ?? OffsetAndMetadata(offset: -1)
          return OffsetCommitRequest.OffsetCommitRequestPartition(
            partitionIndex: index, committedOffset: entry.offset,
            committedLeaderEpoch: entry.leaderEpoch, commitTimestamp: -1,
            committedMetadata: entry.metadata ?? "")
        })
    }
    while true {
      let response = try await coordinator.send(request, deadline: deadline) {
        response -> ErrorCode in
        let codes = response.topics.flatMap { $0.partitions.map(\.errorCode) }
        return ErrorCode(rawValue: codes.first { $0 != 0 } ?? 0)
      }
      var retriable: ErrorCode?
      for topic in response.topics {
        for partition in topic.partitions where partition.errorCode != 0 {
          let code = ErrorCode(rawValue: partition.errorCode)
          // Rebalance errors go to the caller (the consumer rejoins); others retry if they may.
          if code.isRetriable, code != .rebalanceInProgress {
            retriable = code
            continue
          }
          throw KafkaClientError.broker(
            code,
            context: "OffsetCommit of \(topic.name)-\(partition.partitionIndex) for group "
              + groupId)
        }
      }
      guard let retriable else { return }
      guard ContinuousClock.now + coordinator.client.configuration.retryBackoff < deadline else {
        throw KafkaClientError.broker(retriable, context: "OffsetCommit for group \(groupId)")
      }
      try await Task.sleep(for: coordinator.client.configuration.retryBackoff)
    }
  }
}
