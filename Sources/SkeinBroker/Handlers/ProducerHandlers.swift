import KafkaProtocol

// InitProducerId and DescribeProducers: producer ids for idempotent producers, and what each
// partition knows of them.

extension BrokerHandlers {
  func initProducerId(_ request: InitProducerIdRequest, _ context: RequestContext)
    -> Reply<InitProducerIdResponse>
  {
    func failure(_ code: ErrorCode) -> Reply<InitProducerIdResponse> {
      .now(.init(errorCode: code.rawValue, producerId: -1, producerEpoch: -1))
    }
    if let transactionalId = request.transactionalId {
      // Transactional ids belong to the transaction coordinator, which this broker does not
      // run yet: answered as Kafka does while that coordinator is not available.
      return failure(transactionalId.isEmpty ? .invalidRequest : .coordinatorNotAvailable)
    }
    switch (request.producerId, request.producerEpoch) {
    case (-1, -1): break
    case (-1, _), (_, -1): return failure(.invalidRequest)
    default: break  // KIP-360: an idempotent producer always gets a fresh id.
    }
    let promise = context.eventLoop.makePromise(of: InitProducerIdResponse.self)
    let producerIds = producerIds
    let logger = logger
    promise.completeWithTask {
      switch await producerIds.generateProducerId() {
      case .success(let id):
        return InitProducerIdResponse(errorCode: 0, producerId: id, producerEpoch: 0)
      case .failure(let error):
        logger.warning("cannot allocate producer ids: \(error.message)")
        return InitProducerIdResponse(
          errorCode: error.code.rawValue, producerId: -1, producerEpoch: -1)
      }
    }
    return .later(promise.futureResult)
  }

  func describeProducers(_ request: DescribeProducersRequest, _ context: RequestContext)
    -> Reply<DescribeProducersResponse>
  {
    let image = metadata.image
    return .now(
      DescribeProducersResponse(
        topics: request.topics.map { topic in
          .init(
            name: topic.name,
            partitions: topic.partitionIndexes.map { index in
              let tp = TopicPartition(topic.name, index)
              guard let partition = replicaManager.partition(tp) else {
                let known = image.topics[topic.name]?.partitions.contains { $0.partition == index }
                return .init(
                  partitionIndex: index,
                  errorCode: (known == true
                    ? ErrorCode.notLeaderOrFollower : .unknownTopicOrPartition).rawValue)
              }
              return .init(
                partitionIndex: index, errorCode: 0,
                activeProducers: partition.log.producerState.activeProducers.map { entry in
                  .init(
                    producerId: entry.producerId, producerEpoch: Int32(entry.producerEpoch),
                    lastSequence: entry.lastSequence, lastTimestamp: entry.lastTimestamp,
                    coordinatorEpoch: entry.coordinatorEpoch,
                    currentTxnStartOffset: entry.currentTxnFirstOffset)
                })
            })
        }))
  }
}
