import Foundation
import KafkaProtocol
import NIOCore

@testable import SkeinClient

/// The fake broker's classic group coordinator: FindCoordinator (itself), JoinGroup with
/// MEMBER_ID_REQUIRED and a rebalance that completes once every member has rejoined, SyncGroup
/// with the leader's assignment, Heartbeat, LeaveGroup, offsets, and the group admin APIs.
/// JoinGroup and SyncGroup answers wait (as a real coordinator's do) through deferred replies.
final class FakeGroupCoordinator: @unchecked Sendable {
  enum State: String {
    case empty = "Empty"
    case preparingRebalance = "PreparingRebalance"
    case completingRebalance = "CompletingRebalance"
    case stable = "Stable"
  }

  struct Member {
    var memberId: String
    var clientId: String
    var clientHost: String
    var protocols: [JoinGroupRequest.JoinGroupRequestProtocol] = []
    var assignment = ByteBuffer()
    var pendingJoin: (version: Int16, promise: EventLoopPromise<ByteBuffer>)?
    var pendingSync: (version: Int16, promise: EventLoopPromise<ByteBuffer>)?
  }

  struct Group {
    var state = State.empty
    var generation: Int32 = 0
    var protocolName: String?
    var leader: String?
    var members: [String: Member] = [:]
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    var pendingMemberIds: Set<String> = []
    var offsets: [TopicPartition: (offset: Int64, metadata: String?)] = [:]
  }

  private let lock = NSLock()
  private var groups: [String: Group] = [:]
  private var injected: [ApiKey: [Int16]] = [:]
  private var joinRequests = 0
  private var commits: [(group: String, generation: Int32, memberId: String)] = []

