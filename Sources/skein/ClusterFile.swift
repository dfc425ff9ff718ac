import FoundationEssentials

/// `DIR/cluster.json`, written by `skein cluster up`: where the controller and the brokers
/// listen, and per node its id, rack, pid, data dir and the argv that (re)starts it.
struct ClusterFile: Codable {
  struct Node: Codable {
    var id: Int32
    var rack: String?
    var listen: String
    /// The node's HTTP listener (metrics, admin API, web view).
    var http: String?
    /// The pid `cluster up` started; null once `cluster down` stopped the node.
    var pid: Int32?
    var dataDir: String
    var argv: [String]
    /// `stopped` after `cluster down`; absent while the cluster runs.
    var state: String?

    enum CodingKeys: String, CodingKey {
      case id, rack, listen, http, pid, argv, state
      case dataDir = "data_dir"
    }

    /// Whether this node runs the controller (it was given a controller listener).
    var isController: Bool { argv.contains("--controller-listen") }

    /// The pid now running this node's argv, if any.
    var runningPid: Int32? { NodeProcess.find(argv, pid: pid) }

    var json: JSONText {
      var members: [(String, JSONText)] = [
        ("id", .int(id)), ("rack", .optional(rack)), ("listen", .string(listen)),
        ("http", .optional(http)), ("pid", pid.map { .int($0) } ?? .null),
        ("data_dir", .string(dataDir)),
        ("argv", .array(argv.map { .string($0) })),
      ]
      if let state { members.append(("state", .string(state))) }
      return .object(members)
    }
  }

  var controller: String
  var bootstrap: String
  var nodes: [Node]

  static func path(in dir: String) -> String { dir + "/cluster.json" }

  /// The file in `dir`, or nil when there is none.
  static func load(from dir: String) throws -> ClusterFile? {
    let path = path(in: dir)
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    do {
      return try JSONDecoder().decode(ClusterFile.self, from: data)
    } catch {
      throw NodeProcess.Failure(description: "\(path) is not a cluster file: \(error)")
    }
  }

  /// The file in `dir`; fails when there is none.
  static func require(in dir: String) throws -> ClusterFile {
    guard let file = try load(from: dir) else {
      throw NodeProcess.Failure(
        description: "no cluster in \(dir): \(path(in: dir)) does not exist")
    }
    return file
  }

  var json: JSONText {
    .object([
      ("controller", .string(controller)), ("bootstrap", .string(bootstrap)),
      ("nodes", .array(nodes.map(\.json))),
    ])
  }

  /// Writes the file (through a temporary file and a rename).
  func write(to dir: String) throws {
    try (json.rendered + "\n").write(
      toFile: Self.path(in: dir), atomically: true, encoding: .utf8)
  }
}

/// An absolute form of a path given on the command line.
func absolutePath(_ path: String) -> String {
  let joined = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  var parts: [Substring] = []
  for part in joined.split(separator: "/") {
    switch part {
    case ".": continue
    case "..": if !parts.isEmpty { parts.removeLast() }
    default: parts.append(part)
    }
  }
  return "/" + parts.joined(separator: "/")
}
