import FoundationEssentials
import KafkaProtocol
import NIOCore

/// The group coordinator of one `__consumer_offsets` partition, as a pure state machine: a
/// request and the time go in, records to append and responses come out; replaying the records
/// rebuilds the persisted state (on restart and on a new leader alike). Classic groups and
/// consumer groups (KIP-848) side by side; a group id is one or the other.
public struct GroupCoordinatorShard: Sendable {
  public let config: GroupCoordinatorConfig
  public internal(set) var groups: [String: ClassicGroup] = [:]
  public internal(set) var consumerGroups: [String: ConsumerGroup] = [:]
  /// Committed offsets by group.
  public internal(set) var offsets: [String: [TopicPartition: OffsetCommitValue]] = [:]
  var nextExpiryCheckMs: Int64 = 0
  let memberIdSuffix: @Sendable () -> String

  public init(
    config: GroupCoordinatorConfig = GroupCoordinatorConfig(),
    memberIdSuffix: @escaping @Sendable () -> String = { UUID().uuidString.lowercased() }
  ) {
    self.config = config
    self.memberIdSuffix = memberIdSuffix
  }

  // MARK: Replay

  /// Applies one record of the partition (loading, and every record this shard writes).
  public mutating func replay(_ record: CoordinatorRecord) {
    switch record {
    case .groupMetadata(let groupId, let value):
      if let value {
        groups[groupId] = ClassicGroup(groupId: groupId, value: value)
      } else {
        groups[groupId] = nil
      }
    case .offsetCommit(let groupId, let topic, let partition, let value):
      let tp = TopicPartition(topic, partition)
      if let value {
        offsets[groupId, default: [:]][tp] = value
        if groups[groupId] == nil && consumerGroups[groupId] == nil {
          // Offsets without a group belong to a simple (Empty) group, as in Kafka.
          groups[groupId] = ClassicGroup(groupId: groupId, now: value.commitTimestamp)
        }
      } else {
        offsets[groupId]?[tp] = nil
        if offsets[groupId]?.isEmpty == true { offsets[groupId] = nil }
      }
    default:
      replayConsumer(record)
    }
  }

  /// Called once the partition is loaded: members get a full session from now.
  public mutating func onLoaded(now: Int64) {
    for (id, var group) in groups {
      for memberId in group.memberOrder {
        if let timeout = group.members[memberId]?.sessionTimeoutMs {
          group.members[memberId]?.sessionDeadline = now + Int64(timeout)
        }
      }
      groups[id] = group
    }
    onConsumerGroupsLoaded(now: now)
    nextExpiryCheckMs = now + config.offsetsRetentionCheckIntervalMs
  }

  mutating func persist(_ records: [CoordinatorRecord], into out: inout CoordinatorOutput) {
    for record in records { replay(record) }
    out.records += records
  }

  // MARK: JoinGroup

