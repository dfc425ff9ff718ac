import SkeinBroker
import SkeinCluster

/// `/v1/topics/{t}/layout`: the deck's table of a live topic — a row per broker, ordered and
/// labelled as placement orders them (`R1-B0`, …), its leaders and followers by replica
/// position — from the same `ReplicaLayout` as `skein topic describe --layout`, over the
/// brokers Metadata lists (the unfenced ones), with the same JSON keys.
struct LayoutView: Encodable {
  struct CellView: Encodable {
    var partition: Int32
    var label: String
    var inSync: Bool
    var offline: Bool
    var movedLeader: Bool

    init(_ cell: ReplicaLayout.Cell) {
      partition = cell.partition
      label = cell.label
      inSync = !cell.marks.contains(.outOfSync)
      offline = cell.marks.contains(.offline)
      movedLeader = cell.marks.contains(.movedLeader)
    }
  }

  struct RowView: Encodable {
    var label: String
    var broker: Int32
    var rack: String?
    var registered: Bool
    var leaders: [CellView]
    var followers: [[CellView]]
  }

  var topic: String?
  var positions: Int
  var rows: [RowView]
  var legend: [String: String]

  init?(_ image: MetadataImage, topic: String) {
    guard let info = image.topics[topic] else { return nil }
    let brokers = image.brokers.values.filter { !$0.fenced }.map {
      ReplicaPlacement.Broker(id: $0.id, rack: $0.rack)
    }
    let layout = ReplicaLayout(partitions: info.partitions.map(\.layoutPartition), brokers: brokers)
    self.init(layout, topic: topic)
  }

  init(_ layout: ReplicaLayout, topic: String?) {
    self.topic = topic
    positions = layout.positionCount
    rows = layout.rows.map { row in
      RowView(
        label: row.label, broker: row.broker.id, rack: row.broker.rack,
        registered: row.registered, leaders: (row.positions.first ?? []).map(CellView.init),
        followers: row.positions.dropFirst().map { $0.map(CellView.init) })
    }
    legend = Dictionary(
      uniqueKeysWithValues: layout.marksUsed.map { ($0.rawValue, $0.meaning) })
  }
}
