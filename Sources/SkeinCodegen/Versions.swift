/// A version range from Kafka's message specs: "none", "3", "0-12" or "5+".
public struct Versions: Sendable, Equatable, CustomStringConvertible {
  public var lowest: Int
  /// nil means open-ended ("5+").
  public var highest: Int?
  public var isEmpty: Bool

  public static let none = Versions(lowest: 0, highest: nil, isEmpty: true)
  public static let all = Versions(lowest: 0, highest: nil, isEmpty: false)

  init(lowest: Int, highest: Int?, isEmpty: Bool = false) {
    self.lowest = lowest
    self.highest = highest
    self.isEmpty = isEmpty
  }

  public init(parsing text: String) throws {
    let t = text.trimmingCharacters(in: .whitespaces)
    if t == "none" || t.isEmpty {
      self = .none
    } else if t.hasSuffix("+") {
      guard let low = Int(t.dropLast()) else { throw CodegenError.badVersions(text) }
      self.init(lowest: low, highest: nil)
    } else if let dash = t.firstIndex(of: "-") {
      guard let low = Int(t[..<dash]), let high = Int(t[t.index(after: dash)...]) else {
        throw CodegenError.badVersions(text)
      }
      self.init(lowest: low, highest: high)
    } else {
      guard let v = Int(t) else { throw CodegenError.badVersions(text) }
      self.init(lowest: v, highest: v)
    }
  }

  public func contains(_ v: Int) -> Bool {
    !isEmpty && v >= lowest && (highest.map { v <= $0 } ?? true)
  }

  /// This range limited to `outer` (the message's valid versions).
  func clamped(to outer: Versions) -> Versions {
    if isEmpty || outer.isEmpty { return .none }
    let low = max(lowest, outer.lowest)
    let high: Int? =
      switch (highest, outer.highest) {
      case (nil, nil): nil
      case (let a?, nil): a
      case (nil, let b?): b
      case (let a?, let b?): min(a, b)
      }
    if let high, high < low { return .none }
    return Versions(lowest: low, highest: high)
  }

  public var description: String {
    if isEmpty { return "none" }
    if let highest { return highest == lowest ? "\(lowest)" : "\(lowest)-\(highest)" }
    return "\(lowest)+"
  }

  /// A Swift condition on `version` that holds inside this range, given the message's range.
  func condition(within outer: Versions, variable: String = "version") -> String {
    let r = clamped(to: outer)
    if r.isEmpty { return "false" }
    var parts: [String] = []
    if r.lowest > outer.lowest { parts.append("\(variable) >= \(r.lowest)") }
    if let high = r.highest, outer.highest.map({ high < $0 }) ?? true {
      parts.append("\(variable) <= \(high)")
    }
    return parts.isEmpty ? "true" : parts.joined(separator: " && ")
  }
}

public enum CodegenError: Error, CustomStringConvertible {
  case badVersions(String)
  case badSpec(String, String)

  public var description: String {
    switch self {
    case .badVersions(let text): "bad version range '\(text)'"
    case .badSpec(let file, let why): "\(file): \(why)"
    }
  }
}
