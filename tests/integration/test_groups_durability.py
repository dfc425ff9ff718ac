"""Committed offsets and groups survive a SIGTERM restart and a kill -9 of the broker."""

import pytest
from confluent_kafka import Consumer, TopicPartition

from group_helpers import ConfluentMember, group_broker, seed_offsets, wait_for_balanced, wait_until
from helpers import create_topic, produce_sync, unique

PARTITIONS = 6


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_consumers_resume_from_committed_offsets_after_broker_restart(broker_factory, how):
    broker = group_broker(broker_factory)
    topic, group = unique("gdur"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    produce_sync(broker.bootstrap, topic,
                 [(None, f"a{i}".encode(), None, i % PARTITIONS) for i in range(60)])
    first = ConfluentMember(broker.bootstrap, group, [topic])
    first.start()
    wait_until(lambda: len(first.snapshot()[1]) >= 60, what="first 60 consumed")
    first.stop()  # commits synchronously, then leaves
    if how == "sigterm":
        broker.restart()
    else:
        broker.kill9()
        broker.start()
    produce_sync(broker.bootstrap, topic,
                 [(None, f"b{i}".encode(), None, i % PARTITIONS) for i in range(60)])
    second = ConfluentMember(broker.bootstrap, group, [topic])
    second.start()
    try:
        wait_until(lambda: len(second.snapshot()[1]) >= 60, timeout=60, what="next 60 consumed")
        import time
        time.sleep(1)
        values = sorted(r[3] for r in second.snapshot()[1])
        assert values == sorted(f"b{i}".encode() for i in range(60))
    finally:
        second.stop()
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        committed = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        assert [tp.offset for tp in committed] == [20] * PARTITIONS
    finally:
        c.close()
