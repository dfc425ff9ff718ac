import KafkaProtocol
import NIOCore
import SkeinCluster
import Synchronization

// The controller's side of the broker lifecycle and of ISR changes: each request is decided
// by SkeinCluster on the current image and the heartbeat tracker, persisted, then answered.

extension ControllerRuntime {
  func registerBroker(_ request: BrokerRegistrationRequest, _ context: RequestContext)
    -> Reply<BrokerRegistrationResponse>
  {
    let now = currentTimeMillis()
    var epoch: Int64 = -1
    let outcome = performAtOffset { image, nextOffset in
      epoch = nextOffset
      return heartbeats.withLock { tracker in
        decisions.registerBroker(
          request, brokerEpoch: nextOffset, clusterId: clusterId, nowMs: now, tracker: tracker,
          sessionTimeoutMs: settings.sessionTimeoutMs, image: image)
      }
    }
    switch outcome {
    case .success:
      heartbeats.withLock { $0.touch(brokerId: request.brokerId, nowMs: now) }
      logger.info(
        "broker \(request.brokerId) registered (rack \(request.rack ?? "none"), epoch \(epoch))")
      return .now(BrokerRegistrationResponse(errorCode: 0, brokerEpoch: epoch))
    case .failure(let error):
      logger.warning("registration of broker \(request.brokerId) refused: \(error.message)")
      return .now(BrokerRegistrationResponse(errorCode: error.code.rawValue, brokerEpoch: -1))
    }
  }

  func brokerHeartbeat(_ request: BrokerHeartbeatRequest, _ context: RequestContext)
    -> Reply<BrokerHeartbeatResponse>
  {
    let now = currentTimeMillis()
    var result: BrokerHeartbeatOutcome?
    let outcome = perform { image in
      decisions.brokerHeartbeat(request, nowMs: now, image: image).map { decided in
        result = decided
        return decided.records
      }
    }
    switch outcome {
    case .success:
      let decided = result
      heartbeats.withLock { tracker in
        if decided?.shouldShutDown == true {
          // Shut down cleanly: its next incarnation may register at once.
          tracker.remove(request.brokerId)
        } else {
          tracker.touch(brokerId: request.brokerId, nowMs: now)
        }
      }
      return .now(
        BrokerHeartbeatResponse(
          errorCode: 0, isCaughtUp: decided?.isCaughtUp ?? false,
          isFenced: decided?.isFenced ?? true, shouldShutDown: decided?.shouldShutDown ?? false))
    case .failure(let error):
      return .now(
        BrokerHeartbeatResponse(
          errorCode: error.code.rawValue, isCaughtUp: false, isFenced: true, shouldShutDown: false))
    }
  }

  func alterPartition(_ request: AlterPartitionRequest, _ context: RequestContext)
    -> Reply<AlterPartitionResponse>
  {
    var response = AlterPartitionResponse()
    let outcome = perform { image in
      let (answer, records) = decisions.alterPartition(
        request, version: context.apiVersion, image: image)
      response = answer
      return .success(records)
    }
    if case .failure(let error) = outcome {
      return .now(AlterPartitionResponse(errorCode: error.code.rawValue))
    }
    return .now(response)
  }

  func allocateProducerIds(_ request: AllocateProducerIdsRequest, _ context: RequestContext)
    -> Reply<AllocateProducerIdsResponse>
  {
    var start: Int64 = -1
    let outcome = perform { image in
      start = image.nextProducerId
      return decisions.allocateProducerIds(
        brokerId: request.brokerId, brokerEpoch: request.brokerEpoch, image: image)
    }
    switch outcome {
    case .success:
      return .now(
        AllocateProducerIdsResponse(
          errorCode: 0, producerIdStart: start,
          producerIdLen: Int32(ControllerDecisions.producerIdBlockSize)))
    case .failure(let error):
      return .now(
        AllocateProducerIdsResponse(
          errorCode: error.code.rawValue, producerIdStart: -1, producerIdLen: 0))
    }
  }

  /// The controller's periodic work: fences brokers whose session expired, and at their
  /// intervals runs unclean elections and moves leadership back to preferred replicas.
  func tick(nowMs: Int64, lastRuns: inout ControllerTickTimes) {
    let expired = heartbeats.withLock { tracker in
      tracker.expired(nowMs: nowMs, sessionTimeoutMs: settings.sessionTimeoutMs)
    }
    for id in expired {
      perform { image in
        guard let broker = image.brokers[id], !broker.fenced else { return .success([]) }
        return .success(decisions.fenceBroker(id, image: image))
      }
      heartbeats.withLock { $0.remove(id) }
      logger.warning("broker \(id) fenced: no heartbeat for \(settings.sessionTimeoutMs) ms")
    }
    if nowMs - lastRuns.uncleanElection >= settings.uncleanElectionIntervalMs {
      lastRuns.uncleanElection = nowMs
      let defaultUnclean = settings.uncleanElectionDefault
      perform { image in
        .success(
          decisions.uncleanElections(image: image) { topic in
            image.topicConfigs(topic)["unclean.leader.election.enable"].map {
              $0.lowercased() == "true"
            } ?? defaultUnclean
          })
      }
    }
    if settings.autoLeaderRebalance,
      nowMs - lastRuns.leaderBalance >= settings.leaderImbalanceCheckIntervalMs
    {
      lastRuns.leaderBalance = nowMs
      let limit = settings.maxElectionsPerPass
      perform { image in
        .success(decisions.balancePartitionLeaders(image: image, maxElections: limit))
      }
    }
  }
}

/// When the controller's interval tasks last ran.
struct ControllerTickTimes: Sendable {
  var uncleanElection: Int64
  var leaderBalance: Int64
}

extension ControllerRuntime {
  /// ElectLeaders (KIP-460): preferred or unclean elections for the named partitions, or for
  /// every partition when none are named (then only the partitions that changed are listed).
  func electLeaders(_ request: ElectLeadersRequest, _ context: RequestContext)
    -> Reply<ElectLeadersResponse>
  {
    let type: ElectionType = request.electionType == 1 ? .unclean : .preferred
    let named = request.topicPartitions.map { topics in
      topics.flatMap { t in t.partitions.map { TopicPartition(t.topic, $0) } }
    }
    var results: [TopicPartition: ControllerError?] = [:]
    let outcome = perform { image in
      let (decided, records) = decisions.electLeaders(
        type: type, partitions: named, image: image)
      results = decided
      return .success(records)
    }
    if case .failure(let error) = outcome {
      return .now(ElectLeadersResponse(errorCode: error.code.rawValue))
    }
    var byTopic: [String: [ElectLeadersResponse.PartitionResult]] = [:]
    for (tp, error) in results.sorted(by: { $0.key < $1.key }) {
      if named == nil && error?.code == .electionNotNeeded { continue }
      byTopic[tp.topic, default: []].append(
        .init(
          partitionId: tp.partition, errorCode: error?.code.rawValue ?? 0,
          errorMessage: error?.message))
    }
    return .now(
      ElectLeadersResponse(
        errorCode: 0,
        replicaElectionResults: byTopic.sorted { $0.key < $1.key }.map {
          .init(topic: $0.key, partitionResult: $0.value)
        }))
  }
}
