import ArgumentParser
import Dispatch
import FoundationEssentials
import Glibc
import Logging
import SkeinAdmin
import SkeinBroker
import Synchronization

/// `skein serve`: runs a Skein node (by default one combined broker and controller, node 0: a
/// cluster of one) until SIGINT or SIGTERM.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve", abstract: "Run a Skein broker.")

  @Option(help: "Address to listen on, HOST:PORT.")
  var listen: String = "127.0.0.1:9092"

  @Option(help: "Address clients are told to connect to, HOST:PORT (default: --listen).")
  var advertised: String?

  @Option(name: .customLong("data-dir"), help: "Where the logs live.")
  var dataDir: String = "./skein-data"

  @Option(help: "A server.properties file with Kafka's broker config keys.")
  var config: String?

  @Option(
    name: .customLong("set"), help: "A broker config key=value; repeatable, wins over --config.")
  var settings: [String] = []

  @Option(
    name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
  var logLevel: String = "info"

  @Option(name: .customLong("node-id"), help: "This node's id, node.id (default 0).")
  var nodeId: Int32?

  @Option(help: "This broker's rack, broker.rack.")
  var rack: String?

  @Option(
    name: .customLong("process-roles"),
    help: "broker, controller or broker,controller (process.roles; default both).")
  var processRoles: String?

  @Option(
    name: .customLong("controller-listen"),
    help: "The controller's listener, HOST:PORT (adds CONTROLLER://HOST:PORT to listeners).")
  var controllerListen: String?

  @Option(
    name: .customLong("http-listen"),
    help:
      "Metrics, admin API and web view, HOST:PORT (http.listen; default 127.0.0.1:9644; empty: off)."
  )
  var httpListen: String?

  @Option(
    name: .customLong("controller"),
    help: "Where the controller is, HOST:PORT[,…] (controller.quorum.bootstrap.servers).")
  var controller: String?

  func validate() throws {
    if let nodeId, nodeId < 0 { throw ValidationError("--node-id must not be negative") }
    if let controllerListen, BrokerConfig.parseHostPort(controllerListen) == nil {
      throw ValidationError("--controller-listen wants HOST:PORT, got \(controllerListen)")
    }
    if let controller, BrokerConfig.parseBootstrapServers(controller)?.isEmpty != false {
      throw ValidationError("--controller wants HOST:PORT[,…], got \(controller)")
    }
  }

  func run() async throws {
    guard let level = Logger.Level(rawValue: logLevel) else {
      throw ValidationError("unknown log level \(logLevel)")
    }
    LoggingSystem.bootstrap { label in
      var handler = NodeLogHandler(label: label)
      handler.logLevel = level
      return handler
    }
    let logger = Logger(label: "skein")

    var values: [String: String] = [:]
    if let config {
      let text = try String(contentsOfFile: config, encoding: .utf8)
      values = BrokerConfig.parseProperties(text)
    }
    guard BrokerConfig.parseHostPort(listen) != nil else {
      throw ValidationError("--listen wants HOST:PORT, got \(listen)")
    }
    if values["listeners"] == nil || listen != "127.0.0.1:9092" {
      // The client listener; a controller listener from the config file stays.
      let controllerNames = Set(BrokerConfig(values).controllerListenerNames)
      let kept = (BrokerConfig.parseListeners(values["listeners"] ?? "") ?? []).filter {
        controllerNames.contains($0.name)
      }
      values["listeners"] =
        (["PLAINTEXT://\(listen)"] + kept.map { "\($0.name)://\($0.host):\($0.port)" })
        .joined(separator: ",")
    }
    if let advertised {
      guard BrokerConfig.parseHostPort(advertised) != nil else {
        throw ValidationError("--advertised wants HOST:PORT, got \(advertised)")
      }
      values["advertised.listeners"] = "PLAINTEXT://\(advertised)"
    }
    if values["log.dirs"] == nil && values["log.dir"] == nil || dataDir != "./skein-data" {
      values["log.dirs"] = dataDir
    }
    if let nodeId { values["node.id"] = String(nodeId) }
    if let rack { values["broker.rack"] = rack }
    if let processRoles { values["process.roles"] = processRoles }
    if let controller { values["controller.quorum.bootstrap.servers"] = controller }
    if let httpListen { values["http.listen"] = httpListen }
    if let controllerListen {
      values["listeners"] = Self.listeners(
        values["listeners"] ?? BrokerConfig.defaults["listeners"] ?? "",
        addingController: controllerListen, named: BrokerConfig(values).controllerListenerNames)
    }
    for setting in settings {
      guard let eq = setting.firstIndex(of: "=") else {
        throw ValidationError("--set wants key=value, got \(setting)")
      }
      values[String(setting[..<eq])] = String(setting[setting.index(after: eq)...])
    }
    let config = BrokerConfig(values)
    let problems = config.validate()
    guard problems.isEmpty else {
      throw ValidationError(problems.joined(separator: "\n"))
    }

    // Catch the signals before starting, so one that arrives during start-up is not lost.
    let stop = ShutdownSignal()
    let metrics = NodeMetrics()
    let broker = try await Broker.start(
      config: config, logger: logger, metricsFactory: metrics.factory)
    var admin: AdminServer?
    if let http = config.httpListener {
      do {
        admin = try await AdminServer.start(
          host: http.host, port: http.port, broker: broker, metrics: metrics, logger: logger)
      } catch {
        logger.critical("cannot listen on http.listen \(http.host):\(http.port): \(error)")
        await broker.shutdown()
        throw ExitCode.failure
      }
    }
    await stop.wait()
    logger.info("shutting down")
    await admin?.shutdown()
    await broker.shutdown()
  }
}

extension ServeCommand {
  /// `listeners` with the controller listener set to `address` (replacing any entry of that
  /// name), so `--controller-listen` works beside a `listeners` from the config file.
  static func listeners(_ text: String, addingController address: String, named names: [String])
    -> String
  {
    let name = names.first ?? "CONTROLLER"
    var entries = text.split(separator: ",").map { $0.filter { $0 != " " && $0 != "\t" } }
    entries.removeAll { $0.uppercased().hasPrefix(name + "://") || $0.isEmpty }
    entries.append("\(name)://\(address)")
    return entries.joined(separator: ",")
  }
}

/// Resolves once the process receives SIGINT or SIGTERM; listens from the moment it is made,
/// so a signal that arrives before `wait()` is remembered.
final class ShutdownSignal {
  private let sources: [any DispatchSourceSignal]
  private let state = ShutdownState()

  init() {
    let state = self.state
    sources = [SIGINT, SIGTERM].map {
      signal($0, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: $0)
      source.setEventHandler { state.fire() }
      source.resume()
      return source
    }
  }

  /// Whether a signal arrived.
  var fired: Bool { state.fired }

  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      state.wait(continuation)
    }
  }
}

/// Whether a shutdown signal arrived, and who waits for it.
final class ShutdownState: Sendable {
  private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

  var fired: Bool { state.withLock { $0.fired } }

  func fire() {
    state.withLock { s -> CheckedContinuation<Void, Never>? in
      s.fired = true
      return s.waiter.take()
    }?.resume()
  }

  func wait(_ continuation: CheckedContinuation<Void, Never>) {
    let fired = state.withLock { s -> Bool in
      if !s.fired { s.waiter = continuation }
      return s.fired
    }
    if fired { continuation.resume() }
  }
}
