import KafkaProtocol
import SkeinCluster

// ApiVersions, Metadata and DescribeCluster: how clients learn what this cluster is.

extension BrokerHandlers {
  func apiVersions(_ request: ApiVersionsRequest, _ context: RequestContext) -> Reply<
    ApiVersionsResponse
  > {
    .now(ApiVersionsResponse(errorCode: 0, apiKeys: SupportedApis.apiVersionsEntries))
  }

  func metadata(_ request: MetadataRequest, _ context: RequestContext) -> Reply<MetadataResponse> {
    var image = metadata.image
    var topics: [MetadataResponse.MetadataResponseTopic] = []
    // v0 sends an empty list to mean "all topics"; later versions send null for that.
    let requested = request.topics
    let all = requested == nil || (context.apiVersion == 0 && requested?.isEmpty == true)
    if all {
      for name in image.topics.keys.sorted() {
        if let topic = image.topics[name] {
          topics.append(describe(topic, version: context.apiVersion))
        }
      }
    } else {
      let autoCreate =
        config.autoCreateTopics && (context.apiVersion < 4 || request.allowAutoTopicCreation)
      for wanted in requested ?? [] {
        var name = wanted.name
        if name == nil || name?.isEmpty == true, wanted.topicId != .zero {
          name = image.topicNamesById[wanted.topicId]
          if name == nil {
            topics.append(
              .init(
                errorCode: ErrorCode.unknownTopicId.rawValue, name: nil, topicId: wanted.topicId))
            continue
          }
        }
        guard let name else { continue }
        if let topic = image.topics[name] {
          topics.append(describe(topic, version: context.apiVersion))
          continue
        }
        if autoCreate {
          switch autoCreateTopic(name) {
          case .success(let updated):
            image = updated
            if let topic = image.topics[name] {
              topics.append(describe(topic, version: context.apiVersion))
              continue
            }
          case .failure(let error):
            topics.append(.init(errorCode: error.code.rawValue, name: name))
            continue
          }
        }
        topics.append(.init(errorCode: ErrorCode.unknownTopicOrPartition.rawValue, name: name))
      }
    }
    return .now(
      MetadataResponse(
        // Fenced brokers are left out, as Kafka does: clients cannot use them.
        brokers: image.brokers.values.filter { !$0.fenced }.sorted { $0.id < $1.id }.map {
          .init(nodeId: $0.id, host: $0.host, port: $0.port, rack: $0.rack)
        },
        clusterId: clusterId, controllerId: controllerIdForClients(image), topics: topics))
  }

  private func describe(_ topic: TopicInfo, version: Int16)
    -> MetadataResponse.MetadataResponseTopic
  {
    MetadataResponse.MetadataResponseTopic(
      errorCode: 0, name: topic.name, topicId: topic.id,
      isInternal: topic.name == GroupCoordinatorRuntime.topic,
      partitions: topic.partitions.map { p in
        .init(
          errorCode: 0, partitionIndex: p.partition, leaderId: p.leader, leaderEpoch: p.leaderEpoch,
          replicaNodes: p.replicas, isrNodes: p.isr, offlineReplicas: [])
      })
  }

  func describeCluster(_ request: DescribeClusterRequest, _ context: RequestContext) -> Reply<
    DescribeClusterResponse
  > {
    let image = metadata.image
    if request.endpointType != 1 {
      return .now(
        DescribeClusterResponse(
          errorCode: ErrorCode.unsupportedEndpointType.rawValue,
          errorMessage: "Only brokers can be described (endpoint type 1).",
          endpointType: request.endpointType, clusterId: clusterId))
    }
    return .now(
      DescribeClusterResponse(
        errorCode: 0, endpointType: 1, clusterId: clusterId,
        controllerId: controllerIdForClients(image),
        brokers: image.brokers.values.filter { !$0.fenced }.sorted { $0.id < $1.id }.map {
          .init(brokerId: $0.id, host: $0.host, port: $0.port, rack: $0.rack)
        }))
  }
}
