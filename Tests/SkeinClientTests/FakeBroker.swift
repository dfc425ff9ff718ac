import Foundation
import KafkaProtocol
import NIOCore
import NIOPosix

@testable import SkeinClient

/// A one-node, in-memory Kafka broker on a real TCP port, for testing the client without the
/// real broker: ApiVersions, Metadata, Produce, Fetch, ListOffsets and the admin APIs, with
/// hooks to misbehave (silence, out-of-order responses, error injection).
final class FakeBroker: @unchecked Sendable {
  /// What the broker does with one request.
  enum Reply {
    case body(ByteBuffer, delay: TimeAmount? = nil)
    case noResponse
    case close
    /// A whole frame written as is (length prefix included).
    case raw(ByteBuffer)
    /// A body written when the promise handed to the closure completes (a JoinGroup waiting
    /// for the rebalance).
    case deferred((EventLoopPromise<ByteBuffer>) -> Void)
  }

  struct PartitionLog {
    var batches: [ByteBuffer] = []
    var nextOffset: Int64 = 0
  }

  struct Topic {
    var id: KafkaUuid
    var partitions: [PartitionLog]
    var configs: [String: String]
  }

  let nodeId: Int32 = 1
  private(set) var port = 0
  private var serverChannel: (any Channel)?
  private let lock = NSLock()

  // State below is guarded by `lock`.
  private var topics: [String: Topic] = [:]
  private var requests: [RequestHeader] = []
  private var _apiVersions: [ApiKey: ClosedRange<Int16>] = ClientApiVersions.supported
  private var _autoCreateTopics = false
  private var _override: (@Sendable (RequestHeader, ByteBuffer) -> Reply?)?
  private var _reverseEvery = 0
  private var _produceErrors: [Int16] = []
  private var _lostProduceResponses = 0
  private var nextProducerId: Int64 = 1000
  private var _initProducerIdErrors: [Int16] = []
  /// Idempotent producers' state per partition: epoch, last sequence, and the sequences and
  /// base offsets of the last batches (for duplicate detection).
  private var producerStates: [ProducerKey: ProducerPartitionState] = [:]
  private var _stampedBatches: [StampedBatch] = []
  let groups = FakeGroupCoordinator()
  private var children: [any Channel] = []

  init() {}

