import ArgumentParser
import KafkaProtocol
import NIOPosix
import SkeinClient

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Options every client subcommand (topic, produce, consume) shares: where the cluster is.
struct ClientOptions: ParsableArguments {
  @Option(help: "Bootstrap brokers, comma-separated host:port.")
  var bootstrap = "127.0.0.1:9092"

  @Option(name: .customLong("request-timeout-ms"), help: "How long to wait for each response.")
  var requestTimeoutMs = 30_000

  @Option(name: .customLong("client-id"), help: "Client id sent to the brokers.")
  var clientId = "skein-cli"

  func validate() throws {
    guard requestTimeoutMs > 0 else {
      throw ValidationError("--request-timeout-ms must be positive")
    }
    do {
      _ = try BrokerAddress.parseList(bootstrap)
    } catch {
      throw ValidationError("--bootstrap: \(error)")
    }
  }

  func makeClient() throws -> KafkaClient {
    var configuration = KafkaClient.Configuration()
    configuration.connection.clientId = clientId
    configuration.connection.requestTimeout = .milliseconds(requestTimeoutMs)
    return try KafkaClient(bootstrap: bootstrap, configuration: configuration)
  }
}

/// Runs a client command body with a client, closes the client, and turns any error into a
/// one-line message on stderr and exit status 1.
func withClient(
  _ options: ClientOptions, _ body: (KafkaClient) async throws -> Void
) async throws {
  let client: KafkaClient
  do {
    client = try options.makeClient()
  } catch {
    CLIOutput.error("\(error)")
    throw ExitCode.failure
  }
  do {
    try await body(client)
    await client.close()
  } catch let exit as ExitCode {
    await client.close()
    throw exit
  } catch {
    await client.close()
    CLIOutput.error("\(error)")
    throw ExitCode.failure
  }
}

/// Parses `key=value` (a value may contain further `=`).
func parseKeyValue(_ text: String, option: String) throws -> (String, String) {
  guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
    throw ValidationError("\(option) expects key=value, got '\(text)'")
  }
  return (String(text[..<equals]), String(text[text.index(after: equals)...]))
}

/// Unbuffered writes to stdout and stderr straight to the file descriptors, so bytes go out
/// unchanged (record values need not be UTF-8) and nothing waits in a buffer.
enum CLIOutput {
  /// Writes all of `bytes` to `fd`; false when the descriptor is gone (a closed pipe).
  @discardableResult
  static func write(_ bytes: [UInt8], to fd: Int32 = 1) -> Bool {
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes { raw -> Int in
        guard let base = raw.baseAddress else { return 0 }
        return systemWrite(fd, base + offset, raw.count - offset)
      }
      if written < 0 {
        if errno == EINTR { continue }
        return false
      }
      offset += written
    }
    return true
  }

  static func error(_ message: String) {
    write(Array("error: \(message)\n".utf8), to: 2)
  }

  static func info(_ message: String) {
    write(Array("\(message)\n".utf8), to: 2)
  }

  static func out(_ line: String) {
    write(Array("\(line)\n".utf8), to: 1)
  }

  private static func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Darwin)
      Darwin.write(fd, pointer, count)
    #elseif canImport(Musl)
      Musl.write(fd, pointer, count)
    #else
      Glibc.write(fd, pointer, count)
    #endif
  }
}

/// Reads standard input line by line without blocking Swift's cooperative threads: each
/// read(2) runs on NIO's blocking-I/O thread pool.
struct StandardInputLines {
  private var pending: [UInt8] = []
  private var atEnd = false
  private let chunkSize = 64 * 1024

  /// The complete lines of the next chunk read, each without its `\n` (and a trailing `\r`);
  /// nil at end of input. A last line without a newline is returned too.
  mutating func nextLines() async throws -> [[UInt8]]? {
    while true {
      if atEnd {
        guard !pending.isEmpty else { return nil }
        defer { pending.removeAll() }
        return [Self.strip(pending[...])]
      }
      let size = chunkSize
      let chunk = try await NIOThreadPool.singleton.runIfActive {
        try Self.readChunk(size: size)
      }
      if chunk.isEmpty {
        atEnd = true
        continue
      }
      var lines: [[UInt8]] = []
      var start = chunk.startIndex
      while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
        if pending.isEmpty {
          lines.append(Self.strip(chunk[start..<newline]))
        } else {
          pending += chunk[start..<newline]
          lines.append(Self.strip(pending[...]))
          pending.removeAll(keepingCapacity: true)
        }
        start = newline + 1
      }
      pending += chunk[start...]
      if !lines.isEmpty { return lines }
    }
  }

  private static func strip(_ line: ArraySlice<UInt8>) -> [UInt8] {
    if line.last == UInt8(ascii: "\r") { return Array(line.dropLast()) }
    return Array(line)
  }

  private static func readChunk(size: Int) throws -> [UInt8] {
    var buffer = [UInt8](repeating: 0, count: size)
    while true {
      let count = buffer.withUnsafeMutableBytes { raw -> Int in
        guard let base = raw.baseAddress else { return 0 }
        return read(0, base, raw.count)
      }
      if count >= 0 {
        buffer.removeSubrange(count...)
        return buffer
      }
      if errno == EINTR { continue }
      throw ValidationError("cannot read standard input (errno \(errno))")
    }
  }
}