  /// Handles JoinGroup; the answer comes in the output for `token`, now or after the rebalance.
  public mutating func joinGroup(
    _ request: JoinGroupRequest, version: Int16, clientId: String, clientHost: String,
    token: UInt64, now: Int64
  ) -> CoordinatorOutput {
    var out = CoordinatorOutput()
    let fail = { (code: ErrorCode, memberId: String) -> CoordinatorOutput in
      var out = CoordinatorOutput()
      out.join(token, Self.joinError(code, memberId: memberId, version: version))
      return out
    }
    let groupId = request.groupId
    guard !groupId.isEmpty else { return fail(.invalidGroupId, request.memberId) }
    guard request.sessionTimeoutMs >= config.minSessionTimeoutMs,
      request.sessionTimeoutMs <= config.maxSessionTimeoutMs
    else { return fail(.invalidSessionTimeout, request.memberId) }
    let protocols = request.protocols.map { MemberProtocol(name: $0.name, metadata: $0.metadata) }
    guard !request.protocolType.isEmpty, !protocols.isEmpty else {
      return fail(.inconsistentGroupProtocol, request.memberId)
    }
    if let consumer = consumerGroups[groupId] {
      guard consumer.members.isEmpty else {
        return fail(.inconsistentGroupProtocol, request.memberId)
      }
      guard request.memberId.isEmpty else { return fail(.unknownMemberId, request.memberId) }
      // An Empty consumer group becomes a classic group; its offsets stay.
      persist(Self.consumerGroupDeletionRecords(groupId), into: &out)
    }
    var group: ClassicGroup
    if let existing = groups[groupId] {
      group = existing
    } else {
      guard request.memberId.isEmpty else { return fail(.unknownMemberId, request.memberId) }
      group = ClassicGroup(groupId: groupId, now: now)
    }
    guard group.state != .dead else { return fail(.coordinatorNotAvailable, request.memberId) }
    guard group.supports(protocolType: request.protocolType, protocols: protocols) else {
      return fail(.inconsistentGroupProtocol, request.memberId)
    }
    let rebalanceTimeout = version == 0 ? request.sessionTimeoutMs : request.rebalanceTimeoutMs
    let member = ClassicMember(
      memberId: request.memberId, groupInstanceId: request.groupInstanceId, clientId: clientId,
      clientHost: clientHost, rebalanceTimeoutMs: rebalanceTimeout,
      sessionTimeoutMs: request.sessionTimeoutMs, protocolType: request.protocolType,
      protocols: protocols, joinToken: token,
      sessionDeadline: now + Int64(request.sessionTimeoutMs))
    if request.memberId.isEmpty {
      joinUnknownMember(&group, member, version: version, now: now, out: &out)
    } else {
      joinKnownMember(&group, member, version: version, now: now, out: &out)
    }
    groups[groupId] = group
    return out
  }

  private mutating func joinUnknownMember(
    _ group: inout ClassicGroup, _ template: ClassicMember, version: Int16, now: Int64,
    out: inout CoordinatorOutput
  ) {
    var member = template
    let token = template.joinToken ?? 0
    member.memberId = (template.groupInstanceId ?? template.clientId) + "-" + memberIdSuffix()
    if let instanceId = template.groupInstanceId, let oldId = group.staticMembers[instanceId] {
      replaceStaticMember(&group, oldId: oldId, with: member, version: version, now: now, out: &out)
      return
    }
    guard group.members.count + group.pendingMembers.count < config.maxSize else {
      out.join(token, Self.joinError(.groupMaxSizeReached, memberId: "", version: version))
      return
    }
    if template.groupInstanceId == nil && version >= 4 {
      // KIP-394: the member must come back with the id it is given.
      group.pendingMembers[member.memberId] = now + Int64(template.sessionTimeoutMs)
      out.join(
        token, Self.joinError(.memberIdRequired, memberId: member.memberId, version: version))
      return
    }
    addMemberAndRebalance(&group, member, version: version, now: now, out: &out)
  }

  private mutating func joinKnownMember(
    _ group: inout ClassicGroup, _ template: ClassicMember, version: Int16, now: Int64,
    out: inout CoordinatorOutput
  ) {
    let memberId = template.memberId
    let token = template.joinToken ?? 0
    if group.pendingMembers[memberId] != nil {
      addMemberAndRebalance(&group, template, version: version, now: now, out: &out)
      return
    }
    if let error = Self.validateMember(
      group, memberId: memberId, instanceId: template.groupInstanceId)
    {
      out.join(token, Self.joinError(error, memberId: memberId, version: version))
      return
    }
    guard let existing = group.members[memberId] else { return }
    switch group.state {
    case .preparingRebalance:
      updateMember(&group, existing, from: template, out: &out, version: version)
      tryCompleteJoin(&group, version: version, now: now, out: &out)
    case .completingRebalance:
      if existing.matches(template.protocols) {
        // A repeated join with the same metadata: the current generation again.
        out.join(token, Self.joinResponse(group, for: memberId, version: version))
      } else {
        updateMember(&group, existing, from: template, out: &out, version: version)
        prepareRebalance(&group, version: version, now: now, out: &out)
      }
    case .stable:
      if group.isLeader(memberId) || !existing.matches(template.protocols) {
        updateMember(&group, existing, from: template, out: &out, version: version)
        prepareRebalance(&group, version: version, now: now, out: &out)
      } else {
        group.members[memberId]?.sessionDeadline = template.sessionDeadline
        out.join(
          token, Self.joinResponse(group, for: memberId, version: version, withMembers: false))
      }
    case .empty, .dead:
      out.join(token, Self.joinError(.unknownMemberId, memberId: memberId, version: version))
    }
  }

