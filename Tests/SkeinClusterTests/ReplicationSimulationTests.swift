import FoundationEssentials
import Testing

@testable import SkeinCluster

/// Runs the replication simulation over many seeds. `SKEIN_SIM_SEED=N` replays one seed,
/// `SKEIN_SIM_SEEDS=N` changes how many run, `SKEIN_SIM_TRACE=1` prints what the brokers do;
/// `SKEIN_SIM_RUNTIME_FETCHER=1` and `SKEIN_SIM_SKEIN_CACHE=1` run the default seeds with the
/// runtime's behaviours that the known issues below describe.
@Suite struct ReplicationSimulationTests {
  static let environment = ProcessInfo.processInfo.environment

  func run(
    name: String, seeds count: UInt64, _ settings: (UInt64) -> ReplicationSimSettings
  ) -> ReplicationSimStats {
    var total = ReplicationSimStats()
    for seed in ControllerSimulationTests().seeds(count) {
      var simulation = ReplicationSimulation(
        seed: seed, settings: settings(seed), tracing: Self.environment["SKEIN_SIM_TRACE"] != nil)
      do throws(InvariantViolation) {
        try simulation.run()
      } catch {
        Issue.record(
          "\(name) seed \(seed) \(error) — replay: SKEIN_SIM_SEED=\(seed) swift test --filter ReplicationSimulationTests"
        )
        break
      }
      total += simulation.stats
    }
    return total
  }

  @Test func invariantsHoldOverManySeeds() {
    let stats = run(name: "default", seeds: 200) { seed in
      var settings = ReplicationSimSettings()
      settings.brokers = 3 + Int(seed % 4)
      if Self.environment["SKEIN_SIM_RUNTIME_FETCHER"] != nil { settings.strictFetcher = false }
      if Self.environment["SKEIN_SIM_SKEIN_CACHE"] != nil {
        settings.kafkaFloorForOldEpochs = false
      }
      return settings
    }
    print("replication simulation: \(stats)")
    // Every fault and path the invariants watch was taken.
    #expect(stats.acked > 0 && stats.refused > 0)
    #expect(stats.crashes > 0 && stats.pauses > 0 && stats.controlledShutdowns > 0)
    #expect(stats.truncations > 0 && stats.isrShrinks > 0 && stats.isrExpands > 0)
  }

  @Test func invariantsHoldOnALossyNetwork() {
    let stats = run(name: "lossy", seeds: 60) { seed in
      var settings = ReplicationSimSettings()
      settings.brokers = 4
      settings.dropProbability = 0.2
      settings.maxDelayMs = 1500
      settings.crashEverySeconds = 30
      settings.pauseEverySeconds = 30
      settings.quietMs = 35_000
      return settings
    }
    #expect(stats.acked > 0 && stats.truncations > 0 && stats.isrShrinks > 0)
  }

  /// Replays `seed` of the default run with one fix undone and expects an invariant to fail:
  /// the simulation still catches the bug that fix removed from the runtime.
  func expectCaught(
    _ comment: Comment, seed: UInt64, _ change: (inout ReplicationSimSettings) -> Void
  ) {
    var settings = ReplicationSimSettings()
    settings.brokers = 3 + Int(seed % 4)
    change(&settings)
    var simulation = ReplicationSimulation(seed: seed, settings: settings)
    #expect(throws: (any Error).self, comment) { try simulation.run() }
  }

  /// A fetcher that applies a response for every partition of its fetch, even one it stopped
  /// following meanwhile (as SkeinBroker's `ReplicaFetcher` once did): here broker 2 leads a-1
  /// in epoch 1 (high watermark 4) when the answer to its last fetch from the old leader
  /// arrives, and the follower path sets the leader's high watermark back to 3. With other
  /// seeds the same race lets a follower join the ISR below a committed offset and, elected,
  /// lose an acknowledged record. Kafka's fetcher, and now Skein's, drops data for a partition
  /// whose fetch state (leader epoch, fetch offset) moved on.
  @Test func catchesStaleFetchResponsesApplied() {
    expectCaught("a stale fetch response lowers a new leader's high watermark", seed: 1) {
      $0.strictFetcher = false
    }
  }

  /// An epoch cache that answers an epoch older than its first entry with (-1, -1) (as
  /// SkeinStorage's `LeaderEpochFileCache` once did): the leader sends that as
  /// `divergingEpoch`, the follower asks again forever and never rejoins the ISR. Here broker
  /// 2 led a-3 in epoch 0 without records (its cache: 0@0) and broker 3 leads epoch 2 with its
  /// cache at 2@0. Kafka answers (that epoch, the first entry's start offset), as Skein now does.
  @Test func catchesAnEpochCacheWithoutAFloor() {
    expectCaught("a follower stalls below the leader's first epoch", seed: 2) {
      $0.kafkaFloorForOldEpochs = false
    }
  }
}
