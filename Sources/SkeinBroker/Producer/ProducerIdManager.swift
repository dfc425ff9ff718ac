import KafkaProtocol
import SkeinCluster
import Synchronization

/// Hands out producer ids for InitProducerId from blocks the controller allocates
/// (`ProducerIdsRecord` in the metadata log), fetching the next block when one runs out. An id
/// is never handed out twice, also across restarts: a restart starts a new block.
final class ProducerIdManager: Sendable {
  private let nodeId: Int32
  private let controller: ControllerRuntime
  /// The ids left in the current block: `next..<end`.
  private let block = Mutex<(next: Int64, end: Int64)>((0, 0))

  init(nodeId: Int32, controller: ControllerRuntime) {
    self.nodeId = nodeId
    self.controller = controller
  }

  func generateProducerId() -> Result<Int64, ControllerError> {
    block.withLock { block in
      if block.next >= block.end {
        var start: Int64 = 0
        let outcome = controller.perform { image in
          start = image.nextProducerId
          return controller.decisions.allocateProducerIds(
            brokerId: nodeId, brokerEpoch: 1, image: image)
        }
        if case .failure(let error) = outcome { return .failure(error) }
        block = (start, start + ControllerDecisions.producerIdBlockSize)
      }
      defer { block.next += 1 }
      return .success(block.next)
    }
  }
}
