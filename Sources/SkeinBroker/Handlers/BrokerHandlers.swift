import KafkaProtocol
import Logging
import SkeinCluster
import SkeinStorage

/// The request handlers of one broker, one file per API family, sharing the controller,
/// the replica manager and the broker's identity.
final class BrokerHandlers: Sendable {
  let config: BrokerConfig
  let clusterId: String
  let nodeId: Int32
  let controller: ControllerRuntime
  let replicaManager: ReplicaManager
  let groupCoordinator: GroupCoordinatorRuntime
  let producerIds: ProducerIdManager
  let logger: Logger

  init(
    config: BrokerConfig, clusterId: String, controller: ControllerRuntime,
    replicaManager: ReplicaManager, logger: Logger
  ) {
    self.config = config
    self.clusterId = clusterId
    self.nodeId = config.nodeId
    self.controller = controller
    self.replicaManager = replicaManager
    self.groupCoordinator = GroupCoordinatorRuntime(
      nodeId: config.nodeId, config: config, replicaManager: replicaManager, logger: logger)
    self.producerIds = ProducerIdManager(nodeId: config.nodeId, controller: controller)
    self.logger = logger
  }

  /// Creates a topic with the broker's defaults (auto-creation on Metadata).
  func autoCreateTopic(_ name: String) -> Result<MetadataImage, ControllerError> {
    controller.perform { image in
      if image.topics[name] != nil { return .success([]) }
      if name == GroupCoordinatorRuntime.topic {
        // Internal topics are created by the broker itself, never by a client's Metadata.
        return .failure(
          ControllerError(.unknownTopicOrPartition, "\(name) is created by the broker."))
      }
      return controller.decisions.createTopic(
        name: name, partitions: config.defaultPartitions,
        replicationFactor: config.defaultReplicationFactor, configs: [:], image: image)
    }
  }
}
