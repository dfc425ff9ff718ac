import Testing

@testable import SkeinCoordinator

@Suite struct ServerAssignorTests {
  func members(_ ids: [String], topics: Set<String>) -> [AssignorMember] {
    ids.map { AssignorMember(memberId: $0, subscribedTopics: topics) }
  }

  /// Every partition of the subscribed topics goes to exactly one subscribed member.
  func checkComplete(
    _ result: TargetAssignment, _ ms: [AssignorMember], _ partitions: [String: Int32]
  ) {
    var seen: [String: Set<Int32>] = [:]
    for m in ms {
      for (topic, ps) in result[m.memberId] ?? [:] {
        #expect(m.subscribedTopics.contains(topic))
        #expect(seen[topic, default: []].isDisjoint(with: ps))
        seen[topic, default: []].formUnion(ps)
      }
    }
    for (topic, count) in partitions
    where ms.contains(where: { $0.subscribedTopics.contains(topic) }) {
      #expect(seen[topic] == Set(0..<count))
    }
  }

  @Test func rangeGivesContiguousSharesPerTopic() {
    let ms = members(["a", "b", "c"], topics: ["t", "u"])
    let result = ServerAssignor.range.assign(members: ms, partitions: ["t": 7, "u": 3])
    checkComplete(result, ms, ["t": 7, "u": 3])
    #expect(result["a"]?["t"] == [0, 1, 2])
    #expect(result["b"]?["t"] == [3, 4])
    #expect(result["c"]?["t"] == [5, 6])
    #expect(result["a"]?["u"] == [0] && result["b"]?["u"] == [1] && result["c"]?["u"] == [2])
  }

  @Test func rangeIsStickyWithinShares() {
    var ms = members(["a", "b"], topics: ["t"])
    ms[1].current = ["t": [0, 1, 2]]
    let result = ServerAssignor.range.assign(members: ms, partitions: ["t": 6])
    checkComplete(result, ms, ["t": 6])
    #expect(result["b"]?["t"] == [0, 1, 2])
    #expect(result["a"]?["t"] == [3, 4, 5])
  }

  @Test func uniformBalancesAndKeepsOwners() {
    var ms = members(["a", "b", "c"], topics: ["t"])
    ms[0].current = ["t": [0, 1, 2, 3, 4, 5]]
    let result = ServerAssignor.uniform.assign(members: ms, partitions: ["t": 6])
    checkComplete(result, ms, ["t": 6])
    #expect(ms.allSatisfy { result[$0.memberId]?["t"]?.count == 2 })
    // a keeps two of its own; only four partitions move.
    #expect(result["a"]?["t"]?.isSubset(of: [0, 1, 2, 3, 4, 5]) == true)
    // A member joining a balanced group takes only what balance needs.
    let before = result
    var next = ms.map { m in
      AssignorMember(
        memberId: m.memberId, subscribedTopics: m.subscribedTopics,
        current: before[m.memberId] ?? [:])
    }
    next.append(AssignorMember(memberId: "d", subscribedTopics: ["t"]))
    let after = ServerAssignor.uniform.assign(members: next, partitions: ["t": 6])
    checkComplete(after, next, ["t": 6])
    let kept = next.dropLast().reduce(0) { n, m in
      n + ((after[m.memberId]?["t"] ?? []).intersection(before[m.memberId]?["t"] ?? [])).count
    }
    #expect(kept == 5)
    #expect(after["d"]?["t"]?.count == 1)
  }

  @Test func uniformRespectsHeterogeneousSubscriptions() {
    let ms = [
      AssignorMember(memberId: "a", subscribedTopics: ["t"]),
      AssignorMember(memberId: "b", subscribedTopics: ["t", "u"]),
    ]
    let result = ServerAssignor.uniform.assign(members: ms, partitions: ["t": 4, "u": 2])
    checkComplete(result, ms, ["t": 4, "u": 2])
    #expect(result["a"]?["u"] == nil)
    let counts = ms.map { m in (result[m.memberId] ?? [:]).values.reduce(0) { $0 + $1.count } }
    #expect(counts == [3, 3])
  }

  @Test func partitionsThatVanishedOrAreNotSubscribedAreDropped() {
    let ms = [
      AssignorMember(memberId: "a", subscribedTopics: ["t"], current: ["t": [0, 9], "x": [0]])
    ]
    for assignor in ServerAssignor.allCases {
      let result = assignor.assign(members: ms, partitions: ["t": 2, "x": 1])
      #expect(result["a"] == ["t": [0, 1]])
    }
  }
}
