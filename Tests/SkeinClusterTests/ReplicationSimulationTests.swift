import FoundationEssentials
import Testing

@testable import SkeinCluster

/// Runs the replication simulation over many seeds. `SKEIN_SIM_SEED=N` replays one seed;
/// `SKEIN_SIM_SEEDS=N` changes how many run.
@Suite struct ReplicationSimulationTests {
  static let environment = ProcessInfo.processInfo.environment

  func seeds(_ defaultCount: UInt64) -> [UInt64] {
    if let seed = Self.environment["SKEIN_SIM_SEED"].flatMap({ UInt64($0) }) { return [seed] }
    let count = Self.environment["SKEIN_SIM_SEEDS"].flatMap { UInt64($0) } ?? defaultCount
    return Array(1...max(count, 1))
  }

  func run(
    name: String, seeds count: UInt64, _ settings: (UInt64) -> ReplicationSimSettings
  ) -> ReplicationSimStats {
    var total = ReplicationSimStats()
    for seed in seeds(count) {
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

  /// The settings the known issues were found with, pinned so that their seeds keep
  /// replaying them when the defaults change.
  static var foundWith: ReplicationSimSettings {
    var settings = ReplicationSimSettings()
    settings.chaosMs = 50_000
    settings.quietMs = 25_000
    settings.produceStopsBeforeEndMs = 15_000
    settings.crashEverySeconds = 50
    settings.pauseEverySeconds = 50
    settings.shutdownEverySeconds = 100
    return settings
  }

  func replay(seed: UInt64, _ settings: ReplicationSimSettings) throws(InvariantViolation) {
    var simulation = ReplicationSimulation(seed: seed, settings: settings)
    try simulation.run()
  }

  /// SkeinBroker's `ReplicaFetcher` handles a response for every partition of its fetch, even
  /// one it stopped following meanwhile: here broker 3 leads c-1 in epoch 1 when a paused old
  /// leader answers its last fetch, and the follower path lowers the new leader's high
  /// watermark (7 → 5). Past that check the same seed loses an acknowledged record: broker 1
  /// joins the ISR without the committed offset 6 and is elected in epoch 2. Kafka's fetcher drops data for a partition whose fetch
  /// state (leader epoch, fetch offset) moved on. Passes once the runtime's fetcher does too
  /// and the simulation's `strictFetcher` mirrors it.
  @Test func staleFetchResponseLowersANewLeadersHighWatermark() {
    withKnownIssue("ReplicaFetcher applies responses to partitions it no longer follows") {
      var settings = Self.foundWith
      settings.brokers = 4
      settings.strictFetcher = false
      try replay(seed: 5, settings)
    }
  }

  /// SkeinStorage's `LeaderEpochFileCache.endOffset(for:)` answers an epoch older than its
  /// first entry with (-1, -1); the leader sends that as `divergingEpoch`, which
  /// `ReplicaFetcher` ignores (neither field set), so the follower asks again forever, its
  /// progress is never recorded and it never rejoins the ISR. Here broker 2 led a-1 in epoch
  /// 0 without records (its cache: 0@0) and later leaders' caches start at a newer epoch.
  /// Kafka answers (that epoch, the first entry's start offset), and the run converges.
  @Test func epochOlderThanTheLeadersFirstStallsAFollower() {
    withKnownIssue("the leader's epoch cache answers (-1, -1) below its first epoch") {
      var settings = Self.foundWith
      settings.brokers = 6
      settings.kafkaFloorForOldEpochs = false
      try replay(seed: 3, settings)
    }
  }
}
