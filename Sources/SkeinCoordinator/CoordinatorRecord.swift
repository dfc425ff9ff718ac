import KafkaProtocol
import NIOCore

/// A record of `__consumer_offsets` in Kafka's format: the key is an int16 key version and the
/// key struct, the value an int16 value version and the value struct; a null value is a
/// tombstone. Key versions 0-1 are offset commits, 2 group metadata.
public enum CoordinatorRecord: Sendable, Hashable {
  case groupMetadata(groupId: String, value: GroupMetadataValue?)
  case offsetCommit(groupId: String, topic: String, partition: Int32, value: OffsetCommitValue?)

  /// The value version Kafka 4 writes for group metadata.
  public static let groupMetadataValueVersion: Int16 = 3

  /// Kafka 4 writes v1 when the commit carries an explicit expiry (old OffsetCommit
  /// `retention_time_ms`), v3 otherwise.
  public static func offsetCommitValueVersion(_ value: OffsetCommitValue) -> Int16 {
    value.expireTimestamp == -1 ? 3 : 1
  }

  public var groupId: String {
    switch self {
    case .groupMetadata(let groupId, _), .offsetCommit(let groupId, _, _, _): groupId
    }
  }

  public func encodeKey() -> ByteBuffer {
    var buffer = ByteBuffer()
    switch self {
    case .groupMetadata(let groupId, _):
      buffer.writeInteger(Int16(2))
      GroupMetadataKey(group: groupId).encode(to: &buffer, version: 2)
    case .offsetCommit(let groupId, let topic, let partition, _):
      buffer.writeInteger(Int16(1))
      OffsetCommitKey(group: groupId, topic: topic, partition: partition).encode(
        to: &buffer, version: 1)
    }
    return buffer
  }

  /// The value bytes, or nil for a tombstone.
  public func encodeValue() -> ByteBuffer? {
    var buffer = ByteBuffer()
    switch self {
    case .groupMetadata(_, let value):
      guard let value else { return nil }
      buffer.writeInteger(Self.groupMetadataValueVersion)
      value.encode(to: &buffer, version: Self.groupMetadataValueVersion)
    case .offsetCommit(_, _, _, let value):
      guard let value else { return nil }
      let version = Self.offsetCommitValueVersion(value)
      buffer.writeInteger(version)
      value.encode(to: &buffer, version: version)
    }
    return buffer
  }

  /// Decodes a record; nil for key versions this coordinator does not keep (KIP-848 records).
  public static func decode(key: ByteBuffer, value: ByteBuffer?) throws(DecodeError)
    -> CoordinatorRecord?
  {
    var key = key
    let keyVersion = try key.readKafka(Int16.self)
    var valueBuffer = value
    var valueVersion: Int16? = nil
    if valueBuffer != nil { valueVersion = try valueBuffer?.readKafka(Int16.self) }
    switch keyVersion {
    case 0, 1:
      let k = try OffsetCommitKey(from: &key, version: keyVersion)
      guard var v = valueBuffer, let version = valueVersion else {
        return .offsetCommit(groupId: k.group, topic: k.topic, partition: k.partition, value: nil)
      }
      guard OffsetCommitValue.validVersions.contains(version) else {
        throw .invalid("OffsetCommitValue version \(version)")
      }
      let decoded = try OffsetCommitValue(from: &v, version: version)
      return .offsetCommit(
        groupId: k.group, topic: k.topic, partition: k.partition, value: decoded)
    case 2:
      let k = try GroupMetadataKey(from: &key, version: 2)
      guard var v = valueBuffer, let version = valueVersion else {
        return .groupMetadata(groupId: k.group, value: nil)
      }
      guard GroupMetadataValue.validVersions.contains(version) else {
        throw .invalid("GroupMetadataValue version \(version)")
      }
      return .groupMetadata(
        groupId: k.group, value: try GroupMetadataValue(from: &v, version: version))
    default:
      return nil
    }
  }
}
