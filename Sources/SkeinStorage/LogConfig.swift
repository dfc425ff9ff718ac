import KafkaProtocol

/// A topic config value that could not be accepted. The broker answers INVALID_CONFIG.
public struct LogConfigError: Error, Sendable, Equatable, CustomStringConvertible {
  public var key: String
  public var value: String
  public var reason: String

  public init(key: String, value: String, reason: String) {
    self.key = key
    self.value = value
    self.reason = reason
  }

  public var errorCode: ErrorCode { .invalidConfig }

  public var description: String {
    "Invalid value \(value) for configuration \(key): \(reason)"
  }
}

/// `cleanup.policy`: a list of `delete` and `compact`.
public struct CleanupPolicy: OptionSet, Sendable, Hashable {
  public var rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  public static let delete = CleanupPolicy(rawValue: 1)
  public static let compact = CleanupPolicy(rawValue: 2)

  public var name: String {
    var names: [String] = []
    if contains(.delete) { names.append("delete") }
    if contains(.compact) { names.append("compact") }
    return names.joined(separator: ",")
  }
}

/// `compression.type` of a topic: keep the producer's codec, store uncompressed, or recompress.
public enum TopicCompressionType: String, Sendable, Hashable, CaseIterable {
  case producer
  case uncompressed
  case gzip
  case snappy
  case lz4
  case zstd

  /// The codec batches must be stored with, or nil for `producer` (keep what was sent).
  public var codec: CompressionType? {
    switch self {
    case .producer: nil
    case .uncompressed: CompressionType.none
    case .gzip: .gzip
    case .snappy: .snappy
    case .lz4: .lz4
    case .zstd: .zstd
    }
  }
}

/// One topic config as DescribeConfigs reports it.
public struct LogConfigEntry: Sendable, Hashable {
  public var name: String
  public var value: String
  /// False when the topic overrides the default.
  public var isDefault: Bool
}

/// A partition log's configuration, with Kafka's topic config names and defaults.
public struct LogConfig: Sendable, Equatable {
  /// `segment.bytes`: roll a segment before it would grow past this.
  public var segmentBytes = 1_073_741_824
  /// `segment.ms`: roll a segment this long after its first append.
  public var segmentMs: Int64 = 604_800_000
  /// `segment.jitter.ms` (accepted; rolls are not jittered).
  public var segmentJitterMs: Int64 = 0
  /// `segment.index.bytes`: the largest offset or time index; a full index rolls the segment.
  public var segmentIndexBytes = 10_485_760
  /// `index.interval.bytes`: bytes appended between two index entries.
  public var indexIntervalBytes = 4096
  /// `retention.ms`: delete segments whose newest timestamp is older; -1 keeps them forever.
  public var retentionMs: Int64 = 604_800_000
  /// `retention.bytes`: delete the oldest segments while the log is larger; -1 for no limit.
  public var retentionBytes: Int64 = -1
  /// `flush.messages`: fsync once this many messages are unflushed.
  public var flushMessages: Int64 = .max
  /// `flush.ms`: fsync once the last flush is this old.
  public var flushMs: Int64 = .max
  /// `max.message.bytes`: the largest record batch accepted.
  public var maxMessageBytes = 1_048_588
  /// `message.timestamp.type`.
  public var messageTimestampType: TimestampType = .createTime
  /// `message.timestamp.before.max.ms`.
  public var messageTimestampBeforeMaxMs: Int64 = .max
  /// `message.timestamp.after.max.ms`.
  public var messageTimestampAfterMaxMs: Int64 = .max
  /// `cleanup.policy`.
  public var cleanupPolicy: CleanupPolicy = .delete
  /// `file.delete.delay.ms` (accepted; deleted segments are unlinked at once, open readers
  /// keep their data through their descriptors).
  public var fileDeleteDelayMs: Int64 = 60_000
  /// `min.insync.replicas`.
  public var minInsyncReplicas = 1
  /// `compression.type`.
  public var compressionType: TopicCompressionType = .producer
  /// `unclean.leader.election.enable`.
  public var uncleanLeaderElectionEnable = false
  /// `delete.retention.ms`: how long the cleaner keeps a tombstone after first cleaning it.
  public var deleteRetentionMs: Int64 = 86_400_000
  /// `min.compaction.lag.ms`: a record stays uncompacted at least this long.
  public var minCompactionLagMs: Int64 = 0
  /// `max.compaction.lag.ms`: a log with dirty records older than this is cleaned whatever
  /// its dirty ratio.
  public var maxCompactionLagMs: Int64 = .max
  /// `min.cleanable.dirty.ratio`: the dirty share of a log above which the cleaner takes it.
  public var minCleanableDirtyRatio = 0.5
  /// The topic configs this value was built from (only valid names), as given.
  public var overrides: [String: String] = [:]

