import KafkaProtocol

/// Where to start reading a partition, as a consumer seeks or ListOffsets looks up.
public enum OffsetSpec: Sendable, Hashable {
  /// This exact offset.
  case offset(Int64)
  /// The log start offset (ListOffsets timestamp -2).
  case beginning
  /// The log end offset, the next offset to be written (ListOffsets timestamp -1).
  case end
  /// The first offset whose timestamp is at or after this many ms since the epoch.
  case timestamp(Int64)

  /// The ListOffsets timestamp that asks for this spec, nil for `.offset`.
  var listOffsetsTimestamp: Int64? {
    switch self {
    case .offset: nil
    case .beginning: -2
    case .end: -1
    case .timestamp(let milliseconds): milliseconds
    }
  }
}

/// Which records a consumer may read (ListOffsets and Fetch `isolation_level`).
public enum IsolationLevel: Int8, Sendable, Hashable {
  case readUncommitted = 0
  case readCommitted = 1
}

/// One ListOffsets answer: the offset (-1 when no record has a timestamp that late) and the
/// timestamp and leader epoch of the record found, when the broker says.
public struct ListedOffset: Sendable, Hashable {
  public var offset: Int64
  public var timestamp: Int64
  public var leaderEpoch: Int32

  public init(offset: Int64, timestamp: Int64 = -1, leaderEpoch: Int32 = -1) {
    self.offset = offset
    self.timestamp = timestamp
    self.leaderEpoch = leaderEpoch
  }
}

extension KafkaClient {
  /// Looks up offsets with ListOffsets at each partition's leader, retrying retriable errors
  /// (leader moves) a few times. `.offset(n)` specs answer `n` without asking.
  public func listOffsets(
    _ specs: [TopicPartition: OffsetSpec], isolationLevel: IsolationLevel = .readUncommitted
  ) async throws -> [TopicPartition: ListedOffset] {
    var results: [TopicPartition: ListedOffset] = [:]
    var pending: [TopicPartition: Int64] = [:]
    for (partition, spec) in specs {
      if let timestamp = spec.listOffsetsTimestamp {
        pending[partition] = timestamp
      } else if case .offset(let offset) = spec {
        results[partition] = ListedOffset(offset: offset)
      }
    }
    var attempt = 0
    while !pending.isEmpty {
      attempt += 1
      var lastError: (any Error)?
      var byNode: [Int32: [TopicPartition]] = [:]
      for partition in pending.keys.sorted() {
        do {
          byNode[try await leader(for: partition), default: []].append(partition)
        } catch let error as KafkaClientError where error.isRetriable {
          lastError = error
        }
      }
      for (node, partitions) in byNode.sorted(by: { $0.key < $1.key }) {
        do {
          let found = try await listOffsets(
            partitions.map { ($0, pending[$0] ?? -1) }, node: node,
            isolationLevel: isolationLevel)
          for (partition, listed) in found {
            results[partition] = listed
            pending[partition] = nil
          }
        } catch let error as KafkaClientError where error.isRetriable {
          lastError = error
        }
      }
      if pending.isEmpty { break }
      invalidateMetadata()
      guard attempt < 5 else {
        throw lastError
          ?? KafkaClientError.noBrokerAvailable("ListOffsets for \(pending.keys.sorted())")
      }
      try await Task.sleep(for: configuration.retryBackoff * attempt)
    }
    return results
  }

  /// One ListOffsets request; throws the first partition error (retriable ones included).
  private func listOffsets(
    _ partitions: [(TopicPartition, Int64)], node: Int32, isolationLevel: IsolationLevel
  ) async throws -> [TopicPartition: ListedOffset] {
    let connection = try await connection(toNode: node)
    let version = try connection.version(for: .listOffsets)
    var request = ListOffsetsRequest()
    request.replicaId = -1
    request.isolationLevel = isolationLevel.rawValue
    request.timeoutMs = Int32(clamping: configuration.connection.requestTimeout.milliseconds)
    var topics: [String: [ListOffsetsRequest.ListOffsetsPartition]] = [:]
    for (partition, timestamp) in partitions {
      topics[partition.topic, default: []].append(
        ListOffsetsRequest.ListOffsetsPartition(
          partitionIndex: partition.partition, timestamp: timestamp))
    }
    request.topics = topics.keys.sorted().map {
      ListOffsetsRequest.ListOffsetsTopic(name: $0, partitions: topics[$0] ?? [])
    }
    let response = try await connection.send(request, version: version)
    var results: [TopicPartition: ListedOffset] = [:]
    for topic in response.topics {
      for partition in topic.partitions {
        let key = TopicPartition(topic.name, partition.partitionIndex)
        try KafkaClientError.check(partition.errorCode, "list offsets of \(key)")
        results[key] = ListedOffset(
          offset: partition.offset, timestamp: partition.timestamp,
          leaderEpoch: partition.leaderEpoch)
      }
    }
    for (partition, _) in partitions where results[partition] == nil {
      throw KafkaClientError.malformedResponse("ListOffsets response has no \(partition)")
    }
    return results
  }
}
