/// The text format Kafka's checkpoint files share (`recovery-point-offset-checkpoint`,
/// `replication-offset-checkpoint`, `leader-epoch-checkpoint`, …): a version line `0`, a line
/// with the entry count, then one line of space-separated fields per entry. Replaced
/// atomically, so a reader sees the old or the new content; anything else is corruption.
enum CheckpointFile {
  static let version = "0"

  /// The fields of each entry line; nil when the file does not exist. Every line must have
  /// `fieldCount` fields.
  static func read(_ path: String, fieldCount: Int) throws(StorageError) -> [[Substring]]? {
    guard let bytes = try FileSystem.read(path) else { return nil }
    let lines = String(decoding: bytes, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: true)
    guard lines.count >= 2, lines[0] == version else {
      throw .corruptLog(path: path, reason: "missing or unsupported version line")
    }
    guard let count = Int(lines[1]), count == lines.count - 2 else {
      throw .corruptLog(path: path, reason: "entry count does not match the entries")
    }
    var entries: [[Substring]] = []
    entries.reserveCapacity(count)
    for line in lines.dropFirst(2) {
      let fields = line.split(separator: " ", omittingEmptySubsequences: true)
      guard fields.count == fieldCount else {
        throw .corruptLog(path: path, reason: "malformed entry '\(line)'")
      }
      entries.append(fields)
    }
    return entries
  }

  /// Replaces the file with `entries`, each already formatted as one line without its newline.
  static func write(_ path: String, _ entries: [String]) throws(StorageError) {
    var text = "\(version)\n\(entries.count)\n"
    for entry in entries {
      text += entry
      text += "\n"
    }
    try FileSystem.writeAtomically(path, Array(text.utf8))
  }
}