  public init() {}

  /// Parses topic configs over `defaults` (the broker's `log.*` defaults). Unknown names and
  /// invalid values throw an error naming the key.
  public init(_ configs: [String: String], defaults: LogConfig = LogConfig()) throws(LogConfigError)
  {
    self = defaults
    for key in configs.keys.sorted() {
      guard let raw = configs[key] else { continue }
      try set(key, raw)
    }
  }

  /// Applies one topic config.
  public mutating func set(_ key: String, _ raw: String) throws(LogConfigError) {
    let value = raw.trimmingWhitespace()
    switch key {
    case "segment.bytes": segmentBytes = try Self.int(key, value, atLeast: 14)
    case "segment.ms": segmentMs = try Self.long(key, value, atLeast: 1)
    case "segment.jitter.ms": segmentJitterMs = try Self.long(key, value, atLeast: 0)
    case "segment.index.bytes": segmentIndexBytes = try Self.int(key, value, atLeast: 4)
    case "index.interval.bytes": indexIntervalBytes = try Self.int(key, value, atLeast: 0)
    case "retention.ms": retentionMs = try Self.long(key, value, atLeast: -1)
    case "retention.bytes": retentionBytes = try Self.long(key, value, atLeast: .min)
    case "flush.messages": flushMessages = try Self.long(key, value, atLeast: 1)
    case "flush.ms": flushMs = try Self.long(key, value, atLeast: 0)
    case "max.message.bytes": maxMessageBytes = try Self.int(key, value, atLeast: 0)
    case "message.timestamp.type":
      switch value {
      case "CreateTime": messageTimestampType = .createTime
      case "LogAppendTime": messageTimestampType = .logAppendTime
      default:
        throw LogConfigError(
          key: key, value: raw, reason: "String must be one of: CreateTime, LogAppendTime")
      }
    case "message.timestamp.before.max.ms":
      messageTimestampBeforeMaxMs = try Self.long(key, value, atLeast: 0)
    case "message.timestamp.after.max.ms":
      messageTimestampAfterMaxMs = try Self.long(key, value, atLeast: 0)
    case "cleanup.policy":
      var policy: CleanupPolicy = []
      for item in value.split(separator: ",", omittingEmptySubsequences: false) {
        switch item.trimmingWhitespace() {
        case "delete": policy.insert(.delete)
        case "compact": policy.insert(.compact)
        default:
          throw LogConfigError(
            key: key, value: raw, reason: "String must be one of: compact, delete")
        }
      }
      cleanupPolicy = policy
    case "file.delete.delay.ms": fileDeleteDelayMs = try Self.long(key, value, atLeast: 0)
    case "min.insync.replicas": minInsyncReplicas = try Self.int(key, value, atLeast: 1)
    case "compression.type":
      guard let type = TopicCompressionType(rawValue: value) else {
        throw LogConfigError(
          key: key, value: raw,
          reason: "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer")
      }
      compressionType = type
    case "delete.retention.ms": deleteRetentionMs = try Self.long(key, value, atLeast: 0)
    case "min.compaction.lag.ms": minCompactionLagMs = try Self.long(key, value, atLeast: 0)
    case "max.compaction.lag.ms": maxCompactionLagMs = try Self.long(key, value, atLeast: 1)
    case "min.cleanable.dirty.ratio":
      guard let ratio = Double(value), ratio >= 0, ratio <= 1 else {
        throw LogConfigError(key: key, value: raw, reason: "Value must be between 0 and 1")
      }
      minCleanableDirtyRatio = ratio
    case "unclean.leader.election.enable":
      switch value.lowercased() {
      case "true": uncleanLeaderElectionEnable = true
      case "false": uncleanLeaderElectionEnable = false
      default:
        throw LogConfigError(
          key: key, value: raw, reason: "Expected value to be either true or false")
      }
    default:
      guard Self.acceptedNames.contains(key) else {
        throw LogConfigError(key: key, value: raw, reason: "Unknown topic config name")
      }
    }
    overrides[key] = raw
  }

  /// Names this type interprets.
  public static let interpretedNames: [String] = [
    "cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
    "flush.messages", "flush.ms", "index.interval.bytes", "max.compaction.lag.ms",
    "max.message.bytes", "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
    "message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
    "min.insync.replicas", "retention.bytes", "retention.ms", "segment.bytes",
    "segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
  ]

