import KafkaProtocol
import NIOCore
import SkeinStorage

// Produce: validate each partition's batch by its header and CRC only, rewrite offsets in
// place under the log's append lock, append the bytes as they are.

extension BrokerHandlers {
  func produce(_ request: ProduceRequest, _ context: RequestContext) -> Reply<ProduceResponse> {
    guard request.acks == 0 || request.acks == 1 || request.acks == -1 else {
      return .now(
        Self.produceResponse(request) { _, _ in
          .init(errorCode: ErrorCode.invalidRequiredAcks.rawValue)
        })
    }
    let now = currentTimeMillis()
    var commitOffsets: [TopicPartition: Int64] = [:]
    let response = Self.produceResponse(request) { topic, data in
      let tp = TopicPartition(topic, data.index)
      let outcome = appendToPartition(tp, records: data.records, acks: request.acks, nowMs: now)
      if let offset = outcome.commitOffset { commitOffsets[tp] = offset }
      return outcome.response
    }
    if request.acks == 0 { return .none }
    var waiting: [DelayedProduce.Waiting] = []
    if request.acks == -1 {
      for (t, topic) in response.responses.enumerated() {
        for (p, result) in topic.partitionResponses.enumerated() {
          let tp = TopicPartition(topic.name, result.index)
          guard let required = commitOffsets[tp], let partition = replicaManager.partition(tp),
            required > partition.highWatermark
          else { continue }
          waiting.append(
            .init(
              topicIndex: t, partitionIndex: p, topicPartition: tp, partition: partition,
              requiredOffset: required))
        }
      }
    }
    if waiting.isEmpty { return .now(response) }
    let promise = context.eventLoop.makePromise(of: ProduceResponse.self)
    let delayed = DelayedProduce(
      replicaManager: replicaManager, response: response, waiting: waiting,
      eventLoop: context.eventLoop, promise: promise)
    context.eventLoop.execute { delayed.start(timeoutMs: Int64(request.timeoutMs)) }
    return .later(promise.futureResult)
  }

  /// A partition's answer, and the offset the high watermark must pass for it to be committed.
  struct PartitionAppendOutcome {
    var response: ProduceResponse.PartitionProduceResponse
    var commitOffset: Int64?
  }

  private static func produceResponse(
    _ request: ProduceRequest,
    _ body: (String, ProduceRequest.PartitionProduceData) ->
      ProduceResponse.PartitionProduceResponse
  ) -> ProduceResponse {
    ProduceResponse(
      responses: request.topicData.map { topic in
        .init(
          name: topic.name,
          partitionResponses: topic.partitionData.map { data in
            var result = body(topic.name, data)
            result.index = data.index
            return result
          })
      })
  }

  private func appendToPartition(
    _ tp: TopicPartition, records: ByteBuffer?, acks: Int16, nowMs: Int64
  ) -> PartitionAppendOutcome {
    func failure(_ code: ErrorCode, _ message: String? = nil) -> PartitionAppendOutcome {
      .init(response: .init(errorCode: code.rawValue, baseOffset: -1, errorMessage: message))
    }
    if tp.topic == GroupCoordinatorRuntime.topic {
      return failure(.invalidTopicException, "Cannot append to internal topic \(tp.topic)")
    }
    guard let partition = replicaManager.partition(tp) else {
      return failure(.unknownTopicOrPartition)
    }
    guard partition.isLeader else {
      return failure(.notLeaderOrFollower, "This server is not the leader for \(tp)")
    }
    guard let records, records.readableBytes > 0 else {
      return failure(.invalidRecord, "Produce request has no records")
    }
    let log = partition.log
    let config = log.config
    let summary: RecordBatchesSummary
    do {
      summary = try RecordBatchValidator.validate(records, requireSingleBatch: true)
    } catch {
      return failure(error.errorCode, "\(error)")
    }
    if summary.byteCount > config.maxMessageBytes
      || summary.largestBatchSize > config.maxMessageBytes
    {
      return failure(
        .messageTooLarge,
        "The batch of \(summary.byteCount) bytes exceeds max.message.bytes (\(config.maxMessageBytes))"
      )
    }
    if summary.containsTransactional {
      // Transactional batches need a transaction coordinator to have added the partition to
      // the producer's transaction; there is none yet, so no transaction is ever ongoing.
      return failure(
        .invalidTxnState, "The producer \(summary.producerId) has no ongoing transaction on \(tp)")
    }
    if config.cleanupPolicy.contains(.compact) {
      do {
        if try !RecordBatchValidator.allRecordsHaveKeys(records) {
          return failure(
            .invalidRecord,
            "Compacted topic cannot accept message without key in topic partition \(tp).")
        }
      } catch {
        return failure(error.errorCode, "\(error)")
      }
    }
    let isrSize = partition.isr.count
    if acks == -1 && isrSize < partition.effectiveMinIsr {
      return failure(
        .notEnoughReplicas,
        "The size of the current ISR \(partition.isr) is insufficient to satisfy the min.isr requirement of \(partition.effectiveMinIsr) for partition \(tp)"
      )
    }
    let appendTime: Int64? = config.messageTimestampType == .logAppendTime ? nowMs : nil
    let info: LogAppendInfo
    do {
      info = try log.appendAsLeader(origin: .client, nowMs: nowMs) { logEndOffset in
        var batch = records
        _ = try RecordBatchValidator.assignOffsets(
          in: &batch, firstOffset: logEndOffset, partitionLeaderEpoch: partition.leaderEpoch,
          logAppendTime: appendTime)
        return batch
      }
    } catch let error as StorageError {
      switch error {
      case .invalidProducerEpoch, .outOfOrderSequence: break
      default: logger.warning("append to \(tp) failed: \(error)")
      }
      return failure(error.errorCode, "\(error)")
    } catch let error as RecordBatchError {
      return failure(error.errorCode, "\(error)")
    } catch {
      return failure(.unknownServerError, "\(error)")
    }
    if info.isDuplicate {
      // A producer's retry of a batch already in the log: answered as the original was,
      // once that is committed.
      return .init(
        response: .init(
          errorCode: 0, baseOffset: info.firstOffset,
          logAppendTimeMs: appendTime == nil ? -1 : info.maxTimestamp,
          logStartOffset: info.logStartOffset),
        commitOffset: info.lastOffset + 1)
    }
    replicaManager.leaderAppended(partition)
    replicaManager.metrics.produced(
      topic: tp.topic, messages: info.lastOffset - info.firstOffset + 1, bytes: Int64(info.bytes))
    return .init(
      response: .init(
        errorCode: 0, baseOffset: info.firstOffset, logAppendTimeMs: appendTime ?? -1,
        logStartOffset: info.logStartOffset),
      commitOffset: info.lastOffset + 1)
  }
}
