import KafkaProtocol

/// What the controller answers a BrokerHeartbeat with, and the records that carry out the
/// state change it caused (unfence, fence, controlled shutdown).
public struct BrokerHeartbeatOutcome: Sendable, Equatable {
  public var records: [MetadataRecord]
  public var isCaughtUp: Bool
  public var isFenced: Bool
  public var shouldShutDown: Bool

  public init(records: [MetadataRecord], isCaughtUp: Bool, isFenced: Bool, shouldShutDown: Bool) {
    self.records = records
    self.isCaughtUp = isCaughtUp
    self.isFenced = isFenced
    self.shouldShutDown = shouldShutDown
  }
}

/// Broker lifecycle at the controller: registration, heartbeats (unfence, fence, controlled
/// shutdown) and fencing on session expiry, as Kafka's ClusterControlManager and
/// ReplicationControlManager decide them.
extension ControllerDecisions {
  /// A BrokerRegistration: a RegisterBrokerRecord (fenced, epoch `brokerEpoch` — the offset the
  /// runtime will give the record) and, for a node id registered before, the records that take
  /// the old registration out of every ISR and leadership (its log may be behind).
  public func registerBroker(
    _ request: BrokerRegistrationRequest, brokerEpoch: Int64, clusterId: String, nowMs: Int64,
    tracker: BrokerHeartbeatTracker, sessionTimeoutMs: Int64, image: MetadataImage
  ) -> Result<[MetadataRecord], ControllerError> {
    guard request.clusterId == clusterId else {
      return .failure(
        ControllerError(
          .inconsistentClusterId,
          "Expected cluster ID \(clusterId), but got cluster ID \(request.clusterId)"))
    }
    if let existing = image.brokers[request.brokerId],
      existing.incarnationId != request.incarnationId,
      tracker.hasValidSession(request.brokerId, nowMs: nowMs, sessionTimeoutMs: sessionTimeoutMs)
    {
      return .failure(
        ControllerError(
          .duplicateBrokerRegistration,
          "Another broker is registered with that broker id \(request.brokerId)."))
    }
    let record = RegisterBrokerRecord(
      brokerId: request.brokerId, incarnationId: request.incarnationId, brokerEpoch: brokerEpoch,
      endPoints: request.listeners.map {
        .init(name: $0.name, host: $0.host, port: $0.port, securityProtocol: $0.securityProtocol)
      },
      features: request.features.map {
        .init(
          name: $0.name, minSupportedVersion: $0.minSupportedVersion,
          maxSupportedVersion: $0.maxSupportedVersion)
      },
      rack: request.rack, fenced: true, inControlledShutdown: false, logDirs: request.logDirs)
    var next = image
    var records: [MetadataRecord] = [.registerBroker(record)]
    next.apply(.registerBroker(record))
    records += Self.removeFromIsrsAndLeadership(request.brokerId, image: &next)
    return .success(records)
  }

  /// A BrokerHeartbeat. A fenced broker is unfenced once its metadata offset reaches its
  /// registration record (its epoch) unless it asks to stay fenced; `wantFence` fences it;
  /// `wantShutDown` starts a controlled shutdown (leaderships move away, it leaves the ISRs),
  /// and the broker may shut down — and is fenced — at a later heartbeat once it leads nothing.
  public func brokerHeartbeat(
    _ request: BrokerHeartbeatRequest, nowMs: Int64, image: MetadataImage
  ) -> Result<BrokerHeartbeatOutcome, ControllerError> {
    let id = request.brokerId
    guard let broker = image.brokers[id] else {
      return .failure(
        ControllerError(.brokerIdNotRegistered, "Broker \(id) is not registered."))
    }
    guard broker.epoch == request.brokerEpoch else {
      return .failure(
        ControllerError(
          .staleBrokerEpoch,
          "Expected broker epoch \(broker.epoch), but got broker epoch \(request.brokerEpoch)"))
    }
    let caughtUp = request.currentMetadataOffset >= broker.epoch
    var next = image
    var records: [MetadataRecord] = []
    func add(_ more: [MetadataRecord]) {
      for r in more { next.apply(r) }
      records += more
    }
    if broker.fenced {
      if request.wantShutDown {
        return .success(
          BrokerHeartbeatOutcome(
            records: [], isCaughtUp: caughtUp, isFenced: true, shouldShutDown: true))
      }
      if !request.wantFence && caughtUp && !broker.inControlledShutdown {
        add([.unfenceBroker(UnfenceBrokerRecord(id: id, epoch: broker.epoch))])
        add(Self.electLeaderless(replicatedOn: id, image: next))
      }
    } else if request.wantShutDown {
      if !broker.inControlledShutdown {
        add([
          .brokerRegistrationChange(
            BrokerRegistrationChangeRecord(
              brokerId: id, brokerEpoch: broker.epoch, inControlledShutdown: 1))
        ])
      }
      records += Self.removeFromIsrsAndLeadership(id, image: &next)
      // Shut down at the heartbeat after the one that moved the leaderships, as Kafka does
      // (the broker heartbeats again soon after the first answer).
      if broker.inControlledShutdown && next.partitions(ledBy: id).isEmpty {
        add(fenceBroker(id, image: next))
      }
    } else if request.wantFence {
      add(fenceBroker(id, image: next))
    }
    let fenced = next.brokers[id]?.fenced ?? true
    return .success(
      BrokerHeartbeatOutcome(
        records: records, isCaughtUp: caughtUp, isFenced: fenced,
        shouldShutDown: request.wantShutDown && fenced))
  }