  /// Starts listening on 127.0.0.1, on an ephemeral port unless one is given.
  func start(port requestedPort: Int = 0) async throws {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { [self] channel in
        locked { children.append(channel) }
        return channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: 64 << 20)))
          try channel.pipeline.syncOperations.addHandler(FakeBrokerHandler(broker: self))
        }
      }
      .bind(host: "127.0.0.1", port: requestedPort).get()
    serverChannel = channel
    port = channel.localAddress?.port ?? 0
  }

  /// Stops listening and drops every client connection (state is kept: `start` again to
  /// simulate a restart).
  func stop() async {
    try? await serverChannel?.close()
    serverChannel = nil
    let open = locked {
      defer { children.removeAll() }
      return children
    }
    for channel in open { try? await channel.close() }
  }

  var bootstrap: String { "127.0.0.1:\(port)" }

  private func locked<T>(_ body: () throws -> T) rethrows -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }

  // MARK: Test controls

  /// The API versions advertised (ApiVersions).
  var apiVersions: [ApiKey: ClosedRange<Int16>] {
    get { locked { _apiVersions } }
    set { locked { _apiVersions = newValue } }
  }

  var autoCreateTopics: Bool {
    get { locked { _autoCreateTopics } }
    set { locked { _autoCreateTopics = newValue } }
  }

  /// Called first for each request; a non-nil reply replaces the normal handling.
  var override: (@Sendable (RequestHeader, ByteBuffer) -> Reply?)? {
    get { locked { _override } }
    set { locked { _override = newValue } }
  }

  /// When positive, each connection holds this many responses and writes them in reverse.
  var reverseEvery: Int {
    get { locked { _reverseEvery } }
    set { locked { _reverseEvery = newValue } }
  }

  /// Error codes the next produce partition results get, one per partition result.
  func failNextProduces(with codes: [ErrorCode]) {
    locked { _produceErrors += codes.map(\.rawValue) }
  }

  /// Produce requests whose batches are written but whose responses are lost (the
  /// connection closes instead), one per request.
  func loseNextProduceResponses(_ count: Int) {
    locked { _lostProduceResponses += count }
  }

  /// Error codes the next InitProducerId requests get.
  func failNextInitProducerIds(with codes: [ErrorCode]) {
    locked { _initProducerIdErrors += codes.map(\.rawValue) }
  }

  /// Sets a producer's state on a partition, as if it had written up to `lastSequence`.
  func setProducerState(
    producerId: Int64, topic: String, partition: Int32, epoch: Int16, lastSequence: Int32
  ) {
    locked {
      producerStates[ProducerKey(producerId: producerId, topic: topic, partition: partition)] =
        ProducerPartitionState(epoch: epoch, lastSequence: lastSequence)
    }
  }

  /// Forgets every producer's state (as retention removing it would).
  func dropProducerStates() { locked { producerStates.removeAll() } }

  /// The producer fields of every batch received by Produce, in order.
  var stampedBatches: [StampedBatch] { locked { _stampedBatches } }

  /// Headers of every request received, in order.
  var receivedRequests: [RequestHeader] { locked { requests } }

  func createTopic(_ name: String, partitions: Int, configs: [String: String] = [:]) {
    locked {
      topics[name] = Topic(
        id: KafkaUuid.random(), partitions: Array(repeating: PartitionLog(), count: partitions),
        configs: configs)
    }
  }

  func topicNames() -> [String] { locked { topics.keys.sorted() } }

  func partitionCount(_ name: String) -> Int? { locked { topics[name]?.partitions.count } }

  func configs(_ name: String) -> [String: String]? { locked { topics[name]?.configs } }

  /// The records of a partition, decoded: (offset, key, value, headers, timestamp).
  func records(
    _ topic: String, _ partition: Int
  ) -> [(offset: Int64, key: String?, value: String?, headers: [RecordHeader], timestamp: Int64)] {
    let batches = locked { topics[topic]?.partitions[partition].batches ?? [] }
    var result:
      [(offset: Int64, key: String?, value: String?, headers: [RecordHeader], timestamp: Int64)] =
        []
    for bytes in batches {
      guard let batch = try? RecordBatch(bytes), var iterator = try? batch.records() else {
        continue
      }
      while let record = try? iterator.next() {
        result.append(
          (
            batch.offset(of: record), record.key.map { String(buffer: $0) },
            record.value.map { String(buffer: $0) }, record.headers, batch.timestamp(of: record)
          ))
      }
    }
    return result
  }

  /// Number of batches stored in a partition.
  func batchCount(_ topic: String, _ partition: Int) -> Int {
    locked { topics[topic]?.partitions[partition].batches.count ?? 0 }
  }

  /// Flips the last byte of the last stored batch of a partition (inside the CRC's range).
  func corruptLastBatch(_ topic: String, _ partition: Int) {
    locked {
      guard var batch = topics[topic]?.partitions[partition].batches.popLast() else { return }
      let index = batch.writerIndex - 1
      let byte = batch.getInteger(at: index, as: UInt8.self) ?? 0
      batch.setInteger(byte ^ 0xFF, at: index)
      topics[topic]?.partitions[partition].batches.append(batch)
    }
  }

  /// Appends an already built batch (tests of consumer-side parsing).
  @discardableResult
  func append(_ topic: String, _ partition: Int, batch: ByteBuffer) throws -> Int64 {
    try locked {
      guard var log = topics[topic]?.partitions[partition] else {
        throw ErrorCode.unknownTopicOrPartition
      }
      var bytes = batch
      let assignment = try RecordBatchValidator.assignOffsets(
        in: &bytes, firstOffset: log.nextOffset, partitionLeaderEpoch: 0)
      log.batches.append(bytes)
      log.nextOffset = assignment.nextOffset
      topics[topic]?.partitions[partition] = log
      return assignment.firstOffset
    }
  }

  // MARK: Request handling

  func handle(_ header: RequestHeader, body: ByteBuffer) -> Reply {
    locked { requests.append(header) }
    if let override, let reply = override(header, body) { return reply }
    guard let api = ApiKey(rawValue: header.requestApiKey) else { return .close }
    let version = header.requestApiVersion
    var body = body
    do {
      switch api {
      case .apiVersions: return try apiVersionsReply(&body, version: version)
      case .metadata:
        return try encode(metadata(MetadataRequest(from: &body, version: version)), version)
      case .produce:
        let request = try ProduceRequest(from: &body, version: version)
        let response = produce(request)
        let lose = locked {
          guard _lostProduceResponses > 0 else { return false }
          _lostProduceResponses -= 1
          return true
        }
        if lose { return .close }
        return request.acks == 0 ? .noResponse : encode(response, version)
      case .initProducerId:
        let request = try InitProducerIdRequest(from: &body, version: version)
        return encode(initProducerId(request), version)
      case .findCoordinator, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit,
        .offsetFetch, .offsetDelete, .listGroups, .describeGroups, .deleteGroups:
        return try groups.handle(
          api, version: version, body: &body, header: header, node: nodeId, port: port)
      case .fetch:
        let request = try FetchRequest(from: &body, version: version)
        let response = fetch(request, version: version)
        let empty = response.responses.allSatisfy { topic in
          topic.partitions.allSatisfy { ($0.records?.readableBytes ?? 0) == 0 }
        }
        let delay = empty ? TimeAmount.milliseconds(Int64(min(request.maxWaitMs, 100))) : nil
        var buffer = ByteBuffer()
        response.encode(to: &buffer, version: version)
        return .body(buffer, delay: delay)
      case .listOffsets:
        return try encode(listOffsets(ListOffsetsRequest(from: &body, version: version)), version)
      case .createTopics:
        return try encode(createTopics(CreateTopicsRequest(from: &body, version: version)), version)
      case .deleteTopics:
        return try encode(
          deleteTopics(DeleteTopicsRequest(from: &body, version: version), version: version),
          version)
      case .createPartitions:
        return try encode(
          createPartitions(CreatePartitionsRequest(from: &body, version: version)), version)
      case .describeConfigs:
        return try encode(
          describeConfigs(DescribeConfigsRequest(from: &body, version: version)), version)
      case .incrementalAlterConfigs:
        return try encode(
          alterConfigs(IncrementalAlterConfigsRequest(from: &body, version: version)), version)
      default:
        return .close
      }
    } catch {
      return .close
    }
  }

  private func encode<M: KafkaMessage>(_ message: M, _ version: Int16) -> Reply {
    var buffer = ByteBuffer()
    message.encode(to: &buffer, version: version)
    return .body(buffer)
  }

  private func apiVersionsReply(_ body: inout ByteBuffer, version: Int16) throws -> Reply {
    let advertised = apiVersions
    var response = ApiVersionsResponse()
    response.apiKeys = advertised.sorted { $0.key.rawValue < $1.key.rawValue }.map {
      ApiVersionsResponse.ApiVersion(
        apiKey: $0.key.rawValue, minVersion: $0.value.lowerBound, maxVersion: $0.value.upperBound)
    }
    guard let own = advertised[.apiVersions], own.contains(version) else {
      // KIP-511: an unknown ApiVersions version gets UNSUPPORTED_VERSION in a v0 body.
      response.errorCode = ErrorCode.unsupportedVersion.rawValue
      return encode(response, 0)
    }
    _ = try ApiVersionsRequest(from: &body, version: version)
    return encode(response, version)
  }

  private func metadata(_ request: MetadataRequest) -> MetadataResponse {
    locked {
      var response = MetadataResponse()
      response.brokers = [
        MetadataResponse.MetadataResponseBroker(
          nodeId: nodeId, host: "127.0.0.1", port: Int32(port))
      ]
      response.clusterId = "fake-cluster"
      response.controllerId = nodeId
      let names = request.topics.map { $0.compactMap(\.name) } ?? topics.keys.sorted()
      for name in names {
        if topics[name] == nil, request.allowAutoTopicCreation, _autoCreateTopics {
          topics[name] = Topic(id: .random(), partitions: [PartitionLog()], configs: [:])
        }
        guard let topic = topics[name] else {
          response.topics.append(
            MetadataResponse.MetadataResponseTopic(
              errorCode: ErrorCode.unknownTopicOrPartition.rawValue, name: name))
          continue
        }
        response.topics.append(
          MetadataResponse.MetadataResponseTopic(
            name: name, topicId: topic.id,
            partitions: topic.partitions.indices.map {
              MetadataResponse.MetadataResponsePartition(
                partitionIndex: Int32($0), leaderId: nodeId, leaderEpoch: 0,
                replicaNodes: [nodeId], isrNodes: [nodeId])
            }))
      }
      return response
    }
  }

  private func produce(_ request: ProduceRequest) -> ProduceResponse {
    locked {
      var response = ProduceResponse()
      for topicData in request.topicData {
        var topicResponse = ProduceResponse.TopicProduceResponse(name: topicData.name)
        for partitionData in topicData.partitionData {
          var result = ProduceResponse.PartitionProduceResponse(index: partitionData.index)
          let index = Int(partitionData.index)
          if !_produceErrors.isEmpty {
            result.errorCode = _produceErrors.removeFirst()
            result.baseOffset = -1
            result.logStartOffset = 0
          } else if let topic = topics[topicData.name], topic.partitions.indices.contains(index),
            var records = partitionData.records
          {
            do {
              _ = try RecordBatchValidator.validate(records, requireSingleBatch: true)
              let header = try RecordBatchHeader(peeking: records, at: records.readerIndex)
              _stampedBatches.append(
                StampedBatch(
                  topic: topicData.name, partition: partitionData.index,
                  producerId: header.producerId, producerEpoch: header.producerEpoch,
                  baseSequence: header.baseSequence, recordCount: header.recordCount))
              var log = topic.partitions[index]
              let key = ProducerKey(
                producerId: header.producerId, topic: topicData.name,
                partition: partitionData.index)
              if header.producerId >= 0 {
                switch checkSequence(header, key: key) {
                case .append: break
                case .duplicate(let offset):
                  result.errorCode = ErrorCode.duplicateSequenceNumber.rawValue
                  result.baseOffset = offset
                  topicResponse.partitionResponses.append(result)
                  continue
                case .reject(let code):
                  result.errorCode = code.rawValue
                  result.baseOffset = -1
                  topicResponse.partitionResponses.append(result)
                  continue
                }
              }
              let assignment = try RecordBatchValidator.assignOffsets(
                in: &records, firstOffset: log.nextOffset, partitionLeaderEpoch: 0)
              log.batches.append(records)
              log.nextOffset = assignment.nextOffset
              topics[topicData.name]?.partitions[index] = log
              result.baseOffset = assignment.firstOffset
              if header.producerId >= 0 {
                var state =
                  producerStates[key]
                  ?? ProducerPartitionState(
                    epoch: header.producerEpoch, lastSequence: -1)
                state.epoch = header.producerEpoch
                state.lastSequence = header.baseSequence &+ header.recordCount &- 1
                state.recent.append((header.baseSequence, assignment.firstOffset))
                if state.recent.count > 5 { state.recent.removeFirst() }
                producerStates[key] = state
              }
            } catch let error as RecordBatchError {
              result.errorCode = error.errorCode.rawValue
              result.errorMessage = "\(error)"
            } catch {
              result.errorCode = ErrorCode.unknownServerError.rawValue
              result.errorMessage = "\(error)"
            }
          } else {
            result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
          }
          topicResponse.partitionResponses.append(result)
        }
        response.responses.append(topicResponse)
      }
      return response
    }
  }

  private enum SequenceCheck {
    case append
    case duplicate(Int64)
    case reject(ErrorCode)
  }

  /// Kafka's producer-state rules for one batch, simplified: an older epoch is fenced, a new
  /// epoch (or an unknown producer) starts at sequence 0, and within an epoch a batch must
  /// follow the last one, or repeat one of the last five.
  private func checkSequence(_ header: RecordBatchHeader, key: ProducerKey) -> SequenceCheck {
    guard let state = producerStates[key] else {
      return header.baseSequence == 0 ? .append : .reject(.outOfOrderSequenceNumber)
    }
    if header.producerEpoch < state.epoch { return .reject(.invalidProducerEpoch) }
    if header.producerEpoch > state.epoch {
      return header.baseSequence == 0 ? .append : .reject(.outOfOrderSequenceNumber)
    }
    if let recent = state.recent.first(where: { $0.sequence == header.baseSequence }) {
      return .duplicate(recent.offset)
    }
    let expected = state.lastSequence == Int32.max ? 0 : state.lastSequence + 1
    return header.baseSequence == expected ? .append : .reject(.outOfOrderSequenceNumber)
  }

  private func initProducerId(_ request: InitProducerIdRequest) -> InitProducerIdResponse {
    locked {
      var response = InitProducerIdResponse()
      if !_initProducerIdErrors.isEmpty {
        response.errorCode = _initProducerIdErrors.removeFirst()
        response.producerId = -1
        response.producerEpoch = -1
        return response
      }
      response.producerId = nextProducerId
      response.producerEpoch = 0
      nextProducerId += 1
      return response
    }
  }

  private func fetch(_ request: FetchRequest, version: Int16) -> FetchResponse {
    locked {
      var response = FetchResponse()
      for fetchTopic in request.topics {
        let name =
          version >= 13
          ? topics.first(where: { $0.value.id == fetchTopic.topicId })?.key : fetchTopic.topic
        var topicResponse = FetchResponse.FetchableTopicResponse(
          topic: fetchTopic.topic, topicId: fetchTopic.topicId)
        for fetchPartition in fetchTopic.partitions {
          var data = FetchResponse.PartitionData(partitionIndex: fetchPartition.partition)
          let index = Int(fetchPartition.partition)
          guard let name, let topic = topics[name], topic.partitions.indices.contains(index) else {
            data.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
            topicResponse.partitions.append(data)
            continue
          }
          let log = topic.partitions[index]
          data.highWatermark = log.nextOffset
          data.logStartOffset = 0
          data.lastStableOffset = log.nextOffset
          guard fetchPartition.fetchOffset >= 0, fetchPartition.fetchOffset <= log.nextOffset
          else {
            data.errorCode = ErrorCode.offsetOutOfRange.rawValue
            topicResponse.partitions.append(data)
            continue
          }
          var records = ByteBuffer()
          for batch in log.batches {
            guard let header = try? RecordBatchHeader(peeking: batch, at: batch.readerIndex),
              header.lastOffset >= fetchPartition.fetchOffset
            else { continue }
            if records.readableBytes > 0,
              records.readableBytes + batch.readableBytes > Int(fetchPartition.partitionMaxBytes)
            {
              break
            }
            var copy = batch
            records.writeBuffer(&copy)
          }
          data.records = records
          topicResponse.partitions.append(data)
        }
        response.responses.append(topicResponse)
      }
      return response
    }
  }

  private func listOffsets(_ request: ListOffsetsRequest) -> ListOffsetsResponse {
    let snapshot = locked { topics }
    var response = ListOffsetsResponse()
    for requestTopic in request.topics {
      var topicResponse = ListOffsetsResponse.ListOffsetsTopicResponse(name: requestTopic.name)
      for requestPartition in requestTopic.partitions {
        var result = ListOffsetsResponse.ListOffsetsPartitionResponse(
          partitionIndex: requestPartition.partitionIndex)
        let index = Int(requestPartition.partitionIndex)
        guard let topic = snapshot[requestTopic.name], topic.partitions.indices.contains(index)
        else {
          result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
          topicResponse.partitions.append(result)
          continue
        }
        let log = topic.partitions[index]
        switch requestPartition.timestamp {
        case -2: result.offset = 0
        case -1: result.offset = log.nextOffset
        default:
          result.offset = -1
          search: for bytes in log.batches {
            guard let batch = try? RecordBatch(bytes), var iterator = try? batch.records() else {
              continue
            }
            while let record = try? iterator.next() {
              if batch.timestamp(of: record) >= requestPartition.timestamp {
                result.offset = batch.offset(of: record)
                result.timestamp = batch.timestamp(of: record)
                break search
              }
            }
          }
        }
        topicResponse.partitions.append(result)
      }
      response.topics.append(topicResponse)
    }
    return response
  }

  private func createTopics(_ request: CreateTopicsRequest) -> CreateTopicsResponse {
    locked {
      var response = CreateTopicsResponse()
      for creatable in request.topics {
        var result = CreateTopicsResponse.CreatableTopicResult(name: creatable.name)
        let partitions = creatable.numPartitions < 0 ? 1 : Int(creatable.numPartitions)
        if topics[creatable.name] != nil {
          result.errorCode = ErrorCode.topicAlreadyExists.rawValue
          result.errorMessage = "Topic '\(creatable.name)' already exists."
        } else if partitions == 0 {
          result.errorCode = ErrorCode.invalidPartitions.rawValue
          result.errorMessage = "Number of partitions must be larger than 0."
        } else {
          let id = KafkaUuid.random()
          result.topicId = id
          result.numPartitions = Int32(partitions)
          result.replicationFactor = max(1, creatable.replicationFactor)
          result.errorMessage = nil
          if !request.validateOnly {
            var configs: [String: String] = [:]
            for config in creatable.configs { configs[config.name] = config.value }
            topics[creatable.name] = Topic(
              id: id, partitions: Array(repeating: PartitionLog(), count: partitions),
              configs: configs)
          }
        }
        response.topics.append(result)
      }
      return response
    }
  }

  private func deleteTopics(_ request: DeleteTopicsRequest, version: Int16) -> DeleteTopicsResponse
  {
    locked {
      var response = DeleteTopicsResponse()
      let names = version >= 6 ? request.topics.compactMap(\.name) : request.topicNames
      for name in names {
        var result = DeleteTopicsResponse.DeletableTopicResult(name: name)
        if topics.removeValue(forKey: name) == nil {
          result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
        }
        response.responses.append(result)
      }
      return response
    }
  }

  private func createPartitions(_ request: CreatePartitionsRequest) -> CreatePartitionsResponse {
    locked {
      var response = CreatePartitionsResponse()
      for requestTopic in request.topics {
        var result = CreatePartitionsResponse.CreatePartitionsTopicResult(name: requestTopic.name)
        if let topic = topics[requestTopic.name] {
          if Int(requestTopic.count) <= topic.partitions.count {
            result.errorCode = ErrorCode.invalidPartitions.rawValue
            result.errorMessage =
              "Topic currently has \(topic.partitions.count) partitions, which is higher than or"
              + " equal to the requested \(requestTopic.count)."
          } else if !request.validateOnly {
            topics[requestTopic.name]?.partitions += Array(
              repeating: PartitionLog(), count: Int(requestTopic.count) - topic.partitions.count)
          }
        } else {
          result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
        }
        response.results.append(result)
      }
      return response
    }
  }

  private func describeConfigs(_ request: DescribeConfigsRequest) -> DescribeConfigsResponse {
    locked {
      var response = DescribeConfigsResponse()
      for resource in request.resources {
        var result = DescribeConfigsResponse.DescribeConfigsResult(
          errorMessage: nil, resourceType: resource.resourceType,
          resourceName: resource.resourceName)
        if let topic = topics[resource.resourceName] {
          var entries = topic.configs.sorted { $0.key < $1.key }.map {
            DescribeConfigsResponse.DescribeConfigsResourceResult(
              name: $0.key, value: $0.value, configSource: 1)
          }
          if topic.configs["cleanup.policy"] == nil {
            entries.append(
              DescribeConfigsResponse.DescribeConfigsResourceResult(
                name: "cleanup.policy", value: "delete", isDefault: true, configSource: 5))
          }
          if let keys = resource.configurationKeys {
            entries = entries.filter { keys.contains($0.name) }
          }
          result.configs = entries
        } else {
          result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
        }
        response.results.append(result)
      }
      return response
    }
  }

  private func alterConfigs(
    _ request: IncrementalAlterConfigsRequest
  ) -> IncrementalAlterConfigsResponse {
    locked {
      var response = IncrementalAlterConfigsResponse()
      for resource in request.resources {
        var result = IncrementalAlterConfigsResponse.AlterConfigsResourceResponse(
          errorMessage: nil, resourceType: resource.resourceType,
          resourceName: resource.resourceName)
        if topics[resource.resourceName] != nil {
          for config in resource.configs {
            switch config.configOperation {
            case 0: topics[resource.resourceName]?.configs[config.name] = config.value
            case 1: topics[resource.resourceName]?.configs[config.name] = nil
            default: result.errorCode = ErrorCode.invalidRequest.rawValue
            }
          }
        } else {
          result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
        }
        response.responses.append(result)
      }
      return response
    }
  }
}

