import KafkaProtocol

/// Everything SkeinClient throws: a broker's Kafka error code with its context, or a local
/// failure (connection, timeout, malformed response, bad argument), each with a readable message.
public enum KafkaClientError: Error, Sendable, CustomStringConvertible {
  /// The broker answered with a Kafka error code; `context` names what failed (a topic, a
  /// partition, a request) and `message` is the broker's error message, if it sent one.
  case broker(ErrorCode, context: String, message: String? = nil)
  /// Could not open a TCP connection to `address`.
  case connectionFailed(address: String, reason: String)
  /// The connection closed (or failed) before the response arrived.
  case connectionClosed(address: String)
  /// No response within the request timeout.
  case requestTimedOut(api: ApiKey, address: String, timeoutMs: Int64)
  /// The broker does not serve any version of `api` this client speaks.
  case unsupportedApi(api: ApiKey, address: String)
  /// The response could not be decoded or made no sense.
  case malformedResponse(String)
  /// None of the bootstrap servers or known brokers could be reached.
  case noBrokerAvailable(String)
  /// The topic does not exist (or has no partition with that index).
  case unknownTopicOrPartition(String)
  /// A partition has no leader right now.
  case leaderNotAvailable(TopicPartition)
  /// A caller-supplied argument is invalid.
  case invalidArgument(String)
  /// Something this client does not implement yet (such as compressed batches).
  case unsupported(String)
  /// The producer or consumer was closed.
  case closed

  /// The Kafka error code this error carries, when it came from a broker (or maps onto one).
  public var errorCode: ErrorCode? {
    switch self {
    case .broker(let code, _, _): code
    case .unknownTopicOrPartition: .unknownTopicOrPartition
    case .leaderNotAvailable: .leaderNotAvailable
    case .requestTimedOut: .requestTimedOut
    case .connectionClosed, .connectionFailed: .networkException
    case .unsupportedApi: .unsupportedVersion
    default: nil
    }
  }

  /// Whether trying again (after a metadata refresh and a back-off) may succeed.
  public var isRetriable: Bool {
    switch self {
    case .broker(let code, _, _): code.isRetriable
    case .connectionFailed, .connectionClosed, .requestTimedOut, .leaderNotAvailable,
      .noBrokerAvailable:
      true
    default: false
    }
  }

  public var description: String {
    switch self {
    case .broker(let code, let context, let message):
      let detail = message.map { $0.isEmpty ? "" : ": \($0)" } ?? ""
      return "\(context): \(code.kafkaName) (error \(code.rawValue))\(detail)"
    case .connectionFailed(let address, let reason):
      return "cannot connect to \(address): \(reason)"
    case .connectionClosed(let address):
      return "connection to \(address) closed"
    case .requestTimedOut(let api, let address, let timeoutMs):
      return "\(api.name) request to \(address) timed out after \(timeoutMs) ms"
    case .unsupportedApi(let api, let address):
      return "broker \(address) does not support any \(api.name) version this client speaks"
    case .malformedResponse(let what):
      return "malformed response: \(what)"
    case .noBrokerAvailable(let what):
      return "no broker available: \(what)"
    case .unknownTopicOrPartition(let what):
      return "unknown topic or partition: \(what)"
    case .leaderNotAvailable(let partition):
      return "no leader for partition \(partition)"
    case .invalidArgument(let what):
      return what
    case .unsupported(let what):
      return "not supported: \(what)"
    case .closed:
      return "the client is closed"
    }
  }

  /// Throws `.broker` when `code` (a raw error code from a response) is not NONE.
  static func check(_ code: Int16, _ context: @autoclosure () -> String, message: String? = nil)
    throws(KafkaClientError)
  {
    guard code != 0 else { return }
    throw .broker(ErrorCode(rawValue: code), context: context(), message: message)
  }
}

extension ErrorCode {
  /// Whether Kafka marks the error as retriable (its `RetriableException` subclasses).
  public var isRetriable: Bool {
    switch rawValue {
    case 2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83,
      88, 89, 100, 108:
      true
    default:
      false
    }
  }

  /// Errors after which the client's view of partition leadership is stale.
  var invalidatesMetadata: Bool {
    switch self {
    case .unknownTopicOrPartition, .leaderNotAvailable, .notLeaderOrFollower,
      .fencedLeaderEpoch, .unknownLeaderEpoch, .kafkaStorageError, .notController,
      .unknownTopicId, .newLeaderElected, .replicaNotAvailable, .brokerNotAvailable:
      true
    default:
      false
    }
  }
}
