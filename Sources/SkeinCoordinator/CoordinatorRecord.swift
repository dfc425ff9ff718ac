import KafkaProtocol
import NIOCore

/// A record of `__consumer_offsets` in Kafka's format: the key is an int16 key version and the
/// key struct, the value an int16 value version and the value struct; a null value is a
/// tombstone. Key versions 0-1 are offset commits, 2 group metadata, 3-8 the KIP-848 records of
/// consumer groups.
public enum CoordinatorRecord: Sendable, Hashable {
  case groupMetadata(groupId: String, value: GroupMetadataValue?)
  case offsetCommit(groupId: String, topic: String, partition: Int32, value: OffsetCommitValue?)
  case consumerGroupMetadata(groupId: String, value: ConsumerGroupMetadataValue?)
  case consumerGroupPartitionMetadata(groupId: String, value: ConsumerGroupPartitionMetadataValue?)
  case consumerGroupMemberMetadata(
    groupId: String, memberId: String, value: ConsumerGroupMemberMetadataValue?)
  case consumerGroupTargetAssignmentMetadata(
    groupId: String, value: ConsumerGroupTargetAssignmentMetadataValue?)
  case consumerGroupTargetAssignmentMember(
    groupId: String, memberId: String, value: ConsumerGroupTargetAssignmentMemberValue?)
  case consumerGroupCurrentMemberAssignment(
    groupId: String, memberId: String, value: ConsumerGroupCurrentMemberAssignmentValue?)

  /// The value version Kafka 4 writes for group metadata.
  public static let groupMetadataValueVersion: Int16 = 3

  /// Kafka 4 writes v1 when the commit carries an explicit expiry (old OffsetCommit
  /// `retention_time_ms`), v3 otherwise.
  public static func offsetCommitValueVersion(_ value: OffsetCommitValue) -> Int16 {
    value.expireTimestamp == -1 ? 3 : 1
  }

  public var groupId: String {
    switch self {
    case .groupMetadata(let groupId, _), .offsetCommit(let groupId, _, _, _),
      .consumerGroupMetadata(let groupId, _), .consumerGroupPartitionMetadata(let groupId, _),
      .consumerGroupMemberMetadata(let groupId, _, _),
      .consumerGroupTargetAssignmentMetadata(let groupId, _),
      .consumerGroupTargetAssignmentMember(let groupId, _, _),
      .consumerGroupCurrentMemberAssignment(let groupId, _, _):
      groupId
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
    case .consumerGroupMetadata(let groupId, _):
      buffer.writeInteger(Int16(3))
      ConsumerGroupMetadataKey(groupId: groupId).encode(to: &buffer, version: 3)
    case .consumerGroupPartitionMetadata(let groupId, _):
      buffer.writeInteger(Int16(4))
      ConsumerGroupPartitionMetadataKey(groupId: groupId).encode(to: &buffer, version: 4)
    case .consumerGroupMemberMetadata(let groupId, let memberId, _):
      buffer.writeInteger(Int16(5))
      ConsumerGroupMemberMetadataKey(groupId: groupId, memberId: memberId).encode(
        to: &buffer, version: 5)
    case .consumerGroupTargetAssignmentMetadata(let groupId, _):
      buffer.writeInteger(Int16(6))
      ConsumerGroupTargetAssignmentMetadataKey(groupId: groupId).encode(to: &buffer, version: 6)
    case .consumerGroupTargetAssignmentMember(let groupId, let memberId, _):
      buffer.writeInteger(Int16(7))
      ConsumerGroupTargetAssignmentMemberKey(groupId: groupId, memberId: memberId).encode(
        to: &buffer, version: 7)
    case .consumerGroupCurrentMemberAssignment(let groupId, let memberId, _):
      buffer.writeInteger(Int16(8))
      ConsumerGroupCurrentMemberAssignmentKey(groupId: groupId, memberId: memberId).encode(
        to: &buffer, version: 8)
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
    case .consumerGroupMetadata(_, let value):
      guard let value else { return nil }
      Self.writeV0(value, to: &buffer)
    case .consumerGroupPartitionMetadata(_, let value):
      guard let value else { return nil }
      Self.writeV0(value, to: &buffer)
    case .consumerGroupMemberMetadata(_, _, let value):
      guard let value else { return nil }
      Self.writeV0(value, to: &buffer)
    case .consumerGroupTargetAssignmentMetadata(_, let value):
      guard let value else { return nil }
      Self.writeV0(value, to: &buffer)
    case .consumerGroupTargetAssignmentMember(_, _, let value):
      guard let value else { return nil }
      Self.writeV0(value, to: &buffer)
    case .consumerGroupCurrentMemberAssignment(_, _, let value):
      guard let value else { return nil }
      Self.writeV0(value, to: &buffer)
    }
    return buffer
  }

