import CoreMetrics
import FoundationEssentials
import KafkaProtocol
import Logging
import NIOCore
import NIOPosix
import SkeinCluster
import SkeinStorage
import Synchronization

/// A running Skein node: storage, the controller (on a node with that role), the broker side
/// (registration and heartbeats, the metadata image, the replica manager, replica fetchers,
/// the group coordinator) and its listeners. `start` opens everything; `shutdown` moves
/// leadership away (controlled shutdown) and closes it cleanly.
public final class Broker: Sendable {
  public let config: BrokerConfig
  public let clusterId: String
  let logManager: LogManager
  let controller: ControllerRuntime?
  let replicaManager: ReplicaManager
  let handlers: BrokerHandlers
  let metadata: MetadataPublisher
  /// ISR, leader, broker and topic changes as this node saw them (`/v1/events`).
  public let events = ClusterEventLog()
  private let lifecycle: BrokerLifecycleManager?
  private let metadataFollower: MetadataFollower?
  private let remoteChannels: [RemoteControllerChannel]
  private let group: MultiThreadedEventLoopGroup
  private let channels: [any Channel]
  private let tickers: [RepeatedTask]
  private let logger: Logger

  /// The client listener's port (useful with port 0); the controller listener's on a
  /// controller-only node.
  public var boundPort: Int { channels.first?.localAddress?.port ?? 0 }
  /// The controller listener's port, if this node has one.
  public var controllerPort: Int? {
    controllerChannelIndex.map { channels[$0].localAddress?.port ?? 0 }
  }
  private let controllerChannelIndex: Int?

  private init(
    config: BrokerConfig, clusterId: String, logManager: LogManager, controller: ControllerRuntime?,
    replicaManager: ReplicaManager, handlers: BrokerHandlers, metadata: MetadataPublisher,
    lifecycle: BrokerLifecycleManager?, metadataFollower: MetadataFollower?,
    remoteChannels: [RemoteControllerChannel], group: MultiThreadedEventLoopGroup,
    channels: [any Channel], controllerChannelIndex: Int?, tickers: [RepeatedTask], logger: Logger
  ) {
    self.config = config
    self.clusterId = clusterId
    self.logManager = logManager
    self.controller = controller
    self.replicaManager = replicaManager
    self.handlers = handlers
    self.metadata = metadata
    self.lifecycle = lifecycle
    self.metadataFollower = metadataFollower
    self.remoteChannels = remoteChannels
    self.group = group
    self.channels = channels
    self.controllerChannelIndex = controllerChannelIndex
    self.tickers = tickers
    self.logger = logger
    // The first image it gets (the current one, or the first published) is its baseline.
    metadata.addListener { [events] image in events.observe(image, nowMs: currentTimeMillis()) }
  }

