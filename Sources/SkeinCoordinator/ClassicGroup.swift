import KafkaProtocol
import NIOCore

/// The states of a classic group, named as Kafka names them.
public enum ClassicGroupState: String, Sendable, Hashable, CaseIterable {
  case empty = "Empty"
  case preparingRebalance = "PreparingRebalance"
  case completingRebalance = "CompletingRebalance"
  case stable = "Stable"
  case dead = "Dead"
}

/// One protocol a member supports, with its metadata (the subscription for consumers).
public struct MemberProtocol: Sendable, Hashable {
  public var name: String
  public var metadata: ByteBuffer

  public init(name: String, metadata: ByteBuffer) {
    self.name = name
    self.metadata = metadata
  }
}

/// A member of a classic group.
public struct ClassicMember: Sendable, Hashable {
  public var memberId: String
  public var groupInstanceId: String?
  public var clientId: String
  public var clientHost: String
  public var rebalanceTimeoutMs: Int32
  public var sessionTimeoutMs: Int32
  public var protocolType: String
  public var protocols: [MemberProtocol]
  public var assignment: ByteBuffer = ByteBuffer()
  /// The token of the JoinGroup request waiting for the rebalance to complete.
  var joinToken: UInt64?
  /// The token of the SyncGroup request waiting for the leader's assignment.
  var syncToken: UInt64?
  /// When the member is dropped unless it heartbeats.
  var sessionDeadline: Int64 = 0

  public func metadata(for protocolName: String?) -> ByteBuffer? {
    protocols.first { $0.name == protocolName }?.metadata
  }

  /// Same protocols with the same metadata, in the same order.
  func matches(_ other: [MemberProtocol]) -> Bool { protocols == other }

  var isAwaitingJoin: Bool { joinToken != nil }
  var isAwaitingSync: Bool { syncToken != nil }
}

/// A classic (pre-KIP-848) group: members, generation, the selected protocol and the state of
/// its rebalance. Only the persisted part (`GroupMetadataValue`) survives a reload.
public struct ClassicGroup: Sendable {
  public let groupId: String
  public internal(set) var state: ClassicGroupState = .empty
  public internal(set) var protocolType: String?
  public internal(set) var protocolName: String?
  public internal(set) var generationId: Int32 = 0
  public internal(set) var leaderId: String?
  public internal(set) var members: [String: ClassicMember] = [:]
  /// Member ids in join order; the leader is re-chosen from the front.
  var memberOrder: [String] = []
  /// group.instance.id → member id.
  var staticMembers: [String: String] = [:]
  /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, with their deadline.
  var pendingMembers: [String: Int64] = [:]
  public internal(set) var currentStateTimestamp: Int64 = -1
  /// When the join phase ends (rebalance timeout or initial delay).
  var joinDeadline: Int64?
  /// While the initial delayed join of a new group runs: the rebalance time left after it.
  var initialDelayRemaining: Int64?
  var newMemberAdded = false

  init(groupId: String, now: Int64) {
    self.groupId = groupId
    self.currentStateTimestamp = now
  }

  public var isEmpty: Bool { members.isEmpty }

  public var orderedMembers: [ClassicMember] { memberOrder.compactMap { members[$0] } }

  mutating func transition(to newState: ClassicGroupState, now: Int64) {
    state = newState
    currentStateTimestamp = now
  }

  func isLeader(_ memberId: String) -> Bool { leaderId == memberId }

  /// Protocols every member supports.
  var candidateProtocols: [String] {
    guard let first = orderedMembers.first else { return [] }
    return first.protocols.map(\.name).filter { name in
      members.values.allSatisfy { m in m.protocols.contains { $0.name == name } }
    }
  }

  /// Whether a member with these protocols may join.
  func supports(protocolType: String, protocols: [MemberProtocol]) -> Bool {
    if isEmpty { return !protocolType.isEmpty && !protocols.isEmpty }
    guard protocolType == self.protocolType else { return false }
    let candidates = Set(candidateProtocols)
    return protocols.contains { candidates.contains($0.name) }
  }

