import ArgumentParser
import KafkaProtocol
import SkeinClient
import SkeinCluster

/// `skein topic`: create, list, describe, delete and alter topics.
struct TopicCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "topic", abstract: "Manage topics.",
    subcommands: [Create.self, List.self, Describe.self, Delete.self, Alter.self])

  /// `skein topic create NAME`.
  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a topic.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "Topic name.")
    var name: String

    @Option(help: "Number of partitions (default: the broker's num.partitions).")
    var partitions: Int32?

    @Option(
      name: .customLong("replication-factor"),
      help: "Replicas per partition (default: the broker's default.replication.factor).")
    var replicationFactor: Int16?

    @Option(name: .customLong("config"), help: "A topic config as key=value; repeatable.")
    var configs: [String] = []

    @Flag(name: .customLong("validate-only"), help: "Only check that the topic could be created.")
    var validateOnly = false

    @Flag(name: .customLong("if-not-exists"), help: "Succeed if the topic already exists.")
    var ifNotExists = false

    func validate() throws {
      if let partitions, partitions <= 0 { throw ValidationError("--partitions must be positive") }
      if let replicationFactor, replicationFactor <= 0 {
        throw ValidationError("--replication-factor must be positive")
      }
      for config in configs { _ = try parseKeyValue(config, option: "--config") }
    }

    func run() async throws {
      var parsed: [String: String] = [:]
      for config in configs {
        let (key, value) = try parseKeyValue(config, option: "--config")
        parsed[key] = value
      }
      try await withClient(client) { client in
        do {
          let created = try await Admin(client: client).createTopic(
            name, partitions: partitions ?? -1, replicationFactor: replicationFactor ?? -1,
            configs: parsed, validateOnly: validateOnly)
          if validateOnly {
            CLIOutput.out("Topic \(created.name) can be created.")
          } else {
            CLIOutput.out("Created topic \(created.name).")
          }
        } catch let error as KafkaClientError where ifNotExists {
          guard error.errorCode == .topicAlreadyExists else { throw error }
        }
      }
    }
  }

  /// `skein topic list`.
  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List topic names.")

    @OptionGroup var client: ClientOptions

    @Flag(name: .customLong("exclude-internal"), help: "Leave out internal topics.")
    var excludeInternal = false

    func run() async throws {
      try await withClient(client) { client in
        let topics = try await Admin(client: client).listTopics(
          includeInternal: !excludeInternal)
        for topic in topics { CLIOutput.out(topic.name) }
      }
    }
  }

  /// `skein topic describe NAME`.
  struct Describe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show a topic's partitions (leader, leader epoch, replicas, ISR) and configs.",
      discussion: """
        --layout prints the replica table of the architecture deck from the live cluster: one \
        row per broker (R1-B0, R2-B3, … in the rack-alternated order of replica placement), the \
        partitions it is preferred leader of, then those it follows at each follower position. \
        A replica out of the ISR is marked *, an offline partition !, a replica that leads in \
        place of the preferred one +.
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
      case table, json
    }

    @OptionGroup var client: ClientOptions

    @Argument(help: "Topic name.")
    var name: String

    @Flag(name: .customLong("all-configs"), help: "List every config with its source.")
    var allConfigs = false

    @Option(help: "table or json.")
    var format: Format = .table

    @Flag(help: "Show the deck's broker × replica-position table.")
    var layout = false

    func run() async throws {
      try await withClient(client) { client in
        let admin = Admin(client: client)
        let topic = try await admin.describeTopic(name)
        if layout {
          let brokers = await client.metadata.brokers.values.map {
            ReplicaPlacement.Broker(id: $0.nodeId, rack: $0.rack)
          }
          let model = Self.layout(topic, brokers: brokers)
          switch format {
          case .table:
            CLIOutput.out("Topic: \(topic.name)")
            for line in model.tableLines() { CLIOutput.out(line) }
          case .json:
            CLIOutput.out(Self.json(model, topic: topic.name).rendered)
          }
          return
        }
        var configs: [ConfigEntry] = []
        var configError: (any Error)?
        do {
          configs = try await admin.describeConfigs(.topic(name))
        } catch {
          configError = error
        }
        switch format {
        case .table:
          for line in Self.format(topic, configs: configs, allConfigs: allConfigs) {
            CLIOutput.out(line)
          }
        case .json:
          CLIOutput.out(Self.json(topic, configs: configs, allConfigs: allConfigs).rendered)
        }
        if let configError {
          CLIOutput.error("cannot describe the configs of \(name): \(configError)")
        }
      }
    }

    private static func overrides(_ configs: [ConfigEntry]) -> [ConfigEntry] {
      configs.filter { $0.source == .dynamicTopicConfig || $0.source == .unknown }
    }

    /// Lines in the shape of `kafka-topics --describe`, with each partition's leader epoch.
    static func format(_ topic: TopicMetadata, configs: [ConfigEntry], allConfigs: Bool)
      -> [String]
    {
      let replicationFactor = topic.partitions.map(\.replicas.count).max() ?? 0
      let overrideText = overrides(configs).map { "\($0.name)=\($0.value ?? "")" }.joined(
        separator: ",")
      var lines = [
        "Topic: \(topic.name)\tTopicId: \(topic.topicId)\tPartitionCount: \(topic.partitionCount)"
          + "\tReplicationFactor: \(replicationFactor)\tConfigs: \(overrideText)"
      ]
      for partition in topic.partitions {
        let leader = partition.leader >= 0 ? "\(partition.leader)" : "none"
        var line =
          "\tTopic: \(topic.name)\tPartition: \(partition.partition)\tLeader: \(leader)"
          + "\tLeaderEpoch: \(partition.leaderEpoch)"
          + "\tReplicas: \(list(partition.replicas))\tIsr: \(list(partition.isr))"
          + "\tOffline: \(list(partition.offlineReplicas))"
        if partition.error != .none {
          line += "\tError: \(partition.error.kafkaName)"
        }
        lines.append(line)
      }
      if allConfigs {
        for config in configs.sorted(by: { $0.name < $1.name }) {
          let value = config.isSensitive ? "(sensitive)" : (config.value ?? "null")
          lines.append("\tConfig: \(config.name)=\(value)\tSource: \(config.source.name)")
        }
      }
      return lines
    }

    /// The same as JSON: the topic, its partitions and its config overrides (all configs with
    /// their sources with `--all-configs`).
    static func json(_ topic: TopicMetadata, configs: [ConfigEntry], allConfigs: Bool) -> JSONText {
      let partitions = topic.partitions.map { p -> JSONText in
        var members: [(String, JSONText)] = [
          ("partition", .int(p.partition)), ("leader", .int(p.leader)),
          ("leader_epoch", .int(p.leaderEpoch)), ("replicas", .ints(p.replicas)),
          ("isr", .ints(p.isr)), ("offline_replicas", .ints(p.offlineReplicas)),
        ]
        if p.error != .none { members.append(("error", .string(p.error.kafkaName))) }
        return .object(members)
      }
      let shown = allConfigs ? configs.sorted { $0.name < $1.name } : overrides(configs)
      let configMembers = shown.map { config -> (String, JSONText) in
        let value: JSONText = config.isSensitive ? .null : .optional(config.value)
        guard allConfigs else { return (config.name, value) }
        return (config.name, .object([("value", value), ("source", .string(config.source.name))]))
      }
      return .object([
        ("topic", .string(topic.name)), ("topic_id", .string(topic.topicId.description)),
        ("partition_count", .int(topic.partitionCount)),
        ("replication_factor", .int(topic.partitions.map(\.replicas.count).max() ?? 0)),
        ("partitions", .array(partitions)), ("configs", .object(configMembers)),
      ])
    }

    /// The layout of a live topic over the brokers Metadata lists (with their racks).
    static func layout(_ topic: TopicMetadata, brokers: [ReplicaPlacement.Broker])
      -> ReplicaLayout
    {
      ReplicaLayout(
        partitions: topic.partitions.map {
          ReplicaLayout.Partition(
            partition: $0.partition, replicas: $0.replicas, leader: $0.leader, isr: $0.isr)
        }, brokers: brokers)
    }

    /// The layout model as JSON: per broker row its positions' cells, each with its marks.
    static func json(_ layout: ReplicaLayout, topic: String) -> JSONText {
      func cells(_ cells: [ReplicaLayout.Cell]) -> JSONText {
        .array(
          cells.map { cell in
            .object([
              ("partition", .int(cell.partition)), ("label", .string(cell.label)),
              ("in_sync", .bool(!cell.marks.contains(.outOfSync))),
              ("offline", .bool(cell.marks.contains(.offline))),
              ("moved_leader", .bool(cell.marks.contains(.movedLeader))),
            ])
          })
      }
      let rows = layout.rows.map { row -> JSONText in
        .object([
          ("label", .string(row.label)), ("broker", .int(row.broker.id)),
          ("rack", .optional(row.broker.rack)), ("registered", .bool(row.registered)),
          ("leaders", cells(row.positions.first ?? [])),
          ("followers", .array(row.positions.dropFirst().map(cells))),
        ])
      }
      let legend = layout.marksUsed.map { ($0.rawValue, JSONText.string($0.meaning)) }
      return .object([
        ("topic", .string(topic)), ("positions", .int(layout.positionCount)),
        ("rows", .array(rows)), ("legend", .object(legend)),
      ])
    }

    private static func list(_ ids: [Int32]) -> String {
      ids.map(String.init).joined(separator: ",")
    }
  }

  /// `skein topic delete NAME`.
  struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a topic.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "Topic name.")
    var name: String

    func run() async throws {
      try await withClient(client) { client in
        try await Admin(client: client).deleteTopics([name])
        CLIOutput.out("Deleted topic \(name).")
      }
    }
  }

  /// `skein topic alter NAME`.
  struct Alter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Add partitions to a topic or change its configs.")

    @OptionGroup var client: ClientOptions

    @Argument(help: "Topic name.")
    var name: String

    @Option(help: "The new, larger, total number of partitions.")
    var partitions: Int32?

    @Option(name: .customLong("config"), help: "Set a topic config, key=value; repeatable.")
    var configs: [String] = []

    @Option(
      name: .customLong("delete-config"), help: "Reset a topic config to its default; repeatable."
    )
    var deleteConfigs: [String] = []

    func validate() throws {
      guard partitions != nil || !configs.isEmpty || !deleteConfigs.isEmpty else {
        throw ValidationError("give --partitions, --config or --delete-config")
      }
      if let partitions, partitions <= 0 { throw ValidationError("--partitions must be positive") }
      for config in configs { _ = try parseKeyValue(config, option: "--config") }
    }

    func run() async throws {
      var operations: [AlterConfigOp] = []
      for config in configs {
        let (key, value) = try parseKeyValue(config, option: "--config")
        operations.append(.set(key, value))
      }
      operations += deleteConfigs.map { .delete($0) }
      try await withClient(client) { client in
        let admin = Admin(client: client)
        if let partitions {
          try await admin.createPartitions(name, totalCount: partitions)
          CLIOutput.out("Topic \(name) now has \(partitions) partitions.")
        }
        if !operations.isEmpty {
          try await admin.incrementalAlterConfigs(.topic(name), operations)
          CLIOutput.out("Updated the configs of topic \(name).")
        }
      }
    }
  }
}
