import KafkaProtocol
import SkeinBroker
import SkeinClient

/// `/v1/groups`: every group of the cluster, as ListGroups at each broker finds them.
struct GroupListView: Encodable {
  struct Entry: Encodable {
    var groupId: String
    var protocolType: String
    var state: String
    var coordinator: Int32
  }

  var groups: [Entry]

  init(_ admin: Admin) async throws {
    groups = try await admin.listGroups().map {
      Entry(
        groupId: $0.groupId, protocolType: $0.protocolType, state: $0.state,
        coordinator: $0.coordinator)
    }
  }
}

/// `/v1/groups/{g}`: members and their assignments, and per partition the committed offset,
/// the log end offset and the lag, as kafka-consumer-groups `--describe` shows them.
struct GroupView: Encodable {
  struct Member: Encodable {
    struct Assigned: Encodable {
      var topic: String
      var partition: Int32
    }

    var memberId: String
    var groupInstanceId: String?
    var clientId: String
    var host: String
    var assignment: [Assigned]
  }

  struct PartitionOffsets: Encodable {
    var topic: String
    var partition: Int32
    var committedOffset: Int64?
    var logEndOffset: Int64?
    var lag: Int64?
    var memberId: String?
  }

  var groupId: String
  var state: String
  var protocolType: String
  var assignor: String
  var coordinator: Int32
  var members: [Member]
  var offsets: [PartitionOffsets]
  var totalLag: Int64

  /// nil when the cluster knows no such group (Dead, no members, no offsets).
  init?(_ admin: Admin, groupId: String) async throws {
    let description = try await admin.describeGroup(groupId)
    let committed = try await admin.listConsumerGroupOffsets(groupId)
    if description.state == "Dead" && description.members.isEmpty && committed.isEmpty {
      return nil
    }
    var owners: [TopicPartition: String] = [:]
    for member in description.members {
      for tp in member.assignment { owners[tp] = member.memberId }
    }
    let partitions = Set(committed.keys).union(owners.keys).sorted()
    let ends = try await admin.client.listOffsets(
      Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.end) }))
    self.groupId = groupId
    state = description.state
    protocolType = description.protocolType
    assignor = description.assignor
    coordinator = description.coordinator
    members = description.members.sorted { $0.memberId < $1.memberId }.map {
      Member(
        memberId: $0.memberId, groupInstanceId: $0.groupInstanceId, clientId: $0.clientId,
        host: $0.host,
        assignment: $0.assignment.sorted().map { .init(topic: $0.topic, partition: $0.partition) })
    }
    offsets = partitions.map { tp in
      let current = committed[tp]?.offset
      let end = ends[tp]?.offset
      let lag = current.flatMap { c in end.map { max(0, $0 - c) } }
      return PartitionOffsets(
        topic: tp.topic, partition: tp.partition, committedOffset: current, logEndOffset: end,
        lag: lag, memberId: owners[tp])
    }
    totalLag = offsets.compactMap(\.lag).reduce(0, +)
  }

  /// kafka-exporter's gauges for this group: offsets and lag per partition and the member
  /// count. Its `kafka_consumergroup_lag_sum` is left out (promtool refuses a gauge named
  /// `_sum`); `sum by (consumergroup, topic) (kafka_consumergroup_lag)` is the same.
  var samples: [ScrapeGauges.Sample] {
    typealias Sample = ScrapeGauges.Sample
    var out: [Sample] = [
      Sample("kafka_consumergroup_members", [("consumergroup", groupId)], Double(members.count))
    ]
    for p in offsets {
      let labels = [
        ("consumergroup", groupId), ("topic", p.topic), ("partition", String(p.partition)),
      ]
      if let committed = p.committedOffset {
        out.append(Sample("kafka_consumergroup_current_offset", labels, Double(committed)))
      }
      if let lag = p.lag { out.append(Sample("kafka_consumergroup_lag", labels, Double(lag))) }
    }
    return out
  }
}
