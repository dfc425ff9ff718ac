import KafkaProtocol

extension ErrorCode {
  /// Errors after which a group's coordinator must be looked up again (FindCoordinator).
  var needsCoordinatorLookup: Bool {
    self == .notCoordinator || self == .coordinatorNotAvailable
      || self == .coordinatorLoadInProgress
  }
}

/// Talks to one group's coordinator: FindCoordinator (key type group) finds it, requests go
/// over a connection of its own (so heartbeats never queue behind fetches or a JoinGroup held
/// by the broker), and NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE and
/// COORDINATOR_LOAD_IN_PROGRESS lead to a new lookup and a retry.
actor GroupCoordinator {
  nonisolated let client: KafkaClient
  nonisolated let groupId: String
  private var coordinator: (nodeId: Int32, connection: KafkaConnection)?
  private var lookup: Task<(Int32, KafkaConnection), any Error>?

  init(client: KafkaClient, groupId: String) {
    self.client = client
    self.groupId = groupId
  }

  /// The coordinator's node id, once found.
  var nodeId: Int32? { coordinator?.nodeId }

  /// Forgets the coordinator; the next request looks it up again.
  func invalidate() async {
    let old = coordinator
    coordinator = nil
    await old?.connection.close()
  }

  func close() async {
    lookup?.cancel()
    await invalidate()
  }

  /// The coordinator's connection, found (and retried) until `deadline`.
  func connection(deadline: ContinuousClock.Instant) async throws -> KafkaConnection {
    while true {
      if let coordinator, coordinator.connection.isActive { return coordinator.connection }
      do {
        let task =
          lookup
          ?? Task { [client, groupId] in
            try await Self.findCoordinator(client: client, key: groupId)
          }
        lookup = task
        let found = try await task.value
        lookup = nil
        coordinator = found
        return found.1
      } catch let error as KafkaClientError {
        lookup = nil
        guard error.isRetriable || (error.errorCode?.needsCoordinatorLookup ?? false),
          ContinuousClock.now + client.configuration.retryBackoff < deadline
        else { throw error }
      }
      try await Task.sleep(for: client.configuration.retryBackoff)
    }
  }

  /// Sends `request` to the coordinator; `coordinatorError` picks the error code of the
  /// answer that says whether the coordinator moved (top-level or per partition). Lost
  /// connections and coordinator errors are retried, after a new lookup, until `deadline`.
  func send<R: KafkaRequestMessage>(
    _ request: R, timeout: Duration? = nil, deadline: ContinuousClock.Instant,
    coordinatorError: (R.Response) -> ErrorCode
  ) async throws -> R.Response {
    while true {
      let connection = try await connection(deadline: deadline)
      do {
        let response = try await connection.send(request, timeout: timeout)
        let code = coordinatorError(response)
        guard code.needsCoordinatorLookup else { return response }
        await invalidate()
        guard ContinuousClock.now + client.configuration.retryBackoff < deadline else {
          throw KafkaClientError.broker(code, context: "\(R.apiKey.name) for group \(groupId)")
        }
      } catch let error as KafkaClientError where error.isRetriable {
        await invalidate()
        guard ContinuousClock.now + client.configuration.retryBackoff < deadline else {
          throw error
        }
      }
      try await Task.sleep(for: client.configuration.retryBackoff)
    }
  }

  /// FindCoordinator at any broker (batched keys from v4 on), then a new connection to the
  /// coordinator it names.
  static func findCoordinator(
    client: KafkaClient, key: String
  ) async throws -> (Int32, KafkaConnection) {
    let any = try await client.anyConnection()
    let version = try any.version(for: .findCoordinator)
    var request = FindCoordinatorRequest()
    request.keyType = 0
    if version >= 4 {
      request.coordinatorKeys = [key]
    } else {
      request.key = key
    }
    let response = try await any.send(request, version: version)
    let nodeId: Int32
    let host: String
    let port: Int32
    if version >= 4 {
      guard let entry = response.coordinators.first(where: { $0.key == key }) else {
        throw KafkaClientError.malformedResponse("FindCoordinator answered no entry for \(key)")
      }
      try KafkaClientError.check(
        entry.errorCode, "FindCoordinator for group \(key)", message: entry.errorMessage)
      (nodeId, host, port) = (entry.nodeId, entry.host, entry.port)
    } else {
      try KafkaClientError.check(
        response.errorCode, "FindCoordinator for group \(key)", message: response.errorMessage)
      (nodeId, host, port) = (response.nodeId, response.host, response.port)
    }
    let connection = try await KafkaConnection.connect(
      host: host, port: Int(port), configuration: client.configuration.connection,
      eventLoopGroup: client.eventLoopGroup)
    return (nodeId, connection)
  }
}
