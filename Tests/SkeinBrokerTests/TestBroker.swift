import Foundation
import KafkaProtocol
import Logging
import NIOCore

@testable import SkeinBroker

#if canImport(Glibc)
  import Glibc
#endif

/// A broker on an ephemeral port with a temporary data dir, for one test.
struct TestBroker {
  let broker: Broker
  let dataDir: String
  var port: Int { broker.boundPort }

  static func start(dataDir: String? = nil, settings: [String: String] = [:]) async throws
    -> TestBroker
  {
    let dir = dataDir ?? NSTemporaryDirectory() + "skein-broker-test-\(UUID().uuidString)"
    var values = ["listeners": "PLAINTEXT://127.0.0.1:0", "log.dirs": dir]
    values.merge(settings) { $1 }
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let broker = try await Broker.start(config: BrokerConfig(values), logger: logger)
    return TestBroker(broker: broker, dataDir: dir)
  }

  func connect() throws -> TestConnection { try TestConnection(port: port) }

  func stop(removeData: Bool = true) async {
    await broker.shutdown()
    if removeData { try? FileManager.default.removeItem(atPath: dataDir) }
  }
}

/// A blocking socket speaking Kafka frames, independent of SkeinClient.
final class TestConnection {
  let fd: Int32
  private var correlationId: Int32 = 0

  struct Closed: Error {}

  init(port: Int) throws {
    fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let rc = withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
      }
    }
    guard rc == 0 else { throw Closed() }
  }

  deinit { close(fd) }

  func sendRaw(_ bytes: [UInt8]) {
    var sent = 0
    while sent < bytes.count {
      let n = bytes[sent...].withUnsafeBytes {
        Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
      }
      if n <= 0 { return }
      sent += n
    }
  }

  func readExactly(_ count: Int) throws -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var got = 0
    while got < count {
      let n = out[got...].withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n <= 0 { throw Closed() }
      got += n
    }
    return out
  }

  /// True when the peer closed the connection (read returns 0 or an error) within the timeout.
  func isClosedByPeer() -> Bool {
    var byte: UInt8 = 0
    return recv(fd, &byte, 1, 0) <= 0
  }

  /// Writes one request frame; returns its correlation id.
  @discardableResult
  func write<R: KafkaRequestMessage>(_ request: R, version: Int16) -> Int32 {
    correlationId += 1
    var buffer = ByteBuffer()
    buffer.writeInteger(Int32(0))
    let header = RequestHeader(
      requestApiKey: R.apiKey.rawValue, requestApiVersion: version, correlationId: correlationId,
      clientId: "test")
    header.encode(to: &buffer, version: R.apiKey.isFlexible(version) ? 2 : 1)
    request.encode(to: &buffer, version: version)
    buffer.setInteger(Int32(buffer.readableBytes - 4), at: 0)
    sendRaw(Array(buffer.readableBytesView))
    return correlationId
  }

  /// Reads one response frame and decodes it as `R.Response`.
  func read<R: KafkaRequestMessage>(_: R.Type, version: Int16) throws -> (Int32, R.Response) {
    let size = try readExactly(4).reduce(0) { ($0 << 8) | Int($1) }
    var body = ByteBuffer(bytes: try readExactly(size))
    let correlation = body.readInteger(as: Int32.self) ?? -1
    if R.apiKey != .apiVersions && R.apiKey.isFlexible(version) {
      try body.readTaggedFields()
    }
    let response = try R.Response(from: &body, version: version)
    return (correlation, response)
  }

  func roundTrip<R: KafkaRequestMessage>(_ request: R, version: Int16) throws -> R.Response {
    let id = write(request, version: version)
    let (correlation, response) = try read(R.self, version: version)
    guard correlation == id else { throw Closed() }
    return response
  }
}

/// Builds a record batch of `count` records with keys "k<i>" and values "v<i>".
func makeBatch(count: Int, timestamp: Int64 = 1_700_000_000_000, prefix: String = "v") -> ByteBuffer
{
  var builder = RecordBatchBuilder()
  for i in 0..<count {
    builder.append(
      key: ByteBuffer(string: "k\(i)"), value: ByteBuffer(string: "\(prefix)\(i)"),
      timestamp: timestamp + Int64(i))
  }
  return builder.build()
}
