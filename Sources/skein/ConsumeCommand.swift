import ArgumentParser
import KafkaProtocol
import NIOCore
import SkeinClient

/// `skein consume`: prints the records of a topic's partitions, one value per line.
struct ConsumeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "consume",
    abstract: "Print records of a topic, one value per line.",
    discussion: """
      Without a start option, only records produced from now on are printed. Reads every \
      partition unless --partition is given. Stops after --max-messages records, or once no \
      record arrived for --timeout-ms. With --group the topic is read as a member of that \
      consumer group: partitions are assigned by the group, reading resumes after the \
      group's committed offsets (--from-beginning applies only where it has none), and the \
      position after the last printed record is committed.
      """)

  @OptionGroup var client: ClientOptions

  @Option(help: "Topic to consume.")
  var topic: String

  @Option(help: "Only this partition.")
  var partition: Int32?

  @Option(help: "Consume as a member of this consumer group (subscribe, commit).")
  var group: String?

  @Flag(name: .customLong("from-beginning"), help: "Start at the earliest offset.")
  var fromBeginning = false

  @Option(help: "Start at this offset (in each partition read).")
  var offset: Int64?

  @Option(help: "Start at the first record at or after this timestamp (ms since the epoch).")
  var timestamp: Int64?

  @Option(name: .customLong("max-messages"), help: "Exit after this many records.")
  var maxMessages: Int?

  @Option(name: .customLong("timeout-ms"), help: "Exit when no record arrived for this long.")
  var timeoutMs: Int?

  @Flag(name: .customLong("print-key"), help: "Print each record's key before its value.")
  var printKey = false

  @Flag(name: .customLong("print-headers"), help: "Print each record's headers.")
  var printHeaders = false

  @Flag(name: .customLong("print-offset"), help: "Print each record's offset.")
  var printOffset = false

  @Flag(name: .customLong("print-partition"), help: "Print each record's partition.")
  var printPartition = false

  @Flag(name: .customLong("print-timestamp"), help: "Print each record's timestamp.")
  var printTimestamp = false

  func validate() throws {
    let starts = [fromBeginning, offset != nil, timestamp != nil].filter { $0 }.count
    guard starts <= 1 else {
      throw ValidationError("give at most one of --from-beginning, --offset and --timestamp")
    }
    if let partition, partition < 0 { throw ValidationError("--partition must not be negative") }
    if let group {
      guard !group.isEmpty else { throw ValidationError("--group must not be empty") }
      guard partition == nil, offset == nil, timestamp == nil else {
        throw ValidationError(
          "--group reads the partitions the group assigns from its committed offsets; "
            + "it excludes --partition, --offset and --timestamp")
      }
    }
    if let offset, offset < 0 { throw ValidationError("--offset must not be negative") }
    if let maxMessages, maxMessages <= 0 {
      throw ValidationError("--max-messages must be positive")
    }
    if let timeoutMs, timeoutMs < 0 { throw ValidationError("--timeout-ms must not be negative") }
  }

  var startSpec: OffsetSpec {
    if fromBeginning { return .beginning }
    if let offset { return .offset(offset) }
    if let timestamp { return .timestamp(timestamp) }
    return .end
  }

  func run() async throws {
    var configuration = Consumer.Configuration()
    configuration.autoOffsetReset = fromBeginning ? .earliest : .latest
    let format = RecordFormat(
      key: printKey, headers: printHeaders, offset: printOffset, partition: printPartition,
      timestamp: printTimestamp)
    if let group {
      try await consumeInGroup(group, configuration: configuration, format: format)
      return
    }
    try await withClient(client) { client in
      let partitions: [TopicPartition]
      if let partition {
        partitions = [TopicPartition(topic, partition)]
      } else {
        let metadata = try await client.topicMetadata(topic)
        partitions = metadata.partitions.map { TopicPartition(topic, $0.partition) }
      }
      let consumer = Consumer(client: client, configuration: configuration)
      await consumer.assign(partitions)
      try await consumer.seekAll(to: startSpec)
      let count = try await consume(consumer, format: format)
      await consumer.close()
      CLIOutput.info("Processed a total of \(count) messages")
    }
  }

  private func consumeInGroup(
    _ group: String, configuration: Consumer.Configuration, format: RecordFormat
  ) async throws {
    var groupConfiguration = GroupConsumer.Configuration(groupId: group)
    groupConfiguration.fetch = configuration
    // SIGINT and SIGTERM end the loop, so the printed offsets are committed and the member
    // leaves the group, as Kafka's console consumer does on shutdown.
    let stop = ShutdownSignal()
    try await withClient(client) { client in
      let consumer = try GroupConsumer(client: client, configuration: groupConfiguration)
      try await consumer.subscribe([topic])
      var printed: [TopicPartition: OffsetAndMetadata] = [:]
      let count: Int
      do {
        count = try await consume(
          { try await consumer.poll(timeout: $0) }, format: format, stop: { stop.fired },
          printed: { record in
            printed[record.topicPartition] = OffsetAndMetadata(
              offset: record.offset + 1, leaderEpoch: record.leaderEpoch)
          })
        // Commit what was printed, not what the last poll fetched beyond --max-messages.
        do {
          try await consumer.commit(printed)
        } catch let error as KafkaClientError {
          CLIOutput.error("could not commit the offsets of group \(group): \(error)")
          throw ExitCode.failure
        }
      } catch {
        await consumer.close(committing: false)
        throw error
      }
      await consumer.close(committing: false)
      CLIOutput.info("Processed a total of \(count) messages")
    }
  }

  private func consume(_ consumer: Consumer, format: RecordFormat) async throws -> Int {
    try await consume(
      { try await consumer.poll(timeout: $0) }, format: format, printed: { _ in })
  }

  /// Prints the records `poll` returns until --max-messages or --timeout-ms; `printed` sees
  /// each record written.
  private func consume(
    _ poll: (Duration) async throws -> [ConsumerRecord], format: RecordFormat,
    stop: () -> Bool = { false }, printed: (ConsumerRecord) -> Void
  ) async throws -> Int {
    var count = 0
    var lastRecord = ContinuousClock.now
    let idleLimit = timeoutMs.map { Duration.milliseconds($0) }
    while !stop() {
      var wait = Duration.seconds(1)
      if let idleLimit {
        let left = idleLimit - (ContinuousClock.now - lastRecord)
        if left <= .zero { return count }
        wait = min(wait, left)
      }
      let records = try await poll(wait)
      guard !records.isEmpty else { continue }
      lastRecord = .now
      var output: [UInt8] = []
      for record in records {
        format.append(record, to: &output)
        printed(record)
        count += 1
        if let maxMessages, count >= maxMessages { break }
      }
      guard CLIOutput.write(output) else { return count }
      if let maxMessages, count >= maxMessages { return count }
    }
    return count
  }
}

