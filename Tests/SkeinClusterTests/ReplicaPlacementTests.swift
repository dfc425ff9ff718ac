import KafkaProtocol
import Testing

@testable import SkeinCluster

/// A small deterministic generator for seeded property tests (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

@Suite struct ReplicaPlacementTests {
  typealias Broker = ReplicaPlacement.Broker

  /// The deck's cluster: brokers 0–2 on rack R1, 3–5 on rack R2.
  let deck: [Broker] = [
    .init(id: 0, rack: "R1"), .init(id: 1, rack: "R1"), .init(id: 2, rack: "R1"),
    .init(id: 3, rack: "R2"), .init(id: 4, rack: "R2"), .init(id: 5, rack: "R2"),
  ]

  /// Kafka's documented rack example: 0→rack1, 1→rack3, 2→rack3, 3→rack2, 4→rack2, 5→rack1.
  let kafkaRacks: [Broker] = [
    .init(id: 0, rack: "rack1"), .init(id: 1, rack: "rack3"), .init(id: 2, rack: "rack3"),
    .init(id: 3, rack: "rack2"), .init(id: 4, rack: "rack2"), .init(id: 5, rack: "rack1"),
  ]

  /// Which partitions each broker holds at each replica position, as the deck draws it.
  func table(_ assignment: [[Int32]], ordered: [Broker]) -> [[Int32: Set<Int>]] {
    let positions = assignment[0].count
    return (0..<positions).map { position in
      var cells: [Int32: Set<Int>] = [:]
      for broker in ordered { cells[broker.id] = [] }
      for (p, replicas) in assignment.enumerated() { cells[replicas[position]]!.insert(p) }
      return cells
    }
  }

  @Test func deckOrderedListAlternatesRacks() throws {
    #expect(try ReplicaPlacement.orderedBrokers(deck).map(\.id) == [0, 3, 1, 4, 2, 5])
    #expect(try ReplicaPlacement.orderedBrokers(deck.reversed()).map(\.id) == [0, 3, 1, 4, 2, 5])
  }

  @Test func deckRoundRobinTable() throws {
    let assignment = try ReplicaPlacement.assign(
      brokers: deck, partitions: 10, replicationFactor: 3, strategy: .roundRobin, startIndex: 0)
    let cells = table(assignment, ordered: try ReplicaPlacement.orderedBrokers(deck))
    // Rows R1-B0, R2-B3, R1-B1, R2-B4, R1-B2, R2-B5; columns Leaders, Followers, Followers.
    let expected: [Int32: [Set<Int>]] = [
      0: [[0, 6], [5], [4]],
      3: [[1, 7], [0, 6], [5]],
      1: [[2, 8], [1, 7], [0, 6]],
      4: [[3, 9], [2, 8], [1, 7]],
      2: [[4], [3, 9], [2, 8]],
      5: [[5], [4], [3, 9]],
    ]
    for (broker, columns) in expected {
      for (position, partitions) in columns.enumerated() {
        #expect(cells[position][broker] == partitions, "broker \(broker) position \(position)")
      }
    }
  }