  /// `metricsFactory`: where the broker's rates go (the node's Prometheus registry); nil
  /// discards them.
  public static func start(
    config configured: BrokerConfig, logger: Logger, metricsFactory: (any MetricsFactory)? = nil
  ) async throws -> Broker {
    let roles = configured.processRoles
    let isController = roles.contains(.controller)
    let isBroker = roles.contains(.broker)
    let dataDir = configured.dataDirectory
    try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
    let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
    let requestTimeout = Duration.milliseconds(
      Int64(configured.int("request.timeout.ms") ?? 30_000))

    // Where the controller is: this node, or over the controller listener.
    var remoteChannels: [RemoteControllerChannel] = []
    func remoteChannel(_ purpose: String) -> RemoteControllerChannel {
      let channel = RemoteControllerChannel(
        servers: configured.controllerBootstrapServers,
        clientId: "broker-\(configured.nodeId)-\(purpose)",
        requestTimeout: requestTimeout, eventLoopGroup: group)
      remoteChannels.append(channel)
      return channel
    }
    let local = isController ? LocalControllerChannel(eventLoop: group.next()) : nil
    let channel: any ControllerChannel = local ?? remoteChannel("control")

    var wantedClusterId = configured.string("cluster.id")
    if !isController && wantedClusterId == nil
      && MetaProperties.storedClusterId(dataDir: dataDir) == nil
    {
      // A fresh broker joins the cluster its controller runs.
      wantedClusterId = try await Self.askClusterId(channel, logger: logger)
    }
    let resolved = try MetaProperties.resolve(
      configured, dataDir: dataDir, clusterId: wantedClusterId)
    let config = resolved.config
    let clusterId = resolved.clusterId
    if let notice = resolved.notice { logger.notice("\(notice)") }
    let nodeId = config.nodeId

    let staticDefaults = try LogConfig(config.topicDefaults)
    let logManager = try LogManager(
      dataDir: dataDir, defaultConfig: staticDefaults,
      checkpointIntervalMs: Int64(config.int("log.flush.offset.checkpoint.interval.ms") ?? 60_000),
      replicationOffsetCheckpointIntervalMs: Int64(
        config.int("replica.high.watermark.checkpoint.interval.ms") ?? 5_000),
      producerIdExpiration: .init(
        expirationMs: Int64(config.int("producer.id.expiration.ms") ?? 86_400_000),
        checkIntervalMs: Int64(config.int("producer.id.expiration.check.interval.ms") ?? 600_000)),
      nowMs: currentTimeMillis(), cleanerConfig: config.logCleanerConfig, logger: logger)
    let settings = Self.replicationSettings(config)
    let metrics =
      metricsFactory.map {
        BrokerMetrics(
          factory: $0,
          served: SupportedApis.versions.merging(ControllerApis.versions) { a, b in
            min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
          })
      } ?? .discarding()
    let replicaManager = ReplicaManager(
      nodeId: nodeId, logManager: logManager, staticDefaults: staticDefaults, settings: settings,
      metrics: metrics, logger: logger)
    let decisions = ControllerDecisions(validateConfigs: { replicaManager.validate($0) })
    let controller: ControllerRuntime? =
      isController
      ? try ControllerRuntime(
        metadataLog: try MetadataLog(logManager: logManager), decisions: decisions,
        clusterId: clusterId, nodeId: nodeId, settings: Self.controllerSettings(config),
        logger: logger)
      : nil
    let metadata = MetadataPublisher()
    let handlers = BrokerHandlers(
      config: config, clusterId: clusterId, metadata: metadata, localController: controller,
      controllerChannel: channel, replicaManager: replicaManager, logger: logger)

    var channels: [any Channel] = []
    var controllerChannelIndex: Int?
    var tickers: [RepeatedTask] = []
    func fail(_ error: any Error) async -> any Error {
      for c in channels { try? await c.close() }
      try? await group.shutdownGracefully()
      try? logManager.shutdown(nowMs: currentTimeMillis())
      return error
    }

    let advertised = config.advertisedListener
    var advertisedPort = advertised.port
    if isBroker {
      let router = BrokerApis(handlers: handlers, forwarding: controller == nil ? channel : nil)
      do {
        // Connections wait in the backlog until this broker is registered and unfenced, so a
        // client of a restarting broker sees a slow first answer, not NOT_LEADER_OR_FOLLOWER.
        let bound = try await Self.bind(
          config.listener, router: router, metrics: metrics, maxFrame: config.maxRequestSize,
          group: group, logger: logger, acceptAtOnce: false)
        channels.append(bound)
        let port = bound.localAddress?.port ?? config.listener.port
        advertisedPort = config.explicit["advertised.listeners"] == nil ? port : advertised.port
      } catch {
        throw await fail(error)
      }
    }
    if let controller {
      let apisAddress = config.controllerListener ?? (advertised.host, advertisedPort)
      var apis = ControllerApis(
        controller: controller, handlers: handlers, nodeId: nodeId, advertised: apisAddress)
      if let listen = config.controllerListener {
        do {
          let bound = try await Self.bind(
            listen, router: apis, metrics: metrics, maxFrame: config.maxRequestSize, group: group,
            logger: logger)
          controllerChannelIndex = channels.count
          channels.append(bound)
          let port = bound.localAddress?.port ?? listen.port
          apis = ControllerApis(
            controller: controller, handlers: handlers, nodeId: nodeId,
            advertised: (listen.host, port))
        } catch {
          throw await fail(error)
        }
      }
      local?.connect(apis)
      // The controller's image is this node's image, published in log order.
      controller.setListener { image, offset in metadata.publish(image, offset: offset) }
    }

    let groupCoordinator = handlers.groupCoordinator
    metadata.addListener { image in
      replicaManager.apply(image)
      groupCoordinator.apply(image)
    }

    var follower: MetadataFollower?
    if controller == nil {
      let following = MetadataFollower(
        nodeId: nodeId, channel: remoteChannel("metadata"), publisher: metadata,
        maxWaitMs: Int32(clamping: config.int("metadata.max.idle.interval.ms") ?? 500),
        logger: logger)
      following.start()
      follower = following
      // Catch up before registering, so the heartbeat that unfences us can say so.
      let deadline = ContinuousClock.now + .seconds(30)
      while !following.isCaughtUp && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(20))
      }
    }

    var lifecycle: BrokerLifecycleManager?
    if isBroker {
      replicaManager.attach(controller: channel, eventLoopGroup: group)
      let manager = BrokerLifecycleManager(
        registration: .init(
          nodeId: nodeId, clusterId: clusterId, rack: config.rack, host: advertised.host,
          port: advertisedPort, logDirId: KafkaUuid.random(),
          admin: config.httpListener.map { http in
            // A wildcard bind is reached at the advertised host.
            (["0.0.0.0", "::", ""].contains(http.host) ? advertised.host : http.host, http.port)
          }),
        channel: channel, metadataOffset: { metadata.offset },
        heartbeatIntervalMs: Int64(config.int("broker.heartbeat.interval.ms") ?? 2000),
        logger: logger,
        onRegistered: { [follower] epoch in
          replicaManager.setBrokerEpoch(epoch)
          follower?.setBrokerEpoch(epoch)
        })
      await manager.start(timeout: .seconds(controller == nil ? 30 : 10))
      lifecycle = manager
      if let client = channels.first { try? await client.setOption(.autoRead, value: true).get() }
      groupCoordinator.startTicking(on: group.next())
      // Kafka's isr-expiration task runs every replica.lag.time.max.ms / 2.
      let shrinkEvery = max(settings.lagTimeMaxMs / 2, 100)
      tickers.append(
        group.next().scheduleRepeatedTask(
          initialDelay: .milliseconds(shrinkEvery), delay: .milliseconds(shrinkEvery)
        ) { _ in replicaManager.shrinkIsrs() })
    }
    if let controller {
      let times = Mutex(
        ControllerTickTimes(
          uncleanElection: currentTimeMillis(), leaderBalance: currentTimeMillis()))
      // Every 50 ms, so a broker is fenced within 50 ms of its session expiring; the other
      // periodic work in the tick runs at its own, longer intervals.
      tickers.append(
        group.next().scheduleRepeatedTask(
          initialDelay: .milliseconds(50), delay: .milliseconds(50)
        ) { _ in
          times.withLock { controller.tick(nowMs: currentTimeMillis(), lastRuns: &$0) }
        })
    }
    tickers.append(
      group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in
        let failures = logManager.tick(nowMs: currentTimeMillis())
        for (tp, error) in failures { logger.warning("log maintenance of \(tp) failed: \(error)") }
      })
    let addresses = channels.map { c in c.localAddress.map { "\($0)" } ?? "?" }.joined(
      separator: ", ")
    logger.info(
      "skein node \(nodeId) of cluster \(clusterId) (\(roles.map(\.rawValue).sorted().joined(separator: ","))) listening on \(addresses), data in \(dataDir)"
    )
    return Broker(
      config: config, clusterId: clusterId, logManager: logManager, controller: controller,
      replicaManager: replicaManager, handlers: handlers, metadata: metadata,
      lifecycle: lifecycle, metadataFollower: follower, remoteChannels: remoteChannels,
      group: group, channels: channels, controllerChannelIndex: controllerChannelIndex,
      tickers: tickers, logger: logger)
  }

  private static func bind(
    _ address: (host: String, port: Int), router: any ApiRouter, metrics: BrokerMetrics,
    maxFrame: Int, group: MultiThreadedEventLoopGroup, logger: Logger, acceptAtOnce: Bool = true
  ) async throws -> any Channel {
    let dispatcher = RequestDispatcher(router: router, metrics: metrics)
    return try await ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 1024)
      .serverChannelOption(.autoRead, value: acceptAtOnce)
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
      .bind(host: address.host, port: address.port).get()
  }

  /// The controller's cluster id (DescribeCluster on its listener), retried until it answers.
  private static func askClusterId(_ channel: any ControllerChannel, logger: Logger) async throws
    -> String
  {
    let deadline = ContinuousClock.now + .seconds(60)
    var lastError: (any Error)?
    while ContinuousClock.now < deadline {
      do {
        let response = try await channel.send(DescribeClusterRequest(endpointType: 2))
        if response.errorCode == 0 { return response.clusterId }
      } catch {
        lastError = error
      }
      try await Task.sleep(for: .milliseconds(200))
    }
    throw ControllerChannelError.unreachable(
      "no cluster id from the controller: \(lastError.map { "\($0)" } ?? "no answer")")
  }

  static func replicationSettings(_ config: BrokerConfig) -> ReplicationSettings {
    var s = ReplicationSettings()
    if let v = config.int("replica.lag.time.max.ms") { s.lagTimeMaxMs = Int64(v) }
    if let v = config.int("replica.fetch.wait.max.ms") { s.fetchWaitMaxMs = Int32(clamping: v) }
    if let v = config.int("replica.fetch.min.bytes") { s.fetchMinBytes = Int32(clamping: v) }
    if let v = config.int("replica.fetch.max.bytes") { s.fetchMaxBytes = Int32(clamping: v) }
    if let v = config.int("replica.fetch.response.max.bytes") {
      s.fetchResponseMaxBytes = Int32(clamping: v)
    }
    if let v = config.int("replica.fetch.backoff.ms") { s.fetchBackoffMs = Int64(v) }
    if let v = config.int("num.replica.fetchers") { s.numFetchers = max(v, 1) }
    if let v = config.int("replica.high.watermark.checkpoint.interval.ms") {
      s.highWatermarkCheckpointIntervalMs = Int64(v)
    }
    s.rackAwareSelector =
      config.string("replica.selector.class")?.hasSuffix("RackAwareReplicaSelector") == true
    return s
  }

  static func controllerSettings(_ config: BrokerConfig) -> ControllerSettings {
    var s = ControllerSettings()
    if let v = config.int("broker.session.timeout.ms") { s.sessionTimeoutMs = Int64(v) }
    if let v = config.string("auto.leader.rebalance.enable") {
      s.autoLeaderRebalance = v.lowercased() == "true"
    }
    if let v = config.int("leader.imbalance.check.interval.seconds") {
      s.leaderImbalanceCheckIntervalMs = Int64(v) * 1000
    }
    if let v = config.int("unclean.leader.election.interval.ms") {
      s.uncleanElectionIntervalMs = Int64(v)
    }
    s.uncleanElectionDefault = config.bool("unclean.leader.election.enable")
    return s
  }

  /// Waits until the listeners close.
  public func waitUntilClosed() async throws {
    for channel in channels { try await channel.closeFuture.get() }
  }

  /// Controlled shutdown (leadership moved to other in-sync replicas first, when there are
  /// other brokers to take it), then listeners, fetchers and logs are closed cleanly.
  public func shutdown() async {
    if let lifecycle {
      let others = metadata.image.brokers.values.contains { $0.id != config.nodeId && !$0.fenced }
      if others && config.string("controlled.shutdown.enable")?.lowercased() != "false" {
        await lifecycle.controlledShutdown(timeout: .seconds(30))
      } else {
        lifecycle.stop()
      }
    }
    for ticker in tickers { ticker.cancel() }
    metadataFollower?.stop()
    await replicaManager.shutdown()
    handlers.groupCoordinator.shutdown()
    for channel in channels { try? await channel.close() }
    for remote in remoteChannels { await remote.close() }
    try? await group.shutdownGracefully()
    do {
      try logManager.shutdown(nowMs: currentTimeMillis())
      logger.info("clean shutdown complete")
    } catch {
      logger.error("shutdown of the logs failed: \(error)")
    }
  }
}
