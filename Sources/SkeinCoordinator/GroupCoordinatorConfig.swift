/// The group coordinator's settings, with Kafka's broker config names and defaults.
public struct GroupCoordinatorConfig: Sendable, Hashable {
  /// `group.initial.rebalance.delay.ms`: how long a new (empty) group waits for more members.
  public var initialRebalanceDelayMs: Int64 = 3000
  /// `group.min.session.timeout.ms`.
  public var minSessionTimeoutMs: Int32 = 6000
  /// `group.max.session.timeout.ms`.
  public var maxSessionTimeoutMs: Int32 = 1_800_000
  /// `group.max.size` (unlimited by default).
  public var maxSize: Int = Int(Int32.max)
  /// `offsets.retention.minutes`, in milliseconds.
  public var offsetsRetentionMs: Int64 = 10080 * 60_000
  /// `offsets.retention.check.interval.ms`.
  public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
  /// `offset.metadata.max.bytes`.
  public var offsetMetadataMaxBytes: Int = 4096
  /// `group.consumer.session.timeout.ms`: a consumer-protocol member is fenced without heartbeats.
  public var consumerSessionTimeoutMs: Int64 = 45000
  /// `group.consumer.heartbeat.interval.ms`: told to consumer-protocol members.
  public var consumerHeartbeatIntervalMs: Int32 = 5000
  /// `group.consumer.assignors`: the server assignors, the first is the default.
  public var consumerAssignors: [ServerAssignor] = [.uniform, .range]
  /// `group.consumer.max.size`.
  public var consumerMaxSize: Int = Int(Int32.max)

  public init() {}
}
