import KafkaProtocol

/// A controller refusal: Kafka's error code and the message clients show.
public struct ControllerError: Error, Sendable, Equatable {
  public var code: ErrorCode
  public var message: String
  public init(_ code: ErrorCode, _ message: String) {
    self.code = code
    self.message = message
  }
}

/// The controller's decisions on topics and configs, as pure functions from the current image
/// to the metadata records that carry them out. The runtime persists and applies the records.
public struct ControllerDecisions: Sendable {
  /// Validates topic configs (names and values) for the controller; returns an error message.
  public var validateConfigs: @Sendable ([String: String?]) -> String?

  public init(validateConfigs: @escaping @Sendable ([String: String?]) -> String?) {
    self.validateConfigs = validateConfigs
  }

  /// Kafka's rule for legal topic names.
  public static func validateTopicName(_ name: String) -> ControllerError? {
    if name.isEmpty {
      return ControllerError(.invalidTopicException, "Topic name is illegal, it can't be empty")
    }
    if name == "." || name == ".." {
      return ControllerError(.invalidTopicException, "Topic name cannot be \".\" or \"..\"")
    }
    if name.utf8.count > 249 {
      return ControllerError(
        .invalidTopicException,
        "Topic name is illegal, it can't be longer than 249 characters, topic name: \(name)")
    }
    let legal = name.utf8.allSatisfy { c in
      (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39)
        || c == 0x2E || c == 0x5F || c == 0x2D
    }
    if !legal {
      return ControllerError(
        .invalidTopicException,
        "Topic name \(name) is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
      )
    }
    return nil
  }

  /// Records that create a topic, with replicas assigned over the live brokers.
  public func createTopic(
    name: String, partitions: Int32, replicationFactor: Int16,
    assignments: [Int32: [Int32]] = [:], configs: [String: String], image: MetadataImage,
    topicId: KafkaUuid = .random()
  ) -> Result<[MetadataRecord], ControllerError> {
    if let error = Self.validateTopicName(name) { return .failure(error) }
    if image.topics[name] != nil {
      return .failure(ControllerError(.topicAlreadyExists, "Topic '\(name)' already exists."))
    }
    let brokers = image.brokers.values.filter(\.isActive).map(\.id).sorted()
    var replicaSets: [[Int32]] = []
    if !assignments.isEmpty {
      guard partitions == -1 && replicationFactor == -1 else {
        return .failure(
          ControllerError(
            .invalidRequest,
            "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."
          ))
      }
      for p in 0..<Int32(assignments.count) {
        guard let replicas = assignments[p], !replicas.isEmpty else {
          return .failure(
            ControllerError(
              .invalidReplicaAssignment, "Partitions must be numbered consecutively from 0."))
        }
        guard Set(replicas).count == replicas.count,
          replicas.allSatisfy({ image.brokers[$0] != nil })
        else {
          return .failure(
            ControllerError(
              .invalidReplicaAssignment, "Invalid replica assignment for partition \(p)."))
        }
        replicaSets.append(replicas)
      }
    } else {
      guard partitions > 0 else {
        return .failure(
          ControllerError(.invalidPartitions, "Number of partitions must be larger than 0."))
      }
      guard replicationFactor > 0 else {
        return .failure(
          ControllerError(.invalidReplicationFactor, "Replication factor must be larger than 0."))
      }
      guard Int(replicationFactor) <= brokers.count else {
        return .failure(
          ControllerError(
            .invalidReplicationFactor,
            "Unable to replicate the partition \(replicationFactor) time(s): The target replication factor of \(replicationFactor) cannot be reached because only \(brokers.count) broker(s) are registered."
          ))
      }
      do throws(ControllerError) {
        replicaSets = try ReplicaPlacement.assign(
          brokers: Self.placementBrokers(image), partitions: Int(partitions),
          replicationFactor: Int(replicationFactor))
      } catch {
        return .failure(error)
      }
    }
    if let problem = validateConfigs(configs.mapValues { Optional($0) }) {
      return .failure(ControllerError(.invalidConfig, problem))
    }
    var records: [MetadataRecord] = [.topic(TopicRecord(name: name, topicId: topicId))]
    for (index, replicas) in replicaSets.enumerated() {
      switch Self.newPartition(Int32(index), topicId: topicId, replicas: replicas, image: image) {
      case .success(let record): records.append(.partition(record))
      case .failure(let error): return .failure(error)
      }
    }
    for (key, value) in configs.sorted(by: { $0.key < $1.key }) {
      records.append(
        .config(
          ConfigRecord(
            resourceType: ConfigResourceType.topic.rawValue, resourceName: name, name: key,
            value: value)))
    }
    return .success(records)
  }

