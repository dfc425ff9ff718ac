import KafkaProtocol
import SkeinCluster
import SkeinStorage

// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics and brokers.

/// Kafka's ConfigSource numbering, as DescribeConfigs reports it.
enum ConfigSource: Int8 {
  case dynamicTopic = 1
  case dynamicBroker = 2
  case dynamicDefaultBroker = 3
  case staticBroker = 4
  case defaultConfig = 5
}

/// One config as DescribeConfigs and CreateTopics report it.
struct DescribedConfig {
  var name: String
  var value: String?
  var readOnly: Bool
  var configSource: Int8
  var isDefault: Bool { configSource == ConfigSource.defaultConfig.rawValue }
  var configType: Int8
}

extension BrokerHandlers {
  /// Kafka's ConfigType numbering for a config name.
  static func configType(_ name: String) -> Int8 {
    switch name {
    case "cleanup.policy", "listeners", "advertised.listeners", "log.dirs": 7  // LIST
    case "unclean.leader.election.enable", "preallocate", "auto.create.topics.enable",
      "delete.topic.enable", "message.downconversion.enable", "remote.storage.enable":
      1  // BOOLEAN
    case "segment.bytes", "max.message.bytes", "min.insync.replicas", "index.interval.bytes",
      "segment.index.bytes", "num.partitions", "message.max.bytes", "node.id",
      "socket.request.max.bytes", "default.replication.factor", "log.segment.bytes",
      "log.index.interval.bytes", "log.index.size.max.bytes", "num.network.threads",
      "num.io.threads", "log.roll.hours", "log.retention.hours":
      3  // INT
    case "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio",
      "log.cleaner.io.max.bytes.per.second":
      6  // DOUBLE
    case "log.cleaner.enable": 1  // BOOLEAN
    case "log.cleaner.threads": 3  // INT
    case "log.cleaner.dedupe.buffer.size": 5  // LONG
    case _ where name.hasSuffix(".ms") || name.hasSuffix(".bytes") || name.hasSuffix(".messages"):
      5  // LONG
    default: 2  // STRING
    }
  }

  func describeTopicConfigs(
    _ topic: String, config: LogConfig, overrides: [String: String]
  ) -> [DescribedConfig] {
    let staticOverrides = self.config.topicDefaults
    let image = metadata.image
    let dynamicBroker = (image.configs[.init(.broker, String(nodeId))] ?? [:])
    let dynamicDefault = (image.configs[.init(.broker, "")] ?? [:])
    let names = Set(LogConfig.interpretedNames).union(LogConfig.uninterpretedDefaults.keys)
      .union(overrides.keys).sorted()
    return names.map { name in
      let source: ConfigSource
      if overrides[name] != nil {
        source = .dynamicTopic
      } else if dynamicBroker.keys.contains(where: {
        BrokerConfig.topicKey(forBrokerKey: $0) == name
      }) {
        source = .dynamicBroker
      } else if dynamicDefault.keys.contains(where: {
        BrokerConfig.topicKey(forBrokerKey: $0) == name
      }) {
        source = .dynamicDefaultBroker
      } else if staticOverrides[name] != nil {
        source = .staticBroker
      } else {
        source = .defaultConfig
      }
      return DescribedConfig(
        name: name, value: overrides[name] ?? config.value(forName: name), readOnly: false,
        configSource: source.rawValue, configType: Self.configType(name))
    }
  }

  func describeBrokerConfigs(_ resourceName: String) -> [DescribedConfig] {
    let image = metadata.image
    let dynamicBroker = image.configs[.init(.broker, resourceName)] ?? [:]
    let dynamicDefault = image.configs[.init(.broker, "")] ?? [:]
    let names = Set(BrokerConfig.defaults.keys).union(config.explicit.keys)
      .union(dynamicBroker.keys).union(dynamicDefault.keys).sorted()
    return names.map { name in
      let dynamicKey = BrokerConfig.topicKey(forBrokerKey: name) != nil
      if let value = dynamicBroker[name], !resourceName.isEmpty {
        return DescribedConfig(
          name: name, value: value, readOnly: false,
          configSource: ConfigSource.dynamicBroker.rawValue,
          configType: Self.configType(name))
      }
      if let value = dynamicDefault[name] {
        return DescribedConfig(
          name: name, value: value, readOnly: false,
          configSource: ConfigSource.dynamicDefaultBroker.rawValue,
          configType: Self.configType(name))
      }
      let source: ConfigSource = config.explicit[name] != nil ? .staticBroker : .defaultConfig
      return DescribedConfig(
        name: name, value: config.string(name), readOnly: !dynamicKey,
        configSource: source.rawValue, configType: Self.configType(name))
    }
  }

