import ArgumentParser
import KafkaProtocol
import SkeinClient

/// `skein group`: list, describe and delete consumer groups, and reset their offsets, in the
/// manner of kafka-consumer-groups.
struct GroupCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "group", abstract: "Manage consumer groups.",
    subcommands: [List.self, Describe.self, Delete.self, ResetOffsets.self])

  /// `skein group list`.
  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List consumer group ids.")

    @OptionGroup var client: ClientOptions

    @Flag(help: "Also print each group's state.")
    var state = false

    func run() async throws {
      try await withClient(client) { client in
        let groups = try await Admin(client: client).listGroups()
        if state {
          let rows = [["GROUP", "STATE"]] + groups.map { [$0.groupId, $0.state] }
          for line in table(rows) { CLIOutput.out(line) }
        } else {
          for group in groups { CLIOutput.out(group.groupId) }
        }
      }
    }
  }

  /// `skein group describe G`.
  struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show a group's state, members and per-partition offsets and lag.",
      discussion: """
        Prints the group's state, then per partition the committed offset, the log end \
        offset, the lag and the owning member, then each member with its client id, host and \
        assignment.
        """)

    @OptionGroup var client: ClientOptions

    @Argument(help: "Group id.")
    var group: String

    func run() async throws {
      try await withClient(client) { client in
        let admin = Admin(client: client)
        let description = try await admin.describeGroup(group)
        guard description.state != "Dead" else {
          throw KafkaClientError.invalidArgument("Consumer group '\(group)' does not exist.")
        }
        let committed = try await admin.listConsumerGroupOffsets(group)
        var owners: [TopicPartition: GroupMemberDescription] = [:]
        for member in description.members {
          for partition in member.assignment { owners[partition] = member }
        }
        let partitions = Set(committed.keys).union(owners.keys).sorted()
        let ends = try await client.listOffsets(
          Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.end) }))
        for line in Self.format(
          description, committed: committed.mapValues(\.offset),
          logEnd: ends.mapValues(\.offset))
        {
          CLIOutput.out(line)
        }
      }
    }

    /// The state line, the partition table and the member table, as kafka-consumer-groups
    /// `--describe --state`, `--describe` and `--describe --members --verbose` print them.
    static func format(
      _ description: GroupDescription, committed: [TopicPartition: Int64],
      logEnd: [TopicPartition: Int64]
    ) -> [String] {
      var lines: [String] = []
      lines += table([
        ["GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"],
        [
          description.groupId, "\(description.coordinator)", description.assignor,
          description.state, "\(description.members.count)",
        ],
      ])
      lines.append("")
      if description.members.isEmpty {
        lines.append("Consumer group '\(description.groupId)' has no active members.")
        lines.append("")
      }
      var owners: [TopicPartition: GroupMemberDescription] = [:]
      for member in description.members {
        for partition in member.assignment { owners[partition] = member }
      }
      var rows = [
        [
          "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID",
          "HOST", "CLIENT-ID",
        ]
      ]
      for partition in Set(committed.keys).union(owners.keys).sorted() {
        let current = committed[partition]
        let end = logEnd[partition]
        let lag = current.flatMap { current in end.map { max(0, $0 - current) } }
        let owner = owners[partition]
        rows.append([
          description.groupId, partition.topic, "\(partition.partition)",
          current.map { "\($0)" } ?? "-", end.map { "\($0)" } ?? "-", lag.map { "\($0)" } ?? "-",
          owner?.memberId ?? "-", owner?.host ?? "-", owner?.clientId ?? "-",
        ])
      }
      lines += table(rows)
      if !description.members.isEmpty {
        lines.append("")
        var members = [["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT"]]
        for member in description.members.sorted(by: { $0.memberId < $1.memberId }) {
          members.append([
            description.groupId, member.memberId, member.host, member.clientId,
            "\(member.assignment.count)", assignmentText(member.assignment),
          ])
        }
        lines += table(members)
      }
      return lines
    }

    /// `topic(0,1),other(2)`, or `-` for none.
    static func assignmentText(_ partitions: [TopicPartition]) -> String {
      guard !partitions.isEmpty else { return "-" }
      let byTopic = Dictionary(grouping: partitions, by: \.topic)
      return byTopic.keys.sorted().map { topic in
        let indexes = (byTopic[topic] ?? []).map(\.partition).sorted().map { "\($0)" }
        return "\(topic)(\(indexes.joined(separator: ",")))"
      }.joined(separator: ",")
    }
  }

  /// `skein group delete G`.
  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Delete consumer groups that have no members, with their offsets.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "Group ids.")
    var groups: [String]

    func validate() throws {
      guard !groups.isEmpty else { throw ValidationError("name at least one group") }
    }

    func run() async throws {
      try await withClient(client) { client in
        try await Admin(client: client).deleteGroups(groups)
        for group in groups { CLIOutput.out("Deletion of group '\(group)' succeeded.") }
      }
    }
  }

  /// `skein group reset-offsets G --topic T --to-earliest ...`.
  struct ResetOffsets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "reset-offsets",
      abstract: "Plan, and with --execute set, a group's committed offsets.",
      discussion: """
        Without --execute this is a dry run that prints the offsets the group would get. \
        Refused while the group has members, as Kafka refuses it. --to-offset and shifts \
        are kept within each partition's earliest and latest offsets.
        """)

    @OptionGroup var client: ClientOptions

    @Argument(help: "Group id.")
    var group: String

    @Option(
      name: .customLong("topic"),
      help: "A topic, or topic:0,1 for some partitions; repeatable.")
    var topics: [String] = []

    @Flag(name: .customLong("all-topics"), help: "Every topic the group has offsets for.")
    var allTopics = false

    @Flag(name: .customLong("to-earliest"), help: "Reset to the earliest offsets.")
    var toEarliest = false

    @Flag(name: .customLong("to-latest"), help: "Reset to the latest offsets.")
    var toLatest = false

    @Option(name: .customLong("to-offset"), help: "Reset to this offset.")
    var toOffset: Int64?

    @Option(
      name: .customLong("to-datetime"),
      help:
        "Reset to the first offset at or after YYYY-MM-DDTHH:mm:SS.sss[Z|±HH:mm] (UTC without a zone)."
    )
    var toDatetime: String?

    @Option(
      name: .customLong("shift-by"), parsing: .unconditional,
      help: "Move the committed offsets by N (may be negative).")
    var shiftBy: Int64?

    @Flag(help: "Apply the new offsets.")
    var execute = false

    @Flag(name: .customLong("dry-run"), help: "Only print the new offsets (the default).")
    var dryRun = false

    func validate() throws {
      let count = [toEarliest, toLatest, toOffset != nil, toDatetime != nil, shiftBy != nil]
        .filter { $0 }.count
      guard count == 1 else {
        throw ValidationError(
          "give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
      }
      guard allTopics != !topics.isEmpty else {
        throw ValidationError("give --topic (repeatable) or --all-topics")
      }
      guard !(execute && dryRun) else {
        throw ValidationError("--execute and --dry-run exclude each other")
      }
      if let toOffset, toOffset < 0 { throw ValidationError("--to-offset must not be negative") }
      if let toDatetime {
        do {
          _ = try OffsetResetStrategy.parseDatetime(toDatetime)
        } catch {
          throw ValidationError("--to-datetime: \(error)")
        }
      }
      for topic in topics { _ = try Self.parseTopic(topic) }
    }

    func strategy() throws -> OffsetResetStrategy {
      if toEarliest { return .toEarliest }
      if toLatest { return .toLatest }
      if let toOffset { return .toOffset(toOffset) }
      if let toDatetime { return .toDatetime(try OffsetResetStrategy.parseDatetime(toDatetime)) }
      return .shiftBy(shiftBy ?? 0)
    }

    /// `topic` or `topic:0,2` (partitions nil: all of them).
    static func parseTopic(_ text: String) throws -> (String, [Int32]?) {
      guard let colon = text.lastIndex(of: ":") else {
        guard !text.isEmpty else { throw ValidationError("--topic must not be empty") }
        return (text, nil)
      }
      let name = String(text[..<colon])
      var partitions: [Int32] = []
      for part in text[text.index(after: colon)...].split(separator: ",") {
        guard let partition = Int32(part), partition >= 0 else {
          throw ValidationError("--topic \(text): '\(part)' is not a partition number")
        }
        partitions.append(partition)
      }
      guard !name.isEmpty, !partitions.isEmpty else {
        throw ValidationError("--topic expects a topic or topic:partition,...; got '\(text)'")
      }
      return (name, partitions)
    }

    func run() async throws {
      let strategy = try strategy()
      try await withClient(client) { client in
        let admin = Admin(client: client)
        let description = try await admin.describeGroup(group)
        guard description.isInactive else {
          throw KafkaClientError.invalidArgument(
            "Assignments can only be reset if the group '\(group)' is inactive, but the "
              + "current state is \(description.state).")
        }
        var partitions: [TopicPartition] = []
        if allTopics {
          partitions = try await admin.listConsumerGroupOffsets(group).keys.sorted()
        }
        for text in topics {
          let (topic, indexes) = try Self.parseTopic(text)
          let metadata = try await client.topicMetadata(topic)
          let all = metadata.partitions.map(\.partition)
          for index in indexes ?? all {
            guard all.contains(index) else {
              throw KafkaClientError.unknownTopicOrPartition("\(topic)-\(index)")
            }
            partitions.append(TopicPartition(topic, index))
          }
        }
        partitions = Array(Set(partitions)).sorted()
        let plan = try await admin.planOffsetReset(
          group, partitions: partitions, strategy: strategy)
        if execute {
          try await admin.alterConsumerGroupOffsets(
            group, offsets: plan.mapValues { OffsetAndMetadata(offset: $0) })
        }
        var rows = [["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]]
        for partition in plan.keys.sorted() {
          rows.append([
            group, partition.topic, "\(partition.partition)", "\(plan[partition] ?? -1)",
          ])
        }
        for line in table(rows) { CLIOutput.out(line) }
        if !execute {
          CLIOutput.info("Dry run: nothing was changed; add --execute to apply.")
        }
      }
    }
  }
}

/// Left-aligned columns, each as wide as its widest cell, two spaces apart.
func table(_ rows: [[String]]) -> [String] {
  var widths: [Int] = []
  for row in rows {
    for (index, cell) in row.enumerated() {
      if index >= widths.count { widths.append(0) }
      widths[index] = max(widths[index], cell.count)
    }
  }
  return rows.map { row in
    var line = ""
    for (index, cell) in row.enumerated() {
      if index == row.count - 1 {
        line += cell
      } else {
        line += cell + String(repeating: " ", count: widths[index] - cell.count + 2)
      }
    }
    return line
  }
}
