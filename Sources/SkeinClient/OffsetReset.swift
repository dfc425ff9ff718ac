import KafkaProtocol

/// Where `skein group reset-offsets` moves a group's committed offsets, as the options of
/// kafka-consumer-groups name them.
public enum OffsetResetStrategy: Sendable, Hashable {
  case toEarliest
  case toLatest
  /// Clamped to the partition's earliest and latest offsets.
  case toOffset(Int64)
  /// The first record at or after this many ms since the epoch; the log end if none.
  case toDatetime(Int64)
  /// The committed offset moved by this much (negative: back), clamped.
  case shiftBy(Int64)
}

/// The offset-reset plan as pure logic: per partition, the new offset from the partition's
/// earliest and latest offsets, the group's committed offset, and the offset a timestamp
/// lookup found.
public enum OffsetResetPlanner {
  /// What the plan needs to know of one partition.
  public struct PartitionState: Sendable, Hashable {
    public var earliest: Int64
    public var latest: Int64
    public var committed: Int64?
    /// The ListOffsets answer for `.toDatetime` (-1: no record that late).
    public var offsetForTimestamp: Int64?

    public init(
      earliest: Int64, latest: Int64, committed: Int64? = nil, offsetForTimestamp: Int64? = nil
    ) {
      self.earliest = earliest
      self.latest = latest
      self.committed = committed
      self.offsetForTimestamp = offsetForTimestamp
    }

    func clamp(_ offset: Int64) -> Int64 { min(max(offset, earliest), latest) }
  }

  public static func plan(
    _ strategy: OffsetResetStrategy, partitions: [TopicPartition: PartitionState]
  ) throws(KafkaClientError) -> [TopicPartition: Int64] {
    var result: [TopicPartition: Int64] = [:]
    for (partition, state) in partitions {
      switch strategy {
      case .toEarliest:
        result[partition] = state.earliest
      case .toLatest:
        result[partition] = state.latest
      case .toOffset(let offset):
        result[partition] = state.clamp(offset)
      case .toDatetime:
        let found = state.offsetForTimestamp ?? -1
        result[partition] = found >= 0 ? state.clamp(found) : state.latest
      case .shiftBy(let delta):
        guard let committed = state.committed else {
          throw .invalidArgument(
            "Cannot shift offset for partition \(partition) since there is no current "
              + "committed offset")
        }
        let (shifted, overflow) = committed.addingReportingOverflow(delta)
        result[partition] = state.clamp(overflow ? (delta < 0 ? Int64.min : Int64.max) : shifted)
      }
    }
    return result
  }
}

extension Admin {
  /// The new committed offsets `strategy` gives `partitions` of `groupId`, looked up from
  /// the leaders (ListOffsets) and the coordinator (OffsetFetch).
  public func planOffsetReset(
    _ groupId: String, partitions: [TopicPartition], strategy: OffsetResetStrategy
  ) async throws -> [TopicPartition: Int64] {
    let earliest = try await client.listOffsets(
      Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.beginning) }))
    let latest = try await client.listOffsets(
      Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.end) }))
    var byTimestamp: [TopicPartition: ListedOffset] = [:]
    if case .toDatetime(let timestamp) = strategy {
      byTimestamp = try await client.listOffsets(
        Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.timestamp(timestamp)) }))
    }
    var committed: [TopicPartition: OffsetAndMetadata] = [:]
    if case .shiftBy = strategy {
      committed = try await listConsumerGroupOffsets(groupId, partitions: partitions)
    }
    var states: [TopicPartition: OffsetResetPlanner.PartitionState] = [:]
    for partition in partitions {
      guard let low = earliest[partition]?.offset, let high = latest[partition]?.offset else {
        throw KafkaClientError.unknownTopicOrPartition(partition.description)
      }
      states[partition] = OffsetResetPlanner.PartitionState(
        earliest: low, latest: high, committed: committed[partition]?.offset,
        offsetForTimestamp: byTimestamp[partition]?.offset)
    }
    return try OffsetResetPlanner.plan(strategy, partitions: states)
  }
}