  private func locked<T>(_ body: () throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  // MARK: Test controls

  /// The next requests of `api` get these error codes (top-level, or on every partition).
  func failNext(_ api: ApiKey, with codes: [ErrorCode]) {
    locked { injected[api, default: []] += codes.map(\.rawValue) }
  }

  func committedOffsets(_ group: String) -> [TopicPartition: Int64] {
    locked { groups[group]?.offsets.mapValues(\.offset) ?? [:] }
  }

  func setCommittedOffset(_ group: String, _ partition: TopicPartition, _ offset: Int64) {
    locked { groups[group, default: Group()].offsets[partition] = (offset, nil) }
  }

  func state(_ group: String) -> State? { locked { groups[group]?.state } }

  func generation(_ group: String) -> Int32 { locked { groups[group]?.generation ?? -1 } }

  func memberIds(_ group: String) -> [String] {
    locked { groups[group]?.members.keys.sorted() ?? [] }
  }

  var joinGroupCount: Int { locked { joinRequests } }

  /// Generation and member id of each OffsetCommit, in order.
  var commitRequests: [(group: String, generation: Int32, memberId: String)] { locked { commits } }

  /// Drops a member, as the end of its session would; its next request gets
  /// UNKNOWN_MEMBER_ID.
  func expireMember(_ group: String, _ memberId: String) {
    locked {
      groups[group]?.members[memberId] = nil
      if groups[group]?.members.isEmpty ?? false { groups[group]?.state = .empty }
    }
  }

  /// Starts a rebalance, as a new member or a changed subscription would.
  func triggerRebalance(_ group: String) {
    locked { prepareRebalance(group) }
  }

  // MARK: Handling

  private func takeInjected(_ api: ApiKey) -> Int16? {
    guard var codes = injected[api], !codes.isEmpty else { return nil }
    let code = codes.removeFirst()
    injected[api] = codes
    return code
  }

  func handle(
    _ api: ApiKey, version: Int16, body: inout ByteBuffer, header: RequestHeader, node: Int32,
    port: Int
  ) throws -> FakeBroker.Reply {
    switch api {
    case .findCoordinator:
      let request = try FindCoordinatorRequest(from: &body, version: version)
      return encode(findCoordinator(request, version: version, node: node, port: port), version)
    case .joinGroup:
      let request = try JoinGroupRequest(from: &body, version: version)
      return locked { joinGroup(request, version: version, clientId: header.clientId ?? "") }
    case .syncGroup:
      let request = try SyncGroupRequest(from: &body, version: version)
      return locked { syncGroup(request, version: version) }
    case .heartbeat:
      let request = try HeartbeatRequest(from: &body, version: version)
      return encode(locked { heartbeat(request) }, version)
    case .leaveGroup:
      let request = try LeaveGroupRequest(from: &body, version: version)
      return encode(locked { leaveGroup(request, version: version) }, version)
    case .offsetCommit:
      let request = try OffsetCommitRequest(from: &body, version: version)
      return encode(locked { offsetCommit(request) }, version)
    case .offsetFetch:
      let request = try OffsetFetchRequest(from: &body, version: version)
      return encode(locked { offsetFetch(request, version: version) }, version)
    case .offsetDelete:
      let request = try OffsetDeleteRequest(from: &body, version: version)
      return encode(locked { offsetDelete(request) }, version)
    case .listGroups:
      _ = try ListGroupsRequest(from: &body, version: version)
      return encode(locked { listGroups() }, version)
    case .describeGroups:
      let request = try DescribeGroupsRequest(from: &body, version: version)
      return encode(locked { describeGroups(request) }, version)
    case .deleteGroups:
      let request = try DeleteGroupsRequest(from: &body, version: version)
      return encode(locked { deleteGroups(request) }, version)
    default:
      return .close
    }
  }

  private func encode<M: KafkaMessage>(_ message: M, _ version: Int16) -> FakeBroker.Reply {
    var buffer = ByteBuffer()
    message.encode(to: &buffer, version: version)
    return .body(buffer)
  }

  private static func bytes<M: KafkaMessage>(_ message: M, _ version: Int16) -> ByteBuffer {
    var buffer = ByteBuffer()
    message.encode(to: &buffer, version: version)
    return buffer
  }

  private func findCoordinator(
    _ request: FindCoordinatorRequest, version: Int16, node: Int32, port: Int
  ) -> FindCoordinatorResponse {
    let code = locked { takeInjected(.findCoordinator) } ?? 0
    var response = FindCoordinatorResponse()
    if version >= 4 {
      response.coordinators = request.coordinatorKeys.map {
        FindCoordinatorResponse.Coordinator(
          key: $0, nodeId: code == 0 ? node : -1, host: code == 0 ? "127.0.0.1" : "",
          port: code == 0 ? Int32(port) : -1, errorCode: code)
      }
    } else {
      response.errorCode = code
      response.nodeId = code == 0 ? node : -1
      response.host = code == 0 ? "127.0.0.1" : ""
      response.port = code == 0 ? Int32(port) : -1
    }
    return response
  }

  // MARK: Membership

  private func joinGroup(
    _ request: JoinGroupRequest, version: Int16, clientId: String
  ) -> FakeBroker.Reply {
    joinRequests += 1
    if let code = takeInjected(.joinGroup) {
      return encode(JoinGroupResponse(errorCode: code, generationId: -1), version)
    }
    var group = groups[request.groupId] ?? Group()
    var memberId = request.memberId
    if memberId.isEmpty {
      memberId = "\(clientId)-\(UUID().uuidString.lowercased())"
      if version >= 4 {
        group.pendingMemberIds.insert(memberId)
        groups[request.groupId] = group
        return encode(
          JoinGroupResponse(
            errorCode: ErrorCode.memberIdRequired.rawValue, generationId: -1, memberId: memberId),
          version)
      }
    } else if group.members[memberId] == nil, !group.pendingMemberIds.contains(memberId) {
      return encode(
        JoinGroupResponse(errorCode: ErrorCode.unknownMemberId.rawValue, generationId: -1),
        version)
    }
    group.pendingMemberIds.remove(memberId)
    let groupId = request.groupId
    groups[groupId] = group
    let protocols = request.protocols
    return deferred { [self] promise in
      var group = groups[groupId] ?? Group()
      var member =
        group.members[memberId]
        ?? Member(memberId: memberId, clientId: clientId, clientHost: "/127.0.0.1")
      member.protocols = protocols
      member.pendingJoin = (version, promise)
      group.members[memberId] = member
      groups[groupId] = group
      if group.state != .preparingRebalance { prepareRebalance(groupId) }
      maybeCompleteJoin(groupId)
    }
  }

  /// A reply written once `body` (run under the lock) or a later call completes the promise.
  private func deferred(
    _ body: @escaping (EventLoopPromise<ByteBuffer>) -> Void
  ) -> FakeBroker.Reply {
    .deferred { [self] promise in locked { body(promise) } }
  }

  private func prepareRebalance(_ groupId: String) {
    guard var group = groups[groupId] else { return }
    group.state = .preparingRebalance
    // Members waiting in SyncGroup learn that a new round started.
    for (id, member) in group.members {
      if let sync = member.pendingSync {
        sync.promise.succeed(
          Self.bytes(
            SyncGroupResponse(errorCode: ErrorCode.rebalanceInProgress.rawValue), sync.version))
        group.members[id]?.pendingSync = nil
      }
    }
    groups[groupId] = group
  }

  /// Completes the rebalance when every member has sent its JoinGroup.
  private func maybeCompleteJoin(_ groupId: String) {
    guard var group = groups[groupId], group.state == .preparingRebalance,
      !group.members.isEmpty, group.members.values.allSatisfy({ $0.pendingJoin != nil })
    else { return }
    group.generation += 1
    group.state = .completingRebalance
    let ids = group.members.keys.sorted()
    let leader = group.leader.flatMap { group.members[$0] != nil ? $0 : nil } ?? ids[0]
    group.leader = leader
    group.protocolName = group.members[leader]?.protocols.first?.name
    for id in ids {
      guard let member = group.members[id], let join = member.pendingJoin else { continue }
      var response = JoinGroupResponse()
      response.generationId = group.generation
      response.protocolType = ConsumerProtocol.protocolType
      response.protocolName = group.protocolName
      response.leader = leader
      response.memberId = id
      if id == leader {
        response.members = ids.compactMap { other in
          guard let metadata = group.members[other]?.protocols.first?.metadata else { return nil }
          return JoinGroupResponse.JoinGroupResponseMember(memberId: other, metadata: metadata)
        }
      }
      join.promise.succeed(Self.bytes(response, join.version))
      group.members[id]?.pendingJoin = nil
    }
    groups[groupId] = group
  }

  private func syncGroup(_ request: SyncGroupRequest, version: Int16) -> FakeBroker.Reply {
    if let code = takeInjected(.syncGroup) {
      return encode(SyncGroupResponse(errorCode: code), version)
    }
    guard let group = groups[request.groupId], group.members[request.memberId] != nil else {
      return encode(SyncGroupResponse(errorCode: ErrorCode.unknownMemberId.rawValue), version)
    }
    guard request.generationId == group.generation else {
      return encode(SyncGroupResponse(errorCode: ErrorCode.illegalGeneration.rawValue), version)
    }
    switch group.state {
    case .preparingRebalance:
      return encode(SyncGroupResponse(errorCode: ErrorCode.rebalanceInProgress.rawValue), version)
    case .stable:
      let assignment = group.members[request.memberId]?.assignment ?? ByteBuffer()
      return encode(
        SyncGroupResponse(
          protocolType: "consumer", protocolName: group.protocolName,
          assignment: assignment), version)
    case .empty, .completingRebalance:
      break
    }
    let groupId = request.groupId
    return deferred { [self] promise in
      guard var group = groups[groupId], group.members[request.memberId] != nil,
        group.generation == request.generationId
      else {
        promise.succeed(
          Self.bytes(SyncGroupResponse(errorCode: ErrorCode.rebalanceInProgress.rawValue), version))
        return
      }
      group.members[request.memberId]?.pendingSync = (version, promise)
      if request.memberId == group.leader {
        for assignment in request.assignments {
          group.members[assignment.memberId]?.assignment = assignment.assignment
        }
        group.state = .stable
        for (id, member) in group.members {
          guard let sync = member.pendingSync else { continue }
          sync.promise.succeed(
            Self.bytes(
              SyncGroupResponse(
                protocolType: "consumer", protocolName: group.protocolName,
                assignment: member.assignment), sync.version))
          group.members[id]?.pendingSync = nil
        }
      }
      groups[groupId] = group
    }
  }

  private func heartbeat(_ request: HeartbeatRequest) -> HeartbeatResponse {
    if let code = takeInjected(.heartbeat) { return HeartbeatResponse(errorCode: code) }
    guard let group = groups[request.groupId], group.members[request.memberId] != nil else {
      return HeartbeatResponse(errorCode: ErrorCode.unknownMemberId.rawValue)
    }
    guard request.generationId == group.generation else {
      return HeartbeatResponse(errorCode: ErrorCode.illegalGeneration.rawValue)
    }
    if group.state == .preparingRebalance {
      return HeartbeatResponse(errorCode: ErrorCode.rebalanceInProgress.rawValue)
    }
    return HeartbeatResponse()
  }

  private func leaveGroup(_ request: LeaveGroupRequest, version: Int16) -> LeaveGroupResponse {
    let ids = version >= 3 ? request.members.map(\.memberId) : [request.memberId]
    guard var group = groups[request.groupId] else {
      return LeaveGroupResponse(errorCode: ErrorCode.unknownMemberId.rawValue)
    }
    var response = LeaveGroupResponse()
    for id in ids {
      let known = group.members.removeValue(forKey: id) != nil
      if version >= 3 {
        response.members.append(
          LeaveGroupResponse.MemberResponse(
            memberId: id, errorCode: known ? 0 : ErrorCode.unknownMemberId.rawValue))
      } else if !known {
        response.errorCode = ErrorCode.unknownMemberId.rawValue
      }
    }
    if group.leader.map({ group.members[$0] == nil }) ?? false { group.leader = nil }
    groups[request.groupId] = group
    if group.members.isEmpty {
      groups[request.groupId]?.state = .empty
      groups[request.groupId]?.protocolName = nil
    } else {
      prepareRebalance(request.groupId)
      maybeCompleteJoin(request.groupId)
    }
    return response
  }

  // MARK: Offsets

  private func offsetCommit(_ request: OffsetCommitRequest) -> OffsetCommitResponse {
    commits.append((request.groupId, request.generationIdOrMemberEpoch, request.memberId))
    var code = takeInjected(.offsetCommit) ?? 0
    var group = groups[request.groupId] ?? Group()
    if code == 0 {
      if request.generationIdOrMemberEpoch < 0 && request.memberId.isEmpty {
        if !group.members.isEmpty { code = ErrorCode.unknownMemberId.rawValue }
      } else if group.members[request.memberId] == nil {
        code = ErrorCode.unknownMemberId.rawValue
      } else if request.generationIdOrMemberEpoch != group.generation {
        code = ErrorCode.illegalGeneration.rawValue
      } else if group.state == .completingRebalance {
        // Kafka takes commits of the current generation while the group prepares a
        // rebalance (members commit before rejoining), not while it completes one.
        code = ErrorCode.rebalanceInProgress.rawValue
      }
    }
    var response = OffsetCommitResponse()
    for topic in request.topics {
      var result = OffsetCommitResponse.OffsetCommitResponseTopic(name: topic.name)
      for partition in topic.partitions {
        if code == 0 {
          group.offsets[TopicPartition(topic.name, partition.partitionIndex)] = (
            partition.committedOffset, partition.committedMetadata
          )
        }
        result.partitions.append(
          OffsetCommitResponse.OffsetCommitResponsePartition(
            partitionIndex: partition.partitionIndex, errorCode: code))
      }
      response.topics.append(result)
    }
    groups[request.groupId] = group
    return response
  }

  private func offsetFetch(_ request: OffsetFetchRequest, version: Int16) -> OffsetFetchResponse {
    let code = takeInjected(.offsetFetch) ?? 0
    var response = OffsetFetchResponse()
    let asked: [(String, [(String, [Int32])]?)] =
      version >= 8
      ? request.groups.map { ($0.groupId, $0.topics?.map { ($0.name, $0.partitionIndexes) }) }
      : [(request.groupId, request.topics?.map { ($0.name, $0.partitionIndexes) })]
    for (groupId, topics) in asked {
      let offsets = groups[groupId]?.offsets ?? [:]
      var listed: [(String, [(Int32, Int64, String?)])] = []
      if let topics {
        for (name, partitions) in topics {
          listed.append(
            (
              name,
              partitions.map { index in
                let committed = offsets[TopicPartition(name, index)]
                return (index, committed?.offset ?? -1, committed?.metadata)
              }
            ))
        }
      } else {
        let byTopic = Dictionary(grouping: offsets.keys.sorted(), by: \.topic)
        for name in byTopic.keys.sorted() {
          listed.append(
            (
              name,
              (byTopic[name] ?? []).map { partition in
                (
                  partition.partition, offsets[partition]?.offset ?? -1,
                  offsets[partition]?.metadata
                )
              }
            ))
        }
      }
      if version >= 8 {
        response.groups.append(
          OffsetFetchResponse.OffsetFetchResponseGroup(
            groupId: groupId,
            topics: code != 0
              ? []
              : listed.map { topic in
                OffsetFetchResponse.OffsetFetchResponseTopics(
                  name: topic.0,
                  partitions: topic.1.map {
                    OffsetFetchResponse.OffsetFetchResponsePartitions(
                      partitionIndex: $0.0, committedOffset: $0.1, metadata: $0.2)
                  })
              }, errorCode: code))
      } else {
        response.errorCode = code
        if code == 0 {
          response.topics = listed.map { topic in
            OffsetFetchResponse.OffsetFetchResponseTopic(
              name: topic.0,
              partitions: topic.1.map {
                OffsetFetchResponse.OffsetFetchResponsePartition(
                  partitionIndex: $0.0, committedOffset: $0.1, metadata: $0.2)
              })
          }
        }
      }
    }
    return response
  }

  private func offsetDelete(_ request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    guard var group = groups[request.groupId] else {
      return OffsetDeleteResponse(errorCode: ErrorCode.groupIdNotFound.rawValue)
    }
    var subscribed: Set<String> = []
    for member in group.members.values {
      if let metadata = member.protocols.first?.metadata,
        let subscription = try? ConsumerProtocol.decodeSubscription(metadata)
      {
        subscribed.formUnion(subscription.topics)
      }
    }
    var response = OffsetDeleteResponse()
    for topic in request.topics {
      let code = subscribed.contains(topic.name) ? ErrorCode.groupSubscribedToTopic.rawValue : 0
      var result = OffsetDeleteResponse.OffsetDeleteResponseTopic(name: topic.name)
      for partition in topic.partitions {
        if code == 0 {
          group.offsets[TopicPartition(topic.name, partition.partitionIndex)] = nil
        }
        result.partitions.append(
          OffsetDeleteResponse.OffsetDeleteResponsePartition(
            partitionIndex: partition.partitionIndex, errorCode: code))
      }
      response.topics.append(result)
    }
    groups[request.groupId] = group
    return response
  }

  // MARK: Admin

  private func listGroups() -> ListGroupsResponse {
    var response = ListGroupsResponse()
    response.groups = groups.keys.sorted().map {
      ListGroupsResponse.ListedGroup(
        groupId: $0, protocolType: "consumer", groupState: groups[$0]?.state.rawValue ?? "",
        groupType: "classic")
    }
    return response
  }

  private func describeGroups(_ request: DescribeGroupsRequest) -> DescribeGroupsResponse {
    var response = DescribeGroupsResponse()
    for id in request.groups {
      guard let group = groups[id] else {
        response.groups.append(
          DescribeGroupsResponse.DescribedGroup(groupId: id, groupState: "Dead"))
        continue
      }
      response.groups.append(
        DescribeGroupsResponse.DescribedGroup(
          groupId: id, groupState: group.state.rawValue, protocolType: "consumer",
          protocolData: group.protocolName ?? "",
          members: group.members.keys.sorted().compactMap { memberId in
            guard let member = group.members[memberId] else { return nil }
            return DescribeGroupsResponse.DescribedGroupMember(
              memberId: memberId, clientId: member.clientId, clientHost: member.clientHost,
              memberMetadata: member.protocols.first?.metadata ?? ByteBuffer(),
              memberAssignment: member.assignment)
          }))
    }
    return response
  }

  private func deleteGroups(_ request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    var response = DeleteGroupsResponse()
    for id in request.groupsNames {
      var code: Int16 = 0
      if let group = groups[id] {
        if group.members.isEmpty {
          groups[id] = nil
        } else {
          code = ErrorCode.nonEmptyGroup.rawValue
        }
      } else {
        code = ErrorCode.groupIdNotFound.rawValue
      }
      response.results.append(
        DeleteGroupsResponse.DeletableGroupResult(groupId: id, errorCode: code))
    }
    return response
  }
}
