import Testing

@testable import KafkaProtocol

/// `forEachErrorCode`: every error code Kafka's `errorCounts()` counts, through nested arrays
/// and structs, only for fields present at the version asked.
@Suite struct ErrorCodeVisitorTests {
  func codes<R: KafkaResponseMessage>(_ response: R, version: Int16) -> [Int16] {
    var seen: [Int16] = []
    response.forEachErrorCode(version: version) { seen.append($0) }
    return seen
  }

  @Test func produceVisitsEachPartitionOfEachTopic() {
    let response = ProduceResponse(responses: [
      .init(
        name: "a",
        partitionResponses: [
          .init(index: 0, errorCode: ErrorCode.none.rawValue),
          .init(index: 1, errorCode: ErrorCode.notLeaderOrFollower.rawValue),
        ]),
      .init(
        name: "b",
        partitionResponses: [
          .init(index: 0, errorCode: ErrorCode.unknownTopicOrPartition.rawValue)
        ]),
    ])
    for version in ProduceResponse.validVersions {
      #expect(codes(response, version: version) == [0, 6, 3])
    }
    #expect(codes(ProduceResponse(), version: 11).isEmpty)
  }

  @Test func fetchCountsItsTopLevelCodeFromVersion7() {
    let response = FetchResponse(
      errorCode: ErrorCode.none.rawValue,
      responses: [
        .init(
          topic: "a",
          partitions: [
            .init(partitionIndex: 0, errorCode: ErrorCode.offsetOutOfRange.rawValue),
            .init(partitionIndex: 1, errorCode: ErrorCode.none.rawValue),
          ])
      ])
    #expect(codes(response, version: 6) == [1, 0])
    #expect(codes(response, version: 7) == [0, 1, 0])
    #expect(codes(response, version: 16) == [0, 1, 0])
  }

  @Test func findCoordinatorCountsTheTopLevelCodeOrEachCoordinator() {
    let response = FindCoordinatorResponse(
      errorCode: ErrorCode.coordinatorNotAvailable.rawValue,
      coordinators: [
        .init(key: "g1", errorCode: ErrorCode.none.rawValue),
        .init(key: "g2", errorCode: ErrorCode.notCoordinator.rawValue),
      ])
    #expect(codes(response, version: 3) == [15])
    #expect(codes(response, version: 4) == [0, 16])
  }

  @Test func createTopicsLeavesOutTheConfigErrorCode() {
    let response = CreateTopicsResponse(topics: [
      .init(
        name: "t", errorCode: ErrorCode.topicAlreadyExists.rawValue,
        topicConfigErrorCode: ErrorCode.invalidConfig.rawValue)
    ])
    #expect(codes(response, version: 7) == [36])
  }

  @Test func offsetFetchVisitsGroupsFromVersion8() {
    let response = OffsetFetchResponse(
      topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, errorCode: 3)])],
      errorCode: 16,
      groups: [
        .init(
          groupId: "g", topics: [.init(name: "t", partitions: [.init(errorCode: 0)])],
          errorCode: 0)
      ])
    #expect(codes(response, version: 1) == [3])
    #expect(codes(response, version: 7) == [3, 16])
    #expect(codes(response, version: 8) == [0, 0])
  }

  @Test func responsesWithoutErrorCodesVisitNothing() {
    #expect(codes(ApiVersionsResponse(errorCode: 35), version: 0) == [35])
    #expect(codes(SyncGroupResponse(errorCode: 27), version: 5) == [27])
  }

  @Test func kafkaNamesAreUpperSnakeCase() {
    #expect(ErrorCode.none.kafkaName == "NONE")
    #expect(ErrorCode.unknownTopicOrPartition.kafkaName == "UNKNOWN_TOPIC_OR_PARTITION")
    #expect(ErrorCode.invalidRegularExpression.kafkaName == "INVALID_REGULAR_EXPRESSION")
    #expect(ErrorCode(rawValue: 999).kafkaName == "UNKNOWN_ERROR_CODE(999)")
  }
}