  @Test func deckKafkaStrategyShiftsFollowersAfterAFullRound() throws {
    let assignment = try ReplicaPlacement.assign(
      brokers: deck, partitions: 10, replicationFactor: 3, startIndex: 0)
    let roundRobin = try ReplicaPlacement.assign(
      brokers: deck, partitions: 10, replicationFactor: 3, strategy: .roundRobin, startIndex: 0)
    #expect(Array(assignment[0..<6]) == Array(roundRobin[0..<6]))
    #expect(
      assignment == [
        [0, 3, 1], [3, 1, 4], [1, 4, 2], [4, 2, 5], [2, 5, 0], [5, 0, 3],
        [0, 4, 2], [3, 2, 5], [1, 5, 0], [4, 0, 3],
      ])
    #expect(assignment.map { $0[0] } == roundRobin.map { $0[0] })
  }

  @Test func kafkaRackUnawareDocumentedExample() throws {
    let brokers = (0..<5).map { Broker(id: Int32($0)) }
    let assignment = try ReplicaPlacement.assign(
      brokers: brokers, partitions: 10, replicationFactor: 3, startIndex: 0)
    #expect(
      assignment == [
        [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 1],
        [0, 2, 3], [1, 3, 4], [2, 4, 0], [3, 0, 1], [4, 1, 2],
      ])
  }

  @Test func kafkaRackAwareDocumentedExample() throws {
    #expect(try ReplicaPlacement.orderedBrokers(kafkaRacks).map(\.id) == [0, 3, 1, 5, 4, 2])
    let assignment = try ReplicaPlacement.assign(
      brokers: kafkaRacks, partitions: 7, replicationFactor: 3, startIndex: 0)
    #expect(
      assignment == [
        [0, 3, 1], [3, 1, 5], [1, 5, 4], [5, 4, 2], [4, 2, 0], [2, 0, 3],
        [0, 4, 2],
      ])
  }

  @Test func startPartitionContinuesAnExistingTopic() throws {
    let brokers = (0..<5).map { Broker(id: Int32($0)) }
    let all = try ReplicaPlacement.assign(
      brokers: brokers, partitions: 10, replicationFactor: 3, startIndex: 0)
    let firstRound = try ReplicaPlacement.assign(
      brokers: brokers, partitions: 4, replicationFactor: 3, startIndex: 0, startPartitionId: 1)
    #expect(firstRound == Array(all[1..<5]))
    // Kafka's leaders continue round-robin from the existing partition count.
    let grown = try ReplicaPlacement.assign(
      brokers: brokers, partitions: 3, replicationFactor: 2, startIndex: 0, startPartitionId: 7)
    #expect(grown.map { $0[0] } == [2, 3, 4])
  }

  @Test func seededRandomStartIsReproducible() throws {
    var a = SeededGenerator(seed: 42)
    var b = SeededGenerator(seed: 42)
    let x = try ReplicaPlacement.assign(
      brokers: kafkaRacks, partitions: 20, replicationFactor: 3, using: &a)
    let y = try ReplicaPlacement.assign(
      brokers: kafkaRacks, partitions: 20, replicationFactor: 3, using: &b)
    #expect(x == y)
  }

  @Test func kafkaErrors() {
    let brokers = (0..<3).map { Broker(id: Int32($0)) }
    #expect(
      throws: ControllerError(
        .invalidReplicationFactor, "Replication factor: 4 larger than available brokers: 3.")
    ) {
      try ReplicaPlacement.assign(brokers: brokers, partitions: 1, replicationFactor: 4)
    }
    #expect(
      throws: ControllerError(.invalidPartitions, "Number of partitions must be larger than 0.")
    ) {
      try ReplicaPlacement.assign(brokers: brokers, partitions: 0, replicationFactor: 1)
    }
    #expect(
      throws: ControllerError(
        .invalidReplicationFactor, "Replication factor must be larger than 0.")
    ) {
      try ReplicaPlacement.assign(brokers: brokers, partitions: 1, replicationFactor: 0)
    }
    let mixed = [Broker(id: 0, rack: "a"), Broker(id: 1), Broker(id: 2, rack: "b")]
    for strategy in ReplicaPlacement.Strategy.allCases {
      #expect(
        throws: ControllerError(
          .invalidReplicaAssignment,
          "Not all brokers have rack information for replica rack aware assignment.")
      ) {
        try ReplicaPlacement.assign(
          brokers: mixed, partitions: 1, replicationFactor: 1, strategy: strategy)
      }
    }
  }

  @Test(arguments: 0..<400)
  func propertiesOverRandomLayouts(seed: Int) throws {
    var rng = SeededGenerator(seed: UInt64(seed))
    let brokerCount = Int.random(in: 1...30, using: &rng)
    let rackCount = Int.random(in: 1...6, using: &rng)
    let withoutRacks = seed % 7 == 0
    // Uneven racks: each broker picks a rack at random; ids are sparse and shuffled.
    var brokers = (0..<brokerCount).map { i in
      Broker(
        id: Int32(i * 3 + Int.random(in: 0...2, using: &rng)),
        rack: withoutRacks ? nil : "rack-\(Int.random(in: 0..<rackCount, using: &rng))")
    }
    brokers.shuffle(using: &rng)
    let partitions = Int.random(in: 1...200, using: &rng)
    let replicationFactor = Int.random(in: 1...min(5, brokerCount), using: &rng)
    let racks = Dictionary(uniqueKeysWithValues: brokers.map { ($0.id, $0.rack) })
    let distinctRacks = Set(brokers.compactMap(\.rack)).count

    for strategy in ReplicaPlacement.Strategy.allCases {
      let assignment = try ReplicaPlacement.assign(
        brokers: brokers, partitions: partitions, replicationFactor: replicationFactor,
        strategy: strategy, using: &rng)
      #expect(assignment.count == partitions)
      for replicas in assignment {
        #expect(replicas.count == replicationFactor)
        #expect(Set(replicas).count == replicationFactor, "replicas \(replicas) repeat a broker")
        #expect(replicas.allSatisfy { racks[$0] != nil })
        if strategy == .kafka && !withoutRacks {
          let spanned = Set(replicas.map { racks[$0]! }).count
          #expect(spanned == min(replicationFactor, distinctRacks), "replicas \(replicas)")
        }
      }
    }

    // Partitions a multiple of the brokers: every broker leads the same number.
    let rounds = Int.random(in: 1...6, using: &rng)
    let even = try ReplicaPlacement.assign(
      brokers: brokers, partitions: brokerCount * rounds, replicationFactor: replicationFactor,
      using: &rng)
    var leaders: [Int32: Int] = [:]
    for replicas in even { leaders[replicas[0], default: 0] += 1 }
    #expect(leaders.count == brokerCount)
    #expect(leaders.values.allSatisfy { $0 == rounds })
  }

  @Test(arguments: 0..<200)
  func equalRacksSpreadReplicasEvenly(seed: Int) throws {
    var rng = SeededGenerator(seed: UInt64(seed) &+ 10_000)
    let rackCount = Int.random(in: 1...5, using: &rng)
    let perRack = Int.random(in: 1...6, using: &rng)
    var brokers = (0..<rackCount * perRack).map { i in
      Broker(id: Int32(i), rack: "r\(i % rackCount)")
    }
    brokers.shuffle(using: &rng)
    let partitions = brokers.count * Int.random(in: 1...6, using: &rng)
    let assignment = try ReplicaPlacement.assign(
      brokers: brokers, partitions: partitions, replicationFactor: rackCount, using: &rng)
    var held: [Int32: Int] = [:]
    for replicas in assignment { for broker in replicas { held[broker, default: 0] += 1 } }
    #expect(held.count == brokers.count)
    #expect(Set(held.values).count == 1, "uneven replica counts \(held)")
    for replicas in assignment {
      #expect(Set(replicas.map { $0 % Int32(rackCount) }).count == rackCount)
    }
  }

  @Test func controllerPlacesReplicasRackAware() throws {
    let decisions = ControllerDecisions(validateConfigs: { _ in nil })
    var image = MetadataImage()
    for broker in deck {
      image.apply(
        .registerBroker(
          RegisterBrokerRecord(
            brokerId: broker.id, endPoints: [.init(name: "PLAINTEXT", host: "h", port: 9092)],
            rack: broker.rack, fenced: false)))
    }
    for r in try decisions.createTopic(
      name: "invoice", partitions: 10, replicationFactor: 3, configs: [:], image: image
    ).get() {
      image.apply(r)
    }
    let topic = try #require(image.topics["invoice"])
    for p in topic.partitions {
      #expect(Set(p.replicas.map { $0 < 3 }).count == 2, "partition \(p.partition) spans one rack")
    }
    for r in try decisions.createPartitions(
      topic: "invoice", count: 16, assignments: nil, image: image
    )
    .get() {
      image.apply(r)
    }
    let grown = try #require(image.topics["invoice"])
    #expect(grown.partitions.map(\.partition) == Array(0..<16))
    // Leaders go round-robin over the rack-alternated list: the 10 first partitions from one
    // random start, the 6 new ones (a full round) from another, so each broker leads one of them.
    let order: [Int32] = [0, 3, 1, 4, 2, 5]
    let leaders = grown.partitions.map { $0.replicas[0] }
    let start = try #require(order.firstIndex(of: leaders[0]))
    #expect(Array(leaders[0..<10]) == (0..<10).map { order[(start + $0) % 6] })
    #expect(Set(leaders[10..<16]) == Set(order))
    for p in grown.partitions {
      #expect(Set(p.replicas).count == 3)
      #expect(Set(p.replicas.map { $0 < 3 }).count == 2)
    }

    var mixed = image
    mixed.apply(
      .registerBroker(
        RegisterBrokerRecord(
          brokerId: 9, endPoints: [.init(name: "PLAINTEXT", host: "h", port: 9092)], rack: nil,
          fenced: false)))
    if case .failure(let e) = decisions.createTopic(
      name: "mixed", partitions: 1, replicationFactor: 1, configs: [:], image: mixed)
    {
      #expect(e.code == .invalidReplicaAssignment)
    } else {
      Issue.record("mixed racks must be refused")
    }
  }
}
