import KafkaProtocol
import SkeinCluster
import Synchronization

/// Hands out producer ids for InitProducerId from blocks the controller allocates
/// (AllocateProducerIds; `ProducerIdsRecord` in the metadata log), fetching the next block
/// when one runs out. An id is never handed out twice, also across restarts and brokers.
final class ProducerIdManager: Sendable {
  private let nodeId: Int32
  private let channel: any ControllerChannel
  private let brokerEpoch: @Sendable () -> Int64
  /// The ids left in the current block: `next..<end`.
  private let block = Mutex<(next: Int64, end: Int64)>((0, 0))

  init(
    nodeId: Int32, channel: any ControllerChannel, brokerEpoch: @escaping @Sendable () -> Int64
  ) {
    self.nodeId = nodeId
    self.channel = channel
    self.brokerEpoch = brokerEpoch
  }

  func generateProducerId() async -> Result<Int64, ControllerError> {
    for _ in 0..<3 {
      let taken: Int64? = block.withLock { b in
        guard b.next < b.end else { return nil }
        defer { b.next += 1 }
        return b.next
      }
      if let taken { return .success(taken) }
      do {
        let response = try await channel.send(
          AllocateProducerIdsRequest(brokerId: nodeId, brokerEpoch: brokerEpoch()))
        guard response.errorCode == 0, response.producerIdLen > 0 else {
          let code = ErrorCode(rawValue: response.errorCode)
          return .failure(ControllerError(code, "The controller refused producer ids"))
        }
        block.withLock { b in
          if b.next >= b.end {
            b = (response.producerIdStart, response.producerIdStart + Int64(response.producerIdLen))
          }
        }
      } catch {
        return .failure(ControllerError(.coordinatorLoadInProgress, "\(error)"))
      }
    }
    return .failure(ControllerError(.coordinatorLoadInProgress, "Producer ids are being allocated"))
  }
}
