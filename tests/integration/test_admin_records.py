"""DeleteRecords moves the log start offset; CreatePartitions grows a topic."""

import time

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import NewPartitions, OffsetSpec
from kafka import KafkaConsumer
from kafka import TopicPartition as KTP
from kafka.admin import KafkaAdminClient, NewPartitions as KNewPartitions

from helpers import admin, consume_range, create_topic, produce_sync, unique


def fill(bootstrap, topic, partition, n):
    return produce_sync(bootstrap, topic,
                        [(None, f"r{i}".encode(), None, partition) for i in range(n)])


def test_delete_records_confluent(broker):
    topic = unique("delrec")
    create_topic(broker.bootstrap, topic, partitions=2)
    fill(broker.bootstrap, topic, 0, 50)
    fill(broker.bootstrap, topic, 1, 20)
    a = admin(broker.bootstrap)
    tp0, tp1 = TopicPartition(topic, 0, 30), TopicPartition(topic, 1, -1)  # -1: up to the end
    res = a.delete_records([tp0, tp1], request_timeout=10)
    lows = {tp.partition: f.result(timeout=10).low_watermark for tp, f in res.items()}
    assert lows == {0: 30, 1: 20}

    def earliest(p):
        tp = TopicPartition(topic, p)
        return a.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=10).offset

    assert (earliest(0), earliest(1)) == (30, 20)
    # Consuming from the beginning starts at the new log start offset.
    [first] = consume_range(broker.bootstrap, topic, 0, -2, 1)  # OFFSET_BEGINNING
    assert (first.offset(), first.value()) == (30, b"r30")
    # Past the high watermark: OFFSET_OUT_OF_RANGE.
    with pytest.raises(KafkaException) as e:
        tp = TopicPartition(topic, 0, 51)
        a.delete_records([tp])[tp].result(timeout=10)
    assert e.value.args[0].name() == "OFFSET_OUT_OF_RANGE", e.value
    # It survives a restart.
    broker.restart()
    a = admin(broker.bootstrap)
    assert (earliest(0), earliest(1)) == (30, 20)


def test_delete_records_kafka_python(broker):
    topic = unique("delrec-kp")
    create_topic(broker.bootstrap, topic)
    fill(broker.bootstrap, topic, 0, 10)
    ka = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        result = ka.delete_records({KTP(topic, 0): 7})
    finally:
        ka.close()
    low = {tp: v for tp, v in result.items()}
    assert list(low.values())[0]["low_watermark"] == 7, result
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    try:
        assert c.beginning_offsets([KTP(topic, 0)]) == {KTP(topic, 0): 7}
    finally:
        c.close()


def test_create_partitions_grows_a_topic(broker):
    topic = unique("grow")
    create_topic(broker.bootstrap, topic, partitions=2)
    a = admin(broker.bootstrap)
    a.create_partitions([NewPartitions(topic, 5)])[topic].result(timeout=10)
    deadline = time.monotonic() + 10
    while len(a.list_topics(topic, timeout=10).topics[topic].partitions) != 5:
        assert time.monotonic() < deadline, "metadata never showed 5 partitions"
        time.sleep(0.1)
    for p in a.list_topics(topic, timeout=10).topics[topic].partitions.values():
        assert p.leader == 0 and p.error is None
    # The new partitions take records.
    delivered = produce_sync(broker.bootstrap, topic,
                             [(None, f"p{p}".encode(), None, p) for p in range(5)])
    assert delivered == [(p, 0) for p in range(5)]
    [m] = consume_range(broker.bootstrap, topic, 4, 0, 1)
    assert m.value() == b"p4"
    # Shrinking is refused (INVALID_PARTITIONS), as in Kafka.
    with pytest.raises(KafkaException) as e:
        a.create_partitions([NewPartitions(topic, 3)])[topic].result(timeout=10)
    assert e.value.args[0].name() == "INVALID_PARTITIONS", e.value

    # kafka-python too.
    ka = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        ka.create_partitions({topic: KNewPartitions(total_count=6)})
    finally:
        ka.close()
    deadline = time.monotonic() + 10
    while len(a.list_topics(topic, timeout=10).topics[topic].partitions) != 6:
        assert time.monotonic() < deadline, "metadata never showed 6 partitions"
        time.sleep(0.1)
