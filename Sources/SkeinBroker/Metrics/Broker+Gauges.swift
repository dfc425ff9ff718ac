import KafkaProtocol
import SkeinCluster

extension Broker {
  /// The values of Kafka's gauges on this node now, named as the Prometheus JMX exporter
  /// names their MBeans: ReplicaManager's partition, leader and under-replicated counts,
  /// the fetchers' MaxLag, purgatory sizes, the controller's counts and each log's size and
  /// offsets.
  public func gaugeSamples() -> [ScrapeGauges.Sample] {
    typealias Sample = ScrapeGauges.Sample
    let image = metadata.image
    var samples: [Sample] = []
    var leaders = 0
    var underReplicated = 0
    var underMinIsr = 0
    var maxLag: Int64 = 0
    let hosted = replicaManager.hostedPartitions
    for partition in hosted {
      let tp = partition.topicPartition
      var isUnderReplicated = false
      if partition.isLeader {
        leaders += 1
        let isr = partition.isr
        isUnderReplicated = isr.count < partition.replicas.count
        if isUnderReplicated { underReplicated += 1 }
        if isr.count < partition.effectiveMinIsr { underMinIsr += 1 }
      } else {
        maxLag = max(maxLag, partition.fetcherLag)
      }
      let labels = [("topic", tp.topic), ("partition", String(tp.partition))]
      let log = partition.log
      samples.append(Sample("kafka_log_log_size", labels, Double(log.size)))
      samples.append(Sample("kafka_log_log_logendoffset", labels, Double(log.logEndOffset)))
      samples.append(Sample("kafka_log_log_logstartoffset", labels, Double(log.logStartOffset)))
      samples.append(Sample("kafka_log_log_numlogsegments", labels, Double(log.segmentCount)))
      samples.append(
        Sample("kafka_cluster_partition_underreplicated", labels, isUnderReplicated ? 1 : 0))
    }
    let replicaManagerPrefix = "kafka_server_replicamanager_"
    samples += [
      Sample(replicaManagerPrefix + "partitioncount", [], Double(hosted.count)),
      Sample(replicaManagerPrefix + "leadercount", [], Double(leaders)),
      Sample(replicaManagerPrefix + "underreplicatedpartitions", [], Double(underReplicated)),
      Sample(replicaManagerPrefix + "underminisrpartitioncount", [], Double(underMinIsr)),
      Sample(
        "kafka_server_replicafetchermanager_maxlag", [("clientid", "Replica")], Double(maxLag)),
      Sample(
        "kafka_server_delayedoperationpurgatory_purgatorysize", [("delayedoperation", "Fetch")],
        Double(replicaManager.fetchWaiters.count)),
      Sample(
        "kafka_server_delayedoperationpurgatory_purgatorysize",
        [("delayedoperation", "Produce")], Double(replicaManager.produceWaiters.count)),
    ]
    let controllerPrefix = "kafka_controller_kafkacontroller_"
    let isActive = controller != nil
    var offline = 0
    var partitionCount = 0
    for topic in image.topics.values {
      partitionCount += topic.partitions.count
      offline += topic.partitions.filter { $0.leader == PartitionInfo.noLeader }.count
    }
    let fenced = image.brokers.values.filter(\.fenced).count
    samples += [
      Sample(controllerPrefix + "activecontrollercount", [], isActive ? 1 : 0),
      Sample(controllerPrefix + "offlinepartitionscount", [], isActive ? Double(offline) : 0),
      Sample(
        controllerPrefix + "globalpartitioncount", [], isActive ? Double(partitionCount) : 0),
      Sample(controllerPrefix + "globaltopiccount", [], isActive ? Double(image.topics.count) : 0),
      Sample(controllerPrefix + "fencedbrokercount", [], isActive ? Double(fenced) : 0),
      Sample(
        controllerPrefix + "activebrokercount", [],
        isActive ? Double(image.brokers.count - fenced) : 0),
    ]
    return samples
  }
}
