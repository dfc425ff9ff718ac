import ArgumentParser
import FoundationEssentials
import KafkaProtocol
import NIOCore
import SkeinClient
import Synchronization

/// `skein produce`: each line of standard input becomes one record.
struct ProduceCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "produce",
    abstract: "Produce the lines of standard input to a topic, one record per line.",
    discussion: """
      Prints nothing on success; errors go to standard error, with exit status 1. Idempotent \
      by default, as the Java producer: InitProducerId first, then a sequence per partition.
      """)

  @OptionGroup var client: ClientOptions

  @Option(help: "Topic to produce to.")
  var topic: String

  @Option(help: "Partition to produce to (default: by key hash, or sticky for keyless lines).")
  var partition: Int32?

  @Option(
    name: .customLong("key-separator"),
    help: "Split each line at the first occurrence into key and value.")
  var keySeparator: String?

  @Option(name: .customLong("header"), help: "A header on every record, key=value; repeatable.")
  var headers: [String] = []

  @Option(help: "Acknowledgements: all (or -1), 1, or 0.")
  var acks = "all"

  @Option(name: .customLong("linger-ms"), help: "How long a batch waits for more records.")
  var lingerMs = 5

  @Option(name: .customLong("batch-size"), help: "Batch size in bytes.")
  var batchSize = 16384

  @Flag(
    inversion: .prefixedNo,
    help:
      "Idempotent produce: a producer id and sequences, so a retry is never written twice. On unless --acks is not all; --idempotence with other acks is an error."
  )
  var idempotence: Bool?

  func validate() throws {
    if idempotence == true, try parsedAcks() != .all {
      throw ValidationError(
        "--idempotence needs --acks all (must set acks to all in order to use the idempotent producer)"
      )
    }
    _ = try parsedAcks()
    if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
    if let keySeparator, keySeparator.isEmpty {
      throw ValidationError("--key-separator must not be empty")
    }
    for header in headers { _ = try parseKeyValue(header, option: "--header") }
    guard lingerMs >= 0 else { throw ValidationError("--linger-ms must not be negative") }
    guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
  }

  private func parsedAcks() throws -> Acks {
    switch acks.lowercased() {
    case "all", "-1": return .all
    case "1": return .leader
    case "0": return .none
    default: throw ValidationError("--acks must be all, -1, 1 or 0, not '\(acks)'")
    }
  }

  func run() async throws {
    var configuration = Producer.Configuration()
    configuration.acks = try parsedAcks()
    configuration.linger = .milliseconds(lingerMs)
    configuration.batchSize = batchSize
    configuration.enableIdempotence = idempotence
    configuration.requestTimeout = .milliseconds(client.requestTimeoutMs)
    configuration.maxBlock = .milliseconds(max(client.requestTimeoutMs, 10_000))
    configuration.deliveryTimeout = .milliseconds(max(client.requestTimeoutMs * 2, 30_000))
    var recordHeaders: [RecordHeader] = []
    for header in headers {
      let (key, value) = try parseKeyValue(header, option: "--header")
      recordHeaders.append(RecordHeader(key: key, value: ByteBuffer(string: value)))
    }
    let separator = keySeparator.map { Array($0.utf8) }
    try await withClient(client) { client in
      let producer = try Producer(client: client, configuration: configuration)
      do {
        try await produceLines(
          producer, topic: topic, partition: partition, separator: separator,
          headers: recordHeaders)
      } catch {
        await producer.close()
        throw error
      }
      await producer.close()
    }
  }

  /// Enqueues every line, a chunk of input at a time; the first failed delivery stops the
  /// input and is thrown once everything enqueued has been sent.
  private func produceLines(
    _ producer: Producer, topic: String, partition: Int32?, separator: [UInt8]?,
    headers: [RecordHeader]
  ) async throws {
    let failures = DeliveryFailures()
    var lines = StandardInputLines()
    var lineNumber = 0
    while failures.first == nil, let chunk = try await lines.nextLines() {
      var records: [ProducerRecord] = []
      records.reserveCapacity(chunk.count)
      var badLine: (any Error)?
      for line in chunk {
        lineNumber += 1
        var key: ByteBuffer?
        var value = ByteBuffer(bytes: line)
        if let separator {
          guard let range = Self.firstRange(of: separator, in: line) else {
            badLine = ValidationError(
              "no key separator on line \(lineNumber): '\(String(decoding: line, as: UTF8.self))'"
            )
            break
          }
          key = ByteBuffer(bytes: line[..<range.lowerBound])
          value = ByteBuffer(bytes: line[range.upperBound...])
        }
        records.append(
          ProducerRecord(
            topic: topic, partition: partition, key: key, value: value, headers: headers))
      }
      try await producer.enqueue(contentsOf: records, onDelivery: failures.record)
      if let badLine {
        await producer.flush()
        throw badLine
      }
    }
    await producer.flush()
    if let error = failures.first { throw error }
  }

  static func firstRange(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    for start in 0...(haystack.count - needle.count)
    where haystack[start] == needle[0]
      && haystack[start..<(start + needle.count)].elementsEqual(needle)
    {
      return start..<(start + needle.count)
    }
    return nil
  }
}

/// The first failed delivery of a produce run (callbacks come from the producer's executor).
final class DeliveryFailures: Sendable {
  private let firstError = Mutex<(any Error)?>(nil)

  var first: (any Error)? { firstError.withLock { $0 } }

  @Sendable func record(_ result: Result<RecordMetadata, any Error>) {
    guard case .failure(let error) = result else { return }
    firstError.withLock {
      if $0 == nil { $0 = error }
    }
  }
}
