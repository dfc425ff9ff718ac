import KafkaProtocol
import Logging
import NIOCore

/// What the connection does with one frame.
enum Dispatched {
  case response([ResponsePart])
  case deferred(EventLoopFuture<[ResponsePart]>)
  case noResponse
  case close(String)
}

/// Reads a request frame's header, checks the API and version against what Skein serves,
/// decodes the body and routes it to the handler of its API family.
final class RequestDispatcher: Sendable {
  let handlers: BrokerHandlers

  init(handlers: BrokerHandlers) {
    self.handlers = handlers
  }

  func dispatch(frame: ByteBuffer, remoteAddress: String, eventLoop: any EventLoop) -> Dispatched {
    var body = frame
    guard let rawKey = frame.getInteger(at: frame.readerIndex, as: Int16.self),
      let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self),
      let correlationId = frame.getInteger(at: frame.readerIndex + 4, as: Int32.self)
    else { return .close("request of \(frame.readableBytes) bytes is shorter than a header") }
    guard let apiKey = ApiKey(rawValue: rawKey), let served = SupportedApis.versions[apiKey] else {
      return .close("unknown or unsupported API key \(rawKey)")
    }
    guard served.contains(version) else {
      if apiKey == .apiVersions {
        // KIP-511: answer in a v0 body so the client can pick a version it shares with us.
        let response = ApiVersionsResponse(
          errorCode: ErrorCode.unsupportedVersion.rawValue,
          apiKeys: SupportedApis.apiVersionsEntries)
        return .response([
          .bytes(Self.encode(response, apiKey: apiKey, version: 0, correlationId: correlationId))
        ])
      }
      return .close("\(apiKey.name) v\(version) is not supported (serving \(served))")
    }
    let header: RequestHeader
    do {
      header = try RequestHeader(from: &body, version: apiKey.isFlexible(version) ? 2 : 1)
    } catch {
      return .close("undecodable \(apiKey.name) v\(version) request header: \(error)")
    }
    let context = RequestContext(
      apiKey: apiKey, apiVersion: version, correlationId: correlationId, clientId: header.clientId,
      remoteAddress: remoteAddress, eventLoop: eventLoop)
    let h = handlers
    switch apiKey {
    case .apiVersions: return run(ApiVersionsRequest.self, &body, context, h.apiVersions)
    case .metadata: return run(MetadataRequest.self, &body, context, h.metadata)
    case .produce: return run(ProduceRequest.self, &body, context, h.produce)
    case .fetch: return runFetch(&body, context)
    case .listOffsets: return run(ListOffsetsRequest.self, &body, context, h.listOffsets)
    case .createTopics: return run(CreateTopicsRequest.self, &body, context, h.createTopics)
    case .deleteTopics: return run(DeleteTopicsRequest.self, &body, context, h.deleteTopics)
    case .createPartitions:
      return run(CreatePartitionsRequest.self, &body, context, h.createPartitions)
    case .deleteRecords: return run(DeleteRecordsRequest.self, &body, context, h.deleteRecords)
    case .describeConfigs:
      return run(DescribeConfigsRequest.self, &body, context, h.describeConfigs)
    case .alterConfigs: return run(AlterConfigsRequest.self, &body, context, h.alterConfigs)
    case .incrementalAlterConfigs:
      return run(IncrementalAlterConfigsRequest.self, &body, context, h.incrementalAlterConfigs)
    case .describeCluster:
      return run(DescribeClusterRequest.self, &body, context, h.describeCluster)
    case .describeLogDirs:
      return run(DescribeLogDirsRequest.self, &body, context, h.describeLogDirs)
    case .findCoordinator:
      return run(FindCoordinatorRequest.self, &body, context, h.findCoordinator)
    case .joinGroup: return run(JoinGroupRequest.self, &body, context, h.joinGroup)
    case .syncGroup: return run(SyncGroupRequest.self, &body, context, h.syncGroup)
    case .heartbeat: return run(HeartbeatRequest.self, &body, context, h.heartbeat)
    case .leaveGroup: return run(LeaveGroupRequest.self, &body, context, h.leaveGroup)
    case .offsetCommit: return run(OffsetCommitRequest.self, &body, context, h.offsetCommit)
    case .offsetFetch: return run(OffsetFetchRequest.self, &body, context, h.offsetFetch)
    case .offsetDelete: return run(OffsetDeleteRequest.self, &body, context, h.offsetDelete)
    case .listGroups: return run(ListGroupsRequest.self, &body, context, h.listGroups)
    case .describeGroups: return run(DescribeGroupsRequest.self, &body, context, h.describeGroups)
    case .deleteGroups: return run(DeleteGroupsRequest.self, &body, context, h.deleteGroups)
    case .consumerGroupHeartbeat:
      return run(ConsumerGroupHeartbeatRequest.self, &body, context, h.consumerGroupHeartbeat)
    case .consumerGroupDescribe:
      return run(ConsumerGroupDescribeRequest.self, &body, context, h.consumerGroupDescribe)
    case .initProducerId: return run(InitProducerIdRequest.self, &body, context, h.initProducerId)
    case .describeProducers:
      return run(DescribeProducersRequest.self, &body, context, h.describeProducers)
    default:
      return .close("\(apiKey.name) is advertised but has no handler")
    }
  }

  private func run<R: KafkaRequestMessage>(
    _: R.Type, _ body: inout ByteBuffer, _ context: RequestContext,
    _ handler: (R, RequestContext) -> Reply<R.Response>
  ) -> Dispatched {
    let request: R
    do {
      request = try R(from: &body, version: context.apiVersion)
    } catch {
      return .close("undecodable \(context.apiKey.name) v\(context.apiVersion) request: \(error)")
    }
    switch handler(request, context) {
    case .now(let response):
      return .response([
        .bytes(
          Self.encode(
            response, apiKey: context.apiKey, version: context.apiVersion,
            correlationId: context.correlationId))
      ])
    case .none:
      return .noResponse
    case .later(let future):
      return .deferred(
        future.map { response in
          [
            .bytes(
              Self.encode(
                response, apiKey: context.apiKey, version: context.apiVersion,
                correlationId: context.correlationId))
          ]
        })
    }
  }

  /// Fetch answers keep their records in the segment files until the socket write.
  private func runFetch(_ body: inout ByteBuffer, _ context: RequestContext) -> Dispatched {
    let request: FetchRequest
    do {
      request = try FetchRequest(from: &body, version: context.apiVersion)
    } catch {
      return .close("undecodable Fetch v\(context.apiVersion) request: \(error)")
    }
    let encode: @Sendable (FileBackedFetchResponse) -> [ResponsePart] = { result in
      let framed = Self.encode(
        result.response, apiKey: .fetch, version: context.apiVersion,
        correlationId: context.correlationId)
      return ZeroCopyFetchEncoder.parts(
        framed: framed, slices: result.slices, compact: ApiKey.fetch.isFlexible(context.apiVersion))
    }
    switch handlers.fetch(request, context) {
    case .now(let result): return .response(encode(result))
    case .later(let future): return .deferred(future.map(encode))
    case .none: return .noResponse
    }
  }

  /// Frames a response: size, response header (v1 for flexible versions, except ApiVersions),
  /// then the body.
  static func encode<M: KafkaMessage>(
    _ response: M, apiKey: ApiKey, version: Int16, correlationId: Int32
  ) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: 256)
    buffer.writeInteger(Int32(0))
    buffer.writeInteger(correlationId)
    if apiKey != .apiVersions && apiKey.isFlexible(version) {
      buffer.writeUnsignedVarint(0)
    }
    response.encode(to: &buffer, version: version)
    buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
    return buffer
  }
}
