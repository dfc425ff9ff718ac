import KafkaProtocol
import Logging
import NIOCore
import SkeinCluster
import SkeinStorage

/// The controller listener's router (Kafka's ControllerApis): broker registration and
/// heartbeats, ISR changes, producer id blocks, the metadata log for brokers to fetch, and the
/// admin requests that change the cluster, forwarded by brokers or sent directly.
struct ControllerApis: ApiRouter {
  let controller: ControllerRuntime
  /// The admin handlers: they decide through `controller`.
  let handlers: BrokerHandlers
  /// This node's id and controller listener address (DescribeCluster of controllers, KIP-919).
  let nodeId: Int32
  let advertised: (host: String, port: Int)

  static let versions: [ApiKey: ClosedRange<Int16>] = [
    .apiVersions: 0...4,
    .fetch: 4...17,
    .createTopics: 0...7,
    .deleteTopics: 0...6,
    .createPartitions: 0...3,
    .alterConfigs: 0...2,
    .incrementalAlterConfigs: 0...1,
    .brokerRegistration: 0...4,
    .brokerHeartbeat: 0...1,
    .alterPartition: 0...3,
    .allocateProducerIds: 0...0,
    .describeCluster: 0...1,
    .electLeaders: 0...2,
  ]

  /// KRaft's fixed id of the metadata topic (`Uuid.METADATA_TOPIC_ID`).
  static let metadataTopicId = KafkaUuid(high: 0, low: 1)

  var supportedApis: [ApiKey: ClosedRange<Int16>] { Self.versions }

  func route(_ body: inout ByteBuffer, _ context: RequestContext) -> Dispatched {
    typealias D = RequestDispatcher
    let h = handlers
    switch context.apiKey {
    case .apiVersions:
      return D.run(ApiVersionsRequest.self, &body, context) { _, _ in
        .now(ApiVersionsResponse(errorCode: 0, apiKeys: apiVersionsEntries))
      }
    case .fetch:
      return D.run(FetchRequest.self, &body, context, fetchMetadata)
    case .createTopics: return D.run(CreateTopicsRequest.self, &body, context, h.createTopics)
    case .deleteTopics: return D.run(DeleteTopicsRequest.self, &body, context, h.deleteTopics)
    case .createPartitions:
      return D.run(CreatePartitionsRequest.self, &body, context, h.createPartitions)
    case .alterConfigs: return D.run(AlterConfigsRequest.self, &body, context, h.alterConfigs)
    case .incrementalAlterConfigs:
      return D.run(IncrementalAlterConfigsRequest.self, &body, context, h.incrementalAlterConfigs)
    case .brokerRegistration:
      return D.run(BrokerRegistrationRequest.self, &body, context, controller.registerBroker)
    case .brokerHeartbeat:
      return D.run(BrokerHeartbeatRequest.self, &body, context, controller.brokerHeartbeat)
    case .alterPartition:
      return D.run(AlterPartitionRequest.self, &body, context, controller.alterPartition)
    case .allocateProducerIds:
      return D.run(AllocateProducerIdsRequest.self, &body, context, controller.allocateProducerIds)
    case .electLeaders:
      return D.run(ElectLeadersRequest.self, &body, context, controller.electLeaders)
    case .describeCluster:
      return D.run(DescribeClusterRequest.self, &body, context) { _, _ in
        // The controllers (this one): how a joining broker learns the cluster id and who
        // the controller is.
        .now(
          DescribeClusterResponse(
            errorCode: 0, endpointType: 2, clusterId: controller.clusterId, controllerId: nodeId,
            brokers: [
              .init(
                brokerId: nodeId, host: advertised.host, port: Int32(advertised.port), rack: nil)
            ]))
      }
    default:
      return .close("\(context.apiKey.name) is not served on the controller listener")
    }
  }

  /// A broker following the metadata log: the batches from its fetch offset, long-polling
  /// `max_wait_ms` when there is nothing new. The whole log is committed (one controller,
  /// every append flushed), so the high watermark is the log end.
  private func fetchMetadata(_ request: FetchRequest, _ context: RequestContext)
    -> Reply<FetchResponse>
  {
    let log = controller.log
    let version = context.apiVersion
    let wanted = request.topics.first { topic in
      version >= 13
        ? topic.topicId == Self.metadataTopicId : topic.topic == MetadataLog.topicPartition.topic
    }
    guard let wanted, let partition = wanted.partitions.first, partition.partition == 0 else {
      return .now(
        FetchResponse(
          errorCode: 0, sessionId: 0,
          responses: request.topics.map { topic in
            .init(
              topic: topic.topic, topicId: topic.topicId,
              partitions: topic.partitions.map {
                .init(
                  partitionIndex: $0.partition,
                  errorCode: ErrorCode.unknownTopicOrPartition.rawValue, records: ByteBuffer())
              })
          }))
    }
    @Sendable func answer() -> (FetchResponse, Bool) {
      var data = FetchResponse.PartitionData(
        partitionIndex: 0, highWatermark: log.logEndOffset, lastStableOffset: log.logEndOffset,
        logStartOffset: log.logStartOffset, preferredReadReplica: -1, records: ByteBuffer())
      var hasData = false
      if partition.fetchOffset > log.logEndOffset || partition.fetchOffset < log.logStartOffset {
        data.errorCode = ErrorCode.offsetOutOfRange.rawValue
        hasData = true
      } else if partition.fetchOffset < log.logEndOffset {
        do {
          let read = try log.read(
            offset: partition.fetchOffset, maxBytes: Int(max(partition.partitionMaxBytes, 1)),
            minOneBatch: true)
          data.records = try read.readBytes()
          hasData = (data.records?.readableBytes ?? 0) > 0
        } catch {
          data.errorCode = error.errorCode.rawValue
          hasData = true
        }
      }
      let response = FetchResponse(
        errorCode: 0, sessionId: 0,
        responses: [.init(topic: wanted.topic, topicId: wanted.topicId, partitions: [data])])
      return (response, hasData)
    }
    let (first, hasData) = answer()
    if hasData || request.maxWaitMs <= 0 { return .now(first) }
    let promise = context.eventLoop.makePromise(of: FetchResponse.self)
    let waiters = controller.metadataWaiters
    let id = waiters.register(partitions: [MetadataLog.topicPartition]) {
      promise.succeed(answer().0)
    }
    // An append between the first read and the registration is caught by reading again.
    let (second, nowHasData) = answer()
    if nowHasData {
      if waiters.cancel(id) { promise.succeed(second) }
    } else {
      context.eventLoop.scheduleTask(in: .milliseconds(Int64(request.maxWaitMs))) {
        if waiters.cancel(id) { promise.succeed(answer().0) }
      }
    }
    return .later(promise.futureResult)
  }
}