  /// The protocol by vote: each member votes for its first choice among the candidates.
  func selectProtocol() -> String? {
    let candidates = candidateProtocols
    let allowed = Set(candidates)
    var votes: [String: Int] = [:]
    for member in orderedMembers {
      if let choice = member.protocols.first(where: { allowed.contains($0.name) }) {
        votes[choice.name, default: 0] += 1
      }
    }
    // Ties go to the candidate listed first by the longest-standing member.
    var best: String? = nil
    for name in candidates where votes[name, default: 0] > votes[best ?? "", default: 0] {
      best = name
    }
    return best
  }

  var allMembersJoined: Bool {
    pendingMembers.isEmpty && members.values.allSatisfy(\.isAwaitingJoin)
  }

  var rebalanceTimeoutMs: Int64 {
    Int64(members.values.map(\.rebalanceTimeoutMs).max() ?? 0)
  }

  mutating func add(_ member: ClassicMember) {
    if members.isEmpty { protocolType = member.protocolType }
    if members[member.memberId] == nil { memberOrder.append(member.memberId) }
    members[member.memberId] = member
    if let instanceId = member.groupInstanceId { staticMembers[instanceId] = member.memberId }
    if leaderId == nil { leaderId = member.memberId }
    pendingMembers[member.memberId] = nil
  }

  /// Removes a member and re-chooses the leader if it was the leader.
  @discardableResult
  mutating func remove(_ memberId: String) -> ClassicMember? {
    guard let member = members.removeValue(forKey: memberId) else { return nil }
    memberOrder.removeAll { $0 == memberId }
    if let instanceId = member.groupInstanceId, staticMembers[instanceId] == memberId {
      staticMembers[instanceId] = nil
    }
    if leaderId == memberId {
      leaderId = memberOrder.first { members[$0]?.isAwaitingJoin == true } ?? memberOrder.first
    }
    return member
  }

  /// The topics the members subscribe to, when every subscription can be read; nil otherwise.
  var subscribedTopics: Set<String>? {
    guard protocolType == "consumer", let protocolName else { return nil }
    var topics: Set<String> = []
    for member in members.values {
      guard var bytes = member.metadata(for: protocolName),
        let version = try? bytes.readKafka(Int16.self),
        let subscription = try? ConsumerProtocolSubscription(
          from: &bytes, version: min(version, ConsumerProtocolSubscription.validVersions.upperBound)
        )
      else { return nil }
      topics.formUnion(subscription.topics)
    }
    return topics
  }

  /// The persisted form of the group.
  func metadataValue() -> GroupMetadataValue {
    GroupMetadataValue(
      protocolType: protocolType ?? "", generation: generationId, protocol: protocolName,
      leader: leaderId, currentStateTimestamp: currentStateTimestamp,
      members: orderedMembers.map { m in
        .init(
          memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId,
          clientHost: m.clientHost, rebalanceTimeout: m.rebalanceTimeoutMs,
          sessionTimeout: m.sessionTimeoutMs,
          subscription: m.metadata(for: protocolName) ?? ByteBuffer(), assignment: m.assignment)
      })
  }

  /// Rebuilds a group from its persisted form: Stable with members, Empty without.
  init(groupId: String, value: GroupMetadataValue) {
    self.groupId = groupId
    generationId = value.generation
    protocolName = value.protocol
    leaderId = value.leader
    currentStateTimestamp = value.currentStateTimestamp
    for m in value.members {
      let member = ClassicMember(
        memberId: m.memberId, groupInstanceId: m.groupInstanceId, clientId: m.clientId,
        clientHost: m.clientHost, rebalanceTimeoutMs: m.rebalanceTimeout,
        sessionTimeoutMs: m.sessionTimeout, protocolType: value.protocolType,
        protocols: [MemberProtocol(name: value.protocol ?? "", metadata: m.subscription)],
        assignment: m.assignment)
      memberOrder.append(member.memberId)
      members[member.memberId] = member
      if let instanceId = member.groupInstanceId { staticMembers[instanceId] = member.memberId }
    }
    protocolType = value.members.isEmpty && value.protocolType.isEmpty ? nil : value.protocolType
    if members.isEmpty { leaderId = nil }
    state = members.isEmpty ? .empty : .stable
  }
}
