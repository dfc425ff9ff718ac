"""Consumer groups of the KIP-848 protocol (ConsumerGroupHeartbeat) with confluent-kafka
consumers that set only group.protocol=consumer: the broker's assignor spreads partitions,
members reconcile (revocation first), leaving rebalances, restarts resume from commits, and the
admin API sees the group as a consumer group."""

import time

from confluent_kafka import ConsumerGroupType
from confluent_kafka.admin import AdminClient

from group_helpers import (ConfluentMember, MemberProcess, partitions_of, seed_offsets,
                           wait_for_balanced, wait_until)
from helpers import create_topic, produce_sync, unique

PARTITIONS = 6
# Short heartbeats keep reconciliation fast; the client's settings stay at their defaults.
FAST = {"group.consumer.heartbeat.interval.ms": "500",
        "group.consumer.session.timeout.ms": "10000"}


def consumer_broker(broker_factory):
    return broker_factory(settings=FAST)


def member(bootstrap, group, topic):
    return ConfluentMember(bootstrap, group, [topic], **{"group.protocol": "consumer"})


def produce(bootstrap, topic, start, n):
    produce_sync(bootstrap, topic, [(None, f"r{i}".encode(), None, i % PARTITIONS)
                                    for i in range(start, start + n)])


def consumed(members):
    return [r for m in members for r in m.snapshot()[1]]


def values(records):
    return sorted(r[3] for r in records)


def expected(start, n):
    return sorted(f"r{i}".encode() for i in range(start, start + n))


def test_one_member_owns_every_partition(broker_factory):
    broker = consumer_broker(broker_factory)
    topic, group = unique("kip848one"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    # Members start at the committed offsets (auto.offset.reset stays latest): commit 0 first.
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    produce(broker.bootstrap, topic, 0, 60)
    m = member(broker.bootstrap, group, topic)
    m.start()
    try:
        wait_until(lambda: m.snapshot()[0] == partitions_of(topic, PARTITIONS), timeout=30,
                   what="all partitions assigned")
        wait_until(lambda: len(m.snapshot()[1]) >= 60, what="60 records consumed")
        time.sleep(0.5)
        assert values(m.snapshot()[1]) == expected(0, 60)
    finally:
        m.stop()


def test_members_split_rebalance_on_leave_and_resume_from_commits(broker_factory):
    broker = consumer_broker(broker_factory)
    topic, group = unique("kip848"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    members = [member(broker.bootstrap, group, topic) for _ in range(3)]
    for m in members:
        m.start()
    try:
        sets = wait_for_balanced(members, topic, PARTITIONS, timeout=60, even=True)
        assert sorted(len(s) for s in sets) == [2, 2, 2], sets
        produce(broker.bootstrap, topic, 0, 120)
        wait_until(lambda: len(consumed(members)) >= 120, what="120 records consumed")
        time.sleep(0.5)
        assert values(consumed(members)) == expected(0, 120)

        # The admin API sees a consumer group of the consumer protocol.
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        listed = admin.list_consumer_groups(request_timeout=10).result()
        ours = [g for g in listed.valid if g.group_id == group]
        assert len(ours) == 1 and ours[0].type == ConsumerGroupType.CONSUMER, listed.valid
        described = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
        assert described.type == ConsumerGroupType.CONSUMER
        assert len(described.members) == 3
        owned = [tp for mem in described.members
                 for tp in mem.assignment.topic_partitions]
        assert sorted((tp.topic, tp.partition) for tp in owned) == sorted(
            partitions_of(topic, PARTITIONS))

        # One member leaves: the others take its partitions, nothing is read twice.
        leaving = members.pop()
        leaving.stop()
        sets = wait_for_balanced(members, topic, PARTITIONS, timeout=60,
                                 what="rebalanced after a leave", even=True)
        assert sorted(len(s) for s in sets) == [3, 3], sets
        before = len(consumed(members)) + len(leaving.snapshot()[1])
        produce(broker.bootstrap, topic, 120, 60)
        wait_until(lambda: len(consumed(members)) + len(leaving.snapshot()[1]) >= before + 60,
                   what="60 more records consumed")
        time.sleep(0.5)
        assert values(consumed(members + [leaving])) == expected(0, 180)
    finally:
        for m in members:
            m.stop()

    # Everyone left (offsets committed on close): a new member resumes after them.
    produce(broker.bootstrap, topic, 180, 30)
    again = member(broker.bootstrap, group, topic)
    again.start()
    try:
        wait_until(lambda: len(again.snapshot()[1]) >= 30, what="30 new records consumed")
        time.sleep(1.0)
        assert values(again.snapshot()[1]) == expected(180, 30)
    finally:
        again.stop()


def test_group_survives_a_broker_restart(broker_factory):
    broker = consumer_broker(broker_factory)
    topic, group = unique("kip848restart"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    produce(broker.bootstrap, topic, 0, 60)
    a = member(broker.bootstrap, group, topic)
    a.start()
    try:
        wait_until(lambda: len(a.snapshot()[1]) >= 60, what="60 records consumed")
        # The coordinator reloads the group from __consumer_offsets; the member carries on.
        broker.restart()
        produce(broker.bootstrap, topic, 60, 60)
        wait_until(lambda: len(a.snapshot()[1]) >= 120, timeout=60, what="60 more after restart")
        time.sleep(1.0)
        assert values(a.snapshot()[1]) == expected(0, 120)
        assert a.snapshot()[0] == partitions_of(topic, PARTITIONS)
    finally:
        a.stop()
    broker.restart()
    produce(broker.bootstrap, topic, 120, 30)
    b = member(broker.bootstrap, group, topic)
    b.start()
    try:
        wait_until(lambda: len(b.snapshot()[1]) >= 30, what="30 records after the commits")
        time.sleep(1.0)
        assert values(b.snapshot()[1]) == expected(120, 30)
    finally:
        b.stop()


def test_killed_member_is_fenced_after_the_session_timeout(broker_factory):
    broker = consumer_broker(broker_factory)
    topic, group = unique("kip848kill"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    conf = {"group.protocol": "consumer"}
    victim = MemberProcess("confluent", broker.bootstrap, group, topic, **conf)
    survivor = MemberProcess("confluent", broker.bootstrap, group, topic, **conf)
    try:
        wait_for_balanced([victim, survivor], topic, PARTITIONS, timeout=60)
        victim.kill9()
        # group.consumer.session.timeout.ms is 10 s here: then the survivor gets everything.
        started = time.monotonic()
        wait_until(lambda: survivor.snapshot()[0] == partitions_of(topic, PARTITIONS),
                   timeout=40, what="the survivor owning every partition")
        assert time.monotonic() - started >= 5
        produce(broker.bootstrap, topic, 0, 60)
        wait_until(lambda: len(survivor.snapshot()[1]) >= 60, what="60 records consumed")
    finally:
        victim.terminate()
        survivor.terminate()
