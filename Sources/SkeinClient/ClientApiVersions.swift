import KafkaProtocol

/// The request versions SkeinClient implements per API, and the ApiVersions negotiation that
/// picks, for each API, the highest version both the client and a broker support.
public enum ClientApiVersions {
  /// Versions the client implements, each capped to what the generated codec covers.
  /// Produce starts at v3 and Fetch at v4 (record batch v2 only), ListOffsets at v1 (one
  /// offset per partition).
  public static let supported: [ApiKey: ClosedRange<Int16>] = [
    .produce: clamp(ProduceRequest.self, 3...11),
    .fetch: clamp(FetchRequest.self, 4...17),
    .listOffsets: clamp(ListOffsetsRequest.self, 1...10),
    .metadata: clamp(MetadataRequest.self, 0...12),
    .apiVersions: clamp(ApiVersionsRequest.self, 0...4),
    .createTopics: clamp(CreateTopicsRequest.self, 0...7),
    .deleteTopics: clamp(DeleteTopicsRequest.self, 0...6),
    .createPartitions: clamp(CreatePartitionsRequest.self, 0...3),
    .describeConfigs: clamp(DescribeConfigsRequest.self, 0...4),
    .incrementalAlterConfigs: clamp(IncrementalAlterConfigsRequest.self, 0...1),
    .initProducerId: clamp(InitProducerIdRequest.self, 0...5),
    .findCoordinator: clamp(FindCoordinatorRequest.self, 0...6),
    .joinGroup: clamp(JoinGroupRequest.self, 0...9),
    .syncGroup: clamp(SyncGroupRequest.self, 0...5),
    .heartbeat: clamp(HeartbeatRequest.self, 0...4),
    .leaveGroup: clamp(LeaveGroupRequest.self, 0...5),
    .offsetCommit: clamp(OffsetCommitRequest.self, 0...9),
    .offsetFetch: clamp(OffsetFetchRequest.self, 0...9),
    .offsetDelete: clamp(OffsetDeleteRequest.self, 0...0),
    .listGroups: clamp(ListGroupsRequest.self, 0...5),
    .describeGroups: clamp(DescribeGroupsRequest.self, 0...6),
    .deleteGroups: clamp(DeleteGroupsRequest.self, 0...2),
    .describeProducers: clamp(DescribeProducersRequest.self, 0...0),
  ]

  private static func clamp<R: KafkaRequestMessage>(
    _: R.Type, _ implemented: ClosedRange<Int16>
  ) -> ClosedRange<Int16> {
    implemented.clamped(to: R.validVersions)
  }

  /// For each API both sides serve with overlapping ranges, the highest common version.
  public static func negotiate(
    broker: [ApiVersionsResponse.ApiVersion],
    client: [ApiKey: ClosedRange<Int16>] = supported
  ) -> [ApiKey: Int16] {
    var result: [ApiKey: Int16] = [:]
    for entry in broker {
      guard let key = ApiKey(rawValue: entry.apiKey), let ours = client[key] else { continue }
      let low = max(ours.lowerBound, entry.minVersion)
      let high = min(ours.upperBound, entry.maxVersion)
      if low <= high { result[key] = high }
    }
    return result
  }
}
