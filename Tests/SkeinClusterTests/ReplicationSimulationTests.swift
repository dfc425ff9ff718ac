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
      if Self.environment["SKEIN_SIM_SKEIN_CACHE"] != nil { settings.kafkaFloorForOldEpochs = false }
      return settings
    }
    print("replication simulation: \(stats)")
    // Every fault and path the invariants watch was taken.
    #expect(stats.acked > 0 && stats.refused > 0)
    #expect(stats.crashes > 0 && stats.pauses > 0 && stats.controlledShutdowns > 0)
    #expect(stats.truncations > 0 && stats.isrShrinks > 0 && stats.isrExpands > 0)
  }
}
