import KafkaProtocol

/// Kafka's `range` assignor (RangeAssignor): per topic, the partitions in order are cut into
/// consecutive ranges, one per member subscribed to the topic in member order, the first
/// members getting one extra partition when the count does not divide evenly.
public enum RangeAssignor {
  /// The protocol name members advertise in JoinGroup.
  public static let name = "range"

  /// One member's subscription as the leader reads it from JoinGroup.
  public struct Member: Sendable, Hashable {
    public var memberId: String
    public var groupInstanceId: String?
    public var topics: [String]

    public init(memberId: String, groupInstanceId: String? = nil, topics: [String]) {
      self.memberId = memberId
      self.groupInstanceId = groupInstanceId
      self.topics = topics
    }

    /// Members sort by static instance id when they have one, else by member id.
    var sortKey: String { groupInstanceId ?? memberId }
  }

  /// The partitions of each member, keyed by member id; `partitionCounts` holds the
  /// partition count of every subscribed topic that exists (others are skipped).
  public static func assign(
    members: [Member], partitionCounts: [String: Int32]
  ) -> [String: [TopicPartition]] {
    var result: [String: [TopicPartition]] = [:]
    for member in members { result[member.memberId] = [] }
    var subscribers: [String: [Member]] = [:]
    for member in members {
      for topic in Set(member.topics) { subscribers[topic, default: []].append(member) }
    }
    for topic in subscribers.keys.sorted() {
      guard let count = partitionCounts[topic], count > 0, let consumers = subscribers[topic]
      else { continue }
      let ordered = consumers.sorted { ($0.sortKey, $0.memberId) < ($1.sortKey, $1.memberId) }
      let perMember = Int(count) / ordered.count
      let extra = Int(count) % ordered.count
      for (index, member) in ordered.enumerated() {
        let start = index * perMember + min(index, extra)
        let length = perMember + (index < extra ? 1 : 0)
        guard length > 0 else { continue }
        for partition in start..<(start + length) {
          result[member.memberId, default: []].append(TopicPartition(topic, Int32(partition)))
        }
      }
    }
    return result
  }
}
