import KafkaProtocol
import NIOCore
import SkeinCluster
import SkeinCoordinator

// FindCoordinator and the classic group APIs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
// OffsetCommit, OffsetFetch, OffsetDelete, ListGroups, DescribeGroups, DeleteGroups.

extension BrokerHandlers {
  /// Creates `__consumer_offsets` when the cluster has none (at start-up).
  func createOffsetsTopicIfAbsent() {
    let partitions = Int32(config.int("offsets.topic.num.partitions") ?? 50)
    let wantedReplicas = config.int("offsets.topic.replication.factor") ?? 3
    let segmentBytes = config.string("offsets.topic.segment.bytes") ?? "104857600"
    if let codec = config.int("offsets.topic.compression.codec"), codec != 0 {
      logger.warning(
        "offsets.topic.compression.codec=\(codec): coordinator records are written uncompressed")
    }
    let outcome = createTopicOnController(
      name: GroupCoordinatorRuntime.topic, partitions: partitions,
      replicationFactor: Int16(clamping: wantedReplicas),
      configs: ["cleanup.policy": "compact", "segment.bytes": segmentBytes],
      clampToLiveBrokers: true)
    if case .failure(let error) = outcome, error.code != .leaderNotAvailable {
      logger.error("cannot create \(GroupCoordinatorRuntime.topic): \(error.message)")
    }
  }

  // MARK: FindCoordinator

  /// Answers once every group key's coordinator can serve it, waiting (as `answerWhenLoaded`)
  /// while `__consumer_offsets` is being created or this node's shard is not loaded yet:
  /// librdkafka's admin client gives up after two FindCoordinator retries and then stalls.
  func findCoordinator(_ request: FindCoordinatorRequest, _ context: RequestContext) -> Reply<
    FindCoordinatorResponse
  > {
    let keys = context.apiVersion >= 4 ? request.coordinatorKeys : [request.key]
    let keyType = request.keyType
    if keyType == 0, metadata.image.topics[GroupCoordinatorRuntime.topic] == nil {
      // As Kafka: the offsets topic is created when the first group looks for its coordinator.
      createOffsetsTopicIfAbsent()
    }
    let version = context.apiVersion
    return answerWhenLoaded(on: context.eventLoop) { [self] in
      let found = keys.map { coordinator(for: $0, keyType: keyType) }
      let waiting = found.contains { $0.1 }
      let coordinators = found.map(\.0)
      if version >= 4 { return (FindCoordinatorResponse(coordinators: coordinators), waiting) }
      let c = coordinators.first ?? .init(nodeId: -1, host: "", port: -1)
      return (
        FindCoordinatorResponse(
          errorCode: c.errorCode, errorMessage: c.errorMessage, nodeId: c.nodeId, host: c.host,
          port: c.port), waiting
      )
    }
  }

  /// The coordinator of `key`, and whether it is not available only for now (the offsets topic
  /// or this node's shard of it is still coming up).
  private func coordinator(for key: String, keyType: Int8) -> (
    FindCoordinatorResponse.Coordinator, Bool
  ) {
    var result = FindCoordinatorResponse.Coordinator(
      key: key, nodeId: -1, host: "", port: -1, errorCode: 0, errorMessage: nil)
    func fail(_ code: ErrorCode, _ message: String, transient: Bool = false) -> (
      FindCoordinatorResponse.Coordinator, Bool
    ) {
      result.errorCode = code.rawValue
      result.errorMessage = message
      return (result, transient)
    }
    switch keyType {
    case 0: break
    case 1:
      return fail(.coordinatorNotAvailable, "The coordinator is not available.")
    default:
      return fail(.invalidRequest, "Invalid coordinator type: \(keyType)")
    }
    let image = metadata.image
    let p = groupCoordinator.partition(for: key)
    guard let topic = image.topics[GroupCoordinatorRuntime.topic],
      let info = topic.partitions.first(where: { $0.partition == p }),
      let broker = image.brokers[info.leader], !broker.fenced
    else {
      return fail(.coordinatorNotAvailable, "The coordinator is not available.", transient: true)
    }
    if info.leader == nodeId, (try? groupCoordinator.shard(for: key).get())?.isActive != true {
      return fail(.coordinatorNotAvailable, "The coordinator is not available.", transient: true)
    }
    result.nodeId = broker.id
    result.host = broker.host
    result.port = broker.port
    return (result, false)
  }