  func describeConfigs(_ request: DescribeConfigsRequest, _ context: RequestContext) -> Reply<
    DescribeConfigsResponse
  > {
    let image = metadata.image
    let results = request.resources.map {
      resource -> DescribeConfigsResponse.DescribeConfigsResult in
      var result = DescribeConfigsResponse.DescribeConfigsResult(
        errorCode: 0, errorMessage: nil, resourceType: resource.resourceType,
        resourceName: resource.resourceName)
      let described: [DescribedConfig]
      switch ConfigResourceType(rawValue: resource.resourceType) {
      case .topic:
        guard image.topics[resource.resourceName] != nil else {
          result.errorCode = ErrorCode.unknownTopicOrPartition.rawValue
          result.errorMessage = "Topic \(resource.resourceName) does not exist."
          return result
        }
        described = describeTopicConfigs(
          resource.resourceName,
          config: replicaManager.logConfig(for: resource.resourceName, image: image),
          overrides: image.topicConfigs(resource.resourceName))
      case .broker:
        guard resource.resourceName.isEmpty || resource.resourceName == String(nodeId) else {
          result.errorCode = ErrorCode.invalidRequest.rawValue
          result.errorMessage =
            "Unexpected broker id, expected \(nodeId) but received \(resource.resourceName)"
          return result
        }
        described = describeBrokerConfigs(resource.resourceName)
      default:
        result.errorCode = ErrorCode.invalidRequest.rawValue
        result.errorMessage = "Unsupported resource type \(resource.resourceType)"
        return result
      }
      let keys = resource.configurationKeys.flatMap { $0.isEmpty ? nil : Set($0) }
      result.configs = described.filter { keys?.contains($0.name) ?? true }.map { c in
        .init(
          name: c.name, value: c.value, readOnly: c.readOnly, isDefault: c.isDefault,
          configSource: c.configSource, isSensitive: false,
          synonyms: request.includeSynonyms
            ? [.init(name: c.name, value: c.value, source: c.configSource)] : [],
          configType: c.configType, documentation: nil)
      }
      return result
    }
    return .now(DescribeConfigsResponse(results: results))
  }

  /// Applies config changes to one resource; returns the error code and message.
  private func alter(
    type rawType: Int8, name: String, changes: [String: String?], validateOnly: Bool,
    replaceAll: Bool
  ) -> (Int16, String?) {
    guard let type = ConfigResourceType(rawValue: rawType), type == .topic || type == .broker
    else { return (ErrorCode.invalidRequest.rawValue, "Unsupported resource type \(rawType)") }
    if type == .broker {
      guard name.isEmpty || name == String(nodeId) else {
        return (ErrorCode.invalidRequest.rawValue, "Unexpected broker id \(name)")
      }
      for key in changes.keys where BrokerConfig.topicKey(forBrokerKey: key) == nil {
        return (
          ErrorCode.invalidConfig.rawValue,
          "Cannot update these configs dynamically: [\(key)]"
        )
      }
      var translated: [String: String?] = [:]
      for (key, value) in changes {
        if let topicKey = BrokerConfig.topicKey(forBrokerKey: key) { translated[topicKey] = value }
      }
      if let problem = replicaManager.validate(translated) {
        return (ErrorCode.invalidConfig.rawValue, problem)
      }
    }
    let decide = { (image: MetadataImage) -> Result<[MetadataRecord], ControllerError> in
      var all = changes
      if replaceAll {
        let current =
          type == .topic ? image.topicConfigs(name) : (image.configs[.init(type, name)] ?? [:])
        for key in current.keys where all[key] == nil { all[key] = .some(nil) }
      }
      return self.decisions.alterConfigs(
        type: type, name: name, changes: all, image: image)
    }
    let outcome =
      validateOnly
      ? decide(metadata.image).map { _ in metadata.image } : performOnController(decide)
    switch outcome {
    case .success:
      return (0, nil)
    case .failure(let error): return (error.code.rawValue, error.message)
    }
  }

