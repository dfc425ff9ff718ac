import KafkaProtocol
import NIOCore

/// A consumer in a consumer group (the classic protocol): it subscribes to topics, joins the
/// group at its coordinator (JoinGroup, MEMBER_ID_REQUIRED answered by rejoining with the
/// given id), the leader assigns partitions with the `range` assignor (SyncGroup), heartbeats
/// keep the membership, a rebalance leads to a rejoin, reading starts at the group's committed
/// offsets (OffsetFetch, else `autoOffsetReset`), offsets are committed automatically and on
/// close, and close leaves the group. Fetching is the assign-based `Consumer`'s.
public actor GroupConsumer {
  /// Group settings, named after their Kafka counterparts, and the fetch settings.
  public struct Configuration: Sendable {
    /// `group.id`.
    public var groupId: String
    /// `group.instance.id`: a static member (KIP-345); nil for a dynamic one.
    public var groupInstanceId: String?
    /// `session.timeout.ms`: the coordinator drops a member silent for this long.
    public var sessionTimeout: Duration = .seconds(45)
    /// `heartbeat.interval.ms`.
    public var heartbeatInterval: Duration = .seconds(3)
    /// `max.poll.interval.ms`: the longest gap between polls before the member leaves; also
    /// the rebalance timeout sent in JoinGroup.
    public var maxPollInterval: Duration = .seconds(300)
    /// `enable.auto.commit`.
    public var enableAutoCommit = true
    /// `auto.commit.interval.ms`.
    public var autoCommitInterval: Duration = .seconds(5)
    /// `default.api.timeout.ms`: how long commits, offset lookups and the coordinator lookup
    /// may retry.
    public var defaultApiTimeout: Duration = .seconds(60)
    /// Fetch settings; `autoOffsetReset` applies to partitions without a committed offset.
    public var fetch = Consumer.Configuration()

    public init(groupId: String) {
      self.groupId = groupId
    }
  }

  private enum MemberState {
    case unjoined
    case joining
    case stable
  }

  public nonisolated let client: KafkaClient
  public nonisolated let configuration: Configuration
  private let consumer: Consumer
  private let coordinator: GroupCoordinator
  private var subscription: [String] = []
  private var state = MemberState.unjoined
  private var rejoinNeeded = true
  private var memberId = ""
  private var generationId: Int32 = -1
  private var isLeader = false
  private var assigned: [TopicPartition] = []
  /// Next offset to commit per assigned partition: past the last record poll returned.
  private var consumed: [TopicPartition: OffsetAndMetadata] = [:]
  private var committed: [TopicPartition: OffsetAndMetadata] = [:]
  private var lastPoll = ContinuousClock.now
  /// A poll is running (joining, fetching): the max.poll.interval.ms check waits for it.
  private var polling = false
  private var nextAutoCommit = ContinuousClock.now
  private var heartbeatTask: Task<Void, Never>?
  private var fatal: KafkaClientError?
  private var isClosed = false

  public init(client: KafkaClient, configuration: Configuration) throws(KafkaClientError) {
    guard !configuration.groupId.isEmpty else {
      throw .invalidArgument("a group consumer needs a non-empty group id")
    }
    guard configuration.heartbeatInterval < configuration.sessionTimeout else {
      throw .invalidArgument("heartbeat.interval.ms must be lower than session.timeout.ms")
    }
    self.client = client
    self.configuration = configuration
    self.consumer = Consumer(client: client, configuration: configuration.fetch)
    self.coordinator = GroupCoordinator(client: client, groupId: configuration.groupId)
  }

  /// Replaces the subscription; the next poll joins (or rejoins) the group with it.
  public func subscribe(_ topics: [String]) throws(KafkaClientError) {
    guard !topics.isEmpty else { throw .invalidArgument("subscribe to at least one topic") }
    let wanted = Array(Set(topics)).sorted()
    if wanted != subscription {
      subscription = wanted
      rejoinNeeded = true
    }
  }

  /// The partitions this member was assigned in the current generation.
  public var assignment: [TopicPartition] { assigned }
  /// The member id the coordinator gave, empty before the first join.
  public var currentMemberId: String { memberId }
  /// The current generation, -1 before the first join.
  public var generation: Int32 { generationId }

  /// Joins the group when needed, commits when the auto-commit interval passed, and returns
  /// the records available within `timeout` from the assigned partitions.
  public func poll(timeout: Duration = .seconds(1)) async throws -> [ConsumerRecord] {
    guard !isClosed else { throw KafkaClientError.closed }
    if let fatal { throw fatal }
    guard !subscription.isEmpty else {
      throw KafkaClientError.invalidArgument("poll without a subscription")
    }
    lastPoll = .now
    polling = true
    defer {
      polling = false
      lastPoll = .now
    }
    let deadline = ContinuousClock.now + timeout
    while true {
      if rejoinNeeded || state != .stable {
        try await joinGroup()
      }
      try await maybeAutoCommit()
      let remaining = deadline - .now
      if assigned.isEmpty {
        // Nothing to read in this generation: wait for a rebalance or the timeout.
        let pause = min(max(.zero, remaining), .milliseconds(100))
        try await Task.sleep(for: pause)
        if ContinuousClock.now >= deadline { return [] }
        continue
      }
      let wait = min(max(.zero, remaining), configuration.heartbeatInterval)
      let records = try await consumer.poll(timeout: wait)
      if rejoinNeeded {
        // The assignment is being revoked: these records may now belong to another member.
        if !records.isEmpty { continue }
      } else if !records.isEmpty {
        for record in records {
          consumed[record.topicPartition] = OffsetAndMetadata(
            offset: record.offset + 1, leaderEpoch: record.leaderEpoch)
        }
        return records
      }
      if ContinuousClock.now >= deadline { return [] }
    }
  }

  /// Commits the position after the last record poll returned, for every assigned partition.
  public func commit() async throws {
    try await commit(consumed)
  }

  /// Commits `offsets` (the next offsets to read) for this member's generation. Throws
  /// REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID when the group moved on
  /// (the next poll rejoins).
  public func commit(_ offsets: [TopicPartition: OffsetAndMetadata]) async throws {
    let pending = offsets.filter { committed[$0.key] != $0.value }
    guard !pending.isEmpty else { return }
    do {
      try await GroupOffsets.commit(
        coordinator, offsets: pending, generation: generationId, memberId: memberId,
        groupInstanceId: configuration.groupInstanceId,
        deadline: .now + configuration.defaultApiTimeout)
      for (partition, offset) in pending { committed[partition] = offset }
    } catch let error as KafkaClientError {
      noteMembershipError(error.errorCode)
      throw error
    }
  }

  /// The group's committed offsets for `partitions`.
  public func committedOffsets(
    _ partitions: [TopicPartition]
  ) async throws -> [TopicPartition: OffsetAndMetadata] {
    try await GroupOffsets.fetch(
      coordinator, partitions: partitions, deadline: .now + configuration.defaultApiTimeout)
  }

  /// Commits (with auto commit on, unless `committing` is false), leaves the group and stops;
  /// does not close the client.
  public func close(committing: Bool = true) async {
    guard !isClosed else { return }
    isClosed = true
    heartbeatTask?.cancel()
    heartbeatTask = nil
    if committing, configuration.enableAutoCommit, state == .stable, generationId >= 0 {
      try? await commit()
    }
    if !memberId.isEmpty, configuration.groupInstanceId == nil {
      try? await leaveGroup(reason: "the consumer is being closed")
    }
    await consumer.close()
    await coordinator.close()
  }

  // MARK: Membership

  private func maybeAutoCommit() async throws {
    guard configuration.enableAutoCommit, ContinuousClock.now >= nextAutoCommit else { return }
    nextAutoCommit = .now + configuration.autoCommitInterval
    do {
      try await commit()
    } catch let error as KafkaClientError {
      // A failed auto commit is retried at the next interval; only fatal errors surface.
      if error.errorCode == .groupAuthorizationFailed || error.errorCode == .fencedInstanceId {
        throw error
      }
    }
  }

  private func noteMembershipError(_ code: ErrorCode?) {
    switch code {
    case .rebalanceInProgress?, .illegalGeneration?:
      rejoinNeeded = true
    case .unknownMemberId?:
      memberId = ""
      generationId = -1
      rejoinNeeded = true
    case .fencedInstanceId?:
      fatal = .broker(.fencedInstanceId, context: "group \(configuration.groupId)")
    default:
      break
    }
  }

  /// Joins (or rejoins) the group and takes the assignment of the new generation.
  private func joinGroup() async throws {
    // Before giving up partitions (the eager protocol), commit what was consumed.
    if configuration.enableAutoCommit, state == .stable, generationId >= 0, !consumed.isEmpty {
      try? await commit()
    }
    state = .joining
    rejoinNeeded = false
    assigned = []
    await consumer.assign([])
    let deadline = ContinuousClock.now + configuration.defaultApiTimeout
    while true {
      if isClosed { throw KafkaClientError.closed }
      let joined = try await sendJoinGroup(deadline: deadline)
      guard let joined else { continue }
      let assignment: ByteBuffer
      do {
        guard let synced = try await sendSyncGroup(joined, deadline: deadline) else { continue }
        assignment = synced
      }
      let partitions = try ConsumerProtocol.decodeAssignment(assignment)
      try await takeAssignment(partitions)
      state = .stable
      startHeartbeats()
      return
    }
  }

  /// One JoinGroup; nil when the coordinator asked to try again (MEMBER_ID_REQUIRED, a
  /// rebalance, an unknown member id).
  private func sendJoinGroup(deadline: ContinuousClock.Instant) async throws -> JoinGroupResponse? {
    var request = JoinGroupRequest()
    request.groupId = configuration.groupId
    request.sessionTimeoutMs = Int32(clamping: configuration.sessionTimeout.milliseconds)
    request.rebalanceTimeoutMs = Int32(clamping: configuration.maxPollInterval.milliseconds)
    request.memberId = memberId
    request.groupInstanceId = configuration.groupInstanceId
    request.protocolType = ConsumerProtocol.protocolType
    request.protocols = [
      JoinGroupRequest.JoinGroupRequestProtocol(
        name: RangeAssignor.name,
        metadata: ConsumerProtocol.encodeSubscription(topics: subscription))
    ]
    request.reason = nil
    // The coordinator holds JoinGroup until the rebalance completes (up to the rebalance
    // timeout of the slowest member).
    let timeout = configuration.maxPollInterval + .seconds(5)
    let response = try await coordinator.send(request, timeout: timeout, deadline: deadline) {
      ErrorCode(rawValue: $0.errorCode)
    }
    let code = ErrorCode(rawValue: response.errorCode)
    switch code {
    case .none:
      memberId = response.memberId
      generationId = response.generationId
      isLeader = response.leader == response.memberId
      return response
    case .memberIdRequired:
      // KIP-394: join again at once with the id the coordinator gave.
      memberId = response.memberId
      return nil
    case .unknownMemberId:
      memberId = ""
    case .rebalanceInProgress, .illegalGeneration:
      break
    case .fencedInstanceId:
      fatal = .broker(code, context: "JoinGroup for group \(configuration.groupId)")
      throw KafkaClientError.broker(code, context: "JoinGroup for group \(configuration.groupId)")
    default:
      if !code.isRetriable {
        throw KafkaClientError.broker(code, context: "JoinGroup for group \(configuration.groupId)")
      }
    }
    guard ContinuousClock.now + client.configuration.retryBackoff < deadline else {
      throw KafkaClientError.broker(code, context: "JoinGroup for group \(configuration.groupId)")
    }
    try await Task.sleep(for: client.configuration.retryBackoff)
    return nil
  }

  /// SyncGroup (the leader sends every member's assignment); the assignment bytes, or nil
  /// when the group must be joined again.
  private func sendSyncGroup(
    _ joined: JoinGroupResponse, deadline: ContinuousClock.Instant
  ) async throws -> ByteBuffer? {
    var request = SyncGroupRequest()
    request.groupId = configuration.groupId
    request.generationId = joined.generationId
    request.memberId = memberId
    request.groupInstanceId = configuration.groupInstanceId
    request.protocolType = ConsumerProtocol.protocolType
    request.protocolName = joined.protocolName ?? RangeAssignor.name
    if isLeader, !joined.skipAssignment {
      request.assignments = try await leaderAssignments(joined.members)
    }
    let timeout = configuration.maxPollInterval + .seconds(5)
    let response = try await coordinator.send(request, timeout: timeout, deadline: deadline) {
      ErrorCode(rawValue: $0.errorCode)
    }
    let code = ErrorCode(rawValue: response.errorCode)
    switch code {
    case .none:
      return response.assignment
    case .rebalanceInProgress, .illegalGeneration:
      return nil
    case .unknownMemberId:
      memberId = ""
      return nil
    default:
      throw KafkaClientError.broker(code, context: "SyncGroup for group \(configuration.groupId)")
    }
  }

  /// The range assignment of every member's subscription, over the topics' partition counts.
  private func leaderAssignments(
    _ members: [JoinGroupResponse.JoinGroupResponseMember]
  ) async throws -> [SyncGroupRequest.SyncGroupRequestAssignment] {
    var subscribers: [RangeAssignor.Member] = []
    for member in members {
      let subscription = try ConsumerProtocol.decodeSubscription(member.metadata)
      subscribers.append(
        RangeAssignor.Member(
          memberId: member.memberId, groupInstanceId: member.groupInstanceId,
          topics: subscription.topics))
    }
    let topics = Set(subscribers.flatMap(\.topics))
    var counts: [String: Int32] = [:]
    for topic in topics.sorted() {
      if let metadata = try? await client.topicMetadata(topic, forceRefresh: true) {
        counts[topic] = metadata.partitionCount
      }
    }
    let plan = RangeAssignor.assign(members: subscribers, partitionCounts: counts)
    return subscribers.map {
      SyncGroupRequest.SyncGroupRequestAssignment(
        memberId: $0.memberId,
        assignment: ConsumerProtocol.encodeAssignment(plan[$0.memberId] ?? []))
    }
  }

  /// Assigns the partitions to the fetcher, each at its committed offset, or per
  /// `autoOffsetReset` without one.
  private func takeAssignment(_ partitions: [TopicPartition]) async throws {
    let sorted = Array(Set(partitions)).sorted()
    assigned = sorted
    consumed = [:]
    committed = [:]
    await consumer.assign(sorted)
    guard !sorted.isEmpty else { return }
    let offsets = try await GroupOffsets.fetch(
      coordinator, partitions: sorted, deadline: .now + configuration.defaultApiTimeout)
    for partition in sorted {
      if let offset = offsets[partition] {
        try await consumer.seek(partition, to: .offset(offset.offset))
        committed[partition] = offset
      }
    }
  }

  private func leaveGroup(reason: String) async throws {
    var request = LeaveGroupRequest()
    request.groupId = configuration.groupId
    request.memberId = memberId
    request.members = [
      LeaveGroupRequest.MemberIdentity(
        memberId: memberId, groupInstanceId: configuration.groupInstanceId, reason: reason)
    ]
    _ = try await coordinator.send(request, deadline: .now + .seconds(5)) {
      ErrorCode(rawValue: $0.errorCode)
    }
    memberId = ""
    generationId = -1
    state = .unjoined
  }

  // MARK: Heartbeats

  private func startHeartbeats() {
    heartbeatTask?.cancel()
    let interval = configuration.heartbeatInterval
    heartbeatTask = Task { [weak self] in
      while !Task.isCancelled {
        do {
          try await Task.sleep(for: interval)
        } catch {
          return
        }
        guard let self, await self.heartbeatOnce() else { return }
      }
    }
  }

  /// One Heartbeat while the member is stable; false when heartbeats should stop (the member
  /// must rejoin, or left). A member that has not called poll for `maxPollInterval` since the
  /// last one returned leaves the group, as the Java consumer does.
  private func heartbeatOnce() async -> Bool {
    guard state == .stable, !isClosed else { return false }
    if !polling, ContinuousClock.now - lastPoll > configuration.maxPollInterval {
      try? await leaveGroup(reason: "max.poll.interval.ms expired")
      rejoinNeeded = true
      return false
    }
    let generation = generationId
    var request = HeartbeatRequest()
    request.groupId = configuration.groupId
    request.generationId = generation
    request.memberId = memberId
    request.groupInstanceId = configuration.groupInstanceId
    let response: HeartbeatResponse
    do {
      response = try await coordinator.send(
        request, deadline: .now + configuration.sessionTimeout
      ) { ErrorCode(rawValue: $0.errorCode) }
    } catch {
      // The coordinator could not be reached within the session: rejoin.
      if generation == generationId { rejoinNeeded = true }
      return false
    }
    guard generation == generationId, state == .stable else { return false }
    let code = ErrorCode(rawValue: response.errorCode)
    if code == .none { return true }
    noteMembershipError(code)
    if !rejoinNeeded, fatal == nil, code.isRetriable { return true }
    return !rejoinNeeded && fatal == nil
  }
}
