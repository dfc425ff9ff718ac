import KafkaProtocol

/// A delayed JoinGroup or SyncGroup answer for the request the runtime registered as `token`.
public struct PendingReply<Response: Sendable>: Sendable {
  public var token: UInt64
  public var response: Response
}

/// What a step of the coordinator produced: records to append to the shard's partition (before
/// any answer goes out) and the JoinGroup / SyncGroup answers it completed.
public struct CoordinatorOutput: Sendable {
  public var records: [CoordinatorRecord] = []
  public var joinReplies: [PendingReply<JoinGroupResponse>] = []
  public var syncReplies: [PendingReply<SyncGroupResponse>] = []

  public init() {}

  public var isEmpty: Bool { records.isEmpty && joinReplies.isEmpty && syncReplies.isEmpty }

  mutating func join(_ token: UInt64, _ response: JoinGroupResponse) {
    joinReplies.append(PendingReply(token: token, response: response))
  }

  mutating func sync(_ token: UInt64, _ response: SyncGroupResponse) {
    syncReplies.append(PendingReply(token: token, response: response))
  }
}

/// A response together with the records that must be appended before it is sent.
public struct CoordinatorResult<Response: Sendable>: Sendable {
  public var output: CoordinatorOutput
  public var response: Response
}
