import Testing

@testable import SkeinCluster

@Suite("ReplicaLayout: the deck's broker × replica-position table")
struct ReplicaLayoutTests {
  /// The deck's six brokers over two racks.
  static let deckBrokers: [ReplicaPlacement.Broker] = [
    .init(id: 0, rack: "R1"), .init(id: 1, rack: "R1"), .init(id: 2, rack: "R1"),
    .init(id: 3, rack: "R2"), .init(id: 4, rack: "R2"), .init(id: 5, rack: "R2"),
  ]

  /// Topic Invoice as the deck draws it: 10 partitions, RF 3, leaders round-robin over the
  /// rack-alternated list, followers the next brokers in it.
  static let invoice: [[Int32]] = {
    let ordered: [Int32] = [0, 3, 1, 4, 2, 5]
    return (0..<10).map { p in (0..<3).map { ordered[(p + $0) % 6] } }
  }()

  @Test("the deck's Invoice picture, line for line")
  func deckTable() {
    let layout = ReplicaLayout(assignment: Self.invoice, brokers: Self.deckBrokers.shuffled())
    #expect(layout.rows.map(\.label) == ["R1-B0", "R2-B3", "R1-B1", "R2-B4", "R1-B2", "R2-B5"])
    #expect(layout.positionCount == 3 && layout.marksUsed.isEmpty)
    #expect(
      layout.tableLines() == [
        "Brokers | Leaders | Followers | Followers",
        "R1-B0   | P0 P6   | P5        | P4",
        "R2-B3   | P1 P7   | P0 P6     | P5",
        "R1-B1   | P2 P8   | P1 P7     | P0 P6",
        "R2-B4   | P3 P9   | P2 P8     | P1 P7",
        "R1-B2   | P4      | P3 P9     | P2 P8",
        "R2-B5   | P5      | P4        | P3 P9",
      ])
  }

  @Test("live state: out-of-sync followers, a moved leader, an offline partition, a lost broker")
  func liveMarks() {
    var partitions = Self.invoice.enumerated().map { p, replicas in
      ReplicaLayout.Partition(
        partition: Int32(p), replicas: replicas, leader: replicas[0], isr: replicas)
    }
    // Broker 4 crashed: it left every ISR, and P3 and P9, which it led, moved to broker 2.
    for i in partitions.indices where partitions[i].replicas.contains(4) {
      partitions[i].isr?.removeAll { $0 == 4 }
      if partitions[i].leader == 4 { partitions[i].leader = 2 }
    }
    // P5 lost every replica of its ISR but one that is not electable: offline.
    partitions[5].leader = -1
    partitions[5].isr = [5]
    let live = Self.deckBrokers.filter { $0.id != 4 }
    let layout = ReplicaLayout(partitions: partitions, brokers: live)

    #expect(
      layout.rows.map(\.label) == ["R1-B0", "R2-B3", "R1-B1", "R2-B5", "R1-B2", "B4 (absent)"])
    let absent = layout.rows[5]
    #expect(!absent.registered)
    #expect(
      absent.positions.map { $0.map(\.label) } == [
        ["P3*", "P9*"], ["P2*", "P8*"], ["P1*", "P7*"],
      ])
    let b2 = layout.rows[4]
    #expect(b2.positions.map { $0.map(\.label) } == [["P4"], ["P3+", "P9+"], ["P2", "P8"]])
    let b0 = layout.rows[0]
    #expect(b0.positions.map { $0.map(\.label) } == [["P0", "P6"], ["P5*!"], ["P4"]])
    #expect(layout.marksUsed == [.outOfSync, .offline, .movedLeader])
    let lines = layout.tableLines()
    #expect(lines.count == 1 + 6 + 1)
    #expect(
      lines.last
        == "* not in the ISR; ! offline (no leader); + leads in place of the preferred replica")
    #expect(lines[6].hasPrefix("B4 (absent) | P3* P9* "))
  }

  @Test("brokers without racks are ordered by id; an empty cell is a dash")
  func withoutRacks() {
    let layout = ReplicaLayout(
      assignment: [[0], [1], [2]],
      brokers: [.init(id: 2), .init(id: 0), .init(id: 1), .init(id: 3)])
    #expect(
      layout.tableLines() == [
        "Brokers | Leaders", "B0      | P0", "B1      | P1", "B2      | P2", "B3      | -",
      ])
  }
}
