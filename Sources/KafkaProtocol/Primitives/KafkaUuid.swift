/// Kafka's 128-bit UUID (topic ids, directory ids), printed as URL-safe base64 without padding.
public struct KafkaUuid: Sendable, Hashable, Comparable, CustomStringConvertible {
  public var high: UInt64
  public var low: UInt64

  public init(high: UInt64, low: UInt64) {
    self.high = high
    self.low = low
  }

  public static let zero = KafkaUuid(high: 0, low: 0)

  /// A random version-4 UUID. Kafka never hands out ids whose base64 starts with "-".
  public static func random() -> KafkaUuid {
    var generator = SystemRandomNumberGenerator()
    while true {
      var high = generator.next() as UInt64
      var low = generator.next() as UInt64
      high = (high & ~0xF000) | 0x4000
      low = (low & ~(0xC000_0000_0000_0000)) | 0x8000_0000_0000_0000
      let id = KafkaUuid(high: high, low: low)
      if id != .zero && !id.description.hasPrefix("-") { return id }
    }
  }

  public static func < (lhs: KafkaUuid, rhs: KafkaUuid) -> Bool {
    (lhs.high, lhs.low) < (rhs.high, rhs.low)
  }

  private static let alphabet = Array(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

  private var bytes: [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
      + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
  }

  public var description: String {
    let data = bytes
    var out: [UInt8] = []
    var i = 0
    while i < data.count {
      let b0 = data[i]
      let b1 = i + 1 < data.count ? data[i + 1] : 0
      let b2 = i + 2 < data.count ? data[i + 2] : 0
      let n = (UInt32(b0) << 16) | (UInt32(b1) << 8) | UInt32(b2)
      out.append(Self.alphabet[Int((n >> 18) & 63)])
      out.append(Self.alphabet[Int((n >> 12) & 63)])
      if i + 1 < data.count { out.append(Self.alphabet[Int((n >> 6) & 63)]) }
      if i + 2 < data.count { out.append(Self.alphabet[Int(n & 63)]) }
      i += 3
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Parses the 22-character base64 form (URL-safe or standard alphabet).
  public init?(_ text: String) {
    var bits: [UInt8] = []
    for c in text.utf8 where c != UInt8(ascii: "=") {
      let value: UInt8
      switch c {
      case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = c - UInt8(ascii: "A")
      case UInt8(ascii: "a")...UInt8(ascii: "z"): value = c - UInt8(ascii: "a") + 26
      case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0") + 52
      case UInt8(ascii: "-"), UInt8(ascii: "+"): value = 62
      case UInt8(ascii: "_"), UInt8(ascii: "/"): value = 63
      default: return nil
      }
      bits.append(value)
    }
    guard bits.count == 22 else { return nil }
    var bytes: [UInt8] = []
    var acc: UInt32 = 0
    var n = 0
    for v in bits {
      acc = (acc << 6) | UInt32(v)
      n += 6
      if n >= 8 {
        n -= 8
        bytes.append(UInt8(truncatingIfNeeded: acc >> UInt32(n)))
      }
    }
    guard bytes.count == 16 else { return nil }
    high = bytes[0..<8].reduce(0) { ($0 << 8) | UInt64($1) }
    low = bytes[8..<16].reduce(0) { ($0 << 8) | UInt64($1) }
  }
}
