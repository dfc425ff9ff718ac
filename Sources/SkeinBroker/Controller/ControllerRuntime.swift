import KafkaProtocol
import Logging
import SkeinCluster
import SkeinStorage
import Synchronization

/// Runs the controller on this node: turns admin requests into metadata records with
/// `ControllerDecisions`, persists them in the metadata log, applies them to the image and
/// tells the broker side (the replica manager) about the new image.
final class ControllerRuntime: Sendable {
  private let state: Mutex<MetadataImage>
  private let metadataLog: MetadataLog
  let decisions: ControllerDecisions
  let clusterId: String
  let settings: ControllerSettings
  /// When each broker was last heard from: liveness is the controller's memory, not the log.
  let heartbeats = Mutex(BrokerHeartbeatTracker())
  let logger: Logger
  private let onChange: Mutex<(@Sendable (MetadataImage, Int64) -> Void)?> = Mutex(nil)
  /// Metadata fetches (brokers following the log) waiting for the next change.
  let metadataWaiters = FetchWaitList()

  init(
    metadataLog: MetadataLog, decisions: ControllerDecisions, clusterId: String,
    nodeId: Int32, settings: ControllerSettings = ControllerSettings(), logger: Logger
  ) throws {
    self.metadataLog = metadataLog
    self.decisions = decisions
    self.clusterId = clusterId
    self.settings = settings
    self.logger = logger
    var image = MetadataImage()
    for record in try metadataLog.replay() { image.apply(record) }
    state = Mutex(image)
    // A controller that starts gives every registered broker a full session to be heard from,
    // as a newly active Kafka controller does — except the broker of its own node, which is
    // this process starting: its old incarnation is gone, so it may register again at once.
    let now = currentTimeMillis()
    heartbeats.withLock { tracker in
      for broker in image.brokers.values where !broker.fenced && broker.id != nodeId {
        tracker.touch(brokerId: broker.id, nowMs: now)
      }
    }
    logger.info(
      "metadata log replayed: \(image.topics.count) topics, \(image.brokers.count) brokers")
  }

  var image: MetadataImage { state.withLock { $0 } }

  /// The offset the next metadata record will get: every record below it is applied.
  var metadataEndOffset: Int64 { metadataLog.log.logEndOffset }

  /// The metadata log, for brokers that fetch it.
  var log: PartitionLog { metadataLog.log }

  /// Registers the listener that acts on every new image (once, at startup) and gives it the
  /// current image and the offset it reaches, under the lock so no change slips between.
  func setListener(_ listener: @escaping @Sendable (MetadataImage, Int64) -> Void) {
    state.withLock { image in
      onChange.withLock { $0 = listener }
      listener(image, metadataLog.log.logEndOffset)
    }
  }

  /// Decides on the current image and, when the decision is to act, persists and applies the
  /// records. The whole step runs under one lock so decisions never race.
  @discardableResult
  func perform(
    _ decide: (MetadataImage) -> Result<[MetadataRecord], ControllerError>
  ) -> Result<MetadataImage, ControllerError> {
    performAtOffset { image, _ in decide(image) }
  }

  /// `perform`, with the offset the first record will get (a broker's epoch is the offset of
  /// its registration record, as in Kafka).
  @discardableResult
  func performAtOffset(
    _ decide: (MetadataImage, Int64) -> Result<[MetadataRecord], ControllerError>
  ) -> Result<MetadataImage, ControllerError> {
    let outcome: Result<MetadataImage, ControllerError> = state.withLock { image in
      switch decide(image, metadataLog.log.logEndOffset) {
      case .failure(let error):
        return .failure(error)
      case .success(let records):
        if records.isEmpty { return .success(image) }
        do {
          try metadataLog.append(records)
        } catch {
          logger.error("metadata log append failed: \(error)")
          return .failure(ControllerError(.kafkaStorageError, "metadata log append failed"))
        }
        for record in records { image.apply(record) }
        // Inside the lock, so listeners see images in log order. They must not call back in.
        onChange.withLock { $0 }?(image, metadataLog.log.logEndOffset)
        metadataWaiters.notify(MetadataLog.topicPartition)
        return .success(image)
      }
    }
    return outcome
  }
}
