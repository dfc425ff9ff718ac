import KafkaProtocol

/// Where `skein group reset-offsets` moves a group's committed offsets, as the options of
/// kafka-consumer-groups name them.
public enum OffsetResetStrategy: Sendable, Hashable {
  case toEarliest
  case toLatest
  /// Clamped to the partition's earliest and latest offsets.
  case toOffset(Int64)
  /// The first record at or after this many ms since the epoch; the log end if none.
  case toDatetime(Int64)
  /// The committed offset moved by this much (negative: back), clamped.
  case shiftBy(Int64)
}

/// The offset-reset plan as pure logic: per partition, the new offset from the partition's
/// earliest and latest offsets, the group's committed offset, and the offset a timestamp
/// lookup found.
public enum OffsetResetPlanner {
  /// What the plan needs to know of one partition.
  public struct PartitionState: Sendable, Hashable {
    public var earliest: Int64
    public var latest: Int64
    public var committed: Int64?
    /// The ListOffsets answer for `.toDatetime` (-1: no record that late).
    public var offsetForTimestamp: Int64?

    public init(
      earliest: Int64, latest: Int64, committed: Int64? = nil, offsetForTimestamp: Int64? = nil
    ) {
      self.earliest = earliest
      self.latest = latest
      self.committed = committed
      self.offsetForTimestamp = offsetForTimestamp
    }

    func clamp(_ offset: Int64) -> Int64 { min(max(offset, earliest), latest) }
  }

  public static func plan(
    _ strategy: OffsetResetStrategy, partitions: [TopicPartition: PartitionState]
  ) throws(KafkaClientError) -> [TopicPartition: Int64] {
    var result: [TopicPartition: Int64] = [:]
    for (partition, state) in partitions {
      switch strategy {
      case .toEarliest:
        result[partition] = state.earliest
      case .toLatest:
        result[partition] = state.latest
      case .toOffset(let offset):
        result[partition] = state.clamp(offset)
      case .toDatetime:
        let found = state.offsetForTimestamp ?? -1
        result[partition] = found >= 0 ? state.clamp(found) : state.latest
      case .shiftBy(let delta):
        guard let committed = state.committed else {
          throw .invalidArgument(
            "Cannot shift offset for partition \(partition) since there is no current "
              + "committed offset")
        }
        let (shifted, overflow) = committed.addingReportingOverflow(delta)
        result[partition] = state.clamp(overflow ? (delta < 0 ? Int64.min : Int64.max) : shifted)
      }
    }
    return result
  }
}

extension Admin {
  /// The new committed offsets `strategy` gives `partitions` of `groupId`, looked up from
  /// the leaders (ListOffsets) and the coordinator (OffsetFetch).
  public func planOffsetReset(
    _ groupId: String, partitions: [TopicPartition], strategy: OffsetResetStrategy
  ) async throws -> [TopicPartition: Int64] {
    let earliest = try await client.listOffsets(
      Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.beginning) }))
    let latest = try await client.listOffsets(
      Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.end) }))
    var byTimestamp: [TopicPartition: ListedOffset] = [:]
    if case .toDatetime(let timestamp) = strategy {
      byTimestamp = try await client.listOffsets(
        Dictionary(uniqueKeysWithValues: partitions.map { ($0, OffsetSpec.timestamp(timestamp)) }))
    }
    var committed: [TopicPartition: OffsetAndMetadata] = [:]
    if case .shiftBy = strategy {
      committed = try await listConsumerGroupOffsets(groupId, partitions: partitions)
    }
    var states: [TopicPartition: OffsetResetPlanner.PartitionState] = [:]
    for partition in partitions {
      guard let low = earliest[partition]?.offset, let high = latest[partition]?.offset else {
        throw KafkaClientError.unknownTopicOrPartition(partition.description)
      }
      states[partition] = OffsetResetPlanner.PartitionState(
        earliest: low, latest: high, committed: committed[partition]?.offset,
        offsetForTimestamp: byTimestamp[partition]?.offset)
    }
    return try OffsetResetPlanner.plan(strategy, partitions: states)
  }
}

extension OffsetResetStrategy {
  /// Milliseconds since the epoch of an ISO-8601 date-time as `--to-datetime` takes it:
  /// `YYYY-MM-DDTHH:mm:SS[.sss][Z|±HH:mm|±HHmm]`; without a zone it is UTC.
  public static func parseDatetime(_ text: String) throws(KafkaClientError) -> Int64 {
    let bad = KafkaClientError.invalidArgument(
      "'\(text)' is not a date-time in the form YYYY-MM-DDTHH:mm:SS.sss[Z|±HH:mm]")
    let chars = Array(text.utf8)
    func number(_ start: Int, _ count: Int) -> Int? {
      guard start + count <= chars.count else { return nil }
      var value = 0
      for char in chars[start..<(start + count)] {
        guard char >= 48, char <= 57 else { return nil }
        value = value * 10 + Int(char - 48)
      }
      return value
    }
    func char(_ index: Int) -> UInt8? { index < chars.count ? chars[index] : nil }
    guard let year = number(0, 4), char(4) == UInt8(ascii: "-"), let month = number(5, 2),
      char(7) == UInt8(ascii: "-"), let day = number(8, 2), char(10) == UInt8(ascii: "T"),
      let hour = number(11, 2), char(13) == UInt8(ascii: ":"), let minute = number(14, 2),
      char(16) == UInt8(ascii: ":"), let second = number(17, 2),
      (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
    else { throw bad }
    var index = 19
    var millis = 0
    if char(index) == UInt8(ascii: ".") {
      index += 1
      var digits = 0
      while let c = char(index), c >= 48, c <= 57 {
        if digits < 3 { millis = millis * 10 + Int(c - 48) }
        digits += 1
        index += 1
      }
      guard digits > 0 else { throw bad }
      if digits < 3 { for _ in digits..<3 { millis *= 10 } }
    }
    var offsetMinutes = 0
    if let sign = char(index) {
      if sign == UInt8(ascii: "Z") {
        index += 1
      } else if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
        guard let hours = number(index + 1, 2) else { throw bad }
        var minutesStart = index + 3
        if char(minutesStart) == UInt8(ascii: ":") { minutesStart += 1 }
        guard let minutes = number(minutesStart, 2), hours < 24, minutes < 60 else { throw bad }
        offsetMinutes = (hours * 60 + minutes) * (sign == UInt8(ascii: "-") ? -1 : 1)
        index = minutesStart + 2
      } else {
        throw bad
      }
    }
    guard index == chars.count else { throw bad }
    // Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146_097 + dayOfEra - 719_468
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offsetMinutes * 60
    return Int64(seconds) * 1_000 + Int64(millis)
  }
}
