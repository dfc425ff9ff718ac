import KafkaProtocol
import NIOCore

/// The "consumer" protocol type's embedded formats: a JoinGroup member's metadata is a
/// ConsumerProtocolSubscription and a SyncGroup assignment a ConsumerProtocolAssignment, each
/// behind its own Int16 version.
public enum ConsumerProtocol {
  public static let protocolType = "consumer"
  /// Versions written: v1 carries owned partitions and is read by every client since 2.4.
  static let subscriptionVersion: Int16 = 1
  static let assignmentVersion: Int16 = 1

  public static func encodeSubscription(
    topics: [String], ownedPartitions: [TopicPartition] = []
  ) -> ByteBuffer {
    var subscription = ConsumerProtocolSubscription()
    subscription.topics = topics.sorted()
    subscription.ownedPartitions = grouped(ownedPartitions).map {
      ConsumerProtocolSubscription.TopicPartition(topic: $0.0, partitions: $0.1)
    }
    var buffer = ByteBuffer()
    buffer.writeInteger(subscriptionVersion)
    subscription.encode(to: &buffer, version: subscriptionVersion)
    return buffer
  }

  /// A member's subscription; a version newer than the codec knows is read as the newest
  /// known one (later versions only append fields).
  public static func decodeSubscription(
    _ bytes: ByteBuffer
  ) throws(KafkaClientError) -> ConsumerProtocolSubscription {
    var buffer = bytes
    guard let version = buffer.readInteger(as: Int16.self), version >= 0 else {
      throw .malformedResponse("consumer subscription without a version")
    }
    let known = min(version, ConsumerProtocolSubscription.validVersions.upperBound)
    do {
      return try ConsumerProtocolSubscription(from: &buffer, version: known)
    } catch {
      throw .malformedResponse("consumer subscription v\(version): \(error)")
    }
  }

  public static func encodeAssignment(_ partitions: [TopicPartition]) -> ByteBuffer {
    var assignment = ConsumerProtocolAssignment()
    assignment.assignedPartitions = grouped(partitions).map {
      ConsumerProtocolAssignment.TopicPartition(topic: $0.0, partitions: $0.1)
    }
    var buffer = ByteBuffer()
    buffer.writeInteger(assignmentVersion)
    assignment.encode(to: &buffer, version: assignmentVersion)
    return buffer
  }

  /// The partitions of an assignment; an empty buffer (a member given nothing) is none.
  public static func decodeAssignment(
    _ bytes: ByteBuffer
  ) throws(KafkaClientError) -> [TopicPartition] {
    guard bytes.readableBytes > 0 else { return [] }
    var buffer = bytes
    guard let version = buffer.readInteger(as: Int16.self), version >= 0 else {
      throw .malformedResponse("consumer assignment without a version")
    }
    let known = min(version, ConsumerProtocolAssignment.validVersions.upperBound)
    do {
      let assignment = try ConsumerProtocolAssignment(from: &buffer, version: known)
      return assignment.assignedPartitions.flatMap { topic in
        topic.partitions.map { TopicPartition(topic.topic, $0) }
      }
    } catch {
      throw .malformedResponse("consumer assignment v\(version): \(error)")
    }
  }

  /// Partitions grouped by topic, topics and partitions sorted.
  static func grouped(_ partitions: [TopicPartition]) -> [(String, [Int32])] {
    var byTopic: [String: [Int32]] = [:]
    for partition in partitions {
      byTopic[partition.topic, default: []].append(partition.partition)
    }
    return byTopic.keys.sorted().map { ($0, (byTopic[$0] ?? []).sorted()) }
  }
}
