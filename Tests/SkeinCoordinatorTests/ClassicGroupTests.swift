import KafkaProtocol
import Testing

@testable import SkeinCoordinator

@Suite struct ClassicGroupTests {
  @Test func placeholder() { #expect(true) }
}
