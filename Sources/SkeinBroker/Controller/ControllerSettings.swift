/// The controller's timing and election settings, from Kafka's server.properties keys.
struct ControllerSettings: Sendable {
  /// `broker.session.timeout.ms`: a broker not heard from for this long is fenced.
  var sessionTimeoutMs: Int64 = 9000
  /// `auto.leader.rebalance.enable`.
  var autoLeaderRebalance = true
  /// `leader.imbalance.check.interval.seconds`, in milliseconds.
  var leaderImbalanceCheckIntervalMs: Int64 = 300_000
  /// `unclean.leader.election.interval.ms`.
  var uncleanElectionIntervalMs: Int64 = 300_000
  /// `unclean.leader.election.enable` of the broker, the default for topics without their own.
  var uncleanElectionDefault = false
  /// Elections moved back to preferred leaders in one pass.
  var maxElectionsPerPass = 1000
}
