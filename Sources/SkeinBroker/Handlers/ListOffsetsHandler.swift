import KafkaProtocol
import SkeinStorage

// ListOffsets: earliest (-2, and -4 earliest-local), latest (-1), max timestamp (-3) and the
// first offset at or after a timestamp, narrowed to the record inside its batch.

extension BrokerHandlers {
  func listOffsets(_ request: ListOffsetsRequest, _ context: RequestContext) -> Reply<
    ListOffsetsResponse
  > {
    .now(
      ListOffsetsResponse(
        topics: request.topics.map { topic in
          .init(
            name: topic.name,
            partitions: topic.partitions.map { p in
              lookUpOffset(
                TopicPartition(topic.name, p.partitionIndex), p, replicaId: request.replicaId)
            })
        }))
  }

  private func lookUpOffset(
    _ tp: TopicPartition, _ p: ListOffsetsRequest.ListOffsetsPartition, replicaId: Int32
  ) -> ListOffsetsResponse.ListOffsetsPartitionResponse {
    var result = ListOffsetsResponse.ListOffsetsPartitionResponse(partitionIndex: p.partitionIndex)
    guard let partition = replicaManager.partition(tp) else {
      result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
      return result
    }
    guard partition.isLeader else {
      result.errorCode = ErrorCode.notLeaderOrFollower.rawValue
      return result
    }
    if p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch != partition.leaderEpoch {
      result.errorCode =
        (p.currentLeaderEpoch < partition.leaderEpoch
        ? ErrorCode.fencedLeaderEpoch : ErrorCode.unknownLeaderEpoch).rawValue
      return result
    }
    result.leaderEpoch = partition.leaderEpoch
    let log = partition.log
    do throws(StorageError) {
      switch p.timestamp {
      case -2, -4:
        result.offset = log.logStartOffset
      case -1:
        // A follower (replica id set) reads to the log end, a consumer to the high watermark.
        result.offset = replicaId >= 0 ? log.logEndOffset : partition.highWatermark
      case -3:
        if let found = try log.fetchOffset(.maxTimestamp) {
          (result.offset, result.timestamp) = Self.exactRecord(in: found) { timestamp, _ in
            timestamp == found.timestamp
          }
        }
      case let target where target >= 0:
        if let found = try log.fetchOffset(.timestamp(target)) {
          (result.offset, result.timestamp) = Self.exactRecord(in: found) { timestamp, offset in
            timestamp >= target && offset >= found.offset
          }
        }
      default:
        // Tiered-storage specs (-5) have no tiered log here: nothing to report.
        break
      }
    } catch {
      result.errorCode = error.errorCode.rawValue
    }
    return result
  }

  /// The offset and timestamp of the first record of the batch the log found that `matches`;
  /// the batch-level answer when the batch cannot be read record by record.
  private static func exactRecord(
    in found: TimestampAndOffset, matches: (_ timestamp: Int64, _ offset: Int64) -> Bool
  ) -> (Int64, Int64) {
    guard let data = found.batch, let bytes = try? data.readBytes() else {
      return (found.offset, found.timestamp)
    }
    var batches = RecordBatchIterator(bytes)
    while let batch = try? batches.next() {
      guard var records = try? batch.decompressedRecords() else {
        return (found.offset, found.timestamp)
      }
      while let record = try? records.next() {
        let timestamp = batch.timestamp(of: record)
        let offset = batch.offset(of: record)
        if matches(timestamp, offset) { return (offset, timestamp) }
      }
    }
    return (found.offset, found.timestamp)
  }
}
