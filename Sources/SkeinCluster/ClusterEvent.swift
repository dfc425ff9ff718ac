import KafkaProtocol

/// Something that changed in the cluster, as the deck tells it: a follower leaving or
/// rejoining the ISR, a leader moving, a broker fenced or back, a topic made or removed.
/// Found by comparing consecutive metadata images (`ClusterEvent.changes`), with a reason
/// read from what else changed at the same time.
public struct ClusterEvent: Sendable, Hashable, Codable {
  public enum Kind: String, Sendable, Codable {
    case isrShrink = "isr_shrink"
    case isrExpand = "isr_expand"
    case leaderChange = "leader_change"
    case brokerFenced = "broker_fenced"
    case brokerUnfenced = "broker_unfenced"
    case brokerRegistered = "broker_registered"
    case topicCreated = "topic_created"
    case topicDeleted = "topic_deleted"
  }

  public var kind: Kind
  /// Milliseconds since the epoch when this node saw the change.
  public var timeMs: Int64
  public var topic: String?
  public var partition: Int32?
  public var broker: Int32?
  /// Leader changes: the old and the new leader (-1: none).
  public var fromLeader: Int32?
  public var toLeader: Int32?
  public var isr: [Int32]?
  public var reason: String

  public init(
    kind: Kind, timeMs: Int64, topic: String? = nil, partition: Int32? = nil,
    broker: Int32? = nil, fromLeader: Int32? = nil, toLeader: Int32? = nil, isr: [Int32]? = nil,
    reason: String
  ) {
    self.kind = kind
    self.timeMs = timeMs
    self.topic = topic
    self.partition = partition
    self.broker = broker
    self.fromLeader = fromLeader
    self.toLeader = toLeader
    self.isr = isr
    self.reason = reason
  }

  /// The events that take `old` to `new`, brokers first, then topics and partitions in order.
  public static func changes(from old: MetadataImage, to new: MetadataImage, nowMs: Int64)
    -> [ClusterEvent]
  {
    var events: [ClusterEvent] = []
    var fencedNow: Set<Int32> = []
    var shuttingDown: Set<Int32> = []
    for id in new.brokers.keys.sorted() {
      guard let b = new.brokers[id] else { continue }
      if b.inControlledShutdown { shuttingDown.insert(id) }
      guard let before = old.brokers[id] else {
        events.append(
          ClusterEvent(
            kind: .brokerRegistered, timeMs: nowMs, broker: id,
            reason: "broker \(id) registered (rack \(b.rack ?? "none"))"))
        if !b.fenced {
          events.append(
            ClusterEvent(
              kind: .brokerUnfenced, timeMs: nowMs, broker: id, reason: "broker \(id) is live"))
        }
        continue
      }
      if b.epoch != before.epoch && !before.fenced && b.fenced {
        fencedNow.insert(id)
        events.append(
          ClusterEvent(
            kind: .brokerFenced, timeMs: nowMs, broker: id,
            reason: "broker \(id) registered again after a restart"))
      } else if b.fenced && !before.fenced {
        fencedNow.insert(id)
        events.append(
          ClusterEvent(
            kind: .brokerFenced, timeMs: nowMs, broker: id,
            reason: before.inControlledShutdown
              ? "broker \(id) finished its controlled shutdown"
              : "broker \(id) sent no heartbeat for broker.session.timeout.ms"))
      } else if !b.fenced && before.fenced {
        events.append(
          ClusterEvent(
            kind: .brokerUnfenced, timeMs: nowMs, broker: id,
            reason: "broker \(id) caught up with the metadata log and is live again"))
      }
    }
    let gone: (Int32) -> Bool = { id in
      fencedNow.contains(id) || shuttingDown.contains(id) || new.brokers[id]?.fenced == true
    }
    for name in Set(old.topics.keys).subtracting(new.topics.keys).sorted() {
      events.append(
        ClusterEvent(kind: .topicDeleted, timeMs: nowMs, topic: name, reason: "topic deleted"))
    }
    for name in new.topics.keys.sorted() {
      guard let topic = new.topics[name] else { continue }
      guard let before = old.topics[name], before.id == topic.id else {
        events.append(
          ClusterEvent(
            kind: .topicCreated, timeMs: nowMs, topic: name,
            reason: "topic created with \(topic.partitions.count) partitions"))
        continue
      }
      guard before != topic else { continue }
      for p in topic.partitions {
        guard let q = before.partitions.first(where: { $0.partition == p.partition }) else {
          continue
        }
        if p.leader != q.leader {
          let reason: String
          if p.leader == PartitionInfo.noLeader {
            reason = "no in-sync replica is left to lead"
          } else if gone(q.leader) {
            reason = "leader \(q.leader) is gone; \(p.leader) elected from the ISR"
          } else if p.leader == p.preferredReplica {
            reason = "preferred leader \(p.leader) restored"
          } else {
            reason = "leader moved from \(q.leader) to \(p.leader)"
          }
          events.append(
            ClusterEvent(
              kind: .leaderChange, timeMs: nowMs, topic: name, partition: p.partition,
              fromLeader: q.leader, toLeader: p.leader, isr: p.isr, reason: reason))
        }
        for id in q.isr where !p.isr.contains(id) {
          events.append(
            ClusterEvent(
              kind: .isrShrink, timeMs: nowMs, topic: name, partition: p.partition, broker: id,
              isr: p.isr,
              reason: gone(id)
                ? "broker \(id) is fenced or shutting down"
                : "follower \(id) fell behind for replica.lag.time.max.ms"))
        }
        for id in p.isr where !q.isr.contains(id) {
          events.append(
            ClusterEvent(
              kind: .isrExpand, timeMs: nowMs, topic: name, partition: p.partition, broker: id,
              isr: p.isr, reason: "follower \(id) caught up to the high watermark"))
        }
      }
    }
    return events
  }
}
