/// The error codes of one response, counted before they reach the counters: a response's
/// partitions mostly share a code or two, so each distinct code costs one increment, not one a
/// partition. Holds up to `capacity` distinct codes inline (no allocation); `add` refuses
/// further ones, which the caller then counts on their own.
struct ErrorTally {
  static let capacity = 4

  private var codes: (Int16, Int16, Int16, Int16) = (0, 0, 0, 0)
  private var counts: (Int, Int, Int, Int) = (0, 0, 0, 0)
  /// Distinct codes held, at most `capacity`.
  private(set) var distinct = 0

  /// Counts one occurrence of `code`; false when the tally is full of other codes.
  mutating func add(_ code: Int16) -> Bool {
    for slot in 0..<distinct where self.code(at: slot) == code {
      addCount(at: slot)
      return true
    }
    guard distinct < Self.capacity else { return false }
    setCode(code, at: distinct)
    addCount(at: distinct)
    distinct += 1
    return true
  }

  /// Each distinct code held and its occurrences, in order of first occurrence.
  func forEachCode(_ body: (_ code: Int16, _ count: Int) -> Void) {
    for slot in 0..<distinct { body(code(at: slot), count(at: slot)) }
  }

  private func code(at slot: Int) -> Int16 {
    switch slot {
    case 0: codes.0
    case 1: codes.1
    case 2: codes.2
    default: codes.3
    }
  }

  private func count(at slot: Int) -> Int {
    switch slot {
    case 0: counts.0
    case 1: counts.1
    case 2: counts.2
    default: counts.3
    }
  }

  private mutating func setCode(_ code: Int16, at slot: Int) {
    switch slot {
    case 0: codes.0 = code
    case 1: codes.1 = code
    case 2: codes.2 = code
    default: codes.3 = code
    }
  }

  private mutating func addCount(at slot: Int) {
    switch slot {
    case 0: counts.0 += 1
    case 1: counts.1 += 1
    case 2: counts.2 += 1
    default: counts.3 += 1
    }
  }
}
