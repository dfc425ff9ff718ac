"""confluent-kafka AdminClient: create topics with configs, describe configs, list, delete."""

import time

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, ConfigSource, NewTopic

from helpers import admin, unique

# Kafka's defaults for the topic configs every Kafka broker reports.
KAFKA_TOPIC_DEFAULTS = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "file.delete.delay.ms": "60000",
    "flush.messages": "9223372036854775807",
    "flush.ms": "9223372036854775807",
    "follower.replication.throttled.replicas": "",
    "index.interval.bytes": "4096",
    "leader.replication.throttled.replicas": "",
    "max.compaction.lag.ms": "9223372036854775807",
    "max.message.bytes": "1048588",
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "min.insync.replicas": "1",
    "preallocate": "false",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "segment.ms": "604800000",
    "unclean.leader.election.enable": "false",
}
# Reported by current Kafka too, with version-dependent defaults: only their presence is checked.
KAFKA_TOPIC_NAMES_ONLY = {
    "message.timestamp.after.max.ms", "message.timestamp.before.max.ms",
    "local.retention.bytes", "local.retention.ms", "remote.storage.enable",
}
# The subset Skein interprets today (see LogConfig.interpretedNames).
SKEIN_INTERPRETED = [
    "cleanup.policy", "compression.type", "file.delete.delay.ms", "flush.messages", "flush.ms",
    "index.interval.bytes", "max.message.bytes", "message.timestamp.type", "min.insync.replicas",
    "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes",
    "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
]

OVERRIDES = {"retention.ms": "3600000", "cleanup.policy": "delete", "max.message.bytes": "2000000",
             "segment.bytes": "10485760"}


def describe_topic(a, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res], request_timeout=15)[res].result(timeout=15)


def create(a, topic, partitions=3, config=OVERRIDES):
    futures = a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                        config=config)], operation_timeout=15)
    futures[topic].result(timeout=15)


def test_create_describe_list_delete(broker):
    a = admin(broker.bootstrap)
    topic = unique("admin")
    create(a, topic)

    md = a.list_topics(timeout=10)
    assert topic in md.topics
    t = md.topics[topic]
    assert t.error is None
    assert sorted(t.partitions) == [0, 1, 2]
    for p in t.partitions.values():
        assert p.leader == 0 and p.replicas == [0] and p.isrs == [0]
    assert list(md.brokers) == [0]
    assert md.brokers[0].host == "127.0.0.1" and md.brokers[0].port == broker.port

    configs = describe_topic(a, topic)
    for name, value in OVERRIDES.items():
        entry = configs[name]
        assert entry.value == value, name
        assert entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, (name, entry.source)
        assert not entry.is_default, name
    for name in SKEIN_INTERPRETED:
        if name in OVERRIDES:
            continue
        assert name in configs, f"{name} missing from DescribeConfigs"
        entry = configs[name]
        assert entry.value == KAFKA_TOPIC_DEFAULTS[name], (name, entry.value)
        assert entry.is_default, name
        assert entry.source == ConfigSource.DEFAULT_CONFIG.value, (name, entry.source)
        assert not entry.is_read_only and not entry.is_sensitive

    # Creating it again: TOPIC_ALREADY_EXISTS.
    with pytest.raises(KafkaException) as e:
        create(a, topic)
    assert e.value.args[0].name() == "TOPIC_ALREADY_EXISTS"

    # Invalid config value: refused, topic not created.
    bad = unique("admin-bad")
    with pytest.raises(KafkaException) as e:
        create(a, bad, config={"retention.ms": "not-a-number"})
    assert e.value.args[0].name() in ("INVALID_CONFIG", "INVALID_REQUEST"), e.value
    assert bad not in a.list_topics(timeout=10).topics

    a.delete_topics([topic], operation_timeout=15)[topic].result(timeout=15)
    deadline = time.monotonic() + 10
    while topic in a.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic not in a.list_topics(timeout=10).topics
    with pytest.raises(KafkaException) as e:
        describe_topic(a, topic)
    assert e.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART", e.value

    # Deleting an unknown topic: UNKNOWN_TOPIC_OR_PART.
    with pytest.raises(KafkaException) as e:
        a.delete_topics([topic], operation_timeout=15)[topic].result(timeout=15)
    assert e.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART", e.value


def test_describe_configs_reports_every_kafka_topic_config(broker):
    """Kafka reports every topic config with its default and source; tools list them all."""
    a = admin(broker.bootstrap)
    topic = unique("admin-all")
    create(a, topic, partitions=1, config={})
    configs = describe_topic(a, topic)
    missing = sorted((set(KAFKA_TOPIC_DEFAULTS) | KAFKA_TOPIC_NAMES_ONLY) - set(configs))
    wrong = {n: (configs[n].value, v) for n, v in KAFKA_TOPIC_DEFAULTS.items()
             if n in configs and configs[n].value != v}
    assert not missing and not wrong, f"missing: {missing}; wrong (got, kafka): {wrong}"
    for name, entry in configs.items():
        assert entry.is_default and entry.source == ConfigSource.DEFAULT_CONFIG.value, name


def test_describe_broker_configs(broker):
    a = admin(broker.bootstrap)
    res = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = a.describe_configs([res], request_timeout=15)[res].result(timeout=15)
    assert configs["num.partitions"].value == "1"
    assert configs["auto.create.topics.enable"].value == "true"
    assert configs["log.retention.hours"].value == "168"
    assert configs["message.max.bytes"].value == "1048588"
