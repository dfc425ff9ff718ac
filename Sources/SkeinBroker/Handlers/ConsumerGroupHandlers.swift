import KafkaProtocol
import NIOCore
import SkeinCluster
import SkeinCoordinator

// The consumer group protocol (KIP-848): ConsumerGroupHeartbeat and ConsumerGroupDescribe.

extension BrokerHandlers {
  func consumerGroupHeartbeat(_ request: ConsumerGroupHeartbeatRequest, _ context: RequestContext)
    -> Reply<ConsumerGroupHeartbeatResponse>
  {
    let now = currentTimeMillis()
    let version = context.apiVersion
    let clientId = context.clientId ?? ""
    let host = Self.clientHost(context.remoteAddress)
    var topics: [String: ConsumerTopic] = [:]
    for (name, topic) in metadata.image.topics {
      topics[name] = ConsumerTopic(id: topic.id, partitionCount: Int32(topic.partitions.count))
    }
    return groupCoordinator.execute(groupId: request.groupId, on: context.eventLoop) { s, _ in
      let r = s.consumerGroupHeartbeat(
        request, version: version, clientId: clientId, clientHost: host, topics: topics, now: now)
      return (r.output, r.response)
    }
    .reply { result in
      switch result {
      case .success(let response): response
      case .failure(let code): ConsumerGroupHeartbeatResponse(errorCode: code.rawValue)
      }
    }
  }

  func consumerGroupDescribe(_ request: ConsumerGroupDescribeRequest, _ context: RequestContext)
    -> Reply<ConsumerGroupDescribeResponse>
  {
    let loading = ErrorCode.coordinatorLoadInProgress.rawValue
    return answerWhenLoaded(on: context.eventLoop) { [self] in
      let response = describeConsumerGroups(request)
      return (response, response.groups.contains { $0.errorCode == loading })
    }
  }

  /// Answers once `attempt` no longer meets a loading coordinator (retried every 20 ms, at most
  /// 5 s, then as it is). librdkafka's admin client does not retry ListGroups and
  /// ConsumerGroupDescribe on COORDINATOR_LOAD_IN_PROGRESS, and a fresh `__consumer_offsets` is
  /// still loading right after the FindCoordinator that created it.
  func answerWhenLoaded<R: Sendable>(
    on eventLoop: any EventLoop, _ attempt: @escaping @Sendable () -> (R, Bool)
  ) -> Reply<R> {
    let (first, loading) = attempt()
    guard loading else { return .now(first) }
    let promise = eventLoop.makePromise(of: R.self)
    let deadline = currentTimeMillis() + 5000
    @Sendable func retry() {
      eventLoop.scheduleTask(in: .milliseconds(20)) {
        let (response, loading) = attempt()
        if loading && currentTimeMillis() < deadline {
          retry()
        } else {
          promise.succeed(response)
        }
      }
    }
    retry()
    return .later(promise.futureResult)
  }

  private func describeConsumerGroups(_ request: ConsumerGroupDescribeRequest)
    -> ConsumerGroupDescribeResponse
  {
    var names: [KafkaUuid: String] = [:]
    for (name, topic) in metadata.image.topics { names[topic.id] = name }
    let include = request.includeAuthorizedOperations
    let groups = request.groupIds.map { groupId -> ConsumerGroupDescribeResponse.DescribedGroup in
      let result = groupCoordinator.shard(for: groupId).flatMap { shard in
        shard.read {
          $0.consumerGroupDescribe(
            groupId, includeAuthorizedOperations: include, topicNames: names)
        }
      }
      switch result {
      case .success(let described): return described
      case .failure(let code): return .init(errorCode: code.rawValue, groupId: groupId)
      }
    }
    return ConsumerGroupDescribeResponse(groups: groups)
  }
}
