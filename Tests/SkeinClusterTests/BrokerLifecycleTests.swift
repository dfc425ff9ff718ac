import KafkaProtocol
import Testing

@testable import SkeinCluster

@Suite struct BrokerLifecycleTests {
  func code<T>(_ result: Result<T, ControllerError>) -> ErrorCode? {
    if case .failure(let e) = result { return e.code }
    return nil
  }

  @Test func registrationIsFencedUntilTheBrokerCatchesUp() throws {
    var c = ClusterFixture()
    c.nextOffset = 10
    let records = try c.decisions.registerBroker(
      ClusterFixture.registration(1, rack: "R1"), brokerEpoch: 10, clusterId: "c1", nowMs: 0,
      tracker: BrokerHeartbeatTracker(), sessionTimeoutMs: 9000, image: c.image
    ).get()
    #expect(records.count == 1)
    c.apply(records)
    let broker = try #require(c.image.brokers[1])
    #expect(broker.fenced && broker.epoch == 10 && broker.rack == "R1")
    #expect(broker.incarnationId == ClusterFixture.incarnation(1) && broker.host == "h1")

    let behind = try c.heartbeat(1, offset: 9).get()
    #expect(behind.records.isEmpty && !behind.isCaughtUp && behind.isFenced)
    let caughtUp = try c.heartbeat(1, offset: 10).get()
    #expect(caughtUp.records == [.unfenceBroker(UnfenceBrokerRecord(id: 1, epoch: 10))])
    #expect(caughtUp.isCaughtUp && !caughtUp.isFenced && !caughtUp.shouldShutDown)
    #expect(c.image.brokers[1]?.fenced == false)
  }

  @Test func registrationRefusals() {
    var c = ClusterFixture()
    c.start([1])
    let image = c.image
    func register(
      _ request: BrokerRegistrationRequest, cluster: String = "c1", tracker: BrokerHeartbeatTracker
    ) -> Result<[MetadataRecord], ControllerError> {
      c.decisions.registerBroker(
        request, brokerEpoch: 50, clusterId: cluster, nowMs: 20_000, tracker: tracker,
        sessionTimeoutMs: 9000, image: image)
    }
    var recent = BrokerHeartbeatTracker()
    recent.touch(brokerId: 1, nowMs: 15_000)
    #expect(
      code(register(ClusterFixture.registration(2), cluster: "other", tracker: recent))
        == .inconsistentClusterId)
    // Another incarnation is refused while the old one's session is valid (Kafka's rule);
    // without a session (the old process is gone and its controller restarted) it registers.
    let newIncarnation = ClusterFixture.registration(1, generation: 2)
    #expect(code(register(newIncarnation, tracker: recent)) == .duplicateBrokerRegistration)
    #expect(code(register(newIncarnation, tracker: BrokerHeartbeatTracker())) == nil)
    // The same incarnation registering again gets a new epoch.
    #expect(code(register(ClusterFixture.registration(1), tracker: recent)) == nil)

