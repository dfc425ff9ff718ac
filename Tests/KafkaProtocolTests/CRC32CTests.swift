import NIOCore
import Testing

@testable import KafkaProtocol

/// Bit-at-a-time CRC32C (reflected polynomial 0x82F63B78): slow, obviously right, and shared
/// with the record batch tests as an independent reference.
func bitwiseCRC32C(_ bytes: some Sequence<UInt8>, seed: UInt32 = 0) -> UInt32 {
  var crc = ~seed
  for byte in bytes {
    crc ^= UInt32(byte)
    for _ in 0..<8 {
      crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
    }
  }
  return ~crc
}

/// Deterministic generator so failures reproduce.
struct RecordTestRNG: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  mutating func bytes(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
  }
}

@Suite struct CRC32CTests {
  static let vectors: [(name: String, bytes: [UInt8], crc: UInt32)] = [
    ("check string", Array("123456789".utf8), 0xE306_9283),
    ("empty", [], 0),
    // RFC 3720 (iSCSI) appendix B.4.
    ("32 zeros", [UInt8](repeating: 0, count: 32), 0x8A91_36AA),
    ("32 x 0xFF", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
    ("ascending 0...31", (0..<32).map { UInt8($0) }, 0x46DD_794E),
    ("descending 31...0", (0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
  ]

  @Test func knownVectors() {
    for vector in Self.vectors {
      vector.bytes.withUnsafeBytes { raw in
        #expect(CRC32C.checksum(raw) == vector.crc, "\(vector.name)")
        #expect(CRC32C.portableChecksum(raw) == vector.crc, "\(vector.name)")
      }
      #expect(bitwiseCRC32C(vector.bytes) == vector.crc, "\(vector.name)")
    }
  }

  @Test func hardwareIsAvailableOnThisMachine() {
    #if arch(x86_64)
      // Every x86-64 build machine we use has SSE4.2; if not, the comparisons below only
      // exercise the table path, which this makes visible.
      #expect(CRC32C.usesHardware)
    #endif
  }

  /// Hardware, portable and bit-at-a-time paths agree on every length around the 8-byte
  /// word loops and at every alignment of the start address.
  @Test func allPathsAgreeOnRandomData() {
    var rng = RecordTestRNG(seed: 0xC0FF_EE00_1234)
    let data = rng.bytes(4096 + 64)
    data.withUnsafeBytes { whole in
      for alignment in 0..<16 {
        var lengths = Array(0...80)
        lengths += [127, 128, 129, 255, 256, 511, 1000, 1023, 1024, 1025, 4095, 4096]
        for length in lengths {
          let slice = UnsafeRawBufferPointer(rebasing: whole[alignment..<(alignment + length)])
          let expected = bitwiseCRC32C(slice)
          #expect(CRC32C.checksum(slice) == expected, "length \(length) at +\(alignment)")
          #expect(CRC32C.portableChecksum(slice) == expected, "length \(length) at +\(alignment)")
        }
      }
    }
  }

  /// Lengths around the hardware path's three-stream blocks (3 x 256 and 3 x 8192 bytes) and
  /// past several of them, checked against the table path (itself checked bit by bit above).
  @Test func interleavedBlocksAgreeWithTheTablePath() {
    var rng = RecordTestRNG(seed: 0x5EED_3B10)
    let data = rng.bytes(200_000 + 16)
    data.withUnsafeBytes { whole in
      let lengths = [
        767, 768, 769, 775, 776, 1535, 1536, 1537, 24_575, 24_576, 24_577, 24_576 + 768,
        24_576 + 767, 49_152 + 7, 100_000, 200_000,
      ]
      for alignment in [0, 1, 3, 8, 13] {
        for length in lengths {
          let slice = UnsafeRawBufferPointer(rebasing: whole[alignment..<(alignment + length)])
          #expect(
            CRC32C.checksum(slice) == CRC32C.portableChecksum(slice),
            "length \(length) at +\(alignment)")
        }
      }
      let sample = UnsafeRawBufferPointer(rebasing: whole[5..<(5 + 24_576 + 800)])
      #expect(CRC32C.checksum(sample) == bitwiseCRC32C(sample))
    }
  }

  @Test func seedChainsPartialChecksums() {
    var rng = RecordTestRNG(seed: 42)
    let data = rng.bytes(1000)
    data.withUnsafeBytes { raw in
      let whole = CRC32C.checksum(raw)
      for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
        let head = UnsafeRawBufferPointer(rebasing: raw[0..<split])
        let tail = UnsafeRawBufferPointer(rebasing: raw[split...])
        #expect(CRC32C.checksum(tail, seed: CRC32C.checksum(head)) == whole)
        #expect(CRC32C.portableChecksum(tail, seed: CRC32C.portableChecksum(head)) == whole)
      }
    }
  }

  @Test func byteBufferRangeIsRelativeToStorageAndChecked() {
    var buffer = ByteBuffer(bytes: Array("xx123456789yy".utf8))
    #expect(CRC32C.checksum(buffer, at: 2, length: 9) == 0xE306_9283)
    #expect(CRC32C.checksum(buffer, at: 2, length: 12) == nil)
    #expect(CRC32C.checksum(buffer, at: 2, length: -1) == nil)
    buffer.moveReaderIndex(forwardBy: 3)
    #expect(CRC32C.checksum(buffer, at: 2, length: 9) == nil)
    #expect(CRC32C.checksum(buffer, at: 3, length: 0) == 0)
  }

  @Test func concurrentFirstUseAgrees() async {
    var rng = RecordTestRNG(seed: 7)
    let data = rng.bytes(777)
    let expected = bitwiseCRC32C(data)
    await withTaskGroup(of: UInt32.self) { group in
      for _ in 0..<32 {
        group.addTask { data.withUnsafeBytes { CRC32C.portableChecksum($0) } }
      }
      for await crc in group { #expect(crc == expected) }
    }
  }
}
