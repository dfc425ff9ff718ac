import KafkaProtocol
import NIOCore

/// One record of the metadata log, framed as KRaft frames it: frame version, record type and
/// record version as unsigned varints, then the record body in flexible encoding.
public enum MetadataRecord: Sendable, Hashable {
  case registerBroker(RegisterBrokerRecord)
  case topic(TopicRecord)
  case partition(PartitionRecord)
  case config(ConfigRecord)
  case partitionChange(PartitionChangeRecord)
  case removeTopic(RemoveTopicRecord)
  case producerIds(ProducerIdsRecord)
  case fenceBroker(FenceBrokerRecord)
  case unfenceBroker(UnfenceBrokerRecord)
  case brokerRegistrationChange(BrokerRegistrationChangeRecord)
  case unregisterBroker(UnregisterBrokerRecord)

  static let frameVersion: UInt32 = 1

  public func encode(to buffer: inout ByteBuffer) {
    func frame<M: KafkaMessage>(_ type: Int16, _ body: M) {
      let version = M.validVersions.upperBound
      buffer.writeUnsignedVarint(Self.frameVersion)
      buffer.writeUnsignedVarint(UInt32(type))
      buffer.writeUnsignedVarint(UInt32(version))
      body.encode(to: &buffer, version: version)
    }
    switch self {
    case .registerBroker(let r): frame(RegisterBrokerRecord.recordType, r)
    case .topic(let r): frame(TopicRecord.recordType, r)
    case .partition(let r): frame(PartitionRecord.recordType, r)
    case .config(let r): frame(ConfigRecord.recordType, r)
    case .partitionChange(let r): frame(PartitionChangeRecord.recordType, r)
    case .removeTopic(let r): frame(RemoveTopicRecord.recordType, r)
    case .producerIds(let r): frame(ProducerIdsRecord.recordType, r)
    case .fenceBroker(let r): frame(FenceBrokerRecord.recordType, r)
    case .unfenceBroker(let r): frame(UnfenceBrokerRecord.recordType, r)
    case .brokerRegistrationChange(let r): frame(BrokerRegistrationChangeRecord.recordType, r)
    case .unregisterBroker(let r): frame(UnregisterBrokerRecord.recordType, r)
    }
  }

  /// Decodes one framed record; nil for record types this node does not act on yet.
  public static func decode(from buffer: inout ByteBuffer) throws(DecodeError) -> MetadataRecord? {
    let frame = try buffer.readUnsignedVarint()
    guard frame == frameVersion else { throw .invalid("metadata frame version \(frame)") }
    let type = Int16(truncatingIfNeeded: try buffer.readUnsignedVarint())
    let version = Int16(truncatingIfNeeded: try buffer.readUnsignedVarint())
    func body<M: KafkaMessage>(_: M.Type) throws(DecodeError) -> M {
      guard M.validVersions.contains(version) else {
        throw .unsupportedVersion(apiKey: type, version: version)
      }
      return try M(from: &buffer, version: version)
    }
    switch type {
    case RegisterBrokerRecord.recordType:
      return .registerBroker(try body(RegisterBrokerRecord.self))
    case TopicRecord.recordType: return .topic(try body(TopicRecord.self))
    case PartitionRecord.recordType: return .partition(try body(PartitionRecord.self))
    case ConfigRecord.recordType: return .config(try body(ConfigRecord.self))
    case PartitionChangeRecord.recordType:
      return .partitionChange(try body(PartitionChangeRecord.self))
    case RemoveTopicRecord.recordType: return .removeTopic(try body(RemoveTopicRecord.self))
    case ProducerIdsRecord.recordType: return .producerIds(try body(ProducerIdsRecord.self))
    case FenceBrokerRecord.recordType: return .fenceBroker(try body(FenceBrokerRecord.self))
    case UnfenceBrokerRecord.recordType: return .unfenceBroker(try body(UnfenceBrokerRecord.self))
    case BrokerRegistrationChangeRecord.recordType:
      return .brokerRegistrationChange(try body(BrokerRegistrationChangeRecord.self))
    case UnregisterBrokerRecord.recordType:
      return .unregisterBroker(try body(UnregisterBrokerRecord.self))
    default: return nil
    }
  }
}