  /// A known static member came back with a new member id: the old id is fenced; a Stable group
  /// with unchanged metadata hands the member its assignment back without a rebalance.
  private mutating func replaceStaticMember(
    _ group: inout ClassicGroup, oldId: String, with template: ClassicMember, version: Int16,
    now: Int64, out: inout CoordinatorOutput
  ) {
    guard let old = group.members[oldId] else { return }
    let token = template.joinToken ?? 0
    if let t = old.joinToken {
      out.join(t, Self.joinError(.fencedInstanceId, memberId: oldId, version: version))
    }
    if let t = old.syncToken {
      out.sync(t, SyncGroupResponse(errorCode: ErrorCode.fencedInstanceId.rawValue))
    }
    var member = old
    member.memberId = template.memberId
    member.clientId = template.clientId
    member.clientHost = template.clientHost
    member.sessionTimeoutMs = template.sessionTimeoutMs
    member.rebalanceTimeoutMs = template.rebalanceTimeoutMs
    member.joinToken = nil
    member.syncToken = nil
    member.sessionDeadline = template.sessionDeadline
    group.members[oldId] = nil
    group.members[member.memberId] = member
    group.memberOrder = group.memberOrder.map { $0 == oldId ? member.memberId : $0 }
    if let instanceId = member.groupInstanceId { group.staticMembers[instanceId] = member.memberId }
    if group.leaderId == oldId { group.leaderId = member.memberId }
    switch group.state {
    case .stable where old.matches(template.protocols):
      out.records.append(.groupMetadata(groupId: group.groupId, value: group.metadataValue()))
      let isLeader = group.isLeader(member.memberId)
      var response = Self.joinResponse(
        group, for: member.memberId, version: version, withMembers: isLeader)
      response.skipAssignment = isLeader
      out.join(token, response)
    case .preparingRebalance:
      member.protocols = template.protocols
      member.joinToken = token
      group.members[member.memberId] = member
      tryCompleteJoin(&group, version: version, now: now, out: &out)
    default:
      member.protocols = template.protocols
      member.joinToken = token
      group.members[member.memberId] = member
      prepareRebalance(&group, version: version, now: now, out: &out)
    }
  }

  private mutating func addMemberAndRebalance(
    _ group: inout ClassicGroup, _ member: ClassicMember, version: Int16, now: Int64,
    out: inout CoordinatorOutput
  ) {
    group.add(member)
    group.newMemberAdded = true
    if group.state == .preparingRebalance {
      tryCompleteJoin(&group, version: version, now: now, out: &out)
    } else {
      prepareRebalance(&group, version: version, now: now, out: &out)
    }
  }

  private func updateMember(
    _ group: inout ClassicGroup, _ existing: ClassicMember, from template: ClassicMember,
    out: inout CoordinatorOutput, version: Int16
  ) {
    var member = existing
    if let previous = member.joinToken, previous != template.joinToken {
      out.join(
        previous, Self.joinError(.rebalanceInProgress, memberId: member.memberId, version: version))
    }
    member.protocols = template.protocols
    member.sessionTimeoutMs = template.sessionTimeoutMs
    member.rebalanceTimeoutMs = template.rebalanceTimeoutMs
    member.clientId = template.clientId
    member.clientHost = template.clientHost
    member.joinToken = template.joinToken
    member.sessionDeadline = template.sessionDeadline
    group.members[member.memberId] = member
  }

  mutating func prepareRebalance(
    _ group: inout ClassicGroup, version: Int16, now: Int64, out: inout CoordinatorOutput
  ) {
    if group.state == .completingRebalance {
      for id in group.memberOrder {
        group.members[id]?.assignment = ByteBuffer()
        if let t = group.members[id]?.syncToken {
          out.sync(t, SyncGroupResponse(errorCode: ErrorCode.rebalanceInProgress.rawValue))
          group.members[id]?.syncToken = nil
        }
      }
    }
    let rebalanceTimeout = group.rebalanceTimeoutMs
    if group.state == .empty && config.initialRebalanceDelayMs > 0 {
      let delay = min(config.initialRebalanceDelayMs, rebalanceTimeout)
      group.initialDelayRemaining = max(rebalanceTimeout - delay, 0)
      group.joinDeadline = now + delay
      group.newMemberAdded = false
    } else {
      group.initialDelayRemaining = nil
      group.joinDeadline = now + rebalanceTimeout
    }
    group.transition(to: .preparingRebalance, now: now)
    tryCompleteJoin(&group, version: version, now: now, out: &out)
  }

