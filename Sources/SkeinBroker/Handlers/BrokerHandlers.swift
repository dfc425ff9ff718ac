import KafkaProtocol
import Logging
import NIOCore
import SkeinCluster
import SkeinStorage

/// The request handlers of one broker, one file per API family, sharing the metadata image,
/// the replica manager and the broker's identity. Changes to the cluster are decided by the
/// controller: in process where this node is the controller (`localController`), otherwise
/// sent to it over `controllerChannel`.
final class BrokerHandlers: Sendable {
  let config: BrokerConfig
  let clusterId: String
  let nodeId: Int32
  let metadata: MetadataPublisher
  let localController: ControllerRuntime?
  let controllerChannel: any ControllerChannel
  let decisions: ControllerDecisions
  let replicaManager: ReplicaManager
  let groupCoordinator: GroupCoordinatorRuntime
  let producerIds: ProducerIdManager
  let logger: Logger

  init(
    config: BrokerConfig, clusterId: String, metadata: MetadataPublisher,
    localController: ControllerRuntime?, controllerChannel: any ControllerChannel,
    replicaManager: ReplicaManager, logger: Logger
  ) {
    self.config = config
    self.clusterId = clusterId
    self.nodeId = config.nodeId
    self.metadata = metadata
    self.localController = localController
    self.controllerChannel = controllerChannel
    self.decisions =
      localController?.decisions
      ?? ControllerDecisions(validateConfigs: { replicaManager.validate($0) })
    self.replicaManager = replicaManager
    self.groupCoordinator = GroupCoordinatorRuntime(
      nodeId: config.nodeId, config: config, replicaManager: replicaManager, logger: logger)
    self.producerIds = ProducerIdManager(
      nodeId: config.nodeId, channel: controllerChannel,
      brokerEpoch: { replicaManager.brokerEpoch })
    self.logger = logger
  }

  /// Decides and applies a change on this node's controller; NOT_CONTROLLER elsewhere (the
  /// admin APIs are forwarded before they get here).
  func performOnController(
    _ decide: (MetadataImage) -> Result<[MetadataRecord], ControllerError>
  ) -> Result<MetadataImage, ControllerError> {
    guard let localController else {
      return .failure(ControllerError(.notController, "This node is not the controller."))
    }
    return localController.perform(decide)
  }

  /// The controller id clients are told: the same on every broker (the lowest live broker,
  /// which is the controller node in `skein cluster up`); clients send it admin requests,
  /// which any broker forwards.
  func controllerIdForClients(_ image: MetadataImage) -> Int32 {
    if localController != nil && image.brokers[nodeId]?.fenced == false { return nodeId }
    return image.brokers.values.filter { !$0.fenced }.map(\.id).min() ?? -1
  }

  /// Creates a topic with the broker's defaults (auto-creation on Metadata). On the
  /// controller node the topic is there when this returns; elsewhere the CreateTopics is
  /// sent and the caller answers as Kafka does while a topic is being created.
  func autoCreateTopic(_ name: String) -> Result<MetadataImage, ControllerError> {
    if name == GroupCoordinatorRuntime.topic {
      // Internal topics are created by the broker itself, never by a client's Metadata.
      return .failure(
        ControllerError(.unknownTopicOrPartition, "\(name) is created by the broker."))
    }
    return createTopicOnController(
      name: name, partitions: config.defaultPartitions,
      replicationFactor: config.defaultReplicationFactor, configs: [:])
  }

  /// Creates a topic through the controller (idempotent: an existing topic is a success).
  /// `clampToLiveBrokers` caps the replication factor at the live brokers (internal topics,
  /// so that a cluster smaller than `offsets.topic.replication.factor` still gets one).
  func createTopicOnController(
    name: String, partitions: Int32, replicationFactor: Int16, configs: [String: String],
    clampToLiveBrokers: Bool = false
  ) -> Result<MetadataImage, ControllerError> {
    func clamped(_ image: MetadataImage) -> Int16 {
      guard clampToLiveBrokers, replicationFactor > 0 else { return replicationFactor }
      let live = image.brokers.values.filter { !$0.fenced }.count
      return Int16(max(1, min(Int(replicationFactor), live)))
    }
    if let localController {
      return localController.perform { image in
        if image.topics[name] != nil { return .success([]) }
        return decisions.createTopic(
          name: name, partitions: partitions, replicationFactor: clamped(image),
          configs: configs, image: image)
      }
    }
    if metadata.image.topics[name] != nil { return .success(metadata.image) }
    let replicationFactor = clamped(metadata.image)
    let request = CreateTopicsRequest(
      topics: [
        .init(
          name: name, numPartitions: partitions, replicationFactor: replicationFactor,
          configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) })
      ], timeoutMs: 30_000)
    let channel = controllerChannel
    let logger = logger
    Task {
      do {
        let response = try await channel.send(request)
        if let code = response.topics.first?.errorCode, code != 0,
          code != ErrorCode.topicAlreadyExists.rawValue
        {
          logger.warning("creating \(name) at the controller failed: error \(code)")
        }
      } catch {
        logger.warning("creating \(name) at the controller failed: \(error)")
      }
    }
    return .failure(ControllerError(.leaderNotAvailable, "Topic \(name) is being created."))
  }
}
