import KafkaProtocol

/// A broker's address as `host:port`, parsed from a bootstrap list or a Metadata response.
public struct BrokerAddress: Sendable, Hashable, CustomStringConvertible {
  public var host: String
  public var port: Int

  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port`, `[v6-host]:port`, or a bare `host` (port 9092).
  public init(parsing text: String) throws(KafkaClientError) {
    let trimmed = text.trimmingWhitespace()
    guard !trimmed.isEmpty else { throw .invalidArgument("empty broker address") }
    var host = trimmed
    var portText: Substring?
    if trimmed.hasPrefix("[") {
      guard let close = trimmed.firstIndex(of: "]") else {
        throw .invalidArgument("invalid broker address '\(text)'")
      }
      host = trimmed[trimmed.index(after: trimmed.startIndex)..<close]
      let rest = trimmed[trimmed.index(after: close)...]
      if rest.hasPrefix(":") {
        portText = rest.dropFirst()
      } else if !rest.isEmpty {
        throw .invalidArgument("invalid broker address '\(text)'")
      }
    } else if let colon = trimmed.lastIndex(of: ":") {
      host = trimmed[..<colon]
      portText = trimmed[trimmed.index(after: colon)...]
    }
    var port = 9092
    if let portText {
      guard let parsed = Int(portText), (1...65535).contains(parsed) else {
        throw .invalidArgument("invalid port in broker address '\(text)'")
      }
      port = parsed
    }
    guard !host.isEmpty else { throw .invalidArgument("missing host in '\(text)'") }
    self.init(host: String(host), port: port)
  }

  /// Parses a comma-separated bootstrap list such as `a:9092,b:9092`.
  public static func parseList(_ text: String) throws(KafkaClientError) -> [BrokerAddress] {
    var result: [BrokerAddress] = []
    for part in text.split(separator: ",") where !part.trimmingWhitespace().isEmpty {
      result.append(try BrokerAddress(parsing: String(part)))
    }
    guard !result.isEmpty else { throw .invalidArgument("no bootstrap servers given") }
    return result
  }

  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension StringProtocol {
  func trimmingWhitespace() -> Substring {
    let view = self[...]
    guard let first = view.firstIndex(where: { !$0.isWhitespace }),
      let last = view.lastIndex(where: { !$0.isWhitespace })
    else { return Substring() }
    return Substring(view[first...last])
  }
}

/// A broker as Metadata describes it.
public struct BrokerInfo: Sendable, Hashable {
  public var nodeId: Int32
  public var address: BrokerAddress
  public var rack: String?

  public init(nodeId: Int32, address: BrokerAddress, rack: String? = nil) {
    self.nodeId = nodeId
    self.address = address
    self.rack = rack
  }
}

/// One partition's leadership and replicas, as Metadata describes them.
public struct PartitionMetadata: Sendable, Hashable {
  public var partition: Int32
  /// The leader's node id, or -1 when the partition has none.
  public var leader: Int32
  public var leaderEpoch: Int32
  public var replicas: [Int32]
  public var isr: [Int32]
  public var offlineReplicas: [Int32]
  /// LEADER_NOT_AVAILABLE and the like; NONE when the partition is healthy.
  public var error: ErrorCode

  public init(
    partition: Int32, leader: Int32, leaderEpoch: Int32 = -1, replicas: [Int32] = [],
    isr: [Int32] = [], offlineReplicas: [Int32] = [], error: ErrorCode = .none
  ) {
    self.partition = partition
    self.leader = leader
    self.leaderEpoch = leaderEpoch
    self.replicas = replicas
    self.isr = isr
    self.offlineReplicas = offlineReplicas
    self.error = error
  }
}

/// A topic's id and partitions, as Metadata describes them (partitions sorted by index).
public struct TopicMetadata: Sendable, Hashable {
  public var name: String
  public var topicId: KafkaUuid
  public var isInternal: Bool
  public var partitions: [PartitionMetadata]

  public init(
    name: String, topicId: KafkaUuid = .zero, isInternal: Bool = false,
    partitions: [PartitionMetadata]
  ) {
    self.name = name
    self.topicId = topicId
    self.isInternal = isInternal
    self.partitions = partitions.sorted { $0.partition < $1.partition }
  }

  public var partitionCount: Int32 { Int32(partitions.count) }

  public func partition(_ index: Int32) -> PartitionMetadata? {
    if index >= 0, Int(index) < partitions.count, partitions[Int(index)].partition == index {
      return partitions[Int(index)]
    }
    return partitions.first { $0.partition == index }
  }

  /// Partitions that currently have a leader.
  public var availablePartitions: [Int32] {
    partitions.filter { $0.leader >= 0 }.map(\.partition)
  }
}

/// The client's view of the cluster: brokers, controller and the topics it has asked about.
public struct ClusterMetadata: Sendable, Hashable {
  public var clusterId: String?
  /// The controller's node id (in KRaft, a broker that forwards to it), or -1.
  public var controllerId: Int32 = -1
  public var brokers: [Int32: BrokerInfo] = [:]
  public var topics: [String: TopicMetadata] = [:]

  public init() {}

  /// The topic whose id is `id`, if known.
  public func topic(id: KafkaUuid) -> TopicMetadata? {
    guard id != .zero else { return nil }
    return topics.values.first { $0.topicId == id }
  }
}
