import NIOCore

/// Chooses a partition for each record the way Kafka's Java producer does by default: keyed
/// records by murmur2 of the key (so every Kafka client agrees), keyless ones sticky to one
/// partition until a batch's worth of bytes went there (KIP-480/794), or round-robin.
public struct Partitioner: Sendable {
  /// How records without a key are spread over partitions.
  public enum KeylessStrategy: Sendable, Hashable {
    /// One random available partition until `batchSize` bytes went to it, then another.
    case sticky
    /// Each record to the next available partition in turn.
    case roundRobin
  }

  public var keylessStrategy: KeylessStrategy
  /// Bytes sent to a sticky partition before switching.
  public var batchSize: Int
  private var sticky: [String: (partition: Int32, bytes: Int)] = [:]
  private var counters: [String: UInt32] = [:]
  private var random: SplitMix64

  public init(
    keylessStrategy: KeylessStrategy = .sticky, batchSize: Int = 16384, seed: UInt64? = nil
  ) {
    self.keylessStrategy = keylessStrategy
    self.batchSize = max(1, batchSize)
    var system = SystemRandomNumberGenerator()
    self.random = SplitMix64(seed: seed ?? system.next())
  }

  /// The partition for a record of `recordSize` bytes. `availablePartitions` are those with a
  /// leader; keyless records go to one of them when there are any. Keyed records hash over all
  /// `partitionCount` partitions, available or not, as Kafka does.
  public mutating func partition(
    topic: String, key: ByteBuffer?, partitionCount: Int32, availablePartitions: [Int32],
    recordSize: Int
  ) -> Int32 {
    precondition(partitionCount > 0, "a topic has at least one partition")
    if let key {
      return Self.partition(forKey: key, partitionCount: partitionCount)
    }
    switch keylessStrategy {
    case .roundRobin:
      let next = counters[topic, default: 0]
      counters[topic] = next &+ 1
      let value = Int32(bitPattern: next) & 0x7fff_ffff
      if !availablePartitions.isEmpty {
        return availablePartitions[Int(value) % availablePartitions.count]
      }
      return value % partitionCount
    case .sticky:
      if let current = sticky[topic], current.bytes < batchSize, current.partition < partitionCount,
        availablePartitions.isEmpty || availablePartitions.contains(current.partition)
      {
        sticky[topic] = (current.partition, current.bytes + recordSize)
        return current.partition
      }
      let previous = sticky[topic]?.partition
      let chosen = choose(
        excluding: previous, partitionCount: partitionCount, available: availablePartitions)
      sticky[topic] = (chosen, recordSize)
      return chosen
    }
  }

  private mutating func choose(
    excluding previous: Int32?, partitionCount: Int32, available: [Int32]
  ) -> Int32 {
    let candidates = available.isEmpty ? Array(0..<partitionCount) : available
    if candidates.count == 1 { return candidates[0] }
    let filtered = candidates.filter { $0 != previous }
    let pool = filtered.isEmpty ? candidates : filtered
    return pool[Int(random.next() % UInt64(pool.count))]
  }

  /// Kafka's keyed partition: `toPositive(murmur2(key)) % partitionCount`.
  public static func partition(forKey key: ByteBuffer, partitionCount: Int32) -> Int32 {
    (murmur2(key) & 0x7fff_ffff) % partitionCount
  }

  /// Kafka's `Utils.murmur2` (MurmurHash2, seed 0x9747b28c) of the buffer's readable bytes.
  public static func murmur2(_ buffer: ByteBuffer) -> Int32 {
    buffer.withUnsafeReadableBytes { murmur2($0) }
  }

  /// Kafka's `Utils.murmur2` (MurmurHash2, seed 0x9747b28c).
  public static func murmur2<Bytes: Collection<UInt8>>(_ data: Bytes) -> Int32
  where Bytes.Index == Int {
    let length = data.count
    let m: UInt32 = 0x5bd1_e995
    var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
    let start = data.startIndex
    for block in 0..<(length / 4) {
      let i = start + block * 4
      var k =
        UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16
        | UInt32(data[i + 3]) << 24
      k &*= m
      k ^= k >> 24
      k &*= m
      h &*= m
      h ^= k
    }
    let tail = start + (length & ~3)
    switch length % 4 {
    case 3:
      h ^= UInt32(data[tail + 2]) << 16
      h ^= UInt32(data[tail + 1]) << 8
      h ^= UInt32(data[tail])
      h &*= m
    case 2:
      h ^= UInt32(data[tail + 1]) << 8
      h ^= UInt32(data[tail])
      h &*= m
    case 1:
      h ^= UInt32(data[tail])
      h &*= m
    default:
      break
    }
    h ^= h >> 13
    h &*= m
    h ^= h >> 15
    return Int32(bitPattern: h)
  }
}

/// A small, fast, seedable generator (SplitMix64) for partition choice.
struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  init(seed: UInt64) {
    state = seed
  }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
