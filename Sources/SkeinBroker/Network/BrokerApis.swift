import KafkaProtocol
import NIOCore

/// The client listener's router: every API a broker serves, to the handler of its family.
/// On a node without the controller role, the admin APIs that change the cluster are relayed to
/// the controller as they came (Kafka's broker forwards them too) and its answer is relayed back.
struct BrokerApis: ApiRouter {
  let handlers: BrokerHandlers
  /// Set on nodes that are not the controller: where cluster changes are sent.
  let forwarding: (any ControllerChannel)?

  /// The APIs that change the cluster's metadata, decided by the controller.
  static let controllerApis: Set<ApiKey> = [
    .createTopics, .deleteTopics, .createPartitions, .alterConfigs, .incrementalAlterConfigs,
    .electLeaders,
  ]

  var supportedApis: [ApiKey: ClosedRange<Int16>] { SupportedApis.versions }

  func route(_ body: inout ByteBuffer, _ context: RequestContext) -> Dispatched {
    typealias D = RequestDispatcher
    if let forwarding, Self.controllerApis.contains(context.apiKey) {
      return forward(body, context, to: forwarding)
    }
    let h = handlers
    switch context.apiKey {
    case .apiVersions: return D.run(ApiVersionsRequest.self, &body, context, h.apiVersions)
    case .metadata: return D.run(MetadataRequest.self, &body, context, h.metadata)
    case .produce: return D.run(ProduceRequest.self, &body, context, h.produce)
    case .fetch: return D.runFetch(&body, context, h.fetch)
    case .listOffsets: return D.run(ListOffsetsRequest.self, &body, context, h.listOffsets)
    case .createTopics: return D.run(CreateTopicsRequest.self, &body, context, h.createTopics)
    case .deleteTopics: return D.run(DeleteTopicsRequest.self, &body, context, h.deleteTopics)
    case .createPartitions:
      return D.run(CreatePartitionsRequest.self, &body, context, h.createPartitions)
    case .deleteRecords: return D.run(DeleteRecordsRequest.self, &body, context, h.deleteRecords)
    case .describeConfigs:
      return D.run(DescribeConfigsRequest.self, &body, context, h.describeConfigs)
    case .alterConfigs: return D.run(AlterConfigsRequest.self, &body, context, h.alterConfigs)
    case .incrementalAlterConfigs:
      return D.run(IncrementalAlterConfigsRequest.self, &body, context, h.incrementalAlterConfigs)
    case .describeCluster:
      return D.run(DescribeClusterRequest.self, &body, context, h.describeCluster)
    case .describeLogDirs:
      return D.run(DescribeLogDirsRequest.self, &body, context, h.describeLogDirs)
    case .findCoordinator:
      return D.run(FindCoordinatorRequest.self, &body, context, h.findCoordinator)
    case .joinGroup: return D.run(JoinGroupRequest.self, &body, context, h.joinGroup)
    case .syncGroup: return D.run(SyncGroupRequest.self, &body, context, h.syncGroup)
    case .heartbeat: return D.run(HeartbeatRequest.self, &body, context, h.heartbeat)
    case .leaveGroup: return D.run(LeaveGroupRequest.self, &body, context, h.leaveGroup)
    case .offsetCommit: return D.run(OffsetCommitRequest.self, &body, context, h.offsetCommit)
    case .offsetFetch: return D.run(OffsetFetchRequest.self, &body, context, h.offsetFetch)
    case .offsetDelete: return D.run(OffsetDeleteRequest.self, &body, context, h.offsetDelete)
    case .listGroups: return D.run(ListGroupsRequest.self, &body, context, h.listGroups)
    case .describeGroups:
      return D.run(DescribeGroupsRequest.self, &body, context, h.describeGroups)
    case .deleteGroups: return D.run(DeleteGroupsRequest.self, &body, context, h.deleteGroups)
    case .consumerGroupHeartbeat:
      return D.run(ConsumerGroupHeartbeatRequest.self, &body, context, h.consumerGroupHeartbeat)
    case .consumerGroupDescribe:
      return D.run(ConsumerGroupDescribeRequest.self, &body, context, h.consumerGroupDescribe)
    case .initProducerId:
      return D.run(InitProducerIdRequest.self, &body, context, h.initProducerId)
    case .describeProducers:
      return D.run(DescribeProducersRequest.self, &body, context, h.describeProducers)
    case .electLeaders:
      // Only on the controller node: elsewhere it was forwarded above.
      guard let controller = h.localController else {
        return .close("ElectLeaders needs the controller")
      }
      return D.run(ElectLeadersRequest.self, &body, context, controller.electLeaders)
    case .offsetForLeaderEpoch:
      return D.run(OffsetForLeaderEpochRequest.self, &body, context, h.offsetForLeaderEpoch)
    default:
      return .close("\(context.apiKey.name) is advertised but has no handler")
    }
  }

  /// Relays the request body to the controller and its answer back under the client's
  /// correlation id. A controller that cannot be reached closes this client's connection
  /// (it reconnects and retries, as after any broker failure).
  private func forward(
    _ body: ByteBuffer, _ context: RequestContext, to controller: any ControllerChannel
  ) -> Dispatched {
    let promise = context.eventLoop.makePromise(of: [ResponsePart].self)
    let api = context.apiKey
    let version = context.apiVersion
    let correlationId = context.correlationId
    promise.completeWithTask {
      let answer = try await controller.sendEncoded(api: api, version: version, body: body)
      Self.countErrors(relayed: answer, context)
      return [
        .bytes(
          RequestDispatcher.frame(
            encodedBody: answer, apiKey: api, version: version, correlationId: correlationId))
      ]
    }
    return .deferred(promise.futureResult)
  }

  /// Counts the error codes of the controller's answer under the client's request, reading it
  /// as its response type (the admin APIs relayed are rare; their answers are small).
  static func countErrors(relayed answer: ByteBuffer, _ context: RequestContext) {
    guard let metrics = context.metrics else { return }
    func count<R: KafkaResponseMessage>(_: R.Type) {
      var body = answer
      guard let response = try? R(from: &body, version: context.apiVersion) else { return }
      metrics.responded(response, version: context.apiVersion)
    }
    switch context.apiKey {
    case .createTopics: count(CreateTopicsResponse.self)
    case .deleteTopics: count(DeleteTopicsResponse.self)
    case .createPartitions: count(CreatePartitionsResponse.self)
    case .alterConfigs: count(AlterConfigsResponse.self)
    case .incrementalAlterConfigs: count(IncrementalAlterConfigsResponse.self)
    case .electLeaders: count(ElectLeadersResponse.self)
    default: break
    }
  }
}
