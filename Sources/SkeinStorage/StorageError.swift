import KafkaProtocol

/// Why a storage operation failed. `errorCode` is what the broker puts in the response.
public enum StorageError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The offset is below the log start offset or above the log end offset.
  case offsetOutOfRange(offset: Int64, logStartOffset: Int64, logEndOffset: Int64)
  /// An append did not start where the log expects (leader: at the log end offset; follower:
  /// at or after it).
  case unexpectedAppendOffset(expected: Int64, found: Int64)
  /// Batches of one append are not in increasing offset order (or not contiguous on the
  /// leader path), or span more offsets than one segment can address.
  case offsetsOutOfOrder(String)
  /// A batch header or CRC is invalid.
  case invalidBatch(RecordBatchError)
  /// One batch is larger than `max.message.bytes`.
  case messageTooLarge(size: Int, max: Int)
  /// An append is larger than a segment can address.
  case recordListTooLarge(size: Int)
  /// A system call failed.
  case io(operation: String, path: String, errno: Int32)
  /// A file's contents cannot be trusted where the log cannot repair them.
  case corruptLog(path: String, reason: String)
  /// The log was closed (shut down or deleted).
  case logClosed(TopicPartition)
  /// The partition directory belongs to another incarnation of the topic.
  case inconsistentTopicId(expected: KafkaUuid, found: KafkaUuid)
  /// A producer's batch carries an epoch older than the one the partition has seen.
  case invalidProducerEpoch(String)
  /// A producer's batch does not continue its sequence.
  case outOfOrderSequence(String)

  public var errorCode: ErrorCode {
    switch self {
    case .offsetOutOfRange: .offsetOutOfRange
    case .unexpectedAppendOffset, .offsetsOutOfOrder: .unknownServerError
    case .invalidBatch(let error): error.errorCode
    case .messageTooLarge: .messageTooLarge
    case .recordListTooLarge: .recordListTooLarge
    case .io, .corruptLog: .kafkaStorageError
    case .logClosed: .notLeaderOrFollower
    case .inconsistentTopicId: .inconsistentTopicId
    case .invalidProducerEpoch: .invalidProducerEpoch
    case .outOfOrderSequence: .outOfOrderSequenceNumber
    }
  }

  public var description: String {
    switch self {
    case .offsetOutOfRange(let offset, let start, let end):
      "offset \(offset) is out of range [\(start), \(end)]"
    case .unexpectedAppendOffset(let expected, let found):
      "append starts at offset \(found), expected \(expected)"
    case .offsetsOutOfOrder(let reason): "offsets out of order: \(reason)"
    case .invalidBatch(let error): "invalid record batch: \(error)"
    case .messageTooLarge(let size, let max):
      "batch of \(size) bytes exceeds max.message.bytes \(max)"
    case .recordListTooLarge(let size): "append of \(size) bytes is too large"
    case .io(let operation, let path, let code): "\(operation) \(path) failed: errno \(code)"
    case .corruptLog(let path, let reason): "corrupt \(path): \(reason)"
    case .logClosed(let tp): "log \(tp) is closed"
    case .inconsistentTopicId(let expected, let found):
      "topic id \(found) on disk does not match \(expected)"
    case .invalidProducerEpoch(let reason), .outOfOrderSequence(let reason): reason
    }
  }
}
