/// The architecture deck's replica table: one row per broker in the rack-alternated order
/// placement walks, one column per replica position (the leader's, then each follower's), each
/// cell the partitions that broker holds at that position. Built from a planned assignment
/// (`skein placement`) or from a live cluster's partitions (`skein topic describe --layout`),
/// where replicas out of the ISR and offline partitions are marked.
public struct ReplicaLayout: Sendable, Hashable {
  /// One partition's replicas (preferred leader first) and, when live, its leader and ISR.
  public struct Partition: Sendable, Hashable {
    public var partition: Int32
    public var replicas: [Int32]
    /// The current leader, -1 when the partition is offline; nil for a planned assignment.
    public var leader: Int32?
    /// The in-sync replicas; nil for a planned assignment.
    public var isr: [Int32]?

    public init(partition: Int32, replicas: [Int32], leader: Int32? = nil, isr: [Int32]? = nil) {
      self.partition = partition
      self.replicas = replicas
      self.leader = leader
      self.isr = isr
    }
  }

  /// What a cell's partition label carries besides `P<n>`.
  public enum Mark: String, Sendable, Hashable, CaseIterable {
    /// The replica is not in the ISR (a follower that fell behind or whose broker is down).
    case outOfSync = "*"
    /// The partition has no leader.
    case offline = "!"
    /// The replica leads although it is not the preferred (first) replica.
    case movedLeader = "+"

    public var meaning: String {
      switch self {
      case .outOfSync: "not in the ISR"
      case .offline: "offline (no leader)"
      case .movedLeader: "leads in place of the preferred replica"
      }
    }
  }

  /// A partition held at one position by one broker.
  public struct Cell: Sendable, Hashable {
    public var partition: Int32
    public var marks: [Mark]

    public init(partition: Int32, marks: [Mark] = []) {
      self.partition = partition
      self.marks = marks
    }

    /// `P5`, `P5*`, `P5!`.
    public var label: String { "P\(partition)" + marks.map(\.rawValue).joined() }
  }

  /// One broker's row: the partitions it holds at each replica position.
  public struct Row: Sendable, Hashable {
    public var broker: ReplicaPlacement.Broker
    /// False for a broker that replicas name but the cluster does not list (fenced or gone).
    public var registered: Bool
    /// `positions[0]` the partitions it is preferred leader of, `positions[j]` those it
    /// follows as replica j.
    public var positions: [[Cell]]

    public init(broker: ReplicaPlacement.Broker, registered: Bool = true, positions: [[Cell]]) {
      self.broker = broker
      self.registered = registered
      self.positions = positions
    }

    /// `R1-B0`, or `B0` for a broker without a rack; `(absent)` after one not registered.
    public var label: String {
      let name = broker.rack.map { "\($0)-B\(broker.id)" } ?? "B\(broker.id)"
      return registered ? name : name + " (absent)"
    }
  }

  public var rows: [Row]
  /// Replica positions shown: the largest replication factor among the partitions.
  public var positionCount: Int

  public init(rows: [Row], positionCount: Int) {
    self.rows = rows
    self.positionCount = positionCount
  }

  /// The layout of `partitions` over `brokers`. Brokers are ordered as placement orders them
  /// (by id when only some have racks); brokers that replicas name but `brokers` lacks are
  /// added at the end, without a rack, as not registered.
  public init(partitions: [Partition], brokers: [ReplicaPlacement.Broker]) {
    let sortedPartitions = partitions.sorted { $0.partition < $1.partition }
    var ordered =
      (try? ReplicaPlacement.orderedBrokers(brokers)) ?? brokers.sorted { $0.id < $1.id }
    let known = Set(brokers.map(\.id))
    let absent = Set(sortedPartitions.flatMap(\.replicas)).subtracting(known).sorted()
    ordered += absent.map { ReplicaPlacement.Broker(id: $0) }
    let positions = sortedPartitions.map(\.replicas.count).max() ?? 0

    var cells: [Int32: [[Cell]]] = [:]
    for broker in ordered { cells[broker.id] = Array(repeating: [], count: positions) }
    for p in sortedPartitions {
      for (position, replica) in p.replicas.enumerated() {
        var marks: [Mark] = []
        if let isr = p.isr, !isr.contains(replica) { marks.append(.outOfSync) }
        if let leader = p.leader {
          if leader < 0 {
            marks.append(.offline)
          } else if leader == replica && position > 0 {
            marks.append(.movedLeader)
          }
        }
        cells[replica]?[position].append(Cell(partition: p.partition, marks: marks))
      }
    }
    self.rows = ordered.map {
      Row(broker: $0, registered: known.contains($0.id), positions: cells[$0.id] ?? [])
    }
    self.positionCount = positions
  }

  /// The layout of a planned assignment (element i is partition i's replicas).
  public init(assignment: [[Int32]], brokers: [ReplicaPlacement.Broker]) {
    self.init(
      partitions: assignment.enumerated().map { Partition(partition: Int32($0), replicas: $1) },
      brokers: brokers)
  }

  /// The marks that appear anywhere in the table, in legend order.
  public var marksUsed: [Mark] {
    let used = Set(rows.flatMap { $0.positions.flatMap { $0.flatMap(\.marks) } })
    return Mark.allCases.filter(used.contains)
  }

  /// The table as text: a header (`Brokers | Leaders | Followers | …`), one line per broker
  /// with `-` for an empty cell, and a legend line when any cell is marked.
  public func tableLines() -> [String] {
    var table: [[String]] = [
      ["Brokers", "Leaders"] + Array(repeating: "Followers", count: max(0, positionCount - 1))
    ]
    for row in rows {
      table.append(
        [row.label]
          + row.positions.map { $0.isEmpty ? "-" : $0.map(\.label).joined(separator: " ") })
    }
    let columns = positionCount + 1
    var widths = Array(repeating: 0, count: columns)
    for line in table {
      for (i, cell) in line.enumerated() { widths[i] = max(widths[i], cell.count) }
    }
    var lines = table.map { line in
      line.enumerated().map { i, cell in
        i == line.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
      }.joined(separator: " | ")
    }
    let marks = marksUsed
    if !marks.isEmpty {
      lines.append(marks.map { "\($0.rawValue) \($0.meaning)" }.joined(separator: "; "))
    }
    return lines
  }
}