  /// Other Kafka topic config names: accepted and kept in `overrides`, not interpreted.
  public static let acceptedNames: Set<String> = [
    "compression.gzip.level", "compression.lz4.level", "compression.zstd.level",
    "follower.replication.throttled.replicas", "leader.replication.throttled.replicas",
    "local.retention.bytes", "local.retention.ms", "message.downconversion.enable",
    "message.format.version", "message.timestamp.difference.max.ms", "preallocate",
    "remote.storage.enable", "remote.log.copy.disable",
    "remote.log.delete.on.disable",
  ]

  /// Kafka's defaults for the accepted topic configs Skein stores but does not act on yet, so
  /// DescribeConfigs lists every config a Kafka broker lists.
  public static let uninterpretedDefaults: [String: String] = [
    "compression.gzip.level": "-1",
    "compression.lz4.level": "9",
    "compression.zstd.level": "3",
    "follower.replication.throttled.replicas": "",
    "leader.replication.throttled.replicas": "",
    "local.retention.bytes": "-2",
    "local.retention.ms": "-2",
    "message.downconversion.enable": "true",
    "preallocate": "false",
    "remote.storage.enable": "false",
  ]

  /// The effective value of an interpreted config as Kafka prints it, an accepted override,
  /// or Kafka's default for an accepted config.
  public func value(forName name: String) -> String? {
    switch name {
    case "segment.bytes": String(segmentBytes)
    case "segment.ms": String(segmentMs)
    case "segment.jitter.ms": String(segmentJitterMs)
    case "segment.index.bytes": String(segmentIndexBytes)
    case "index.interval.bytes": String(indexIntervalBytes)
    case "retention.ms": String(retentionMs)
    case "retention.bytes": String(retentionBytes)
    case "flush.messages": String(flushMessages)
    case "flush.ms": String(flushMs)
    case "max.message.bytes": String(maxMessageBytes)
    case "message.timestamp.type":
      messageTimestampType == .logAppendTime ? "LogAppendTime" : "CreateTime"
    case "message.timestamp.before.max.ms": String(messageTimestampBeforeMaxMs)
    case "message.timestamp.after.max.ms": String(messageTimestampAfterMaxMs)
    case "cleanup.policy": cleanupPolicy.name
    case "file.delete.delay.ms": String(fileDeleteDelayMs)
    case "min.insync.replicas": String(minInsyncReplicas)
    case "compression.type": compressionType.rawValue
    case "unclean.leader.election.enable": String(uncleanLeaderElectionEnable)
    case "delete.retention.ms": String(deleteRetentionMs)
    case "min.compaction.lag.ms": String(minCompactionLagMs)
    case "max.compaction.lag.ms": String(maxCompactionLagMs)
    case "min.cleanable.dirty.ratio": String(minCleanableDirtyRatio)
    default: overrides[name] ?? Self.uninterpretedDefaults[name]
    }
  }

  /// Every interpreted config plus accepted overrides, sorted by name, for DescribeConfigs.
  public func describe() -> [LogConfigEntry] {
    let names = Set(Self.interpretedNames).union(Self.uninterpretedDefaults.keys)
      .union(overrides.keys).sorted()
    return names.compactMap { name in
      value(forName: name).map {
        LogConfigEntry(name: name, value: $0, isDefault: overrides[name] == nil)
      }
    }
  }

  private static func long(_ key: String, _ value: String, atLeast minimum: Int64)
    throws(LogConfigError) -> Int64
  {
    guard let parsed = Int64(value) else {
      throw LogConfigError(key: key, value: value, reason: "Expected value to be a 64-bit integer")
    }
    guard parsed >= minimum else {
      throw LogConfigError(key: key, value: value, reason: "Value must be at least \(minimum)")
    }
    return parsed
  }

  private static func int(_ key: String, _ value: String, atLeast minimum: Int32)
    throws(LogConfigError) -> Int
  {
    guard let parsed = Int32(value) else {
      throw LogConfigError(key: key, value: value, reason: "Expected value to be a 32-bit integer")
    }
    guard parsed >= minimum else {
      throw LogConfigError(key: key, value: value, reason: "Value must be at least \(minimum)")
    }
    return Int(parsed)
  }
}

extension StringProtocol {
  fileprivate func trimmingWhitespace() -> String {
    var text = Substring(self)
    while let first = text.first, first.isWhitespace { text.removeFirst() }
    while let last = text.last, last.isWhitespace { text.removeLast() }
    return String(text)
  }
}
