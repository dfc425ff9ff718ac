/// A JSON value that keeps its object members in the order given, so the CLI's `--format json`
/// output and `cluster.json` read in a fixed, documented order.
indirect enum JSONText {
  case null
  case bool(Bool)
  case number(Int64)
  case string(String)
  case array([JSONText])
  case object([(String, JSONText)])

  static func int<T: BinaryInteger>(_ value: T) -> JSONText { .number(Int64(value)) }

  static func ints<T: BinaryInteger>(_ values: [T]) -> JSONText {
    .array(values.map { .number(Int64($0)) })
  }

  static func optional(_ value: String?) -> JSONText { value.map { .string($0) } ?? .null }

  /// Compact JSON text.
  var rendered: String {
    var out = ""
    write(to: &out)
    return out
  }

  private func write(to out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let value): out += value ? "true" : "false"
    case .number(let value): out += String(value)
    case .string(let value): Self.quote(value, to: &out)
    case .array(let values):
      out += "["
      for (i, value) in values.enumerated() {
        if i > 0 { out += "," }
        value.write(to: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (i, (key, value)) in members.enumerated() {
        if i > 0 { out += "," }
        Self.quote(key, to: &out)
        out += ":"
        value.write(to: &out)
      }
      out += "}"
    }
  }

  private static func quote(_ text: String, to out: inout String) {
    out += "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    out += "\""
  }
}
