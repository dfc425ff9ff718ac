import ArgumentParser

/// `skein cluster`: a local cluster of `skein serve` processes, described by `DIR/cluster.json`.
struct ClusterCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cluster", abstract: "Run a local multi-node cluster.",
    subcommands: [ClusterUpCommand.self, ClusterStatusCommand.self, ClusterDownCommand.self])
}

/// `--dir`, shared by the cluster subcommands.
struct ClusterDirectoryOption: ParsableArguments {
  @Option(help: "The cluster's directory (cluster.json and node-<id>/ data dirs).")
  var dir: String

  var path: String { absolutePath(dir) }
}

/// Runs a cluster subcommand body, turning a failure into one line on stderr and status 1.
func runClusterCommand(_ body: () async throws -> Void) async throws {
  do {
    try await body()
  } catch let exit as ExitCode {
    throw exit
  } catch let validation as ValidationError {
    throw validation
  } catch {
    CLIOutput.error("\(error)")
    throw ExitCode.failure
  }
}
