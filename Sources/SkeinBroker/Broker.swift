import FoundationEssentials
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import SkeinCluster
import SkeinStorage

/// A running Skein node: storage, the controller of a single-node cluster, the replica manager
/// and the Kafka listener. `start` opens everything; `shutdown` closes it cleanly.
public final class Broker: Sendable {
  public let config: BrokerConfig
  public let clusterId: String
  let logManager: LogManager
  let controller: ControllerRuntime
  let replicaManager: ReplicaManager
  let handlers: BrokerHandlers
  private let group: MultiThreadedEventLoopGroup
  private let channel: any Channel
  private let ticker: RepeatedTask
  private let logger: Logger

  /// The address the listener is bound to (useful with port 0).
  public var boundPort: Int { channel.localAddress?.port ?? 0 }

  private init(
    config: BrokerConfig, clusterId: String, logManager: LogManager, controller: ControllerRuntime,
    replicaManager: ReplicaManager, handlers: BrokerHandlers, group: MultiThreadedEventLoopGroup,
    channel: any Channel, ticker: RepeatedTask, logger: Logger
  ) {
    self.config = config
    self.clusterId = clusterId
    self.logManager = logManager
    self.controller = controller
    self.replicaManager = replicaManager
    self.handlers = handlers
    self.group = group
    self.channel = channel
    self.ticker = ticker
    self.logger = logger
  }

  public static func start(config configured: BrokerConfig, logger: Logger) async throws -> Broker {
    let dataDir = configured.dataDirectory
    try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
    let (config, clusterId, notice) = try MetaProperties.resolve(configured, dataDir: dataDir)
    if let notice { logger.notice("\(notice)") }
    let staticDefaults = try LogConfig(config.topicDefaults)
    let logManager = try LogManager(
      dataDir: dataDir, defaultConfig: staticDefaults,
      checkpointIntervalMs: Int64(config.int("log.flush.offset.checkpoint.interval.ms") ?? 60_000),
      producerIdExpiration: .init(
        expirationMs: Int64(config.int("producer.id.expiration.ms") ?? 86_400_000),
        checkIntervalMs: Int64(config.int("producer.id.expiration.check.interval.ms") ?? 600_000)),
      nowMs: currentTimeMillis(), cleanerConfig: config.logCleanerConfig, logger: logger)
    let replicaManager = ReplicaManager(
      nodeId: config.nodeId, logManager: logManager, staticDefaults: staticDefaults, logger: logger)
    let decisions = ControllerDecisions(validateConfigs: { replicaManager.validate($0) })
    let controller = try ControllerRuntime(
      metadataLog: try MetadataLog(logManager: logManager), decisions: decisions, logger: logger)

    let listener = config.listener
    let advertised = config.advertisedListener
    let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    let handlers = BrokerHandlers(
      config: config, clusterId: clusterId, controller: controller,
      replicaManager: replicaManager, logger: logger)
    let dispatcher = RequestDispatcher(handlers: handlers)
    let maxFrame = config.maxRequestSize

    let channel: any Channel
    do {
      channel = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.maxMessagesPerRead, value: 16)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
              ByteToMessageHandler(RequestFrameDecoder(maxFrameSize: maxFrame)))
            try channel.pipeline.syncOperations.addHandler(
              KafkaConnectionHandler(dispatcher: dispatcher, logger: logger))
          }
        }
        .bind(host: listener.host, port: listener.port).get()
    } catch {
      try? await group.shutdownGracefully()
      try? logManager.shutdown(nowMs: currentTimeMillis())
      throw error
    }
    let port = channel.localAddress?.port ?? listener.port
    let advertisedPort = config.explicit["advertised.listeners"] == nil ? port : advertised.port

    // Register this node, then host the partitions the image gives it.
    let nodeId = config.nodeId
    let rack = config.rack
    controller.perform { image in
      if let known = image.brokers[nodeId], known.host == advertised.host,
        known.port == Int32(advertisedPort), known.rack == rack, !known.fenced
      {
        return .success([])
      }
      return .success([
        .registerBroker(
          RegisterBrokerRecord(
            brokerId: nodeId, incarnationId: .random(), brokerEpoch: 1,
            endPoints: [
              .init(
                name: "PLAINTEXT", host: advertised.host, port: UInt16(advertisedPort),
                securityProtocol: 0)
            ], rack: rack, fenced: false))
      ])
    }
    let groupCoordinator = handlers.groupCoordinator
    controller.setListener { image in
      replicaManager.apply(image)
      groupCoordinator.apply(image)
    }
    groupCoordinator.startTicking(on: group.next())

    let ticker = group.next().scheduleRepeatedTask(
      initialDelay: .seconds(1), delay: .seconds(1)
    ) { _ in
      let failures = logManager.tick(nowMs: currentTimeMillis())
      for (tp, error) in failures { logger.warning("log maintenance of \(tp) failed: \(error)") }
    }
    logger.info(
      "skein node \(nodeId) of cluster \(clusterId) listening on \(listener.host):\(port), data in \(dataDir)"
    )
    let broker = Broker(
      config: config, clusterId: clusterId, logManager: logManager, controller: controller,
      replicaManager: replicaManager, handlers: handlers, group: group, channel: channel,
      ticker: ticker, logger: logger)
    return broker
  }

  /// Waits until the listener closes.
  public func waitUntilClosed() async throws {
    try await channel.closeFuture.get()
  }

  /// Stops accepting, closes connections, then flushes and checkpoints every log.
  public func shutdown() async {
    ticker.cancel()
    handlers.groupCoordinator.shutdown()
    try? await channel.close()
    try? await group.shutdownGracefully()
    do {
      try logManager.shutdown(nowMs: currentTimeMillis())
      logger.info("clean shutdown complete")
    } catch {
      logger.error("shutdown of the logs failed: \(error)")
    }
  }
}
