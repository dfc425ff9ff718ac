import NIOCore

/// A value that Kafka's specs define, encoded and decoded at a given version.
public protocol KafkaStruct: Sendable, Hashable {
  init()
  init(from buffer: inout ByteBuffer, version: Int16) throws(DecodeError)
  func encode(to buffer: inout ByteBuffer, version: Int16)
}

/// A top-level spec message: a request, response, header, data or metadata record.
public protocol KafkaMessage: KafkaStruct {
  static var validVersions: ClosedRange<Int16> { get }
  static var firstFlexibleVersion: Int16? { get }
}

extension KafkaMessage {
  public static func isFlexible(_ version: Int16) -> Bool {
    firstFlexibleVersion.map { version >= $0 } ?? false
  }
}

/// A request body, tied to its API key and response type.
public protocol KafkaRequestMessage: KafkaMessage {
  associatedtype Response: KafkaResponseMessage
  static var apiKey: ApiKey { get }
}

/// A response body.
public protocol KafkaResponseMessage: KafkaMessage {
  static var apiKey: ApiKey { get }
  /// Calls `body` with each error code of the response present at `version` (top-level,
  /// per-topic, per-partition, …), once an occurrence, `NONE` included: what Kafka's
  /// `AbstractResponse.errorCounts()` counts for its `ErrorsPerSec` metric.
  func forEachErrorCode(version: Int16, _ body: (Int16) -> Void)
}
