import FoundationEssentials
import Glibc

/// The processes of a local cluster: started with posix_spawn in sessions of their own (so
/// they outlive the CLI), and recognised later by their command line, which is exactly the
/// argv recorded in cluster.json (a pid alone could have been reused).
enum NodeProcess {
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// glibc's POSIX_SPAWN_SETSID (spawn.h), which Swift does not import: spawn.h defines it
  /// only under _GNU_SOURCE.
  private static let posixSpawnSetsid: Int32 = 0x80

  /// The running `skein` binary (`/proc/self/exe`).
  static func executablePath() throws -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else {
      throw Failure(description: "cannot read /proc/self/exe (errno \(errno))")
    }
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Starts `argv` as a new session leader with stdin from /dev/null and stdout and stderr
  /// appended to `logPath`; returns its pid.
  static func spawn(_ argv: [String], logPath: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGINT, SIGTERM, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    let flags =
      posixSpawnSetsid | Int32(POSIX_SPAWN_SETSIGDEF)
      | Int32(POSIX_SPAWN_SETSIGMASK)
    posix_spawnattr_setflags(&attributes, Int16(flags))

    let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { for arg in cArgs { free(arg) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, environ)
    guard rc == 0 else {
      throw Failure(description: "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
    }
    return pid
  }

  /// Whether `pid` is a live process running exactly `argv` (a zombie's command line is empty).
  static func isRunning(_ pid: pid_t, argv: [String]) -> Bool {
    guard pid > 0, let line = readWholeFile("/proc/\(pid)/cmdline") else { return false }
    return commandLine(line) == argv
  }

  /// The pid running `argv`: `pid` when it still does, else any process that does (a node
  /// restarted by hand from its argv).
  static func find(_ argv: [String], pid: pid_t?) -> pid_t? {
    if let pid, isRunning(pid, argv: argv) { return pid }
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
      return nil
    }
    let me = getpid()
    for entry in entries {
      guard let candidate = pid_t(entry), candidate != me else { continue }
      if isRunning(candidate, argv: argv) { return candidate }
    }
    return nil
  }

  /// Reaps `pid` if it is an exited child of this process; returns how it ended.
  static func reap(_ pid: pid_t) -> String? {
    var status: Int32 = 0
    guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
    let signal = status & 0x7f
    return signal == 0 ? "exited with status \((status >> 8) & 0xff)" : "killed by signal \(signal)"
  }

  /// Sends `signal`, then waits up to `timeout` for the process to stop running `argv`.
  static func stop(_ pid: pid_t, argv: [String], signal: Int32, timeout: Duration) async -> Bool {
    kill(pid, signal)
    let deadline = ContinuousClock.now + timeout
    while isRunning(pid, argv: argv) {
      _ = reap(pid)
      if ContinuousClock.now >= deadline { return false }
      try? await Task.sleep(for: .milliseconds(50))
    }
    _ = reap(pid)
    return true
  }

  /// The last `count` lines of a log file.
  static func lastLines(of path: String, count: Int) -> [String] {
    guard let bytes = readWholeFile(path) else { return [] }
    let lines = String(decoding: bytes, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false)
    return lines.suffix(count + 1).map(String.init).filter { !$0.isEmpty }.suffix(count).map { $0 }
  }

  /// Whether nothing listens on `host:port` yet (a bind succeeds).
  static func portIsFree(host: String, port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return true }
    let rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    return rc == 0
  }

  /// A whole file read with read(2) (files in /proc report no size).
  private static func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { break }
      result += chunk[..<n]
    }
    return result
  }

  private static func commandLine(_ bytes: [UInt8]) -> [String] {
    var parts = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
      String(decoding: $0, as: UTF8.self)
    }
    if parts.last == "" { parts.removeLast() }
    return parts
  }
}
