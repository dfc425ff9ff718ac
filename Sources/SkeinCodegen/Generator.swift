import Foundation

/// Turns Kafka's JSON message specs into Swift sources.
public struct Generator {
  /// Spec folders (message/, metadata/, coordinator/, consumer-group/) and the folder each
  /// one's output goes to.
  public var inputs: [(specs: URL, output: String)]

  public init(specRoot: URL) {
    inputs = [
      (specRoot.appendingPathComponent("message"), "Messages"),
      (specRoot.appendingPathComponent("metadata"), "Metadata"),
      (specRoot.appendingPathComponent("coordinator"), "Coordinator"),
      (specRoot.appendingPathComponent("consumer-group"), "ConsumerGroup"),
    ]
  }

  /// Generated files as (relative path, contents), in a stable order.
  public func generate() throws -> [(path: String, contents: String)] {
    var files: [(String, String)] = []
    var requests: [MessageSpec] = []
    for input in inputs {
      let names = try FileManager.default.contentsOfDirectory(atPath: input.specs.path)
        .filter { $0.hasSuffix(".json") }
        .sorted()
      for name in names {
        let spec = try MessageSpec(file: input.specs.appendingPathComponent(name))
        if spec.kind == "request" { requests.append(spec) }
        let emitter = SwiftEmitter(spec: spec, sourceName: name)
        files.append(("\(input.output)/\(spec.name).swift", try emitter.emitFile()))
      }
    }
    files.append(("ApiKey.swift", ApiKeyEmitter.emit(requests: requests)))
    return files.map { (path: $0.0, contents: $0.1) }
  }

  /// Writes the generated files under `directory`, replacing what was there.
  public func write(to directory: URL) throws {
    let fm = FileManager.default
    if fm.fileExists(atPath: directory.path) { try fm.removeItem(at: directory) }
    for file in try generate() {
      let url = directory.appendingPathComponent(file.path)
      try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try file.contents.write(to: url, atomically: true, encoding: .utf8)
    }
  }
}