  /// Fences a broker whose session expired: a FenceBrokerRecord, then it leaves every ISR
  /// (except as the last one standing, with no leader) and its partitions get new leaders.
  public func fenceBroker(_ id: Int32, image: MetadataImage) -> [MetadataRecord] {
    guard let broker = image.brokers[id] else { return [] }
    var next = image
    var records: [MetadataRecord] = []
    if !broker.fenced {
      let fence = MetadataRecord.fenceBroker(FenceBrokerRecord(id: id, epoch: broker.epoch))
      next.apply(fence)
      records.append(fence)
    }
    return records + Self.removeFromIsrsAndLeadership(id, image: &next)
  }

  /// UnregisterBroker: the broker leaves every ISR and leadership as when fenced, then its
  /// registration goes (an UnregisterBrokerRecord of its epoch).
  public func unregisterBroker(_ id: Int32, image: MetadataImage) -> Result<
    [MetadataRecord], ControllerError
  > {
    guard let broker = image.brokers[id] else {
      return .failure(
        ControllerError(.brokerIdNotRegistered, "Broker ID \(id) is not currently registered"))
    }
    var next = image
    next.brokers[id]?.fenced = true
    var records = Self.removeFromIsrsAndLeadership(id, image: &next)
    records.append(
      .unregisterBroker(UnregisterBrokerRecord(brokerId: id, brokerEpoch: broker.epoch)))
    return .success(records)
  }

  /// Kafka's generateLeaderAndIsrUpdates for a broker that may no longer lead or be in sync:
  /// removes it from each ISR (never emptying one) and elects where it led. Applies the
  /// records to `image` as it goes.
  static func removeFromIsrsAndLeadership(_ id: Int32, image: inout MetadataImage)
    -> [MetadataRecord]
  {
    var records: [MetadataRecord] = []
    for tp in image.partitions(replicatedOn: id) {
      guard let topicId = image.topicId(of: tp.topic), let partition = image.partition(tp),
        partition.isr.contains(id) || partition.leader == id
      else { continue }
      var election = PartitionElection(topicId: topicId, partition: partition, image: image)
      let isr = partition.isr.filter { $0 != id }
      if !isr.isEmpty { election.targetIsr = isr }
      if let change = election.build() {
        let record = MetadataRecord.partitionChange(change)
        image.apply(record)
        records.append(record)
      }
    }
    return records
  }

  /// Online elections for the leaderless partitions with a replica on `id`.
  static func electLeaderless(replicatedOn id: Int32, image: MetadataImage) -> [MetadataRecord] {
    var records: [MetadataRecord] = []
    for tp in image.partitions(replicatedOn: id) {
      guard let topicId = image.topicId(of: tp.topic), let partition = image.partition(tp),
        partition.leader == PartitionInfo.noLeader
      else { continue }
      if let change = PartitionElection(topicId: topicId, partition: partition, image: image)
        .build()
      {
        records.append(.partitionChange(change))
      }
    }
    return records
  }
}
