import SkeinCluster
import Synchronization

/// The cluster's recent events as this node saw them in its metadata images: the last
/// `capacity` kept for late readers, and every new one sent to the streams open now (the
/// admin API's `/v1/events`).
public final class ClusterEventLog: Sendable {
  /// An event with its place in this node's sequence (1, 2, …), for resuming a stream.
  public struct Entry: Sendable {
    public var id: UInt64
    public var event: ClusterEvent
  }

  private struct State {
    var previous: MetadataImage?
    var entries: [Entry] = []
    var nextId: UInt64 = 1
    var nextSubscriber = 0
    var subscribers: [Int: AsyncStream<Entry>.Continuation] = [:]
    var closed = false
  }

  private let capacity: Int
  private let state = Mutex(State())

  public init(capacity: Int = 1000) {
    self.capacity = capacity
  }

  /// Compares `image` with the last one seen and records what changed; the first image seen
  /// only sets where to compare from.
  func observe(_ image: MetadataImage, nowMs: Int64) {
    let (added, receivers): ([Entry], [AsyncStream<Entry>.Continuation]) = state.withLock { s in
      guard let previous = s.previous else {
        s.previous = image
        return ([], [])
      }
      s.previous = image
      let events = ClusterEvent.changes(from: previous, to: image, nowMs: nowMs)
      guard !events.isEmpty else { return ([], []) }
      let added = events.map { event -> Entry in
        defer { s.nextId += 1 }
        return Entry(id: s.nextId, event: event)
      }
      s.entries += added
      if s.entries.count > capacity { s.entries.removeFirst(s.entries.count - capacity) }
      return (added, Array(s.subscribers.values))
    }
    for receiver in receivers {
      for entry in added { receiver.yield(entry) }
    }
  }

  /// The kept events after `id` (all kept ones when nil), oldest first.
  public func recent(after id: UInt64? = nil) -> [Entry] {
    state.withLock { s in s.entries.filter { $0.id > (id ?? 0) } }
  }

  /// The kept events after `id`, then every new one as it happens, until the stream's
  /// reader stops.
  public func stream(after id: UInt64? = nil) -> AsyncStream<Entry> {
    let (stream, continuation) = AsyncStream<Entry>.makeStream(
      bufferingPolicy: .bufferingNewest(capacity))
    let key: Int? = state.withLock { s in
      for entry in s.entries where entry.id > (id ?? 0) { continuation.yield(entry) }
      guard !s.closed else { return nil }
      let key = s.nextSubscriber
      s.nextSubscriber += 1
      s.subscribers[key] = continuation
      return key
    }
    guard let key else {
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in
      _ = self?.state.withLock { $0.subscribers.removeValue(forKey: key) }
    }
    return stream
  }

  /// Ends every open stream, and every later one after its backlog (the node is stopping).
  public func finishStreams() {
    let open = state.withLock { s in
      s.closed = true
      defer { s.subscribers.removeAll() }
      return Array(s.subscribers.values)
    }
    for continuation in open { continuation.finish() }
  }
}
