import KafkaProtocol

/// The APIs and versions this broker serves, as ApiVersions advertises them. Every version here
/// is served in full; APIs of later features (groups, transactions, security) are absent until
/// they work.
public enum SupportedApis {
  public static let versions: [ApiKey: ClosedRange<Int16>] = [
    // Produce v0-2 are served as Kafka 4 serves them: the request is read, and record sets in
    // the old message formats (magic 0/1) get UNSUPPORTED_FOR_MESSAGE_FORMAT. librdkafka before
    // 2.12 only compresses when the broker advertises Produce v0 (KAFKA-18659).
    .produce: 0...11,
    .fetch: 4...17,
    .listOffsets: 1...10,
    .metadata: 0...12,
    .apiVersions: 0...4,
    .createTopics: 0...7,
    .deleteTopics: 0...6,
    .deleteRecords: 0...2,
    .describeConfigs: 0...4,
    .alterConfigs: 0...2,
    .createPartitions: 0...3,
    .describeLogDirs: 0...4,
    .incrementalAlterConfigs: 0...1,
    .describeCluster: 0...1,
    // Groups (classic protocol) as Kafka 4 serves them: KIP-896 removed OffsetCommit v0-1,
    // OffsetFetch v0 and DeleteGroups v0; FindCoordinator v0 stayed (KAFKA-18270) and
    // JoinGroup v0-1 came back in 4.0.1 (KAFKA-19444), both needed by librdkafka before 2.11.
    .findCoordinator: 0...6,
    .joinGroup: 0...9,
    .syncGroup: 0...5,
    .heartbeat: 0...4,
    .leaveGroup: 0...5,
    .offsetCommit: 2...9,
    .offsetFetch: 1...9,
    .offsetDelete: 0...0,
    .listGroups: 0...5,
    .describeGroups: 0...5,
    .deleteGroups: 1...2,
    // KIP-848. v1 (regex subscriptions, client-generated member ids) is what Kafka 4.0 serves
    // and librdkafka 2.16 requires.
    .consumerGroupHeartbeat: 0...1,
    .consumerGroupDescribe: 0...0,
    .initProducerId: 0...5,
    .describeProducers: 0...0,
    .offsetForLeaderEpoch: 0...4,
    .electLeaders: 0...2,
  ]

  /// The ApiVersions entries, ordered by key.
  public static var apiVersionsEntries: [ApiVersionsResponse.ApiVersion] {
    versions.sorted { $0.key.rawValue < $1.key.rawValue }.map {
      ApiVersionsResponse.ApiVersion(
        apiKey: $0.key.rawValue, minVersion: $0.value.lowerBound, maxVersion: $0.value.upperBound)
    }
  }
}
