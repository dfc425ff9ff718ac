import Foundation
import SkeinCodegen
import Testing

/// The committed protocol code must be exactly what the generator makes from Kafka's specs.
@Suite struct GeneratedFilesTests {
  static let repoRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let specRoot = repoRoot.deletingLastPathComponent()
    .appendingPathComponent("shared/kafka-protocol")

  @Test func committedFilesMatchTheGenerator() throws {
    guard
      FileManager.default.fileExists(atPath: Self.specRoot.appendingPathComponent("message").path)
    else {
      print("GeneratedFilesTests: \(Self.specRoot.path) is absent; nothing to compare against")
      return
    }
    let scratch = FileManager.default.temporaryDirectory
      .appendingPathComponent("skein-codegen-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let generator = Generator(specRoot: Self.specRoot)
    try generator.write(to: scratch)

    let committed = Self.repoRoot.appendingPathComponent("Sources/KafkaProtocol/Generated")
    let fresh = try Self.files(under: scratch)
    let existing = try Self.files(under: committed)
    #expect(fresh.keys.sorted() == existing.keys.sorted(), "generated file set differs")
    for (path, contents) in fresh {
      #expect(existing[path] == contents, "\(path) differs from the generator's output")
    }
    #expect(fresh.count > 180)
  }

  static func files(under root: URL) throws -> [String: String] {
    var result: [String: String] = [:]
    let base = root.standardizedFileURL.path
    guard let walker = FileManager.default.enumerator(atPath: base) else { return result }
    for case let relative as String in walker where relative.hasSuffix(".swift") {
      result[relative] = try String(contentsOfFile: base + "/" + relative, encoding: .utf8)
    }
    return result
  }
}