  func alterConfigs(_ request: AlterConfigsRequest, _ context: RequestContext) -> Reply<
    AlterConfigsResponse
  > {
    .now(
      AlterConfigsResponse(
        responses: request.resources.map { resource in
          var changes: [String: String?] = [:]
          for c in resource.configs { changes[c.name] = .some(c.value) }
          let (code, message) = alter(
            type: resource.resourceType, name: resource.resourceName, changes: changes,
            validateOnly: request.validateOnly, replaceAll: true)
          return .init(
            errorCode: code, errorMessage: message, resourceType: resource.resourceType,
            resourceName: resource.resourceName)
        }))
  }

  func incrementalAlterConfigs(
    _ request: IncrementalAlterConfigsRequest, _ context: RequestContext
  ) -> Reply<IncrementalAlterConfigsResponse> {
    let image = metadata.image
    return .now(
      IncrementalAlterConfigsResponse(
        responses: request.resources.map { resource in
          var changes: [String: String?] = [:]
          var problem: String?
          let current =
            ConfigResourceType(rawValue: resource.resourceType) == .topic
            ? image.topicConfigs(resource.resourceName) : [:]
          for c in resource.configs {
            switch c.configOperation {
            case 0: changes[c.name] = .some(c.value)  // SET
            case 1: changes[c.name] = .some(nil)  // DELETE
            case 2, 3:  // APPEND, SUBTRACT on list configs
              guard Self.configType(c.name) == 7 else {
                problem = "Config \(c.name) is not a list; APPEND and SUBTRACT need a list config"
                break
              }
              var items = (current[c.name] ?? "").split(separator: ",").map(String.init)
              let given = (c.value ?? "").split(separator: ",").map(String.init)
              if c.configOperation == 2 {
                items += given.filter { !items.contains($0) }
              } else {
                items.removeAll { given.contains($0) }
              }
              changes[c.name] = .some(items.joined(separator: ","))
            default:
              problem = "Unknown config operation \(c.configOperation)"
            }
          }
          if let problem {
            return .init(
              errorCode: ErrorCode.invalidConfig.rawValue, errorMessage: problem,
              resourceType: resource.resourceType, resourceName: resource.resourceName)
          }
          let (code, message) = alter(
            type: resource.resourceType, name: resource.resourceName, changes: changes,
            validateOnly: request.validateOnly, replaceAll: false)
          return .init(
            errorCode: code, errorMessage: message, resourceType: resource.resourceType,
            resourceName: resource.resourceName)
        }))
  }

  func describeLogDirs(_ request: DescribeLogDirsRequest, _ context: RequestContext) -> Reply<
    DescribeLogDirsResponse
  > {
    let logs = replicaManager.logManager.describeLogs()
      .filter { $0.topicPartition != MetadataLog.topicPartition }
    var wanted: Set<TopicPartition>?
    if let topics = request.topics {
      wanted = Set(topics.flatMap { t in t.partitions.map { TopicPartition(t.topic, $0) } })
    }
    var byTopic: [String: [DescribeLogDirsResponse.DescribeLogDirsPartition]] = [:]
    for log in logs where wanted?.contains(log.topicPartition) ?? true {
      let lag =
        replicaManager.partition(log.topicPartition).map {
          max(0, log.logEndOffset - $0.highWatermark)
        } ?? 0
      byTopic[log.topicPartition.topic, default: []].append(
        .init(partitionIndex: log.topicPartition.partition, partitionSize: log.size, offsetLag: lag)
      )
    }
    let dir = replicaManager.logManager.dataDir
    var total: Int64 = -1
    var usable: Int64 = -1
    if let attributes = try? LogDirSpace.measure(dir) {
      (total, usable) = attributes
    }
    return .now(
      DescribeLogDirsResponse(
        errorCode: 0,
        results: [
          .init(
            errorCode: 0, logDir: dir,
            topics: byTopic.keys.sorted().map { name in
              .init(
                name: name,
                partitions: (byTopic[name] ?? []).sorted { $0.partitionIndex < $1.partitionIndex })
            }, totalBytes: total, usableBytes: usable)
        ]))
  }
}