  mutating func tryCompleteJoin(
    _ group: inout ClassicGroup, version: Int16, now: Int64, out: inout CoordinatorOutput
  ) {
    guard group.state == .preparingRebalance, group.initialDelayRemaining == nil,
      group.allMembersJoined
    else { return }
    completeJoin(&group, now: now, out: &out)
  }

  /// Ends the join phase: members that did not rejoin are dropped, the next generation starts
  /// and every waiting member gets its JoinGroup answer (the leader with the members).
  mutating func completeJoin(_ group: inout ClassicGroup, now: Int64, out: inout CoordinatorOutput)
  {
    for member in group.orderedMembers where !member.isAwaitingJoin {
      group.remove(member.memberId)
    }
    group.pendingMembers.removeAll()
    group.joinDeadline = nil
    group.initialDelayRemaining = nil
    group.newMemberAdded = false
    if let leader = group.leaderId, group.members[leader] == nil {
      group.leaderId = group.memberOrder.first
    }
    group.generationId += 1
    if group.isEmpty {
      group.protocolName = nil
      group.leaderId = nil
      group.transition(to: .empty, now: now)
      out.records.append(.groupMetadata(groupId: group.groupId, value: group.metadataValue()))
      return
    }
    group.protocolName = group.selectProtocol()
    group.transition(to: .completingRebalance, now: now)
    for id in group.memberOrder {
      guard var member = group.members[id], let token = member.joinToken else { continue }
      member.joinToken = nil
      member.sessionDeadline = now + Int64(member.sessionTimeoutMs)
      group.members[id] = member
      out.join(
        token,
        Self.joinResponse(group, for: id, version: 9, withMembers: group.isLeader(id)))
    }
  }

  static func joinResponse(
    _ group: ClassicGroup, for memberId: String, version: Int16, withMembers: Bool? = nil
  ) -> JoinGroupResponse {
    let includeMembers = withMembers ?? group.isLeader(memberId)
    return JoinGroupResponse(
      errorCode: 0, generationId: group.generationId, protocolType: group.protocolType,
      protocolName: group.protocolName, leader: group.leaderId ?? "", memberId: memberId,
      members: includeMembers
        ? group.orderedMembers.map {
          .init(
            memberId: $0.memberId, groupInstanceId: $0.groupInstanceId,
            metadata: $0.metadata(for: group.protocolName) ?? ByteBuffer())
        } : [])
  }

  public static func joinError(_ code: ErrorCode, memberId: String, version: Int16)
    -> JoinGroupResponse
  {
    JoinGroupResponse(
      errorCode: code.rawValue, generationId: -1, protocolType: nil,
      protocolName: version >= 7 ? nil : "", leader: "", memberId: memberId, members: [])
  }

  /// Kafka's member checks: a static member must be known under this member id.
  public static func validateMember(_ group: ClassicGroup, memberId: String, instanceId: String?)
    -> ErrorCode?
  {
    if let instanceId {
      guard let current = group.staticMembers[instanceId] else { return .unknownMemberId }
      return current == memberId ? nil : .fencedInstanceId
    }
    return group.members[memberId] == nil ? .unknownMemberId : nil
  }

  // MARK: SyncGroup

