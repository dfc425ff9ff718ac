import ArgumentParser

/// The `skein` command line: one binary for the broker and its tools.
@main
struct Skein: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "skein",
    abstract: "A Kafka-compatible replicated commit log.",
    subcommands: [
      ServeCommand.self, TopicCommand.self, ProduceCommand.self, ConsumeCommand.self,
      PlacementCommand.self, GroupCommand.self, ClusterCommand.self,
    ])
}
