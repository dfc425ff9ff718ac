"""Consumer groups with confluent-kafka (librdkafka) and kcat: subscribe() with default
settings, assignors, rebalances on leave/join, eviction of a killed member, static membership."""

import shutil
import subprocess
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from group_helpers import (ConfluentMember, MemberProcess, group_broker,
                           seed_offsets, wait_for_balanced, wait_until)
from helpers import create_topic, produce_sync, unique

PARTITIONS = 6


def produce(bootstrap, topic, n, start=0):
    produce_sync(bootstrap, topic, [(None, f"r{i}".encode(), None, i % PARTITIONS)
                                    for i in range(start, start + n)])


def consumed(members):
    return [r for m in members for r in m.snapshot()[1]]


@pytest.mark.parametrize("strategy", [None, "roundrobin", "cooperative-sticky"])
def test_members_split_partitions_and_consume_each_record_once(broker_factory, strategy):
    broker = group_broker(broker_factory)
    topic, group = unique("gsplit"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    conf = {} if strategy is None else {"partition.assignment.strategy": strategy}
    members = [ConfluentMember(broker.bootstrap, group, [topic], **conf) for _ in range(3)]
    for m in members:
        m.start()
    try:
        sets = wait_for_balanced(members, topic, PARTITIONS, even=True)
        assert sorted(len(s) for s in sets) == [2, 2, 2], sets
        produce(broker.bootstrap, topic, 120)
        wait_until(lambda: len(consumed(members)) >= 120, what="120 records consumed")
        time.sleep(0.5)
        records = consumed(members)
        assert sorted(r[3] for r in records) == sorted(f"r{i}".encode() for i in range(120))
        # Each member read only its own partitions.
        for m, owned in zip(members, sets):
            assert {(t, p) for t, p, _, _ in m.snapshot()[1]} <= owned
    finally:
        for m in members:
            m.stop()


@pytest.mark.parametrize("strategy", [None, "cooperative-sticky"])
def test_member_joining_and_leaving_rebalances(broker_factory, strategy):
    broker = group_broker(broker_factory)
    topic, group = unique("gjoin"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    conf = {} if strategy is None else {"partition.assignment.strategy": strategy}
    a = ConfluentMember(broker.bootstrap, group, [topic], **conf)
    a.start()
    b = None
    try:
        wait_for_balanced([a], topic, PARTITIONS, what="a owns all")
        produce(broker.bootstrap, topic, 30)
        wait_until(lambda: len(consumed([a])) >= 30, what="a consumed 30")
        b = ConfluentMember(broker.bootstrap, group, [topic], **conf)
        b.start()
        wait_for_balanced([a, b], topic, PARTITIONS, what="a and b share")
        produce(broker.bootstrap, topic, 30, start=30)
        wait_until(lambda: len(consumed([a, b])) >= 60, what="60 consumed")
        b.stop()  # close() leaves the group
        wait_for_balanced([a], topic, PARTITIONS, what="a owns all again")
        produce(broker.bootstrap, topic, 30, start=60)
        wait_until(lambda: len(consumed([a, b])) >= 90, what="90 consumed")
        time.sleep(0.5)
        values = sorted(r[3] for r in consumed([a, b]))
        assert values == sorted(f"r{i}".encode() for i in range(90))
    finally:
        a.stop()
        if b is not None and b.is_alive():
            b.stop()


def test_killed_member_is_evicted_after_its_session_timeout(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("gkill"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    session = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
    victim = MemberProcess("confluent", broker.bootstrap, group, topic, **session)
    survivor = ConfluentMember(broker.bootstrap, group, [topic], **session)
    survivor.start()
    try:
        wait_for_balanced([victim, survivor], topic, PARTITIONS, what="two members")
        victim.kill9()
        killed = time.monotonic()
        wait_for_balanced([survivor], topic, PARTITIONS, timeout=30, what="survivor owns all")
        waited = time.monotonic() - killed
        # Evicted by the session timeout (6 s), not before, and not much later.
        assert 4.5 <= waited <= 20, waited
    finally:
        victim.terminate()
        survivor.stop()


def test_static_member_rejoins_without_rebalance(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("gstatic"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    a = ConfluentMember(broker.bootstrap, group, [topic], **{"group.instance.id": "a"})
    b = ConfluentMember(broker.bootstrap, group, [topic], **{"group.instance.id": "b"})
    a.start()
    b.start()
    b2 = None
    try:
        sets = wait_for_balanced([a, b], topic, PARTITIONS, what="two static members")
        time.sleep(1)
        a_calls = (a.assign_calls, a.revoke_calls)
        b.stop()  # a static member's close() does not leave the group
        b2 = ConfluentMember(broker.bootstrap, group, [topic], **{"group.instance.id": "b"})
        b2.start()
        wait_until(lambda: b2.snapshot()[0], what="b's successor assigned")
        assert b2.snapshot()[0] == sets[1]
        time.sleep(2)
        # a saw no rebalance: no new assign or revoke callbacks, same partitions.
        assert (a.assign_calls, a.revoke_calls) == a_calls
        assert a.snapshot()[0] == sets[0]
    finally:
        a.stop()
        if b2 is not None:
            b2.stop()


def test_commit_metadata_round_trips(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("gmeta"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=2)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5, "hello, metadata"),
                          TopicPartition(topic, 1, 7, "")], asynchronous=False)
        got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert [(tp.partition, tp.offset, tp.metadata) for tp in got] == [
            (0, 5, "hello, metadata"), (1, 7, None)] or [
            (tp.partition, tp.offset, tp.metadata) for tp in got] == [
            (0, 5, "hello, metadata"), (1, 7, "")]
    finally:
        c.close()


KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def test_kcat_balanced_consumer(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("gkcat"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    produce(broker.bootstrap, topic, 30)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    r = subprocess.run([KCAT, "-b", broker.bootstrap, "-G", group, topic, "-c", "30", "-q",
                        "-f", "%p:%o:%s\n"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    lines = r.stdout.decode().split()
    assert sorted(l.split(":")[2] for l in lines) == sorted(f"r{i}" for i in range(30))
    assert {int(l.split(":")[0]) for l in lines} == set(range(PARTITIONS))


def test_new_group_waits_for_the_initial_rebalance_delay(broker):
    # Default group.initial.rebalance.delay.ms (3 s): the first join of a new group is held
    # that long for more members to come.
    topic, group = unique("gdelay"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=2)
    member = ConfluentMember(broker.bootstrap, group, [topic])
    started = time.monotonic()
    member.start()
    try:
        wait_for_balanced([member], topic, 2, what="assignment")
        waited = time.monotonic() - started
        assert 3.0 <= waited <= 10, waited
    finally:
        member.stop()