  /// Handles SyncGroup; followers wait (in the output, later) for the leader's assignment.
  public mutating func syncGroup(
    _ request: SyncGroupRequest, version: Int16, token: UInt64, now: Int64
  ) -> CoordinatorOutput {
    var out = CoordinatorOutput()
    let fail = { (code: ErrorCode) -> CoordinatorOutput in
      var out = CoordinatorOutput()
      out.sync(token, SyncGroupResponse(errorCode: code.rawValue))
      return out
    }
    guard !request.groupId.isEmpty else { return fail(.invalidGroupId) }
    guard var group = groups[request.groupId] else { return fail(.unknownMemberId) }
    guard group.state != .dead else { return fail(.coordinatorNotAvailable) }
    if let error = Self.validateMember(
      group, memberId: request.memberId, instanceId: request.groupInstanceId)
    {
      return fail(error)
    }
    guard request.generationId == group.generationId else { return fail(.illegalGeneration) }
    if let type = request.protocolType, type != group.protocolType {
      return fail(.inconsistentGroupProtocol)
    }
    if let name = request.protocolName, name != group.protocolName {
      return fail(.inconsistentGroupProtocol)
    }
    let memberId = request.memberId
    switch group.state {
    case .empty, .dead:
      return fail(.unknownMemberId)
    case .preparingRebalance:
      return fail(.rebalanceInProgress)
    case .stable:
      let session = Int64(group.members[memberId]?.sessionTimeoutMs ?? 0)
      group.members[memberId]?.sessionDeadline = now + session
      groups[request.groupId] = group
      out.sync(token, syncResponse(group, memberId: memberId))
      return out
    case .completingRebalance:
      if let previous = group.members[memberId]?.syncToken {
        out.sync(previous, SyncGroupResponse(errorCode: ErrorCode.rebalanceInProgress.rawValue))
      }
      group.members[memberId]?.syncToken = token
      let session = Int64(group.members[memberId]?.sessionTimeoutMs ?? 0)
      group.members[memberId]?.sessionDeadline = now + session
      if group.isLeader(memberId) {
        var assignments: [String: ByteBuffer] = [:]
        for a in request.assignments { assignments[a.memberId] = a.assignment }
        for id in group.memberOrder {
          group.members[id]?.assignment = assignments[id] ?? ByteBuffer()
        }
        group.transition(to: .stable, now: now)
        let value = group.metadataValue()
        out.records.append(.groupMetadata(groupId: group.groupId, value: value))
        for id in group.memberOrder {
          if let t = group.members[id]?.syncToken {
            out.sync(t, syncResponse(group, memberId: id))
            group.members[id]?.syncToken = nil
          }
        }
      }
      groups[request.groupId] = group
      return out
    }
  }

  private func syncResponse(_ group: ClassicGroup, memberId: String) -> SyncGroupResponse {
    SyncGroupResponse(
      errorCode: 0, protocolType: group.protocolType, protocolName: group.protocolName,
      assignment: group.members[memberId]?.assignment ?? ByteBuffer())
  }

  // MARK: Heartbeat and LeaveGroup

  public mutating func heartbeat(_ request: HeartbeatRequest, now: Int64) -> HeartbeatResponse {
    let error = heartbeatError(request, now: now)
    return HeartbeatResponse(errorCode: error.rawValue)
  }

  private mutating func heartbeatError(_ request: HeartbeatRequest, now: Int64) -> ErrorCode {
    guard !request.groupId.isEmpty else { return .invalidGroupId }
    guard var group = groups[request.groupId] else { return .unknownMemberId }
    guard group.state != .dead else { return .coordinatorNotAvailable }
    if let error = Self.validateMember(
      group, memberId: request.memberId, instanceId: request.groupInstanceId)
    {
      return error
    }
    guard request.generationId == group.generationId else { return .illegalGeneration }
    let memberId = request.memberId
    switch group.state {
    case .empty, .dead:
      return .unknownMemberId
    case .preparingRebalance, .completingRebalance, .stable:
      if let timeout = group.members[memberId]?.sessionTimeoutMs {
        group.members[memberId]?.sessionDeadline = now + Int64(timeout)
      }
      groups[request.groupId] = group
      return group.state == .preparingRebalance ? .rebalanceInProgress : .none
    }
  }

