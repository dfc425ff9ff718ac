import Foundation
import Testing

/// Not a test: with SKEIN_FAKE_BROKER_PORT set, serves the fake broker on that port for
/// SKEIN_FAKE_BROKER_SECONDS (default 60), to try the `skein` CLI against by hand.
@Test(.enabled(if: ProcessInfo.processInfo.environment["SKEIN_FAKE_BROKER_PORT"] != nil))
func serveFakeBrokerForManualTesting() async throws {
  let environment = ProcessInfo.processInfo.environment
  let port = try #require(environment["SKEIN_FAKE_BROKER_PORT"].flatMap { Int($0) })
  let seconds = environment["SKEIN_FAKE_BROKER_SECONDS"].flatMap { Int($0) } ?? 60
  let broker = FakeBroker()
  broker.autoCreateTopics = true
  try await broker.start(port: port)
  try await Task.sleep(for: .seconds(seconds))
  await broker.stop()
}