    // Fenced: refused while it still heartbeats within the session, accepted after.
    var fenced = ClusterFixture()
    fenced.start([1])
    fenced.apply(fenced.decisions.fenceBroker(1, image: fenced.image))
    let refused = fenced.decisions.registerBroker(
      newIncarnation, brokerEpoch: 50, clusterId: "c1", nowMs: 20_000, tracker: recent,
      sessionTimeoutMs: 9000, image: fenced.image)
    #expect(code(refused) == .duplicateBrokerRegistration)
    var stale = BrokerHeartbeatTracker()
    stale.touch(brokerId: 1, nowMs: 10_000)
    let accepted = fenced.decisions.registerBroker(
      newIncarnation, brokerEpoch: 50, clusterId: "c1", nowMs: 20_000, tracker: stale,
      sessionTimeoutMs: 9000, image: fenced.image)
    #expect(code(accepted) == nil)
  }

  @Test func heartbeatRefusals() {
    var c = ClusterFixture()
    c.start([1])
    let unknown = BrokerHeartbeatRequest(brokerId: 7, brokerEpoch: 0, currentMetadataOffset: 0)
    #expect(
      code(c.decisions.brokerHeartbeat(unknown, nowMs: 0, image: c.image)) == .brokerIdNotRegistered
    )
    let stale = BrokerHeartbeatRequest(brokerId: 1, brokerEpoch: 99, currentMetadataOffset: 0)
    #expect(code(c.decisions.brokerHeartbeat(stale, nowMs: 0, image: c.image)) == .staleBrokerEpoch)
  }

  @Test func fencingMovesLeadershipAndKeepsTheLastReplicaStanding() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2, 3], [2, 1], [1]])
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    #expect(c.image.brokers[1]?.fenced == true)
    let p0 = try #require(c.partition("t", 0))
    #expect(p0.leader == 2 && p0.isr == [2, 3] && p0.leaderEpoch == 1 && p0.partitionEpoch == 1)
    let p1 = try #require(c.partition("t", 1))
    #expect(p1.leader == 2 && p1.isr == [2] && p1.leaderEpoch == 0 && p1.partitionEpoch == 1)
    let p2 = try #require(c.partition("t", 2))
    #expect(p2.leader == -1 && p2.isr == [1] && p2.leaderEpoch == 1)
    #expect(c.image.partitions(ledBy: 1).isEmpty)
    // Fencing again changes nothing.
    #expect(c.decisions.fenceBroker(1, image: c.image).isEmpty)

    // Back and caught up: it is unfenced and leads the partition it alone was in sync for.
    let outcome = try c.heartbeat(1).get()
    #expect(!outcome.isFenced)
    #expect(c.partition("t", 2)?.leader == 1)
    #expect(c.partition("t", 2)?.leaderEpoch == 2)
    #expect(c.partition("t", 0)?.leader == 2)
  }

  @Test func wantFenceFencesTheBroker() throws {
    var c = ClusterFixture(brokers: [1, 2], t: [[1, 2]])
    let outcome = try c.heartbeat(1, wantFence: true).get()
    #expect(outcome.isFenced && !outcome.shouldShutDown)
    #expect(outcome.records.first == .fenceBroker(FenceBrokerRecord(id: 1, epoch: 0)))
    #expect(c.partition("t", 0)?.leader == 2)
    // A fenced broker asking to stay fenced stays fenced.
    #expect(try c.heartbeat(1, wantFence: true).get().records.isEmpty)
  }

  @Test func controlledShutdownMovesLeadershipsThenLetsTheBrokerGo() throws {
    var c = ClusterFixture(brokers: [1, 2, 3], t: [[1, 2, 3], [2, 1, 3], [1]])
    let first = try c.heartbeat(1, wantShutDown: true).get()
    #expect(!first.shouldShutDown && !first.isFenced)
    #expect(
      first.records.first
        == .brokerRegistrationChange(
          BrokerRegistrationChangeRecord(brokerId: 1, brokerEpoch: 0, inControlledShutdown: 1)))
    #expect(c.image.brokers[1]?.inControlledShutdown == true)
    #expect(c.partition("t", 0)?.leader == 2 && c.partition("t", 0)?.isr == [2, 3])
    #expect(c.partition("t", 1)?.isr == [2, 3])
    #expect(c.partition("t", 2)?.leader == -1 && c.partition("t", 2)?.isr == [1])
    // A broker shutting down gets no new replicas.
    #expect(ControllerDecisions.placementBrokers(c.image).map(\.id) == [2, 3])

    let second = try c.heartbeat(1, wantShutDown: true).get()
    #expect(second.shouldShutDown && second.isFenced)
    #expect(c.image.brokers[1]?.fenced == true)
    #expect(try c.heartbeat(1, wantShutDown: true).get().shouldShutDown)
  }

  @Test func reRegistrationTakesTheOldRegistrationOutOfTheIsrs() throws {
    var c = ClusterFixture(brokers: [1, 2], t: [[1, 2]])
    var tracker = BrokerHeartbeatTracker()
    tracker.touch(brokerId: 1, nowMs: 0)
    c.apply(c.decisions.fenceBroker(1, image: c.image))
    let records = try c.decisions.registerBroker(
      ClusterFixture.registration(1, generation: 2), brokerEpoch: c.nextOffset, clusterId: "c1",
      nowMs: 10_000, tracker: tracker, sessionTimeoutMs: 9000, image: c.image
    ).get()
    c.apply(records)
    #expect(c.image.brokers[1]?.incarnationId == ClusterFixture.incarnation(1, 2))
    #expect(c.partition("t", 0)?.leader == 2 && c.partition("t", 0)?.isr == [2])

    // An unfenced broker re-registering (same incarnation) loses its leaderships at once.
    var d = ClusterFixture()
    d.start([1, 2])
    _ = d.createTopic("t", [[1, 2]])
    d.apply(
      try d.decisions.registerBroker(
        ClusterFixture.registration(1), brokerEpoch: d.nextOffset, clusterId: "c1", nowMs: 0,
        tracker: tracker, sessionTimeoutMs: 9000, image: d.image
      ).get())
    #expect(d.image.brokers[1]?.fenced == true)
    #expect(d.partition("t", 0)?.leader == 2)
  }

  @Test func unregisteringABrokerMovesItsLeadershipsFirst() throws {
    var c = ClusterFixture(brokers: [1, 2], t: [[1, 2], [1]])
    let records = try c.decisions.unregisterBroker(1, image: c.image).get()
    #expect(records.last == .unregisterBroker(UnregisterBrokerRecord(brokerId: 1, brokerEpoch: 0)))
    c.apply(records)
    #expect(c.image.brokers[1] == nil)
    #expect(c.partition("t", 0)?.leader == 2 && c.partition("t", 0)?.isr == [2])
    #expect(c.partition("t", 1)?.leader == -1 && c.partition("t", 1)?.isr == [1])
    #expect(code(c.decisions.unregisterBroker(1, image: c.image)) == .brokerIdNotRegistered)
  }

  @Test func heartbeatTracker() {
    var tracker = BrokerHeartbeatTracker()
    tracker.touch(brokerId: 1, nowMs: 1000)
    tracker.touch(brokerId: 2, nowMs: 5000)
    tracker.touch(brokerId: 1, nowMs: 500)  // a late message does not move contact back
    #expect(tracker.lastContact(1) == 1000)
    #expect(tracker.expired(nowMs: 10_000, sessionTimeoutMs: 9000) == [])
    #expect(tracker.expired(nowMs: 10_001, sessionTimeoutMs: 9000) == [1])
    #expect(tracker.hasValidSession(2, nowMs: 10_001, sessionTimeoutMs: 9000))
    tracker.remove(1)
    #expect(tracker.lastContact(1) == nil)
    #expect(tracker.expired(nowMs: 20_000, sessionTimeoutMs: 9000) == [2])

    var c = ClusterFixture()
    c.start([1, 2])
    c.apply(c.decisions.fenceBroker(2, image: c.image))
    let fresh = BrokerHeartbeatTracker(image: c.image, nowMs: 3000)
    #expect(fresh.lastContact(1) == 3000 && fresh.lastContact(2) == nil)
  }

  @Test func registrationRecordsOfEarlierVersionsStillLoad() throws {
    // A single node's registration as earlier versions wrote it: unfenced, epoch 1.
    var image = MetadataImage()
    image.apply(
      .registerBroker(
        RegisterBrokerRecord(
          brokerId: 0, incarnationId: .random(), brokerEpoch: 1,
          endPoints: [.init(name: "PLAINTEXT", host: "127.0.0.1", port: 9092)], rack: nil,
          fenced: false)))
    let broker = try #require(image.brokers[0])
    #expect(!broker.fenced && broker.epoch == 1 && broker.isActive && !broker.inControlledShutdown)
    // Records of another registration (epoch) do not touch this one.
    image.apply(.fenceBroker(FenceBrokerRecord(id: 0, epoch: 7)))
    #expect(image.brokers[0]?.fenced == false)
    image.apply(
      .brokerRegistrationChange(
        BrokerRegistrationChangeRecord(brokerId: 0, brokerEpoch: 1, fenced: 1)))
    #expect(image.brokers[0]?.fenced == true)
    image.apply(
      .brokerRegistrationChange(
        BrokerRegistrationChangeRecord(brokerId: 0, brokerEpoch: 1, fenced: -1)))
    #expect(image.brokers[0]?.fenced == false)
    image.apply(.unregisterBroker(UnregisterBrokerRecord(brokerId: 0, brokerEpoch: 1)))
    #expect(image.brokers[0] == nil)
  }
}
