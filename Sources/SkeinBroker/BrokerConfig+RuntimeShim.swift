// TEMPORARY until the cli branch lands: the accessors its brief names.
enum ProcessRole: String, Sendable, Hashable { case broker, controller }

extension BrokerConfig {
  var processRoles: Set<ProcessRole> {
    Set(
      (string("process.roles") ?? "broker,controller").split(separator: ",").compactMap {
        ProcessRole(rawValue: $0.trimmedOfSpaces)
      })
  }
  var controllerListener: (host: String, port: Int)? {
    for entry in (string("listeners") ?? "").split(separator: ",") {
      let parts = entry.trimmedOfSpaces.split(separator: "://", maxSplits: 1)
      if parts.count == 2, parts[0] == "CONTROLLER" { return Self.parseHostPort(String(parts[1])) }
    }
    return nil
  }
  var controllerBootstrapServers: [(host: String, port: Int)] {
    (string("controller.quorum.bootstrap.servers") ?? "").split(separator: ",").compactMap {
      Self.parseHostPort($0.trimmedOfSpaces)
    }
  }
}
