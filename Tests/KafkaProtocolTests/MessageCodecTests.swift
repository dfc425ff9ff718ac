import NIOCore
import Testing

@testable import KafkaProtocol

/// Encodes `value` at `version` and checks the bytes are exactly `expected`, then decodes
/// `expected` and checks it gives back `value` and reads every byte.
private func expectCodec<T: KafkaStruct>(
  _ value: T, version: Int16, _ expected: ByteBuilder,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  var encoded = ByteBuffer()
  value.encode(to: &encoded, version: version)
  let actual = Array(encoded.readableBytesView)
  #expect(
    actual == expected.output,
    "\(T.self) v\(version) encoding\n got: \(ByteBuilder.hexDump(actual))\nwant: \(ByteBuilder.hexDump(expected.output))",
    sourceLocation: sourceLocation)
  var input = expected.buffer
  let decoded = try T(from: &input, version: version)
  #expect(decoded == value, "\(T.self) v\(version) decoding", sourceLocation: sourceLocation)
  #expect(
    input.readableBytes == 0, "\(T.self) v\(version) left \(input.readableBytes) bytes unread",
    sourceLocation: sourceLocation)
}

/// Decodes `bytes` at `version`, checking every byte is read.
private func decodeAll<T: KafkaStruct>(
  _ type: T.Type, _ bytes: ByteBuilder, version: Int16,
  sourceLocation: SourceLocation = #_sourceLocation
) throws -> T {
  var input = bytes.buffer
  let value = try T(from: &input, version: version)
  #expect(input.readableBytes == 0, sourceLocation: sourceLocation)
  return value
}

private func encoded<T: KafkaStruct>(_ value: T, version: Int16) -> [UInt8] {
  var buffer = ByteBuffer()
  value.encode(to: &buffer, version: version)
  return Array(buffer.readableBytesView)
}

private let topicA = KafkaUuid(high: 0x5C6E_2A1F_8B3D_4E09, low: 0xA7F1_C2D3_E4B5_A697)
private let topicB = KafkaUuid(high: 0x0001_0203_0405_4607, low: 0x8809_0A0B_0C0D_0E0F)
private let directory = KafkaUuid(high: 0xDEAD_BEEF_0000_4000, low: 0x8000_0000_0000_0001)
/// Opaque record-batch bytes: the message codecs pass them through untouched.
private let recordBytes: [UInt8] = (0..<70).map { UInt8(truncatingIfNeeded: $0 &* 37) }
private let records = ByteBuffer(bytes: recordBytes)

/// Every test builds its expected bytes field by field from Kafka's JSON specs and the protocol
/// guide's type rules (https://kafka.apache.org/protocol), never with the code under test.
@Suite struct MessageCodecTests {
  // MARK: headers

  @Test func requestHeaderV0() throws {
    let header = RequestHeader(requestApiKey: 7, requestApiVersion: 0, correlationId: 9)
    try expectCodec(
      header, version: 0,
      ByteBuilder {
        $0.int16(7)
        $0.int16(0)
        $0.int32(9)
      })
    // v0 has no client id at all: whatever it holds is not written.
    var named = header
    named.clientId = "ignored"
    #expect(encoded(named, version: 0) == [0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09])
  }

  @Test func requestHeaderV1() throws {
    let header = RequestHeader(
      requestApiKey: 18, requestApiVersion: 2, correlationId: 42, clientId: "rdkafka")
    try expectCodec(
      header, version: 1,
      ByteBuilder {
        $0.int16(18)
        $0.int16(2)
        $0.int32(42)
        $0.string("rdkafka")
      })
    // A null client id is a classic nullable string: length -1.
    let anonymous = RequestHeader(
      requestApiKey: 3, requestApiVersion: 1, correlationId: 1, clientId: nil)
    try expectCodec(
      anonymous, version: 1,
      ByteBuilder { $0.hex("0003 0001 00000001 ffff") })
  }

  @Test func requestHeaderV2KeepsTheClassicClientId() throws {
    let header = RequestHeader(
      requestApiKey: 1, requestApiVersion: 12, correlationId: 0x0102_0304, clientId: "consumer-1")
    // client_id stays a classic INT16-length string in v2; only the tagged fields are new.
    let expected = ByteBuilder {
      $0.hex("0001 000c 01020304")
      $0.hex("000a 636f6e73756d65722d31")  // "consumer-1"
      $0.hex("00")
    }
    try expectCodec(header, version: 2, expected)
    #expect(
      ByteBuilder {
        $0.int16(1)
        $0.int16(12)
        $0.int32(0x0102_0304)
        $0.string("consumer-1")
        $0.noTags()
      }.output == expected.output)

    let anonymous = RequestHeader(
      requestApiKey: 0, requestApiVersion: 9, correlationId: 5, clientId: nil)
    try expectCodec(anonymous, version: 2, ByteBuilder { $0.hex("0000 0009 00000005 ffff 00") })

