import KafkaProtocol
import NIOCore

/// An acks=all produce waiting for its batches to be committed (Kafka's DelayedProduce): each
/// waiting partition completes when its high watermark passes the batch — with
/// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below min.insync.replicas meanwhile —
/// or with NOT_LEADER_OR_FOLLOWER if this broker stopped leading it; what is still waiting
/// at `timeout_ms` gets REQUEST_TIMED_OUT.
// Safe as @unchecked Sendable: every mutable field is touched only on `eventLoop`
// (wakeups and the timeout hop there first).
final class DelayedProduce: @unchecked Sendable {
  struct Waiting: Sendable {
    var topicIndex: Int
    var partitionIndex: Int
    var topicPartition: TopicPartition
    var partition: Partition
    var requiredOffset: Int64
  }

  private let replicaManager: ReplicaManager
  private var response: ProduceResponse
  private var waiting: [Waiting]
  private let eventLoop: any EventLoop
  private let promise: EventLoopPromise<ProduceResponse>
  private var waiterId: UInt64?
  private var timeout: Scheduled<Void>?
  private var done = false

  init(
    replicaManager: ReplicaManager, response: ProduceResponse, waiting: [Waiting],
    eventLoop: any EventLoop, promise: EventLoopPromise<ProduceResponse>
  ) {
    self.replicaManager = replicaManager
    self.response = response
    self.waiting = waiting
    self.eventLoop = eventLoop
    self.promise = promise
  }

  func start(timeoutMs: Int64) {
    eventLoop.preconditionInEventLoop()
    timeout = eventLoop.scheduleTask(in: .milliseconds(max(timeoutMs, 0))) { [self] in
      expire()
    }
    check()
  }

  /// Registers for wakeups, then checks: a commit between the two still wakes us.
  private func check() {
    guard !done else { return }
    waiterId = replicaManager.produceWaiters.register(
      partitions: Set(waiting.map(\.topicPartition))
    ) { [self] in eventLoop.execute { self.check() } }
    waiting.removeAll { w in
      let current = replicaManager.partition(w.topicPartition)
      if current !== w.partition || current?.isLeader != true {
        set(w, .notLeaderOrFollower)
        return true
      }
      guard w.partition.highWatermark >= w.requiredOffset else { return false }
      let inSync = w.partition.isr.count >= w.partition.effectiveMinIsr
      set(w, inSync ? .none : .notEnoughReplicasAfterAppend)
      return true
    }
    if waiting.isEmpty { complete() }
  }

  private func expire() {
    guard !done else { return }
    for w in waiting { set(w, .requestTimedOut) }
    waiting.removeAll()
    complete()
  }

  private func set(_ w: Waiting, _ code: ErrorCode) {
    guard code != .none else { return }
    var result = response.responses[w.topicIndex].partitionResponses[w.partitionIndex]
    result.errorCode = code.rawValue
    if code == .notLeaderOrFollower || code == .requestTimedOut {
      result.errorMessage = code == .requestTimedOut ? "Timed out waiting for the ISR" : nil
    }
    response.responses[w.topicIndex].partitionResponses[w.partitionIndex] = result
  }

  private func complete() {
    done = true
    if let waiterId { replicaManager.produceWaiters.cancel(waiterId) }
    timeout?.cancel()
    promise.succeed(response)
  }
}