struct ProducerKey: Hashable {
  var producerId: Int64
  var topic: String
  var partition: Int32
}

struct ProducerPartitionState {
  var epoch: Int16
  var lastSequence: Int32
  var recent: [(sequence: Int32, offset: Int64)] = []
}

/// The producer fields of one produced batch, as the fake broker received them.
struct StampedBatch: Sendable, Hashable {
  var topic: String
  var partition: Int32
  var producerId: Int64
  var producerEpoch: Int16
  var baseSequence: Int32
  var recordCount: Int32
}

/// One server-side connection of the fake broker: decodes request headers, asks the broker for
/// a reply, and writes it framed with the right response header.
final class FakeBrokerHandler: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let broker: FakeBroker
  private var held: [ByteBuffer] = []

  init(broker: FakeBroker) {
    self.broker = broker
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var frame = unwrapInboundIn(data)
    guard let apiKey = frame.getInteger(at: frame.readerIndex, as: Int16.self),
      let version = frame.getInteger(at: frame.readerIndex + 2, as: Int16.self),
      let api = ApiKey(rawValue: apiKey),
      let header = try? RequestHeader(from: &frame, version: api.isFlexible(version) ? 2 : 1)
    else {
      context.close(promise: nil)
      return
    }
    switch broker.handle(header, body: frame) {
    case .noResponse:
      return
    case .close:
      context.close(promise: nil)
    case .raw(let bytes):
      context.writeAndFlush(wrapOutboundOut(bytes), promise: nil)
    case .deferred(let body):
      let promise = context.eventLoop.makePromise(of: ByteBuffer.self)
      let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
      let correlationId = header.correlationId
      let flexible = api.isFlexible(version)
      promise.futureResult.whenSuccess { body in
        var body = body
        var out = ByteBuffer()
        out.writeInteger(Int32(0))
        out.writeInteger(correlationId)
        if flexible { out.writeUnsignedVarint(0) }
        out.writeBuffer(&body)
        out.setInteger(Int32(out.readableBytes - 4), at: 0)
        let (handler, context) = bound.value
        guard context.channel.isActive else { return }
        handler.send(out, context: context)
      }
      body(promise)
    case .body(var body, let delay):
      var out = ByteBuffer()
      out.writeInteger(Int32(0))
      out.writeInteger(header.correlationId)
      if api != .apiVersions && api.isFlexible(version) { out.writeUnsignedVarint(0) }
      out.writeBuffer(&body)
      out.setInteger(Int32(out.readableBytes - 4), at: 0)
      if let delay {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let frame = out
        context.eventLoop.scheduleTask(in: delay) {
          let (handler, context) = bound.value
          handler.send(frame, context: context)
        }
      } else {
        send(out, context: context)
      }
    }
  }

  private func send(_ frame: ByteBuffer, context: ChannelHandlerContext) {
    let reverseEvery = broker.reverseEvery
    guard reverseEvery > 0 else {
      context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
      return
    }
    held.append(frame)
    if held.count >= reverseEvery {
      for frame in held.reversed() { context.write(wrapOutboundOut(frame), promise: nil) }
      held.removeAll()
      context.flush()
    }
  }
}
