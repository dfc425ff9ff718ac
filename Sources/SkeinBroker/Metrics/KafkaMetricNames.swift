/// The help text of each metric Skein exports, by its Prometheus name (the JMX exporter's
/// name for Kafka's MBean), saying what Kafka's MBean measures.
public enum KafkaMetricNames {
  public static func help(for name: String) -> String {
    texts[name] ?? "Skein metric \(name)."
  }

  static let texts: [String: String] = [
    "kafka_server_brokertopicmetrics_messagesin_total":
      "Records appended by producers (BrokerTopicMetrics MessagesInPerSec); topic=\"\" is all topics.",
    "kafka_server_brokertopicmetrics_bytesin_total":
      "Bytes appended by producers (BytesInPerSec); topic=\"\" is all topics.",
    "kafka_server_brokertopicmetrics_bytesout_total":
      "Record bytes sent to consumers (BytesOutPerSec); topic=\"\" is all topics.",
    "kafka_server_brokertopicmetrics_replicationbytesin_total":
      "Record bytes a follower appended from leaders (ReplicationBytesInPerSec).",
    "kafka_server_brokertopicmetrics_replicationbytesout_total":
      "Record bytes sent to followers (ReplicationBytesOutPerSec).",
    "kafka_server_brokertopicmetrics_totalproducerequests_total":
      "Produce requests per topic that appended (TotalProduceRequestsPerSec).",
    "kafka_server_brokertopicmetrics_totalfetchrequests_total":
      "Fetch answers that carried records of the topic (TotalFetchRequestsPerSec).",
    "kafka_server_replicamanager_isrshrinks_total":
      "ISR shrinks this broker committed as leader (IsrShrinksPerSec).",
    "kafka_server_replicamanager_isrexpands_total":
      "ISR expansions this broker committed as leader (IsrExpandsPerSec).",
    "kafka_server_replicamanager_partitioncount": "Replicas hosted on this broker.",
    "kafka_server_replicamanager_leadercount": "Partitions this broker leads.",
    "kafka_server_replicamanager_underreplicatedpartitions":
      "Partitions led here whose ISR is smaller than their replica set.",
    "kafka_server_replicamanager_underminisrpartitioncount":
      "Partitions led here whose ISR is below min.insync.replicas.",
    "kafka_server_replicafetchermanager_maxlag":
      "Largest lag, in records, of a partition this broker follows behind its leader's high watermark.",
    "kafka_server_delayedoperationpurgatory_purgatorysize":
      "Requests waiting: acks=all produces (Produce) and long-polling fetches (Fetch).",
    "kafka_controller_kafkacontroller_activecontrollercount":
      "1 on the active controller, 0 elsewhere.",
    "kafka_controller_kafkacontroller_offlinepartitionscount":
      "Partitions without a leader (on the active controller).",
    "kafka_controller_kafkacontroller_globalpartitioncount":
      "Partitions in the cluster (on the active controller).",
    "kafka_controller_kafkacontroller_globaltopiccount":
      "Topics in the cluster (on the active controller).",
    "kafka_controller_kafkacontroller_fencedbrokercount":
      "Registered brokers that are fenced (on the active controller).",
    "kafka_controller_kafkacontroller_activebrokercount":
      "Registered brokers that are not fenced (on the active controller).",
    "kafka_network_requestmetrics_requests_total": "Requests answered, by API and version.",
    "kafka_network_requestmetrics_errors_total":
      "Error codes in answers, by API and Kafka's error name (ErrorsPerSec): each top-level, topic and partition code once, NONE included.",
    "kafka_network_requestmetrics_totaltimems":
      "Time from a request's arrival to its answer, in milliseconds, by API.",
    "kafka_log_log_size": "Bytes in the partition's segment files on this broker.",
    "kafka_log_log_logendoffset": "The partition's log end offset on this broker.",
    "kafka_log_log_logstartoffset": "The partition's log start offset on this broker.",
    "kafka_log_log_numlogsegments": "Segment files of the partition on this broker.",
    "kafka_consumergroup_members": "Members of a group this broker coordinates (kafka-exporter).",
    "kafka_consumergroup_current_offset":
      "A group's committed offset of a partition, for groups this broker coordinates.",
    "kafka_consumergroup_lag":
      "Log end offset minus a group's committed offset, for groups this broker coordinates.",
    "kafka_cluster_partition_underreplicated":
      "1 when this broker leads the partition and its ISR is smaller than its replica set.",
  ]
}