  /// Handles LeaveGroup (v0-2: one member id; v3+: a batch by member id or instance id).
  public mutating func leaveGroup(_ request: LeaveGroupRequest, version: Int16, now: Int64)
    -> CoordinatorResult<LeaveGroupResponse>
  {
    var out = CoordinatorOutput()
    let identities: [LeaveGroupRequest.MemberIdentity] =
      version >= 3 ? request.members : [.init(memberId: request.memberId)]
    guard !request.groupId.isEmpty else {
      return CoordinatorResult(
        output: out, response: LeaveGroupResponse(errorCode: ErrorCode.invalidGroupId.rawValue))
    }
    guard var group = groups[request.groupId], group.state != .dead else {
      let code: ErrorCode =
        groups[request.groupId] == nil ? .unknownMemberId : .coordinatorNotAvailable
      return CoordinatorResult(output: out, response: LeaveGroupResponse(errorCode: code.rawValue))
    }
    var results: [LeaveGroupResponse.MemberResponse] = []
    for identity in identities {
      var result = LeaveGroupResponse.MemberResponse(
        memberId: identity.memberId, groupInstanceId: identity.groupInstanceId, errorCode: 0)
      if let instanceId = identity.groupInstanceId {
        if let current = group.staticMembers[instanceId] {
          if !identity.memberId.isEmpty && identity.memberId != current {
            result.errorCode = ErrorCode.fencedInstanceId.rawValue
          } else {
            removeMemberAndRebalance(&group, current, now: now, out: &out)
          }
        } else {
          result.errorCode = ErrorCode.unknownMemberId.rawValue
        }
      } else if group.pendingMembers[identity.memberId] != nil {
        group.pendingMembers[identity.memberId] = nil
        tryCompleteJoin(&group, version: 9, now: now, out: &out)
      } else if group.members[identity.memberId] != nil {
        removeMemberAndRebalance(&group, identity.memberId, now: now, out: &out)
      } else {
        result.errorCode = ErrorCode.unknownMemberId.rawValue
      }
      results.append(result)
    }
    groups[request.groupId] = group
    if version < 3 {
      return CoordinatorResult(
        output: out, response: LeaveGroupResponse(errorCode: results.first?.errorCode ?? 0))
    }
    return CoordinatorResult(
      output: out, response: LeaveGroupResponse(errorCode: 0, members: results))
  }

  mutating func removeMemberAndRebalance(
    _ group: inout ClassicGroup, _ memberId: String, now: Int64, out: inout CoordinatorOutput
  ) {
    guard let member = group.remove(memberId) else { return }
    if let t = member.joinToken {
      out.join(t, Self.joinError(.unknownMemberId, memberId: memberId, version: 9))
    }
    if let t = member.syncToken {
      out.sync(t, SyncGroupResponse(errorCode: ErrorCode.unknownMemberId.rawValue))
    }
    switch group.state {
    case .stable, .completingRebalance:
      prepareRebalance(&group, version: 9, now: now, out: &out)
    case .preparingRebalance:
      tryCompleteJoin(&group, version: 9, now: now, out: &out)
    case .empty, .dead:
      break
    }
  }

  // MARK: Timers

  /// Advances time: session timeouts, expired pending members, join deadlines (rebalance timeout
  /// and the initial delay of a new group), and offset expiry at its check interval.
  public mutating func tick(now: Int64) -> CoordinatorOutput {
    var out = CoordinatorOutput()
    for groupId in groups.keys.sorted() {
      guard var group = groups[groupId] else { continue }
      for (id, deadline) in group.pendingMembers where deadline <= now {
        group.pendingMembers[id] = nil
        tryCompleteJoin(&group, version: 9, now: now, out: &out)
      }
      for member in group.orderedMembers
      where member.sessionDeadline <= now && !member.isAwaitingJoin && !member.isAwaitingSync {
        removeMemberAndRebalance(&group, member.memberId, now: now, out: &out)
      }
      if group.state == .preparingRebalance, let deadline = group.joinDeadline, deadline <= now {
        if let remaining = group.initialDelayRemaining, group.newMemberAdded, remaining > 0 {
          let delay = min(config.initialRebalanceDelayMs, remaining)
          group.initialDelayRemaining = max(remaining - delay, 0)
          group.joinDeadline = now + delay
          group.newMemberAdded = false
        } else {
          completeJoin(&group, now: now, out: &out)
        }
      }
      groups[groupId] = group
      // A group that never got a member (only pending ones that expired) is forgotten.
      if group.state == .empty, group.generationId == 0, group.pendingMembers.isEmpty,
        offsets[groupId] == nil, !out.records.contains(where: { $0.groupId == groupId })
      {
        groups[groupId] = nil
      }
    }
    tickConsumerGroups(now: now, out: &out)
    if now >= nextExpiryCheckMs {
      nextExpiryCheckMs = now + config.offsetsRetentionCheckIntervalMs
      persist(expiredOffsetRecords(now: now), into: &out)
    }
    return out
  }
}
