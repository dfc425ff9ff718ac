import KafkaProtocol

@testable import SkeinCluster

/// A broken invariant, with the simulated time it was seen at.
struct InvariantViolation: Error, CustomStringConvertible {
  var timeMs: Int64 = 0
  var message: String
  var description: String { "at \(timeMs) ms: \(message)" }
}

/// Kafka's invariants over the controller's committed state.
struct InvariantChecker {
  let uncleanTopics: Set<String>
  /// Every (partition, leader epoch) ever seen, and its leader.
  var leaderOfEpoch: [TopicPartition: [Int32: Int32]] = [:]
  var lastEpochs: [TopicPartition: (leader: Int32, partition: Int32)] = [:]

  init(uncleanTopics: Set<String>) { self.uncleanTopics = uncleanTopics }

  mutating func check(
    _ record: MetadataRecord, before: MetadataImage, after: MetadataImage,
    stats: inout SimulationStats
  ) throws(InvariantViolation) {
    switch record {
    case .fenceBroker: stats.fences += 1
    case .unfenceBroker: stats.unfences += 1
    default: break
    }
    let tp: TopicPartition
    switch record {
    case .partition(let r):
      guard let name = after.topicNamesById[r.topicId] else { return }
      tp = TopicPartition(name, r.partitionId)
    case .partitionChange(let r):
      guard let name = after.topicNamesById[r.topicId] else { return }
      tp = TopicPartition(name, r.partitionId)
    default: return
    }
    guard let post = after.partition(tp) else {
      throw InvariantViolation(message: "\(tp) vanished")
    }
    let pre = before.partition(tp)
    if let last = lastEpochs[tp] {
      guard post.leaderEpoch >= last.leader, post.partitionEpoch > last.partition else {
        throw InvariantViolation(message: "\(tp) epochs went back: \(last) then \(post)")
      }
    }
    lastEpochs[tp] = (post.leaderEpoch, post.partitionEpoch)
    if let seen = leaderOfEpoch[tp]?[post.leaderEpoch], seen != post.leader {
      throw InvariantViolation(
        message: "\(tp) epoch \(post.leaderEpoch) had leader \(seen), now \(post.leader)")
    }
    leaderOfEpoch[tp, default: [:]][post.leaderEpoch] = post.leader
    if post.leader != PartitionInfo.noLeader && post.leader != pre?.leader {
      guard PartitionElection.isAcceptableLeader(post.leader, image: before) else {
        throw InvariantViolation(message: "\(tp) elected unacceptable leader \(post.leader)")
      }
      stats.leaderChanges += 1
      if let pre, !pre.isr.contains(post.leader) {
        guard uncleanTopics.contains(tp.topic), post.isr == [post.leader],
          post.leaderRecoveryState == PartitionInfo.recovering
        else {
          throw InvariantViolation(
            message: "\(tp) leader \(post.leader) was not in the ISR \(pre.isr) before its election"
          )
        }
        stats.uncleanElections += 1
      }
    }
    for added in post.isr where !(pre?.isr.contains(added) ?? false) {
      guard before.brokers[added]?.isActive ?? false else {
        throw InvariantViolation(message: "\(tp) ISR \(post.isr) took in inactive broker \(added)")
      }
    }
    try checkPartition(tp, post)
  }

  func checkPartition(_ tp: TopicPartition, _ p: PartitionInfo) throws(InvariantViolation) {
    var valid = !p.isr.isEmpty
    for (i, member) in p.isr.enumerated() {
      if !p.replicas.contains(member) || p.isr[(i + 1)...].contains(member) { valid = false }
    }
    guard valid else {
      throw InvariantViolation(message: "\(tp) bad ISR \(p.isr) for replicas \(p.replicas)")
    }
    guard p.leader == PartitionInfo.noLeader || p.isr.contains(p.leader) else {
      throw InvariantViolation(message: "\(tp) leader \(p.leader) not in ISR \(p.isr)")
    }
  }

  /// After each decision: partition shapes, and fenced brokers lead nothing and are in no ISR
  /// of more than one member.
  func checkImage(_ image: MetadataImage) throws(InvariantViolation) {
    for (name, topic) in image.topics {
      for p in topic.partitions {
        let tp = TopicPartition(name, p.partition)
        try checkPartition(tp, p)
        for member in p.isr {
          let broker = image.brokers[member]
          if broker?.fenced ?? true, p.isr.count > 1 || p.leader == member {
            throw InvariantViolation(
              message: "\(tp) has fenced broker \(member) in ISR \(p.isr), leader \(p.leader)")
          }
          if broker?.inControlledShutdown ?? false, p.leader == member {
            throw InvariantViolation(message: "\(tp) is led by \(member) in controlled shutdown")
          }
        }
      }
    }
  }

  /// An accepted AlterPartition came from the leader, at the committed epochs.
  func checkAlterPartition(
    _ request: AlterPartitionRequest, version: Int16, response: AlterPartitionResponse,
    before: MetadataImage
  ) throws(InvariantViolation) {
    for (topic, answers) in zip(request.topics, response.topics) {
      let name = version >= 2 ? before.topicNamesById[topic.topicId] : topic.topicName
      for (data, answer) in zip(topic.partitions, answers.partitions) where answer.errorCode == 0 {
        guard let name, let p = before.partition(TopicPartition(name, data.partitionIndex)),
          p.leader == request.brokerId, p.leaderEpoch == data.leaderEpoch,
          p.partitionEpoch == data.partitionEpoch,
          before.brokers[request.brokerId]?.epoch == request.brokerEpoch
        else {
          throw InvariantViolation(message: "stale AlterPartition accepted: \(request)")
        }
      }
    }
  }
}
