/// xxHash32, which the LZ4 frame format uses for its header, block and content checksums.
struct XXHash32 {
  private static let prime1: UInt32 = 0x9E37_79B1
  private static let prime2: UInt32 = 0x85EB_CA77
  private static let prime3: UInt32 = 0xC2B2_AE3D
  private static let prime4: UInt32 = 0x27D4_EB2F
  private static let prime5: UInt32 = 0x1656_67B1

  private var v1: UInt32
  private var v2: UInt32
  private var v3: UInt32
  private var v4: UInt32
  private let seed: UInt32
  private var totalLength = 0
  /// Up to 15 bytes not yet folded into a 16-byte stripe.
  private var pending: [UInt8] = []

  init(seed: UInt32 = 0) {
    self.seed = seed
    v1 = seed &+ Self.prime1 &+ Self.prime2
    v2 = seed &+ Self.prime2
    v3 = seed
    v4 = seed &- Self.prime1
    pending.reserveCapacity(16)
  }

  static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    var hasher = XXHash32(seed: seed)
    hasher.update(bytes)
    return hasher.finalize()
  }

  @inline(__always)
  private static func round(_ accumulator: UInt32, _ lane: UInt32) -> UInt32 {
    ((accumulator &+ lane &* prime2).rotatedLeft(13)) &* prime1
  }

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    totalLength += bytes.count
    var index = 0
    if !pending.isEmpty {
      let take = min(16 - pending.count, bytes.count)
      pending.append(contentsOf: bytes[0..<take])
      index = take
      guard pending.count == 16 else { return }
      pending.withUnsafeBytes { stripe($0, at: 0) }
      pending.removeAll(keepingCapacity: true)
    }
    while bytes.count - index >= 16 {
      stripe(bytes, at: index)
      index += 16
    }
    pending.append(contentsOf: bytes[index...])
  }

  @inline(__always)
  private mutating func stripe(_ bytes: UnsafeRawBufferPointer, at index: Int) {
    v1 = Self.round(v1, bytes.le32(at: index))
    v2 = Self.round(v2, bytes.le32(at: index + 4))
    v3 = Self.round(v3, bytes.le32(at: index + 8))
    v4 = Self.round(v4, bytes.le32(at: index + 12))
  }

  func finalize() -> UInt32 {
    var hash: UInt32
    if totalLength >= 16 {
      hash = v1.rotatedLeft(1) &+ v2.rotatedLeft(7) &+ v3.rotatedLeft(12) &+ v4.rotatedLeft(18)
    } else {
      hash = seed &+ Self.prime5
    }
    hash = hash &+ UInt32(truncatingIfNeeded: totalLength)
    pending.withUnsafeBytes { tail in
      var index = 0
      while tail.count - index >= 4 {
        hash = (hash &+ tail.le32(at: index) &* Self.prime3).rotatedLeft(17) &* Self.prime4
        index += 4
      }
      while index < tail.count {
        hash = (hash &+ UInt32(tail[index]) &* Self.prime5).rotatedLeft(11) &* Self.prime1
        index += 1
      }
    }
    hash ^= hash >> 15
    hash = hash &* Self.prime2
    hash ^= hash >> 13
    hash = hash &* Self.prime3
    hash ^= hash >> 16
    return hash
  }
}

extension UInt32 {
  @inline(__always)
  fileprivate func rotatedLeft(_ count: UInt32) -> UInt32 {
    (self << count) | (self >> (32 - count))
  }
}
