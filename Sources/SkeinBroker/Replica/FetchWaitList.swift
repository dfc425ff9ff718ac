import KafkaProtocol
import Synchronization

/// Long-polling fetches waiting for data: each registers the partitions it reads, and an
/// append to any of them wakes it once (it re-reads and either answers or waits again).
final class FetchWaitList: Sendable {
  private struct Waiter {
    var partitions: Set<TopicPartition>
    var wake: @Sendable () -> Void
  }

  private struct State {
    var nextId: UInt64 = 0
    var waiters: [UInt64: Waiter] = [:]
    var byPartition: [TopicPartition: Set<UInt64>] = [:]
  }

  private let state = Mutex(State())

  /// Registers `wake`; returns an id to cancel with.
  func register(partitions: Set<TopicPartition>, wake: @escaping @Sendable () -> Void) -> UInt64 {
    state.withLock { s in
      let id = s.nextId
      s.nextId += 1
      s.waiters[id] = Waiter(partitions: partitions, wake: wake)
      for tp in partitions { s.byPartition[tp, default: []].insert(id) }
      return id
    }
  }

  /// Removes a waiter; returns false when it was already woken or cancelled.
  @discardableResult
  func cancel(_ id: UInt64) -> Bool {
    state.withLock { s in Self.remove(id, from: &s) != nil }
  }

  /// Wakes every waiter that reads `partition`.
  func notify(_ partition: TopicPartition) {
    let woken: [Waiter] = state.withLock { s in
      guard let ids = s.byPartition[partition], !ids.isEmpty else { return [] }
      return ids.compactMap { Self.remove($0, from: &s) }
    }
    for waiter in woken { waiter.wake() }
  }

  var isEmpty: Bool { state.withLock { $0.waiters.isEmpty } }
  /// Requests waiting now (Kafka's purgatory size).
  var count: Int { state.withLock { $0.waiters.count } }

  private static func remove(_ id: UInt64, from s: inout State) -> Waiter? {
    guard let waiter = s.waiters.removeValue(forKey: id) else { return nil }
    for tp in waiter.partitions {
      s.byPartition[tp]?.remove(id)
      if s.byPartition[tp]?.isEmpty == true { s.byPartition[tp] = nil }
    }
    return waiter
  }
}
