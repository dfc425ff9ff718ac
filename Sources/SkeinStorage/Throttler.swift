/// Keeps the cleaner's I/O under `log.cleaner.io.max.bytes.per.second`, by sleeping.
struct Throttler {
  let bytesPerSecond: Double
  private var windowStartNs: UInt64
  private var bytesInWindow: Double = 0

  init(bytesPerSecond: Double) {
    self.bytesPerSecond = bytesPerSecond
    self.windowStartNs = Self.monotonicNs()
  }

  mutating func record(_ bytes: Int) {
    guard bytesPerSecond.isFinite, bytesPerSecond > 0 else { return }
    bytesInWindow += Double(bytes)
    let elapsed = Double(Self.monotonicNs() &- windowStartNs) / 1e9
    let needed = bytesInWindow / bytesPerSecond
    if needed > elapsed {
      CleanerThread.sleep(milliseconds: Int((needed - elapsed) * 1000))
    }
    if elapsed > 1 {
      windowStartNs = Self.monotonicNs()
      bytesInWindow = 0
    }
  }

  static func monotonicNs() -> UInt64 { CleanerThread.monotonicNanoseconds() }
}
