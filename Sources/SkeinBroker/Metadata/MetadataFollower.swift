import KafkaProtocol
import Logging
import NIOCore
import SkeinCluster
import Synchronization

/// A broker without the controller role follows the controller's metadata log: it fetches
/// `__cluster_metadata` with long-polls over a controller channel of its own, applies each
/// record to its image and publishes the image after each batch of records.
final class MetadataFollower: Sendable {
  private let nodeId: Int32
  private let channel: any ControllerChannel
  private let publisher: MetadataPublisher
  private let maxWaitMs: Int32
  private let logger: Logger
  private let brokerEpoch = Mutex<Int64>(-1)
  private let task = Mutex<Task<Void, Never>?>(nil)
  /// The controller's log end in its last answer, to tell when this broker has caught up.
  private let controllerEnd = Mutex<Int64>(-1)

  init(
    nodeId: Int32, channel: any ControllerChannel, publisher: MetadataPublisher,
    maxWaitMs: Int32 = 500, logger: Logger
  ) {
    self.nodeId = nodeId
    self.channel = channel
    self.publisher = publisher
    self.maxWaitMs = maxWaitMs
    self.logger = logger
  }

  func setBrokerEpoch(_ epoch: Int64) { brokerEpoch.withLock { $0 = epoch } }

  /// True once an answer showed this broker at the controller's log end.
  var isCaughtUp: Bool {
    let end = controllerEnd.withLock { $0 }
    return end >= 0 && publisher.offset >= end
  }

  func start() {
    let loop = Task { [self] in await run() }
    task.withLock { $0 = loop }
  }

  func stop() {
    task.withLock { $0 }?.cancel()
  }

  private func run() async {
    var image = publisher.image
    var offset = publisher.offset
    var failures = 0
    while !Task.isCancelled {
      let request = FetchRequest(
        replicaId: nodeId,
        replicaState: .init(replicaId: nodeId, replicaEpoch: brokerEpoch.withLock { $0 }),
        maxWaitMs: maxWaitMs, minBytes: 1, maxBytes: 8 << 20, isolationLevel: 0,
        topics: [
          .init(
            topic: MetadataLog.topicPartition.topic, topicId: ControllerApis.metadataTopicId,
            partitions: [
              .init(partition: 0, fetchOffset: offset, partitionMaxBytes: 8 << 20)
            ])
        ])
      let response: FetchResponse
      do {
        response = try await channel.send(request)
        failures = 0
      } catch {
        failures += 1
        if failures == 1 || failures % 20 == 0 {
          logger.warning("metadata fetch from the controller failed: \(error)")
        }
        try? await Task.sleep(for: .milliseconds(failures == 1 ? 100 : 500))
        continue
      }
      guard let data = response.responses.first?.partitions.first else { continue }
      if data.errorCode == ErrorCode.offsetOutOfRange.rawValue {
        // The controller's log is not the one we followed (rebuilt): start again from zero.
        logger.warning("metadata offset \(offset) is out of range at the controller; reloading")
        image = MetadataImage()
        offset = 0
        continue
      }
      guard data.errorCode == 0 else {
        logger.warning("metadata fetch error \(data.errorCode)")
        try? await Task.sleep(for: .milliseconds(500))
        continue
      }
      var applied = false
      if var records = data.records, records.readableBytes > 0 {
        do {
          var batches = RecordBatchIterator(records)
          while let batch = try batches.next() {
            guard batch.header.nextOffset > offset else { continue }
            var iterator = try batch.records()
            while let record = try iterator.next() {
              guard var value = record.value else { continue }
              if let decoded = try MetadataRecord.decode(from: &value) { image.apply(decoded) }
            }
            offset = batch.header.nextOffset
            applied = true
          }
        } catch {
          logger.error("undecodable metadata at offset \(offset): \(error)")
          records.clear()
          try? await Task.sleep(for: .milliseconds(500))
        }
      }
      controllerEnd.withLock { $0 = data.highWatermark }
      // Publish only images that reached the controller's log end once: a partial replay
      // (the first batches of a long log) would look like deleted topics.
      if applied && (offset >= data.highWatermark || publisher.offset > 0) {
        publisher.publish(image, offset: offset)
      }
    }
  }
}