  /// Records that grow a topic to `count` partitions.
  public func createPartitions(
    topic name: String, count: Int32, assignments: [[Int32]]?, image: MetadataImage
  ) -> Result<[MetadataRecord], ControllerError> {
    guard let topic = image.topics[name] else {
      return .failure(
        ControllerError(.unknownTopicOrPartition, "This server does not host this topic-partition.")
      )
    }
    let current = Int32(topic.partitions.count)
    guard count > current else {
      let message =
        count == current
        ? "Topic already has \(current) partitions."
        : "The topic \(name) currently has \(current) partition(s); \(count) would not be an increase."
      return .failure(ControllerError(.invalidPartitions, message))
    }
    let replicationFactor = topic.partitions.first?.replicas.count ?? 1
    let brokers = image.brokers.values.filter(\.isActive).map(\.id).sorted()
    var replicaSets: [[Int32]]
    if let assignments {
      guard assignments.count == Int(count - current) else {
        return .failure(
          ControllerError(
            .invalidReplicaAssignment,
            "Increasing the number of partitions by \(count - current) but \(assignments.count) assignments provided."
          ))
      }
      guard assignments.allSatisfy({ a in !a.isEmpty && a.allSatisfy { image.brokers[$0] != nil } })
      else {
        return .failure(ControllerError(.invalidReplicaAssignment, "Invalid replica assignment."))
      }
      replicaSets = assignments
    } else {
      guard replicationFactor <= brokers.count else {
        return .failure(
          ControllerError(
            .invalidReplicationFactor,
            "Not enough brokers for replication factor \(replicationFactor)."))
      }
      do throws(ControllerError) {
        replicaSets = try ReplicaPlacement.assign(
          brokers: Self.placementBrokers(image), partitions: Int(count - current),
          replicationFactor: replicationFactor, startPartitionId: Int(current))
      } catch {
        return .failure(error)
      }
    }
    var records: [MetadataRecord] = []
    for (offset, replicas) in replicaSets.enumerated() {
      switch Self.newPartition(
        current + Int32(offset), topicId: topic.id, replicas: replicas, image: image)
      {
      case .success(let record): records.append(.partition(record))
      case .failure(let error): return .failure(error)
      }
    }
    return .success(records)
  }

  /// A new partition's record: the ISR is its active replicas (a manual assignment may name
  /// fenced brokers) and the leader the first of them, as Kafka creates partitions.
  static func newPartition(
    _ id: Int32, topicId: KafkaUuid, replicas: [Int32], image: MetadataImage
  ) -> Result<PartitionRecord, ControllerError> {
    let isr = replicas.filter { image.brokers[$0]?.isActive ?? false }
    guard let leader = isr.first else {
      return .failure(
        ControllerError(
          .invalidReplicaAssignment,
          "All brokers specified in the manual partition assignment for partition \(id) are fenced or in controlled shutdown."
        ))
    }
    return .success(
      PartitionRecord(
        partitionId: id, topicId: topicId, replicas: replicas, isr: isr, leader: leader,
        leaderEpoch: 0, partitionEpoch: 0))
  }

  /// Records that delete a topic.
  public func deleteTopic(name: String, image: MetadataImage) -> Result<
    [MetadataRecord], ControllerError
  > {
    guard let topic = image.topics[name] else {
      return .failure(
        ControllerError(.unknownTopicOrPartition, "This server does not host this topic-partition.")
      )
    }
    return .success([.removeTopic(RemoveTopicRecord(topicId: topic.id))])
  }

  /// Records that set (value) or remove (nil) configs of a resource.
  public func alterConfigs(
    type: ConfigResourceType, name: String, changes: [String: String?], image: MetadataImage
  ) -> Result<[MetadataRecord], ControllerError> {
    if type == .topic {
      guard image.topics[name] != nil else {
        return .failure(ControllerError(.unknownTopicOrPartition, "Topic \(name) does not exist."))
      }
      if let problem = validateConfigs(changes) {
        return .failure(ControllerError(.invalidConfig, problem))
      }
    }
    return .success(
      changes.sorted { $0.key < $1.key }.map { key, value in
        .config(
          ConfigRecord(resourceType: type.rawValue, resourceName: name, name: key, value: value))
      })
  }

  /// The live (unfenced) brokers with their racks, as replica placement sees them.
  static func placementBrokers(_ image: MetadataImage) -> [ReplicaPlacement.Broker] {
    image.brokers.values.filter(\.isActive).sorted { $0.id < $1.id }.map {
      ReplicaPlacement.Broker(id: $0.id, rack: $0.rack)
    }
  }

  /// Producer ids are handed out in blocks of this many (Kafka's ProducerIdsBlock).
  public static let producerIdBlockSize: Int64 = 1000

  /// The record that gives `brokerId` the next block of producer ids: the block starts at the
  /// image's `nextProducerId`, and the record moves it past the block, so no id is ever handed
  /// out twice, across restarts and controllers.
  public func allocateProducerIds(brokerId: Int32, brokerEpoch: Int64, image: MetadataImage)
    -> Result<[MetadataRecord], ControllerError>
  {
    guard let broker = image.brokers[brokerId], !broker.fenced else {
      return .failure(ControllerError(.staleBrokerEpoch, "Broker \(brokerId) is not registered"))
    }
    let start = image.nextProducerId
    guard start <= Int64.max - Self.producerIdBlockSize else {
      return .failure(ControllerError(.unknownServerError, "Producer ids are exhausted"))
    }
    return .success([
      .producerIds(
        ProducerIdsRecord(
          brokerId: brokerId, brokerEpoch: brokerEpoch,
          nextProducerId: start + Self.producerIdBlockSize))
    ])
  }
}