/// How `skein consume` prints a record: optional fields then the value, tab-separated, in
/// the order of Kafka's console consumer.
struct RecordFormat {
  var key = false
  var headers = false
  var offset = false
  var partition = false
  var timestamp = false

  func append(_ record: ConsumerRecord, to output: inout [UInt8]) {
    let tab = UInt8(ascii: "\t")
    if timestamp {
      let kind = record.timestampType == .logAppendTime ? "LogAppendTime" : "CreateTime"
      output += Array("\(kind):\(record.timestamp)".utf8)
      output.append(tab)
    }
    if partition {
      output += Array("Partition:\(record.partition)".utf8)
      output.append(tab)
    }
    if offset {
      output += Array("Offset:\(record.offset)".utf8)
      output.append(tab)
    }
    if headers {
      if record.headers.isEmpty {
        output += Array("NO_HEADERS".utf8)
      } else {
        for (index, header) in record.headers.enumerated() {
          if index > 0 { output.append(UInt8(ascii: ",")) }
          output += Array(header.key.utf8)
          output.append(UInt8(ascii: ":"))
          Self.appendBytes(header.value, to: &output)
        }
      }
      output.append(tab)
    }
    if key {
      Self.appendBytes(record.key, to: &output)
      output.append(tab)
    }
    Self.appendBytes(record.value, to: &output)
    output.append(UInt8(ascii: "\n"))
  }

  private static func appendBytes(_ bytes: ByteBuffer?, to output: inout [UInt8]) {
    if let bytes {
      output += bytes.readableBytesView
    } else {
      output += Array("null".utf8)
    }
  }
}