    // Unknown tagged fields in the header are skipped.
    let tagged = ByteBuilder {
      $0.int16(1)
      $0.int16(12)
      $0.int32(0x0102_0304)
      $0.string("consumer-1")
      $0.taggedFields([(tag: 0, payload: [0x01, 0x02]), (tag: 7, payload: [])])
    }
    #expect(try decodeAll(RequestHeader.self, tagged, version: 2) == header)
  }

  @Test func responseHeaders() throws {
    let header = ResponseHeader(correlationId: 42)
    try expectCodec(header, version: 0, ByteBuilder { $0.hex("0000002a") })
    try expectCodec(header, version: 1, ByteBuilder { $0.hex("0000002a 00") })
    let tagged = ByteBuilder {
      $0.int32(42)
      $0.taggedFields([(tag: 3, payload: [0xFF])])
    }
    #expect(try decodeAll(ResponseHeader.self, tagged, version: 1) == header)
  }

  /// A capture of kafka-broker-api-versions.sh (Java client 3.3.1) talking to Kafka 3.3.1, from
  /// KAFKA-14935: ApiVersions v3 with request header v2, after the 4-byte size (43).
  @Test func apiVersionsRequestFromAJavaClientCapture() throws {
    let frame = ByteBuilder {
      $0.hex("0012 0003 00000000")
      $0.hex("0007 61646d696e2d31")  // client_id "admin-1", classic string
      $0.hex("00")  // header tagged fields
      $0.hex("12 6170616368652d6b61666b612d6a617661")  // compact "apache-kafka-java"
      $0.hex("06 332e332e31")  // compact "3.3.1"
      $0.hex("00")  // body tagged fields
    }
    #expect(frame.count == 43)
    var input = frame.buffer
    let header = try RequestHeader(from: &input, version: 2)
    #expect(
      header
        == RequestHeader(
          requestApiKey: ApiKey.apiVersions.rawValue, requestApiVersion: 3, correlationId: 0,
          clientId: "admin-1"))
    let body = try ApiVersionsRequest(from: &input, version: 3)
    #expect(
      body
        == ApiVersionsRequest(
          clientSoftwareName: "apache-kafka-java", clientSoftwareVersion: "3.3.1"))
    #expect(input.readableBytes == 0)
    #expect(encoded(header, version: 2) + encoded(body, version: 3) == frame.output)
  }

  // MARK: ApiVersions (18), versions 0-4, flexible from 3

  @Test func apiVersionsRequest() throws {
    for version: Int16 in 0...2 {
      try expectCodec(ApiVersionsRequest(), version: version, ByteBuilder())
    }
    let named = ApiVersionsRequest(clientSoftwareName: "skein", clientSoftwareVersion: "0.1.0")
    // Before v3 the client software fields do not exist.
    #expect(encoded(named, version: 2) == [])
    for version: Int16 in 3...4 {
      try expectCodec(
        named, version: version,
        ByteBuilder {
          $0.compactString("skein")
          $0.compactString("0.1.0")
          $0.noTags()
        })
    }
    let unknownTag = ByteBuilder {
      $0.compactString("skein")
      $0.compactString("0.1.0")
      $0.taggedFields([(tag: 9, payload: [0x01, 0x02, 0x03])])
    }
    #expect(try decodeAll(ApiVersionsRequest.self, unknownTag, version: 3) == named)
  }

  static let apiKeys = [
    ApiVersionsResponse.ApiVersion(apiKey: 0, minVersion: 0, maxVersion: 11),
    ApiVersionsResponse.ApiVersion(apiKey: 18, minVersion: 0, maxVersion: 4),
  ]

  @Test func apiVersionsResponseClassic() throws {
    let v0 = ApiVersionsResponse(errorCode: 0, apiKeys: Self.apiKeys)
    try expectCodec(
      v0, version: 0,
      ByteBuilder {
        $0.int16(0)
        $0.arrayLength(2)
        $0.hex("0000 0000 000b")
        $0.hex("0012 0000 0004")
      })
    let v2 = ApiVersionsResponse(errorCode: 0, apiKeys: Self.apiKeys, throttleTimeMs: 5)
    try expectCodec(
      v2, version: 2,
      ByteBuilder {
        $0.int16(0)
        $0.arrayLength(2)
        for key in Self.apiKeys {
          $0.int16(key.apiKey)
          $0.int16(key.minVersion)
          $0.int16(key.maxVersion)
        }
        $0.int32(5)
      })
    // UNSUPPORTED_VERSION (35) with an empty key list.
    try expectCodec(
      ApiVersionsResponse(errorCode: 35), version: 0, ByteBuilder { $0.hex("0023 00000000") })
  }

  /// librdkafka 2.0.2 fails on an ApiVersions v3 response carrying the feature tagged fields, so
  /// at their defaults they must not be written at all: the body ends in a single 0 tag count.
  @Test(arguments: [Int16(3), 4])
  func apiVersionsResponseFlexibleWithoutFeatures(version: Int16) throws {
    let response = ApiVersionsResponse(errorCode: 0, apiKeys: Self.apiKeys, throttleTimeMs: 0)
    let expected = ByteBuilder {
      $0.hex("0000")  // error_code
      $0.hex("03")  // compact array: 2 keys
      $0.hex("0000 0000 000b 00")
      $0.hex("0012 0000 0004 00")
      $0.hex("00000000")  // throttle_time_ms
      $0.hex("00")  // no tagged fields
    }
    try expectCodec(response, version: version, expected)
    #expect(encoded(response, version: version).count == 22)
  }

  @Test(arguments: [Int16(3), 4])
  func apiVersionsResponseFlexibleWithFeatures(version: Int16) throws {
    let response = ApiVersionsResponse(
      errorCode: 0, apiKeys: Self.apiKeys, throttleTimeMs: 0,
      supportedFeatures: [.init(name: "metadata.version", minVersion: 1, maxVersion: 20)],
      finalizedFeaturesEpoch: 7,
      finalizedFeatures: [
        .init(name: "metadata.version", maxVersionLevel: 20, minVersionLevel: 20)
      ],
      zkMigrationReady: true)
    let supported = ByteBuilder {
      $0.compactArrayLength(1)
      $0.compactString("metadata.version")
      $0.int16(1)
      $0.int16(20)
      $0.noTags()
    }
    let finalized = ByteBuilder {
      $0.compactArrayLength(1)
      $0.compactString("metadata.version")
      $0.int16(20)  // MaxVersionLevel comes first in the spec
      $0.int16(20)
      $0.noTags()
    }
    try expectCodec(
      response, version: version,
      ByteBuilder {
        $0.int16(0)
        $0.compactArrayLength(2)
        for key in Self.apiKeys {
          $0.int16(key.apiKey)
          $0.int16(key.minVersion)
          $0.int16(key.maxVersion)
          $0.noTags()
        }
        $0.int32(0)
        $0.taggedFields([
          (tag: 0, payload: supported.output),
          (tag: 1, payload: ByteBuilder { $0.int64(7) }.output),
          (tag: 2, payload: finalized.output),
          (tag: 3, payload: [0x01]),
        ])
      })

    // Only what differs from its default is written.
    let epochOnly = ApiVersionsResponse(apiKeys: [], finalizedFeaturesEpoch: 0)
    try expectCodec(
      epochOnly, version: version,
      ByteBuilder {
        $0.hex("0000 01 00000000")
        $0.hex("01 01 08 0000000000000000")  // one field: tag 1, 8 bytes, epoch 0
      })
  }

  @Test func apiVersionsResponseSkipsUnknownTags() throws {
    let bytes = ByteBuilder {
      $0.int16(0)
      $0.compactArrayLength(0)
      $0.int32(0)
      $0.taggedFields([
        (tag: 1, payload: ByteBuilder { $0.int64(3) }.output),
        (tag: 42, payload: [0xAA, 0xBB]),
      ])
    }
    let decoded = try decodeAll(ApiVersionsResponse.self, bytes, version: 3)
    #expect(decoded == ApiVersionsResponse(finalizedFeaturesEpoch: 3))
  }

  // MARK: Metadata (3), versions 0-12, flexible from 9

  @Test func metadataRequest() throws {
    let v0 = MetadataRequest(topics: [.init(name: "orders"), .init(name: "payments")])
    try expectCodec(
      v0, version: 0,
      ByteBuilder {
        $0.arrayLength(2)
        $0.string("orders")
        $0.string("payments")
      })
    // v0 asks for all topics with an empty array (null is not allowed before v1).
    try expectCodec(MetadataRequest(topics: []), version: 0, ByteBuilder { $0.hex("00000000") })
    var v0Null = ByteBuilder { $0.arrayLength(nil) }.buffer
    #expect(throws: DecodeError.nullNotAllowed("Topics")) {
      _ = try MetadataRequest(from: &v0Null, version: 0)
    }
    // AllowAutoTopicCreation does not exist in v0.
    #expect(
      encoded(MetadataRequest(topics: [], allowAutoTopicCreation: false), version: 0).count == 4)

    let v6 = MetadataRequest(topics: [.init(name: "orders")], allowAutoTopicCreation: false)
    try expectCodec(
      v6, version: 6,
      ByteBuilder {
        $0.arrayLength(1)
        $0.string("orders")
        $0.bool(false)
      })
    // Null topics (all topics) from v1: INT32 -1.
    try expectCodec(
      MetadataRequest(topics: nil, allowAutoTopicCreation: true), version: 6,
      ByteBuilder { $0.hex("ffffffff 01") })

    let v9 = MetadataRequest(
      topics: [.init(name: "orders")], allowAutoTopicCreation: true,
      includeClusterAuthorizedOperations: true, includeTopicAuthorizedOperations: true)
    try expectCodec(
      v9, version: 9,
      ByteBuilder {
        $0.compactArrayLength(1)
        $0.compactString("orders")
        $0.noTags()
        $0.bool(true)
        $0.bool(true)
        $0.bool(true)
        $0.noTags()
      })

    let v12 = MetadataRequest(
      topics: [.init(topicId: topicA, name: "orders"), .init(topicId: topicB, name: nil)],
      allowAutoTopicCreation: false, includeTopicAuthorizedOperations: true)
    try expectCodec(
      v12, version: 12,
      ByteBuilder {
        $0.compactArrayLength(2)
        $0.uuid(high: topicA.high, low: topicA.low)
        $0.compactString("orders")
        $0.noTags()
        $0.uuid(high: topicB.high, low: topicB.low)
        $0.compactString(nil)  // a topic asked for by id only
        $0.noTags()
        $0.bool(false)
        // IncludeClusterAuthorizedOperations is versions 8-10 only.
        $0.bool(true)
        $0.noTags()
      })
    // Null topics in a flexible version: compact length 0.
    try expectCodec(
      MetadataRequest(topics: nil), version: 12, ByteBuilder { $0.hex("00 01 00 00") })
  }

  static let brokers = [
    MetadataResponse.MetadataResponseBroker(nodeId: 1, host: "broker-1", port: 9092),
    MetadataResponse.MetadataResponseBroker(nodeId: 2, host: "broker-2", port: 9093),
  ]

  @Test func metadataResponseV0() throws {
    let response = MetadataResponse(
      brokers: Self.brokers,
      topics: [
        .init(
          errorCode: 0, name: "orders",
          partitions: [
            .init(
              errorCode: 0, partitionIndex: 0, leaderId: 1, replicaNodes: [1, 2], isrNodes: [1])
          ])
      ])
    try expectCodec(
      response, version: 0,
      ByteBuilder {
        $0.arrayLength(2)
        $0.int32(1)
        $0.string("broker-1")
        $0.int32(9092)
        $0.int32(2)
        $0.string("broker-2")
        $0.int32(9093)
        $0.arrayLength(1)
        $0.int16(0)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int16(0)
        $0.int32(0)
        $0.int32(1)
        $0.int32Array([1, 2])
        $0.int32Array([1])
      })
  }

  @Test func metadataResponseV6() throws {
    var brokers = Self.brokers
    brokers[0].rack = "rack-a"
    let response = MetadataResponse(
      throttleTimeMs: 10, brokers: brokers, clusterId: "cluster-1", controllerId: 1,
      topics: [
        .init(
          errorCode: 0, name: "orders", isInternal: false,
          partitions: [
            .init(
              errorCode: 0, partitionIndex: 0, leaderId: 1, replicaNodes: [1, 2], isrNodes: [1],
              offlineReplicas: [2])
          ]),
        .init(errorCode: 3, name: "missing", isInternal: false, partitions: []),
        .init(errorCode: 0, name: "__consumer_offsets", isInternal: true, partitions: []),
      ])
    try expectCodec(
      response, version: 6,
      ByteBuilder {
        $0.int32(10)
        $0.arrayLength(2)
        $0.int32(1)
        $0.string("broker-1")
        $0.int32(9092)
        $0.string("rack-a")
        $0.int32(2)
        $0.string("broker-2")
        $0.int32(9093)
        $0.string(nil)
        $0.string("cluster-1")
        $0.int32(1)
        $0.arrayLength(3)
        $0.int16(0)
        $0.string("orders")
        $0.bool(false)
        $0.arrayLength(1)
        $0.int16(0)
        $0.int32(0)
        $0.int32(1)
        $0.int32Array([1, 2])
        $0.int32Array([1])
        $0.int32Array([2])
        $0.int16(3)
        $0.string("missing")
        $0.bool(false)
        $0.arrayLength(0)
        $0.int16(0)
        $0.string("__consumer_offsets")
        $0.bool(true)
        $0.arrayLength(0)
      })
  }

  @Test func metadataResponseFlexible() throws {
    let v12 = MetadataResponse(
      throttleTimeMs: 0, brokers: [Self.brokers[0]], clusterId: "cluster-1", controllerId: 1,
      topics: [
        .init(
          errorCode: 0, name: "orders", topicId: topicA, isInternal: false,
          partitions: [
            .init(
              errorCode: 0, partitionIndex: 0, leaderId: 1, leaderEpoch: 5, replicaNodes: [1, 2],
              isrNodes: [1, 2], offlineReplicas: [])
          ],
          topicAuthorizedOperations: 0x0F80),
        // UNKNOWN_TOPIC_ID for a topic asked for by id: the name is null from v12.
        .init(errorCode: 100, name: nil, topicId: topicB, partitions: []),
      ])
    try expectCodec(
      v12, version: 12,
      ByteBuilder {
        $0.int32(0)
        $0.compactArrayLength(1)
        $0.int32(1)
        $0.compactString("broker-1")
        $0.int32(9092)
        $0.compactString(nil)
        $0.noTags()
        $0.compactString("cluster-1")
        $0.int32(1)
        $0.compactArrayLength(2)
        $0.int16(0)
        $0.compactString("orders")
        $0.uuid(high: topicA.high, low: topicA.low)
        $0.bool(false)
        $0.compactArrayLength(1)
        $0.int16(0)
        $0.int32(0)
        $0.int32(1)
        $0.int32(5)
        $0.compactInt32Array([1, 2])
        $0.compactInt32Array([1, 2])
        $0.compactInt32Array([])
        $0.noTags()
        $0.int32(0x0F80)
        $0.noTags()
        $0.int16(100)
        $0.compactString(nil)
        $0.uuid(high: topicB.high, low: topicB.low)
        $0.bool(false)
        $0.compactArrayLength(0)
        $0.int32(Int32.min)
        $0.noTags()
        // ClusterAuthorizedOperations is versions 8-10 only.
        $0.noTags()
      })

    // v10 still carries ClusterAuthorizedOperations, after the topics.
    let v10 = MetadataResponse(clusterAuthorizedOperations: 7)
    try expectCodec(
      v10, version: 10, ByteBuilder { $0.hex("00000000 01 00 ffffffff 01 00000007 00") })
  }

  // MARK: Produce (0), versions 0-11, flexible from 9

  static func produceRequest(transactionalId: String?) -> ProduceRequest {
    ProduceRequest(
      transactionalId: transactionalId, acks: -1, timeoutMs: 30_000,
      topicData: [
        .init(
          name: "orders",
          partitionData: [.init(index: 0, records: records), .init(index: 1, records: nil)])
      ])
  }

  @Test func produceRequestClassic() throws {
    let classicBody = ByteBuilder {
      $0.int16(-1)
      $0.int32(30_000)
      $0.arrayLength(1)
      $0.string("orders")
      $0.arrayLength(2)
      $0.int32(0)
      $0.kafkaBytes(recordBytes)
      $0.int32(1)
      $0.kafkaBytes(nil)
    }
    try expectCodec(Self.produceRequest(transactionalId: nil), version: 0, classicBody)
    // From v3 the transactional id comes first, a nullable classic string.
    try expectCodec(
      Self.produceRequest(transactionalId: nil), version: 5,
      ByteBuilder {
        $0.string(nil)
        $0.raw(classicBody.output)
      })
    try expectCodec(
      Self.produceRequest(transactionalId: "txn-1"), version: 5,
      ByteBuilder {
        $0.string("txn-1")
        $0.raw(classicBody.output)
      })
  }

  @Test(arguments: [Int16(9), 11])
  func produceRequestFlexible(version: Int16) throws {
    for transactionalId in ["txn-1", nil] as [String?] {
      try expectCodec(
        Self.produceRequest(transactionalId: transactionalId), version: version,
        ByteBuilder {
          $0.compactString(transactionalId)
          $0.int16(-1)
          $0.int32(30_000)
          $0.compactArrayLength(1)
          $0.compactString("orders")
          $0.compactArrayLength(2)
          $0.int32(0)
          $0.compactKafkaBytes(recordBytes)
          $0.noTags()
          $0.int32(1)
          $0.compactKafkaBytes(nil)
          $0.noTags()
          $0.noTags()
          $0.noTags()
        })
    }
  }

  @Test func produceRecordsAreDecodedAsASlice() throws {
    var bytes = ByteBuffer()
    Self.produceRequest(transactionalId: nil).encode(to: &bytes, version: 11)
    let request = try ProduceRequest(from: &bytes, version: 11)
    let slice = try #require(request.topicData.first?.partitionData.first?.records)
    #expect(Array(slice.readableBytesView) == recordBytes)
    let shared = bytes.withVeryUnsafeBytes { storage in
      slice.withUnsafeReadableBytes { view in
        let start = UnsafeRawPointer(storage.baseAddress!)
        let base = UnsafeRawPointer(view.baseAddress!)
        return base >= start && base + view.count <= start + storage.count
      }
    }
    #expect(shared, "records should be a slice of the request buffer, not a copy")
  }

  @Test func produceResponseClassic() throws {
    let v0 = ProduceResponse(responses: [
      .init(name: "orders", partitionResponses: [.init(index: 0, errorCode: 0, baseOffset: 42)])
    ])
    try expectCodec(
      v0, version: 0,
      ByteBuilder {
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int16(0)
        $0.int64(42)
      })

    let v5 = ProduceResponse(
      responses: [
        .init(
          name: "orders",
          partitionResponses: [
            .init(
              index: 0, errorCode: 0, baseOffset: 42, logAppendTimeMs: 1_700_000_000_000,
              logStartOffset: 0)
          ])
      ], throttleTimeMs: 7)
    try expectCodec(
      v5, version: 5,
      ByteBuilder {
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int16(0)
        $0.int64(42)
        $0.int64(1_700_000_000_000)
        $0.int64(0)
        $0.int32(7)
      })

    // v8 adds per-batch record errors and an error message, both nullable strings.
    let v8 = ProduceResponse(responses: [
      .init(
        name: "orders",
        partitionResponses: [
          .init(
            index: 1, errorCode: 87, baseOffset: -1,
            recordErrors: [
              .init(batchIndex: 3, batchIndexErrorMessage: "bad"),
              .init(batchIndex: 4, batchIndexErrorMessage: nil),
            ], errorMessage: "invalid record")
        ])
    ])
    try expectCodec(
      v8, version: 8,
      ByteBuilder {
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(1)
        $0.int16(87)
        $0.int64(-1)
        $0.int64(-1)
        $0.int64(-1)
        $0.arrayLength(2)
        $0.int32(3)
        $0.string("bad")
        $0.int32(4)
        $0.string(nil)
        $0.string("invalid record")
        $0.int32(0)
      })
  }

  @Test func produceResponseV11() throws {
    let response = ProduceResponse(
      responses: [
        .init(
          name: "orders",
          partitionResponses: [
            .init(index: 0, errorCode: 0, baseOffset: 42, logStartOffset: 0),
            .init(
              index: 1, errorCode: 6, baseOffset: -1, errorMessage: "not leader",
              currentLeader: .init(leaderId: 2, leaderEpoch: 7)),
          ])
      ],
      throttleTimeMs: 0,
      nodeEndpoints: [.init(nodeId: 2, host: "broker-2", port: 9093, rack: nil)])
    let leader = ByteBuilder {
      $0.int32(2)
      $0.int32(7)
      $0.noTags()
    }
    let endpoints = ByteBuilder {
      $0.compactArrayLength(1)
      $0.int32(2)
      $0.compactString("broker-2")
      $0.int32(9093)
      $0.compactString(nil)
      $0.noTags()
    }
    try expectCodec(
      response, version: 11,
      ByteBuilder {
        $0.compactArrayLength(1)
        $0.compactString("orders")
        $0.compactArrayLength(2)
        $0.int32(0)
        $0.int16(0)
        $0.int64(42)
        $0.int64(-1)
        $0.int64(0)
        $0.compactArrayLength(0)
        $0.compactString(nil)
        $0.noTags()  // CurrentLeader at its default is not written
        $0.int32(1)
        $0.int16(6)
        $0.int64(-1)
        $0.int64(-1)
        $0.int64(-1)
        $0.compactArrayLength(0)
        $0.compactString("not leader")
        $0.taggedFields([(tag: 0, payload: leader.output)])
        $0.noTags()
        $0.int32(0)
        $0.taggedFields([(tag: 0, payload: endpoints.output)])
      })
  }

  // MARK: Fetch (1), versions 0-17, flexible from 12

  @Test func fetchRequestV0() throws {
    let request = FetchRequest(
      replicaId: -1, maxWaitMs: 500, minBytes: 1,
      topics: [
        .init(
          topic: "orders",
          partitions: [.init(partition: 0, fetchOffset: 100, partitionMaxBytes: 1_048_576)])
      ])
    try expectCodec(
      request, version: 0,
      ByteBuilder {
        $0.int32(-1)
        $0.int32(500)
        $0.int32(1)
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int64(100)
        $0.int32(1_048_576)
      })
  }

  static func sessionFetch(clusterId: String?) -> FetchRequest {
    FetchRequest(
      clusterId: clusterId, replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 52_428_800,
      isolationLevel: 1, sessionId: 12, sessionEpoch: 3,
      topics: [
        .init(
          topic: "orders",
          partitions: [
            .init(
              partition: 0, currentLeaderEpoch: 5, fetchOffset: 100, lastFetchedEpoch: 4,
              logStartOffset: 0, partitionMaxBytes: 1_048_576)
          ])
      ],
      forgottenTopicsData: [.init(topic: "old", partitions: [1, 2])],
      rackId: "rack-a")
  }

  @Test func fetchRequestV8() throws {
    var request = Self.sessionFetch(clusterId: nil)
    // Fields that v8 does not have keep their defaults so the value round-trips.
    request.topics[0].partitions[0].currentLeaderEpoch = -1
    request.topics[0].partitions[0].lastFetchedEpoch = -1
    request.rackId = ""
    try expectCodec(
      request, version: 8,
      ByteBuilder {
        $0.int32(-1)
        $0.int32(500)
        $0.int32(1)
        $0.int32(52_428_800)
        $0.int8(1)
        $0.int32(12)
        $0.int32(3)
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int64(100)
        $0.int64(0)
        $0.int32(1_048_576)
        $0.arrayLength(1)
        $0.string("old")
        $0.int32Array([1, 2])
      })
  }

  static func fetchV12Body(_ b: inout ByteBuilder) {
    b.int32(-1)
    b.int32(500)
    b.int32(1)
    b.int32(52_428_800)
    b.int8(1)
    b.int32(12)
    b.int32(3)
    b.compactArrayLength(1)
    b.compactString("orders")
    b.compactArrayLength(1)
    b.int32(0)
    b.int32(5)
    b.int64(100)
    b.int32(4)
    b.int64(0)
    b.int32(1_048_576)
    b.noTags()
    b.noTags()
    b.compactArrayLength(1)
    b.compactString("old")
    b.compactInt32Array([1, 2])
    b.noTags()
    b.compactString("rack-a")
  }

  @Test func fetchRequestV12ClusterIdTag() throws {
    // ClusterId (tag 0) is null by default and then not written at all.
    try expectCodec(
      Self.sessionFetch(clusterId: nil), version: 12,
      ByteBuilder {
        Self.fetchV12Body(&$0)
        $0.noTags()
      })
    // Set, it is written as tag 0 holding a compact string.
    let tagged = ByteBuilder {
      Self.fetchV12Body(&$0)
      $0.hex("01 00 04 04 616263")  // 1 field, tag 0, 4 bytes: compact "abc" (length 3 + 1)
    }
    #expect(
      tagged.output
        == ByteBuilder {
          Self.fetchV12Body(&$0)
          $0.taggedFields([(tag: 0, payload: ByteBuilder { $0.compactString("abc") }.output)])
        }.output)
    try expectCodec(Self.sessionFetch(clusterId: "abc"), version: 12, tagged)
    // Tagged fields are only written in flexible versions.
    #expect(
      encoded(Self.sessionFetch(clusterId: "abc"), version: 11)
        == encoded(Self.sessionFetch(clusterId: nil), version: 11))
  }

  @Test func fetchRequestV17() throws {
    let request = FetchRequest(
      clusterId: "abc", replicaState: .init(replicaId: 3, replicaEpoch: 9), maxWaitMs: 500,
      minBytes: 1, maxBytes: 52_428_800, isolationLevel: 0, sessionId: 12, sessionEpoch: 3,
      topics: [
        .init(
          topicId: topicA,
          partitions: [
            .init(
              partition: 0, currentLeaderEpoch: 5, fetchOffset: 100, lastFetchedEpoch: 4,
              logStartOffset: 0, partitionMaxBytes: 1_048_576, replicaDirectoryId: directory)
          ])
      ],
      forgottenTopicsData: [.init(topicId: topicB, partitions: [1, 2])],
      rackId: "")
    try expectCodec(
      request, version: 17,
      ByteBuilder {
        // ReplicaId is versions 0-14: from 15 it moved to the ReplicaState tagged field.
        $0.int32(500)
        $0.int32(1)
        $0.int32(52_428_800)
        $0.int8(0)
        $0.int32(12)
        $0.int32(3)
        $0.compactArrayLength(1)
        $0.uuid(high: topicA.high, low: topicA.low)
        $0.compactArrayLength(1)
        $0.int32(0)
        $0.int32(5)
        $0.int64(100)
        $0.int32(4)
        $0.int64(0)
        $0.int32(1_048_576)
        $0.taggedFields([
          (
            tag: 0,
            payload: ByteBuilder { $0.uuid(high: directory.high, low: directory.low) }.output
          )
        ])
        $0.noTags()
        $0.compactArrayLength(1)
        $0.uuid(high: topicB.high, low: topicB.low)
        $0.compactInt32Array([1, 2])
        $0.noTags()
        $0.compactString("")
        $0.taggedFields([
          (tag: 0, payload: ByteBuilder { $0.compactString("abc") }.output),
          (
            tag: 1,
            payload: ByteBuilder {
              $0.int32(3)
              $0.int64(9)
              $0.noTags()
            }.output
          ),
        ])
      })

    // A consumer's fetch: no cluster id, default replica state, no directory id.
    let consumer = FetchRequest(
      maxWaitMs: 500, minBytes: 1,
      topics: [
        .init(
          topicId: topicA, partitions: [.init(partition: 2, fetchOffset: 0, partitionMaxBytes: 1)])
      ])
    try expectCodec(
      consumer, version: 17,
      ByteBuilder {
        $0.int32(500)
        $0.int32(1)
        $0.int32(Int32.max)
        $0.int8(0)
        $0.int32(0)
        $0.int32(-1)
        $0.compactArrayLength(1)
        $0.uuid(high: topicA.high, low: topicA.low)
        $0.compactArrayLength(1)
        $0.int32(2)
        $0.int32(-1)
        $0.int64(0)
        $0.int32(-1)
        $0.int64(-1)
        $0.int32(1)
        $0.noTags()
        $0.noTags()
        $0.compactArrayLength(0)
        $0.compactString("")
        $0.noTags()
      })
  }

  /// ReplicaId is a plain field up to v14; from v15 a follower sends ReplicaState (tag 1).
  @Test func fetchRequestReplicaIdMovesToATagInV15() throws {
    let v14 = FetchRequest(replicaId: 2, maxWaitMs: 500, minBytes: 1)
    let fixedTail = ByteBuilder {
      $0.int32(500)
      $0.int32(1)
      $0.int32(Int32.max)
      $0.int8(0)
      $0.int32(0)
      $0.int32(-1)
      $0.compactArrayLength(0)
      $0.compactArrayLength(0)
      $0.compactString("")
    }
    try expectCodec(
      v14, version: 14,
      ByteBuilder {
        $0.int32(2)
        $0.raw(fixedTail.output)
        $0.noTags()
      })
    let v15 = FetchRequest(
      replicaState: .init(replicaId: 2, replicaEpoch: 11), maxWaitMs: 500, minBytes: 1)
    try expectCodec(
      v15, version: 15,
      ByteBuilder {
        $0.raw(fixedTail.output)
        $0.hex("01 01 0d 00000002 000000000000000b 00")
      })
  }

  @Test func fetchResponseV0() throws {
    let response = FetchResponse(responses: [
      .init(
        topic: "orders",
        partitions: [.init(partitionIndex: 0, errorCode: 0, highWatermark: 200, records: records)])
    ])
    try expectCodec(
      response, version: 0,
      ByteBuilder {
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int16(0)
        $0.int64(200)
        $0.kafkaBytes(recordBytes)
      })
  }

  @Test func fetchResponseV8() throws {
    let response = FetchResponse(
      throttleTimeMs: 0, errorCode: 0, sessionId: 12,
      responses: [
        .init(
          topic: "orders",
          partitions: [
            .init(
              partitionIndex: 0, errorCode: 0, highWatermark: 200, lastStableOffset: 150,
              logStartOffset: 0,
              abortedTransactions: [.init(producerId: 1000, firstOffset: 160)], records: records),
            .init(
              partitionIndex: 1, errorCode: 1, highWatermark: -1, abortedTransactions: nil,
              records: nil),
          ])
      ])
    try expectCodec(
      response, version: 8,
      ByteBuilder {
        $0.int32(0)
        $0.int16(0)
        $0.int32(12)
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(2)
        $0.int32(0)
        $0.int16(0)
        $0.int64(200)
        $0.int64(150)
        $0.int64(0)
        $0.arrayLength(1)
        $0.int64(1000)
        $0.int64(160)
        $0.kafkaBytes(recordBytes)
        $0.int32(1)
        $0.int16(1)
        $0.int64(-1)
        $0.int64(-1)
        $0.int64(-1)
        $0.arrayLength(nil)  // null aborted transactions
        $0.kafkaBytes(nil)  // null records
      })
  }

  @Test func fetchResponseV17() throws {
    let response = FetchResponse(
      throttleTimeMs: 0, errorCode: 0, sessionId: 12,
      responses: [
        .init(
          topicId: topicA,
          partitions: [
            .init(
              partitionIndex: 0, errorCode: 0, highWatermark: 200, lastStableOffset: 150,
              logStartOffset: 0, abortedTransactions: [], records: records),
            .init(
              partitionIndex: 1, errorCode: 6, highWatermark: -1,
              divergingEpoch: .init(epoch: 3, endOffset: 90),
              currentLeader: .init(leaderId: 2, leaderEpoch: 8),
              snapshotId: .init(endOffset: 80, epoch: 2), abortedTransactions: nil,
              preferredReadReplica: 2, records: nil),
          ])
      ],
      nodeEndpoints: [.init(nodeId: 2, host: "broker-2", port: 9093, rack: "rack-b")])
    let diverging = ByteBuilder {
      $0.int32(3)
      $0.int64(90)
      $0.noTags()
    }
    let leader = ByteBuilder {
      $0.int32(2)
      $0.int32(8)
      $0.noTags()
    }
    let snapshot = ByteBuilder {
      $0.int64(80)
      $0.int32(2)
      $0.noTags()
    }
    let endpoints = ByteBuilder {
      $0.compactArrayLength(1)
      $0.int32(2)
      $0.compactString("broker-2")
      $0.int32(9093)
      $0.compactString("rack-b")
      $0.noTags()
    }
    try expectCodec(
      response, version: 17,
      ByteBuilder {
        $0.int32(0)
        $0.int16(0)
        $0.int32(12)
        $0.compactArrayLength(1)
        $0.uuid(high: topicA.high, low: topicA.low)
        $0.compactArrayLength(2)
        $0.int32(0)
        $0.int16(0)
        $0.int64(200)
        $0.int64(150)
        $0.int64(0)
        $0.compactArrayLength(0)
        $0.int32(-1)
        $0.compactKafkaBytes(recordBytes)
        $0.noTags()
        $0.int32(1)
        $0.int16(6)
        $0.int64(-1)
        $0.int64(-1)
        $0.int64(-1)
        $0.compactArrayLength(nil)
        $0.int32(2)
        $0.compactKafkaBytes(nil)
        $0.taggedFields([
          (tag: 0, payload: diverging.output),
          (tag: 1, payload: leader.output),
          (tag: 2, payload: snapshot.output),
        ])
        $0.noTags()
        $0.taggedFields([(tag: 0, payload: endpoints.output)])
      })

    // Inside a nested struct, unknown tags are skipped and known ones still read.
    let unknownTags = ByteBuilder {
      $0.int32(0)
      $0.int16(0)
      $0.int32(0)
      $0.compactArrayLength(1)
      $0.uuid(high: topicA.high, low: topicA.low)
      $0.compactArrayLength(1)
      $0.int32(1)
      $0.int16(6)
      $0.int64(-1)
      $0.int64(-1)
      $0.int64(-1)
      $0.compactArrayLength(nil)
      $0.int32(-1)
      $0.compactKafkaBytes(nil)
      $0.taggedFields([
        (tag: 1, payload: leader.output), (tag: 9, payload: [0xDE, 0xAD]),
      ])
      $0.noTags()
      $0.noTags()
    }
    let decoded = try decodeAll(FetchResponse.self, unknownTags, version: 17)
    #expect(
      decoded.responses.first?.partitions.first?.currentLeader
        == .init(leaderId: 2, leaderEpoch: 8))
    #expect(decoded.responses.first?.partitions.first?.snapshotId == .init())
  }

  // MARK: ListOffsets (2), versions 0-10, flexible from 6

  @Test func listOffsetsRequest() throws {
    let v0 = ListOffsetsRequest(
      replicaId: -1,
      topics: [
        .init(
          name: "orders", partitions: [.init(partitionIndex: 0, timestamp: -1, maxNumOffsets: 1)])
      ])
    try expectCodec(
      v0, version: 0,
      ByteBuilder {
        $0.int32(-1)
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int64(-1)
        $0.int32(1)
      })

    let v5 = ListOffsetsRequest(
      replicaId: -1, isolationLevel: 1,
      topics: [
        .init(
          name: "orders",
          partitions: [.init(partitionIndex: 0, currentLeaderEpoch: 4, timestamp: -2)])
      ])
    try expectCodec(
      v5, version: 5,
      ByteBuilder {
        $0.int32(-1)
        $0.int8(1)
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int32(4)
        $0.int64(-2)
      })

    let v10 = ListOffsetsRequest(
      replicaId: -1, isolationLevel: 0,
      topics: [
        .init(name: "orders", partitions: [.init(partitionIndex: 3, timestamp: 1_700_000_000_000)])
      ], timeoutMs: 30_000)
    try expectCodec(
      v10, version: 10,
      ByteBuilder {
        $0.int32(-1)
        $0.int8(0)
        $0.compactArrayLength(1)
        $0.compactString("orders")
        $0.compactArrayLength(1)
        $0.int32(3)
        $0.int32(-1)
        $0.int64(1_700_000_000_000)
        $0.noTags()
        $0.noTags()
        $0.int32(30_000)
        $0.noTags()
      })
  }

  @Test func listOffsetsResponse() throws {
    let v0 = ListOffsetsResponse(topics: [
      .init(
        name: "orders",
        partitions: [.init(partitionIndex: 0, errorCode: 0, oldStyleOffsets: [120, 0])])
    ])
    try expectCodec(
      v0, version: 0,
      ByteBuilder {
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int16(0)
        $0.arrayLength(2)
        $0.int64(120)
        $0.int64(0)
      })

    let partition = ListOffsetsResponse.ListOffsetsPartitionResponse(
      partitionIndex: 0, errorCode: 0, timestamp: -1, offset: 120, leaderEpoch: 4)
    let v5 = ListOffsetsResponse(
      throttleTimeMs: 3, topics: [.init(name: "orders", partitions: [partition])])
    try expectCodec(
      v5, version: 5,
      ByteBuilder {
        $0.int32(3)
        $0.arrayLength(1)
        $0.string("orders")
        $0.arrayLength(1)
        $0.int32(0)
        $0.int16(0)
        $0.int64(-1)
        $0.int64(120)
        $0.int32(4)
      })
    try expectCodec(
      v5, version: 10,
      ByteBuilder {
        $0.int32(3)
        $0.compactArrayLength(1)
        $0.compactString("orders")
        $0.compactArrayLength(1)
        $0.int32(0)
        $0.int16(0)
        $0.int64(-1)
        $0.int64(120)
        $0.int32(4)
        $0.noTags()
        $0.noTags()
        $0.noTags()
      })
  }

  // MARK: CreateTopics (19), versions 0-7, flexible from 5

  static let createTopics = CreateTopicsRequest(
    topics: [
      .init(
        name: "orders", numPartitions: 3, replicationFactor: 2, assignments: [],
        configs: [
          .init(name: "cleanup.policy", value: "compact"), .init(name: "retention.ms", value: nil),
        ]),
      .init(
        name: "manual", numPartitions: -1, replicationFactor: -1,
        assignments: [
          .init(partitionIndex: 0, brokerIds: [1, 2]), .init(partitionIndex: 1, brokerIds: [2, 3]),
        ],
        configs: []),
    ], timeoutMs: 30_000)

  static func createTopicsClassicTopics(_ b: inout ByteBuilder) {
    b.arrayLength(2)
    b.string("orders")
    b.int32(3)
    b.int16(2)
    b.arrayLength(0)
    b.arrayLength(2)
    b.string("cleanup.policy")
    b.string("compact")
    b.string("retention.ms")
    b.string(nil)
    b.string("manual")
    b.int32(-1)
    b.int16(-1)
    b.arrayLength(2)
    b.int32(0)
    b.int32Array([1, 2])
    b.int32(1)
    b.int32Array([2, 3])
    b.arrayLength(0)
  }

  @Test func createTopicsRequest() throws {
    try expectCodec(
      Self.createTopics, version: 0,
      ByteBuilder {
        Self.createTopicsClassicTopics(&$0)
        $0.int32(30_000)
      })
    var validate = Self.createTopics
    validate.validateOnly = true
    try expectCodec(
      validate, version: 4,
      ByteBuilder {
        Self.createTopicsClassicTopics(&$0)
        $0.int32(30_000)
        $0.bool(true)
      })
    try expectCodec(
      validate, version: 7,
      ByteBuilder {
        $0.compactArrayLength(2)
        $0.compactString("orders")
        $0.int32(3)
        $0.int16(2)
        $0.compactArrayLength(0)
        $0.compactArrayLength(2)
        $0.compactString("cleanup.policy")
        $0.compactString("compact")
        $0.noTags()
        $0.compactString("retention.ms")
        $0.compactString(nil)
        $0.noTags()
        $0.noTags()
        $0.compactString("manual")
        $0.int32(-1)
        $0.int16(-1)
        $0.compactArrayLength(2)
        $0.int32(0)
        $0.compactInt32Array([1, 2])
        $0.noTags()
        $0.int32(1)
        $0.compactInt32Array([2, 3])
        $0.noTags()
        $0.compactArrayLength(0)
        $0.noTags()
        $0.int32(30_000)
        $0.bool(true)
        $0.noTags()
      })
  }

  @Test func createTopicsResponse() throws {
    let v0 = CreateTopicsResponse(topics: [
      .init(name: "orders", errorCode: 0), .init(name: "taken", errorCode: 36),
    ])
    try expectCodec(
      v0, version: 0,
      ByteBuilder {
        $0.arrayLength(2)
        $0.string("orders")
        $0.int16(0)
        $0.string("taken")
        $0.int16(36)
      })

    let v4 = CreateTopicsResponse(
      throttleTimeMs: 0,
      topics: [
        .init(name: "orders", errorCode: 0, errorMessage: nil),
        .init(name: "taken", errorCode: 36, errorMessage: "Topic 'taken' already exists."),
      ])
    try expectCodec(
      v4, version: 4,
      ByteBuilder {
        $0.int32(0)
        $0.arrayLength(2)
        $0.string("orders")
        $0.int16(0)
        $0.string(nil)
        $0.string("taken")
        $0.int16(36)
        $0.string("Topic 'taken' already exists.")
      })

    let v7 = CreateTopicsResponse(
      throttleTimeMs: 0,
      topics: [
        .init(
          name: "orders", topicId: topicA, errorCode: 0, errorMessage: nil, numPartitions: 3,
          replicationFactor: 2,
          configs: [
            .init(
              name: "cleanup.policy", value: "compact", readOnly: false, configSource: 5,
              isSensitive: false),
            .init(name: "secret", value: nil, readOnly: true, configSource: 4, isSensitive: true),
          ]),
        .init(
          name: "taken", topicId: .zero, errorCode: 36, errorMessage: "msg",
          topicConfigErrorCode: 29, configs: nil),
      ])
    try expectCodec(
      v7, version: 7,
      ByteBuilder {
        $0.int32(0)
        $0.compactArrayLength(2)
        $0.compactString("orders")
        $0.uuid(high: topicA.high, low: topicA.low)
        $0.int16(0)
        $0.compactString(nil)
        $0.int32(3)
        $0.int16(2)
        $0.compactArrayLength(2)
        $0.compactString("cleanup.policy")
        $0.compactString("compact")
        $0.bool(false)
        $0.int8(5)
        $0.bool(false)
        $0.noTags()
        $0.compactString("secret")
        $0.compactString(nil)
        $0.bool(true)
        $0.int8(4)
        $0.bool(true)
        $0.noTags()
        $0.noTags()  // TopicConfigErrorCode 0 is the default: not written
        $0.compactString("taken")
        $0.uuid(high: 0, low: 0)
        $0.int16(36)
        $0.compactString("msg")
        $0.int32(-1)
        $0.int16(-1)
        $0.compactArrayLength(nil)
        $0.taggedFields([(tag: 0, payload: [0x00, 0x1D])])
        $0.noTags()
      })
  }

  // MARK: ApiKey

  @Test func apiKeyNumbers() {
    #expect(ApiKey.produce.rawValue == 0)
    #expect(ApiKey.fetch.rawValue == 1)
    #expect(ApiKey.listOffsets.rawValue == 2)
    #expect(ApiKey.metadata.rawValue == 3)
    #expect(ApiKey.apiVersions.rawValue == 18)
    #expect(ApiKey.createTopics.rawValue == 19)
    #expect(ApiKey(rawValue: 18) == .apiVersions)
    #expect(ApiKey.apiVersions.name == "ApiVersions")
    #expect(ApiKey.listOffsets.name == "ListOffsets")
    #expect(ProduceRequest.apiKey == .produce && ProduceResponse.apiKey == .produce)
    #expect(FetchRequest.apiKey == .fetch && FetchResponse.apiKey == .fetch)
    #expect(ListOffsetsRequest.apiKey == .listOffsets)
    #expect(MetadataRequest.apiKey == .metadata)
    #expect(ApiVersionsResponse.apiKey == .apiVersions)
    #expect(CreateTopicsResponse.apiKey == .createTopics)
  }

  static let flexibility: [(ApiKey, Int16)] = [
    (.produce, 9), (.fetch, 12), (.listOffsets, 6), (.metadata, 9), (.apiVersions, 3),
    (.createTopics, 5),
  ]

  @Test(arguments: flexibility)
  func flexibleThreshold(key: ApiKey, first: Int16) {
    #expect(key.firstFlexibleVersion == first)
    #expect(!key.isFlexible(0))
    #expect(!key.isFlexible(first - 1))
    #expect(key.isFlexible(first))
    #expect(key.isFlexible(key.specVersions.upperBound))
  }

  @Test func messageTablesAgreeWithApiKey() {
    func check<Request: KafkaRequestMessage>(_: Request.Type, _ versions: ClosedRange<Int16>) {
      let key = Request.apiKey
      #expect(Request.Response.apiKey == key)
      #expect(Request.validVersions == versions)
      #expect(key.specVersions == versions)
      #expect(Request.Response.validVersions == versions)
      #expect(Request.firstFlexibleVersion == key.firstFlexibleVersion)
      #expect(Request.Response.firstFlexibleVersion == key.firstFlexibleVersion)
      for version in versions {
        #expect(Request.isFlexible(version) == key.isFlexible(version))
      }
    }
    check(ProduceRequest.self, 0...11)
    check(FetchRequest.self, 0...17)
    check(ListOffsetsRequest.self, 0...10)
    check(MetadataRequest.self, 0...12)
    check(ApiVersionsRequest.self, 0...4)
    check(CreateTopicsRequest.self, 0...7)
    #expect(RequestHeader.validVersions == 0...2 && RequestHeader.firstFlexibleVersion == 2)
    #expect(ResponseHeader.validVersions == 0...1 && ResponseHeader.firstFlexibleVersion == 1)
  }
}