  /// The KIP-848 values all have version 0.
  private static func writeV0<V: KafkaMessage>(_ value: V, to buffer: inout ByteBuffer) {
    buffer.writeInteger(Int16(0))
    value.encode(to: &buffer, version: 0)
  }

  /// A record's value in a version this coordinator reads; nil for a tombstone.
  private static func readValue<V: KafkaMessage>(
    _ type: V.Type, _ buffer: ByteBuffer?, version: Int16?
  ) throws(DecodeError) -> V? {
    guard var buffer, let version else { return nil }
    guard V.validVersions.contains(version) else {
      throw .invalid("\(V.self) version \(version)")
    }
    return try V(from: &buffer, version: version)
  }

  /// Decodes a record; nil for key versions this coordinator does not keep (share groups,
  /// streams groups).
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
      return .offsetCommit(
        groupId: k.group, topic: k.topic, partition: k.partition,
        value: try readValue(OffsetCommitValue.self, valueBuffer, version: valueVersion))
    case 2:
      let k = try GroupMetadataKey(from: &key, version: 2)
      return .groupMetadata(
        groupId: k.group,
        value: try readValue(GroupMetadataValue.self, valueBuffer, version: valueVersion))
    case 3:
      let k = try ConsumerGroupMetadataKey(from: &key, version: 3)
      return .consumerGroupMetadata(
        groupId: k.groupId,
        value: try readValue(ConsumerGroupMetadataValue.self, valueBuffer, version: valueVersion))
    case 4:
      let k = try ConsumerGroupPartitionMetadataKey(from: &key, version: 4)
      return .consumerGroupPartitionMetadata(
        groupId: k.groupId,
        value: try readValue(
          ConsumerGroupPartitionMetadataValue.self, valueBuffer, version: valueVersion))
    case 5:
      let k = try ConsumerGroupMemberMetadataKey(from: &key, version: 5)
      return .consumerGroupMemberMetadata(
        groupId: k.groupId, memberId: k.memberId,
        value: try readValue(
          ConsumerGroupMemberMetadataValue.self, valueBuffer, version: valueVersion))
    case 6:
      let k = try ConsumerGroupTargetAssignmentMetadataKey(from: &key, version: 6)
      return .consumerGroupTargetAssignmentMetadata(
        groupId: k.groupId,
        value: try readValue(
          ConsumerGroupTargetAssignmentMetadataValue.self, valueBuffer, version: valueVersion))
    case 7:
      let k = try ConsumerGroupTargetAssignmentMemberKey(from: &key, version: 7)
      return .consumerGroupTargetAssignmentMember(
        groupId: k.groupId, memberId: k.memberId,
        value: try readValue(
          ConsumerGroupTargetAssignmentMemberValue.self, valueBuffer, version: valueVersion))
    case 8:
      let k = try ConsumerGroupCurrentMemberAssignmentKey(from: &key, version: 8)
      return .consumerGroupCurrentMemberAssignment(
        groupId: k.groupId, memberId: k.memberId,
        value: try readValue(
          ConsumerGroupCurrentMemberAssignmentValue.self, valueBuffer, version: valueVersion))
    default:
      return nil
    }
  }
}
