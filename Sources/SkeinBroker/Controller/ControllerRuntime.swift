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
  private let logger: Logger
  private let onChange: Mutex<(@Sendable (MetadataImage) -> Void)?> = Mutex(nil)

  init(metadataLog: MetadataLog, decisions: ControllerDecisions, logger: Logger) throws {
    self.metadataLog = metadataLog
    self.decisions = decisions
    self.logger = logger
    var image = MetadataImage()
    for record in try metadataLog.replay() { image.apply(record) }
    state = Mutex(image)
    logger.info(
      "metadata log replayed: \(image.topics.count) topics, \(image.brokers.count) brokers")
  }

  var image: MetadataImage { state.withLock { $0 } }

  /// Registers the listener that acts on every new image (once, at startup) and gives it the
  /// current image, under the lock so no change slips between the two.
  func setListener(_ listener: @escaping @Sendable (MetadataImage) -> Void) {
    state.withLock { image in
      onChange.withLock { $0 = listener }
      listener(image)
    }
  }

  /// Decides on the current image and, when the decision is to act, persists and applies the
  /// records. The whole step runs under one lock so decisions never race.
  @discardableResult
  func perform(
    _ decide: (MetadataImage) -> Result<[MetadataRecord], ControllerError>
  ) -> Result<MetadataImage, ControllerError> {
    let outcome: Result<MetadataImage, ControllerError> = state.withLock { image in
      switch decide(image) {
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
        onChange.withLock { $0 }?(image)
        return .success(image)
      }
    }
    return outcome
  }
}
