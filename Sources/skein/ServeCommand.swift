import ArgumentParser

/// `skein serve`: runs a broker (filled in by the broker work in progress).
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve", abstract: "Run a Skein broker.")

  func run() async throws {
    throw ValidationError("serve is not wired yet")
  }
}