  /// Kafka's client host: `/` and the peer's IP address.
  static func clientHost(_ remoteAddress: String) -> String {
    // NIO describes peers as "[IPv4]host/1.2.3.4:port".
    guard let slash = remoteAddress.lastIndex(of: "/"),
      let colon = remoteAddress.lastIndex(of: ":"),
      slash < colon
    else { return remoteAddress }
    return "/" + remoteAddress[remoteAddress.index(after: slash)..<colon]
  }

  // MARK: Membership

  func joinGroup(_ request: JoinGroupRequest, _ context: RequestContext) -> Reply<JoinGroupResponse>
  {
    let version = context.apiVersion
    let shard: CoordinatorShardRuntime
    switch groupCoordinator.shard(for: request.groupId) {
    case .failure(let code):
      return .now(
        GroupCoordinatorShard.joinError(code, memberId: request.memberId, version: version))
    case .success(let s): shard = s
    }
    let promise = context.eventLoop.makePromise(of: JoinGroupResponse.self)
    let clientId = context.clientId ?? ""
    let host = Self.clientHost(context.remoteAddress)
    let now = currentTimeMillis()
    // The promise is completed once the answer's records are committed, or with the error.
    _ = shard.execute(on: context.eventLoop, join: promise) { s, token in
      (
        s.joinGroup(
          request, version: version, clientId: clientId, clientHost: host, token: token, now: now),
        ()
      )
    }
    return .later(promise.futureResult.map { Self.fitJoin($0, version: version) })
  }

  /// Non-nullable in old versions: protocol name "" rather than null.
  private static func fitJoin(_ response: JoinGroupResponse, version: Int16) -> JoinGroupResponse {
    var r = response
    if version < 7 && r.protocolName == nil { r.protocolName = "" }
    return r
  }

  func syncGroup(_ request: SyncGroupRequest, _ context: RequestContext) -> Reply<SyncGroupResponse>
  {
    let version = context.apiVersion
    let shard: CoordinatorShardRuntime
    switch groupCoordinator.shard(for: request.groupId) {
    case .failure(let code): return .now(SyncGroupResponse(errorCode: code.rawValue))
    case .success(let s): shard = s
    }
    let promise = context.eventLoop.makePromise(of: SyncGroupResponse.self)
    let now = currentTimeMillis()
    _ = shard.execute(on: context.eventLoop, sync: promise) { s, token in
      (s.syncGroup(request, version: version, token: token, now: now), ())
    }
    return .later(promise.futureResult)
  }

  func heartbeat(_ request: HeartbeatRequest, _ context: RequestContext) -> Reply<HeartbeatResponse>
  {
    let now = currentTimeMillis()
    // Writes nothing and, as in Kafka, does not wait for the group's pending writes.
    return groupCoordinator.execute(
      groupId: request.groupId, on: context.eventLoop, waitForEarlierWrites: false
    ) { s, _ in (CoordinatorOutput(), s.heartbeat(request, now: now)) }
    .reply { result in
      switch result {
      case .success(let response): response
      case .failure(let code): HeartbeatResponse(errorCode: code.rawValue)
      }
    }
  }

