import ArgumentParser
import Glibc

/// `skein cluster down`: SIGTERM to every node (a controlled shutdown), brokers first and the
/// controller last, each waited for; a node that does not stop in time is killed.
struct ClusterDownCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "down", abstract: "Stop a local cluster (brokers first, the controller last).")

  @OptionGroup var directory: ClusterDirectoryOption

  @Option(help: "Seconds to wait for each node to exit before it is killed.")
  var timeout: Double = 30

  func validate() throws {
    guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
  }

  func run() async throws {
    try await runClusterCommand {
      let dir = directory.path
      var cluster = try ClusterFile.require(in: dir)
      let order = cluster.nodes.indices.sorted {
        (cluster.nodes[$0].isController ? 1 : 0, cluster.nodes[$0].id)
          < (cluster.nodes[$1].isController ? 1 : 0, cluster.nodes[$1].id)
      }
      for i in order {
        let node = cluster.nodes[i]
        if let pid = node.runningPid {
          let wait = Duration.milliseconds(Int64(timeout * 1000))
          if await NodeProcess.stop(pid, argv: node.argv, signal: SIGTERM, timeout: wait) {
            CLIOutput.out("node \(node.id) (pid \(pid)) stopped")
          } else {
            _ = await NodeProcess.stop(pid, argv: node.argv, signal: SIGKILL, timeout: .seconds(10))
            CLIOutput.out(
              "node \(node.id) (pid \(pid)) did not exit within \(timeout)s of SIGTERM: killed")
          }
        } else {
          CLIOutput.out("node \(node.id) was not running")
        }
        cluster.nodes[i].pid = nil
        cluster.nodes[i].state = "stopped"
        try cluster.write(to: dir)
      }
    }
  }
}
