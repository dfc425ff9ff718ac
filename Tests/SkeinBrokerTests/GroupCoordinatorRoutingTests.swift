import Testing

@testable import SkeinBroker

@Suite struct GroupCoordinatorRoutingTests {
  /// Expected values from Java's String.hashCode (UTF-16 code units) and Utils.abs.
  @Test func groupPartitionFollowsJavaStringHashCode() {
    let cases: [(String, Int32)] = [
      ("my-group", 12), ("g", 3), ("console-consumer-12345", 6), ("grüppe", 12),
      ("emoji-😀-group", 22), ("", 0),
    ]
    for (groupId, partition) in cases {
      #expect(GroupCoordinatorRuntime.partition(for: groupId, partitions: 50) == partition)
    }
  }
}