  func leaveGroup(_ request: LeaveGroupRequest, _ context: RequestContext) -> Reply<
    LeaveGroupResponse
  > {
    let version = context.apiVersion
    let now = currentTimeMillis()
    return groupCoordinator.execute(groupId: request.groupId, on: context.eventLoop) { s, _ in
      let r = s.leaveGroup(request, version: version, now: now)
      return (r.output, r.response)
    }
    .reply { result in
      switch result {
      case .success(let response): response
      case .failure(let code): LeaveGroupResponse(errorCode: code.rawValue)
      }
    }
  }

  // MARK: Offsets

  func offsetCommit(_ request: OffsetCommitRequest, _ context: RequestContext) -> Reply<
    OffsetCommitResponse
  > {
    let version = context.apiVersion
    let now = currentTimeMillis()
    let image = metadata.image
    let exists = { (topic: String, partition: Int32) -> Bool in
      guard let t = image.topics[topic] else { return false }
      return partition >= 0 && Int(partition) < t.partitions.count
    }
    return groupCoordinator.execute(groupId: request.groupId, on: context.eventLoop) { s, _ in
      let r = s.commitOffsets(request, version: version, now: now, partitionExists: exists)
      return (r.output, r.response)
    }
    .reply { result in
      switch result {
      case .success(let response): response
      case .failure(let code):
        OffsetCommitResponse(
          topics: request.topics.map { t in
            .init(
              name: t.name,
              partitions: t.partitions.map {
                .init(partitionIndex: $0.partitionIndex, errorCode: code.rawValue)
              })
          })
      }
    }
  }

