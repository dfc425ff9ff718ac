import KafkaProtocol
import Logging
import NIOCore
import Synchronization

/// The replica fetchers of a broker (Kafka's ReplicaFetcherManager): `num.replica.fetchers`
/// per source broker, a partition always on the same one of them (by its hash), started when
/// they get their first partition and stopped when they lose their last.
final class ReplicaFetcherManager: Sendable {
  private struct Key: Hashable {
    var leaderId: Int32
    var index: Int
  }

  private let localId: Int32
  private let settings: ReplicationSettings
  private let address: @Sendable (Int32) -> (host: String, port: Int)?
  private let brokerEpoch: @Sendable () -> Int64
  private let onAppend: @Sendable (_ partition: TopicPartition, _ bytes: Int) -> Void
  private let eventLoopGroup: any EventLoopGroup
  private let logger: Logger
  private let fetchers = Mutex<[Key: ReplicaFetcher]>([:])
  /// Set by `shutdown()`: the broker is stopping and follows nothing any more.
  private let stopped = Mutex(false)
  /// Which fetcher each followed partition is on.
  private let assignment = Mutex<[TopicPartition: Key]>([:])

  init(
    localId: Int32, settings: ReplicationSettings,
    address: @escaping @Sendable (Int32) -> (host: String, port: Int)?,
    brokerEpoch: @escaping @Sendable () -> Int64,
    onAppend: @escaping @Sendable (_ partition: TopicPartition, _ bytes: Int) -> Void,
    eventLoopGroup: any EventLoopGroup,
    logger: Logger
  ) {
    self.localId = localId
    self.settings = settings
    self.address = address
    self.brokerEpoch = brokerEpoch
    self.onAppend = onAppend
    self.eventLoopGroup = eventLoopGroup
    self.logger = logger
  }

  /// Fetches `partition` from `leaderId` from now on (moving it off any other fetcher).
  func follow(_ partition: Partition, leaderId: Int32) {
    guard !stopped.withLock({ $0 }) else { return }
    let tp = partition.topicPartition
    let index =
      abs(tp.topic.utf8.reduce(Int(tp.partition)) { $0 &* 31 &+ Int($1) })
      % max(settings.numFetchers, 1)
    let key = Key(leaderId: leaderId, index: index)
    if assignment.withLock({ $0[tp] }) == key, let fetcher = fetchers.withLock({ $0[key] }) {
      fetcher.add(partition)
      return
    }
    stopFollowing(tp)
    let fetcher: ReplicaFetcher = fetchers.withLock { all in
      if let existing = all[key] { return existing }
      let created = ReplicaFetcher(
        leaderId: leaderId, localId: localId, settings: settings,
        address: { [address] in address(leaderId) }, brokerEpoch: brokerEpoch,
        onAppend: onAppend, eventLoopGroup: eventLoopGroup, logger: logger)
      all[key] = created
      created.start()
      return created
    }
    fetcher.add(partition)
    assignment.withLock { $0[tp] = key }
  }

  func stopFollowing(_ tp: TopicPartition) {
    guard let key = assignment.withLock({ $0.removeValue(forKey: tp) }) else { return }
    let idle: ReplicaFetcher? = fetchers.withLock { all in
      guard let fetcher = all[key] else { return nil }
      fetcher.remove(tp)
      guard fetcher.isEmpty else { return nil }
      all[key] = nil
      return fetcher
    }
    idle?.stop()
  }

  /// Stops every fetcher and waits for them; no new ones start afterwards.
  func shutdown() async {
    let all = fetchers.withLock { f -> [ReplicaFetcher] in
      defer { f = [:] }
      return Array(f.values)
    }
    stopped.withLock { $0 = true }
    assignment.withLock { $0 = [:] }
    await withTaskGroup(of: Void.self) { group in
      for fetcher in all { group.addTask { await fetcher.stopAndWait() } }
    }
  }
}
