import FoundationEssentials
import Testing

@testable import SkeinCluster

/// Runs the controller simulation over many seeds. `SKEIN_SIM_SEED=N` replays one seed;
/// `SKEIN_SIM_SEEDS=N` changes how many run.
@Suite struct ControllerSimulationTests {
  static let environment = ProcessInfo.processInfo.environment

  func seeds(_ defaultCount: UInt64) -> [UInt64] {
    if let seed = Self.environment["SKEIN_SIM_SEED"].flatMap({ UInt64($0) }) { return [seed] }
    let count = Self.environment["SKEIN_SIM_SEEDS"].flatMap { UInt64($0) } ?? defaultCount
    return Array(1...max(count, 1))
  }

  func run(_ settings: SimulationSettings, name: String, seeds count: UInt64) -> SimulationStats {
    var total = SimulationStats()
    for seed in seeds(count) {
      var simulation = ControllerSimulation(seed: seed, settings: settings)
      do throws(InvariantViolation) {
        try simulation.run()
      } catch {
        Issue.record(
          "\(name) seed \(seed) \(error) — replay: SKEIN_SIM_SEED=\(seed) swift test --filter ControllerSimulationTests"
        )
        break
      }
      total += simulation.stats
    }
    return total
  }

  @Test func invariantsHoldOverManySeeds() {
    let stats = run(SimulationSettings(), name: "default", seeds: 200)
    // Every path the invariants watch was taken.
    #expect(stats.fences > 0 && stats.unfences > 0 && stats.controlledShutdowns > 0)
    #expect(stats.uncleanElections > 0 && stats.leaderChanges > 0)
    #expect(stats.alterPartitionAccepted > 0 && stats.alterPartitionRefused > 0)
    #expect(stats.duplicateRegistrations > 0 && stats.adminElections > 0)
    #expect(stats.controllerRestarts > 0)
  }

  @Test func invariantsHoldOnALossyNetwork() {
    var settings = SimulationSettings()
    settings.brokers = 4
    settings.dropProbability = 0.3
    settings.maxDelayMs = 3000
    settings.crashEverySeconds = 40
    settings.pauseEverySeconds = 40
    let stats = run(settings, name: "lossy", seeds: 60)
    #expect(stats.fences > 0 && stats.alterPartitionRefused > 0 && stats.staleHeartbeats > 0)
  }
}