  func offsetFetch(_ request: OffsetFetchRequest, _ context: RequestContext) -> Reply<
    OffsetFetchResponse
  > {
    typealias Topics = [(name: String, partitions: [Int32])]?
    typealias Found = [(name: String, partitions: [(partition: Int32, value: OffsetCommitValue?)])]
    let version = context.apiVersion
    /// Offsets are answered once the writes they may reflect are committed: a consumer must not
    /// start from an offset a coordinator fail-over loses.
    func fetch(
      _ groupId: String, _ topics: Topics, memberId: String? = nil, memberEpoch: Int32 = -1
    ) -> CoordinatorReply<Result<Found, ErrorCode>> {
      switch groupCoordinator.shard(for: groupId) {
      case .failure(let code): return .now(.failure(code))
      case .success(let shard):
        return shard.readCommitted(on: context.eventLoop) { s in
          if version >= 9,
            let error = s.validateOffsetFetch(
              groupId: groupId, memberId: memberId, memberEpoch: memberEpoch)
          {
            return .failure(error)
          }
          return .success(s.fetchOffsets(groupId: groupId, topics: topics))
        }
      }
    }
    if context.apiVersion >= 8 {
      let groupIds = request.groups.map(\.groupId)
      let replies = request.groups.map { g in
        let topics: Topics = g.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }
        return fetch(g.groupId, topics, memberId: g.memberId, memberEpoch: g.memberEpoch)
      }
      return CoordinatorReply.all(replies, on: context.eventLoop).reply { all in
        let results = (try? all.get()) ?? []
        let groups = zip(groupIds, results).map {
          groupId, result -> OffsetFetchResponse.OffsetFetchResponseGroup in
          switch result.flatMap({ $0 }) {
          case .failure(let code):
            return .init(groupId: groupId, topics: [], errorCode: code.rawValue)
          case .success(let found):
            return .init(
              groupId: groupId,
              topics: found.map { t in
                .init(
                  name: t.name,
                  partitions: t.partitions.map { p in
                    .init(
                      partitionIndex: p.partition, committedOffset: p.value?.offset ?? -1,
                      committedLeaderEpoch: p.value?.leaderEpoch ?? -1,
                      metadata: p.value?.metadata ?? "", errorCode: 0)
                  })
              }, errorCode: 0)
          }
        }
        return OffsetFetchResponse(groups: groups)
      }
    }
    let topics: Topics = request.topics.map { $0.map { ($0.name, $0.partitionIndexes) } }
    return fetch(request.groupId, topics).reply { result in
      switch result.flatMap({ $0 }) {
      case .failure(let code):
        if version >= 2 {
          return OffsetFetchResponse(topics: [], errorCode: code.rawValue)
        }
        // v1 has no top-level error: each partition carries it.
        return OffsetFetchResponse(
          topics: (topics ?? []).map { t in
            .init(
              name: t.name,
              partitions: t.partitions.map {
                .init(
                  partitionIndex: $0, committedOffset: -1, metadata: "", errorCode: code.rawValue)
              })
          })
      case .success(let found):
        return OffsetFetchResponse(
          topics: found.map { t in
            .init(
              name: t.name,
              partitions: t.partitions.map { p in
                .init(
                  partitionIndex: p.partition, committedOffset: p.value?.offset ?? -1,
                  committedLeaderEpoch: p.value?.leaderEpoch ?? -1,
                  metadata: p.value?.metadata ?? "", errorCode: 0)
              })
          }, errorCode: 0)
      }
    }
  }

  func offsetDelete(_ request: OffsetDeleteRequest, _ context: RequestContext) -> Reply<
    OffsetDeleteResponse
  > {
    let now = currentTimeMillis()
    return groupCoordinator.execute(groupId: request.groupId, on: context.eventLoop) { s, _ in
      let r = s.deleteOffsets(request, now: now)
      return (r.output, r.response)
    }
    .reply { result in
      switch result {
      case .success(let response): response
      case .failure(let code): OffsetDeleteResponse(errorCode: code.rawValue)
      }
    }
  }

  // MARK: Group administration

  func listGroups(_ request: ListGroupsRequest, _ context: RequestContext) -> Reply<
    ListGroupsResponse
  > {
    let states = context.apiVersion >= 4 ? request.statesFilter : []
    let types = context.apiVersion >= 5 ? request.typesFilter : []
    return answerWhenLoaded(on: context.eventLoop) { [self] in
      var groups: [ListGroupsResponse.ListedGroup] = []
      var error: ErrorCode = .none
      for shard in groupCoordinator.activeShards {
        switch shard.read({ $0.listGroups(statesFilter: states, typesFilter: types) }) {
        case .success(let listed): groups += listed
        case .failure(let code): error = code
        }
      }
      groups.sort { $0.groupId < $1.groupId }
      return (
        ListGroupsResponse(errorCode: error.rawValue, groups: groups),
        error == .coordinatorLoadInProgress
      )
    }
  }

  func describeGroups(_ request: DescribeGroupsRequest, _ context: RequestContext) -> Reply<
    DescribeGroupsResponse
  > {
    let include = request.includeAuthorizedOperations
    let groups = request.groups.map { groupId -> DescribeGroupsResponse.DescribedGroup in
      let result = groupCoordinator.shard(for: groupId).flatMap { shard in
        shard.read { $0.describeGroup(groupId, includeAuthorizedOperations: include) }
      }
      switch result {
      case .success(let described): return described
      case .failure(let code): return .init(errorCode: code.rawValue, groupId: groupId)
      }
    }
    return .now(DescribeGroupsResponse(groups: groups))
  }

  func deleteGroups(_ request: DeleteGroupsRequest, _ context: RequestContext) -> Reply<
    DeleteGroupsResponse
  > {
    let groupIds = request.groupsNames
    let replies = groupIds.map { groupId in
      groupCoordinator.execute(groupId: groupId, on: context.eventLoop) { s, _ in
        let r = s.deleteGroups([groupId])
        return (r.output, r.response)
      }
    }
    return CoordinatorReply.all(replies, on: context.eventLoop).reply { all in
      let results = (try? all.get()) ?? []
      return DeleteGroupsResponse(
        results: zip(groupIds, results).flatMap {
          groupId, result -> [DeleteGroupsResponse.DeletableGroupResult] in
          switch result {
          case .success(let r): r
          case .failure(let code): [.init(groupId: groupId, errorCode: code.rawValue)]
          }
        })
    }
  }
}
