import Foundation
import Logging

/// The node's log lines on stderr: swift-log's stream format, but with millisecond UTC
/// timestamps as Kafka's logs have, so a fail-over can be timed from the logs of several nodes.
struct NodeLogHandler: LogHandler {
  var logLevel: Logger.Level = .info
  var metadata: Logger.Metadata = [:]
  private let label: String

  init(label: String) { self.label = label }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
    let fields =
      merged.isEmpty
      ? ""
      : " "
        + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    let source = event.source.isEmpty ? "" : " [\(event.source)]"
    let line = "\(Self.timestamp()) \(event.level) \(label):\(fields)\(source) \(event.message)\n"
    FileHandle.standardError.write(Data(line.utf8))
  }

  /// `2026-12-02T21:44:52.463Z`.
  private static func timestamp() -> String {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var seconds = now.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    let millis = now.tv_nsec / 1_000_000
    return String(
      format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900,
      Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min),
      Int(parts.tm_sec), Int(millis))
  }
}
