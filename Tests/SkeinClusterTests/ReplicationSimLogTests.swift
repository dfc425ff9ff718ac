import Testing

/// The simulation's log keeps SkeinStorage's epoch cache rules (`LeaderEpochFileCache`,
/// `PartitionLog.truncateTo`), so that what the simulation finds holds for the runtime.
@Suite struct ReplicationSimLogTests {
  func log(epochs: [(Int32, Int)]) -> ReplicationSimLog {
    var log = ReplicationSimLog()
    var record: Int64 = 0
    for (epoch, count) in epochs {
      for _ in 0..<count {
        record += 1
        _ = log.appendAsLeader(record: record, epoch: epoch)
      }
    }
    return log
  }

  @Test func endOffsetIsTheNextEpochsStartOrTheLogEnd() {
    let log = log(epochs: [(0, 3), (2, 2), (5, 1)])
    #expect(log.epochs.map(\.startOffset) == [0, 3, 5])
    #expect(log.endOffset(forLeaderEpoch: 0) == (0, 3))
    #expect(log.endOffset(forLeaderEpoch: 1) == (0, 3))
    #expect(log.endOffset(forLeaderEpoch: 2) == (2, 5))
    #expect(log.endOffset(forLeaderEpoch: 5) == (5, 6))
    #expect(log.endOffset(forLeaderEpoch: 9) == (5, 6))
  }

  @Test func anEpochBelowTheFirstIsUnknownUnlessKafkasRuleIsAsked() {
    var log = log(epochs: [(3, 2)])
    #expect(log.endOffset(forLeaderEpoch: 1) == (-1, -1))
    log.kafkaFloorForOldEpochs = true
    #expect(log.endOffset(forLeaderEpoch: 1) == (1, 0))
    #expect(ReplicationSimLog().endOffset(forLeaderEpoch: 1) == (-1, -1))
  }

  @Test func aNewLeaderEpochAtTheLogEndReplacesAnEmptyOne() {
    var log = log(epochs: [(0, 2)])
    log.assignEpoch(1, startOffset: 2)
    log.assignEpoch(3, startOffset: 2)
    #expect(log.epochs == [.init(epoch: 0, startOffset: 0), .init(epoch: 3, startOffset: 2)])
    log.assignEpoch(2, startOffset: 2)
    #expect(log.latestEpoch == 3)
  }

  @Test func truncationDropsEpochsStartingAtOrPastTheNewEnd() {
    var log = log(epochs: [(0, 2), (1, 2)])
    log.assignEpoch(4, startOffset: 4)
    log.advanceHighWatermark(4)
    log.truncate(to: 4)
    #expect(log.latestEpoch == 1)
    log.truncate(to: 1)
    #expect(log.logEndOffset == 1 && log.latestEpoch == 0 && log.highWatermark == 1)
  }

  @Test func aFollowerStartsAnEpochAtItsFirstRecordOfIt() {
    var log = log(epochs: [(0, 1)])
    log.appendAsFollower([.init(epoch: 0, record: 7), .init(epoch: 2, record: 8)])
    #expect(log.epochs == [.init(epoch: 0, startOffset: 0), .init(epoch: 2, startOffset: 2)])
    var other = log
    other.truncate(to: 2)
    other.appendAsFollower([.init(epoch: 3, record: 9)])
    #expect(log.firstDifference(with: other, below: 3) == 2)
    #expect(log.firstDifference(with: other, below: 2) == nil)
  }
}
