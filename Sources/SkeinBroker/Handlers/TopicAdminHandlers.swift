import KafkaProtocol
import SkeinCluster
import SkeinStorage

// CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords.

extension BrokerHandlers {
  func createTopics(_ request: CreateTopicsRequest, _ context: RequestContext) -> Reply<
    CreateTopicsResponse
  > {
    var results: [CreateTopicsResponse.CreatableTopicResult] = []
    var seen: [String: Int] = [:]
    for topic in request.topics { seen[topic.name, default: 0] += 1 }
    for topic in request.topics {
      var result = CreateTopicsResponse.CreatableTopicResult(name: topic.name, errorMessage: nil)
      if seen[topic.name, default: 0] > 1 {
        result.errorCode = ErrorCode.invalidRequest.rawValue
        result.errorMessage =
          "Create topics request from client contains duplicate topic \(topic.name)"
        results.append(result)
        continue
      }
      let partitions =
        topic.numPartitions == -1 && topic.assignments.isEmpty
        ? config.defaultPartitions : topic.numPartitions
      let replication =
        topic.replicationFactor == -1 && topic.assignments.isEmpty
        ? config.defaultReplicationFactor : topic.replicationFactor
      var configs: [String: String] = [:]
      for c in topic.configs {
        if let value = c.value { configs[c.name] = value }
      }
      var assignments: [Int32: [Int32]] = [:]
      for a in topic.assignments { assignments[a.partitionIndex] = a.brokerIds }
      let decide = { (image: MetadataImage) in
        self.decisions.createTopic(
          name: topic.name, partitions: partitions, replicationFactor: replication,
          assignments: assignments, configs: configs, image: image)
      }
      let outcome: Result<MetadataImage, ControllerError>
      if request.validateOnly {
        outcome = decide(metadata.image).map { _ in metadata.image }
      } else {
        outcome = performOnController(decide)
      }
      switch outcome {
      case .failure(let error):
        result.errorCode = error.code.rawValue
        result.errorMessage = error.message
      case .success(let image):
        let created = image.topics[topic.name]
        result.topicId = created?.id ?? .zero
        result.numPartitions =
          request.validateOnly ? partitions : Int32(created?.partitions.count ?? 0)
        result.replicationFactor =
          request.validateOnly
          ? replication : Int16(created?.partitions.first?.replicas.count ?? 0)
        let logConfig = replicaManager.logConfig(for: topic.name, image: image)
        result.configs = describeTopicConfigs(
          topic.name, config: logConfig,
          overrides: request.validateOnly ? configs : image.topicConfigs(topic.name)
        ).map {
          .init(
            name: $0.name, value: $0.value, readOnly: $0.readOnly, configSource: $0.configSource,
            isSensitive: false)
        }
      }
      results.append(result)
    }
    return .now(CreateTopicsResponse(topics: results))
  }

  func deleteTopics(_ request: DeleteTopicsRequest, _ context: RequestContext) -> Reply<
    DeleteTopicsResponse
  > {
    var targets: [(name: String?, id: KafkaUuid)] = request.topicNames.map { ($0, .zero) }
    targets += request.topics.map { ($0.name, $0.topicId) }
    guard config.bool("delete.topic.enable") else {
      return .now(
        DeleteTopicsResponse(
          responses: targets.map {
            .init(
              name: $0.name, topicId: $0.id, errorCode: ErrorCode.topicDeletionDisabled.rawValue)
          }))
    }
    let results = targets.map { target -> DeleteTopicsResponse.DeletableTopicResult in
      let image = metadata.image
      let name = target.name ?? image.topicNamesById[target.id]
      guard let name else {
        return .init(
          name: nil, topicId: target.id, errorCode: ErrorCode.unknownTopicId.rawValue,
          errorMessage: "Topic id \(target.id) does not exist.")
      }
      let id = image.topics[name]?.id ?? target.id
      if name == GroupCoordinatorRuntime.topic {
        return .init(
          name: name, topicId: id, errorCode: ErrorCode.invalidRequest.rawValue,
          errorMessage: "Topic \(name) is an internal topic and cannot be deleted.")
      }
      switch performOnController({ decisions.deleteTopic(name: name, image: $0) }) {
      case .success:
        return .init(name: name, topicId: id, errorCode: 0)
      case .failure(let error):
        return .init(
          name: name, topicId: id, errorCode: error.code.rawValue, errorMessage: error.message)
      }
    }
    return .now(DeleteTopicsResponse(responses: results))
  }

  func createPartitions(_ request: CreatePartitionsRequest, _ context: RequestContext) -> Reply<
    CreatePartitionsResponse
  > {
    let results = request.topics.map {
      topic -> CreatePartitionsResponse.CreatePartitionsTopicResult in
      let assignments = topic.assignments.flatMap { $0.isEmpty ? nil : $0.map(\.brokerIds) }
      let decide = { (image: MetadataImage) in
        self.decisions.createPartitions(
          topic: topic.name, count: topic.count, assignments: assignments, image: image)
      }
      let outcome =
        request.validateOnly
        ? decide(metadata.image).map { _ in metadata.image } : performOnController(decide)
      switch outcome {
      case .success: return .init(name: topic.name, errorCode: 0)
      case .failure(let error):
        return .init(name: topic.name, errorCode: error.code.rawValue, errorMessage: error.message)
      }
    }
    return .now(CreatePartitionsResponse(results: results))
  }

  func deleteRecords(_ request: DeleteRecordsRequest, _ context: RequestContext) -> Reply<
    DeleteRecordsResponse
  > {
    .now(
      DeleteRecordsResponse(
        topics: request.topics.map { topic in
          .init(
            name: topic.name,
            partitions: topic.partitions.map { p in
              var result = DeleteRecordsResponse.DeleteRecordsPartitionResult(
                partitionIndex: p.partitionIndex, lowWatermark: -1)
              guard
                let partition = replicaManager.partition(
                  TopicPartition(topic.name, p.partitionIndex))
              else {
                result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
                return result
              }
              // -1 means "up to the high watermark".
              let target = p.offset == -1 ? partition.highWatermark : p.offset
              guard target >= 0, target <= partition.highWatermark else {
                result.errorCode = ErrorCode.offsetOutOfRange.rawValue
                return result
              }
              do throws(StorageError) {
                result.lowWatermark = try partition.log.deleteRecordsBefore(target)
              } catch {
                result.errorCode = error.errorCode.rawValue
              }
              return result
            })
        }))
  }
}
