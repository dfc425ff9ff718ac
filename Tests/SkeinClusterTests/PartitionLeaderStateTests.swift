import Testing

@testable import SkeinCluster

@Suite struct PartitionLeaderStateTests {
  /// Broker 2 left the ISR in a controlled shutdown while it was still caught up: as a
  /// non-ISR follower it would hold the high watermark back for replica.lag.time.max.ms, unless
  /// it is known to be ineligible (KIP-841).
  @Test func aShuttingDownFollowerHoldsNoHighWatermarkBack() {
    var leader = PartitionLeaderState(
      leaderId: 0, replicas: [0, 1, 2], isr: [0, 1, 2], partitionEpoch: 0,
      leaderEpochStartOffset: 0, nowMs: 0)
    for replica: Int32 in [1, 2] {
      leader.recordFetch(
        replica: replica, fetchOffset: 10, leaderLogEndOffset: 10, brokerEpoch: 1, nowMs: 0)
    }
    leader.updateCommitted(replicas: [0, 1, 2], isr: [0, 1], partitionEpoch: 1, nowMs: 50)
    leader.recordFetch(
      replica: 1, fetchOffset: 20, leaderLogEndOffset: 20, brokerEpoch: 1, nowMs: 100)
    #expect(
      leader.highWatermark(leaderLogEndOffset: 20, minIsr: 2, nowMs: 100, lagTimeMaxMs: 30_000)
        == 10)
    #expect(
      leader.highWatermark(
        leaderLogEndOffset: 20, minIsr: 2, nowMs: 100, lagTimeMaxMs: 30_000, ineligible: [2])
        == 20)
  }
}
