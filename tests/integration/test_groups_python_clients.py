"""Consumer groups with kafka-python and aiokafka: subscribe with default settings, each
partition owned by one member, every record consumed once."""

import asyncio
import threading
import time

from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer

from group_helpers import (MemberProcess, group_broker, partitions_of, seed_offsets,
                           wait_for_balanced, wait_until)
from helpers import create_topic, produce_sync, unique

PARTITIONS = 6


class KafkaPythonMember(threading.Thread):
    def __init__(self, bootstrap, group, topic, **conf):
        super().__init__(daemon=True)
        self.args = (bootstrap, group, topic, conf)
        self.records = []
        self.assignment = set()
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        bootstrap, group, topic, conf = self.args
        c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, **conf)
        try:
            while not self.halt.is_set():
                for tp, msgs in c.poll(timeout_ms=200).items():
                    with self.lock:
                        self.records += [(m.partition, m.offset, m.value) for m in msgs]
                with self.lock:
                    self.assignment = {(tp.topic, tp.partition) for tp in c.assignment()}
        finally:
            c.close()

    def snapshot(self):
        with self.lock:
            return set(self.assignment), list(self.records)


def balanced(sets, topic):
    return (set().union(*sets) == partitions_of(topic, PARTITIONS)
            and sum(len(s) for s in sets) == PARTITIONS and all(sets))


def test_kafka_python_members_share_partitions_and_consume_once(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("kpgroup"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)
    members = [KafkaPythonMember(broker.bootstrap, group, topic) for _ in range(3)]
    for m in members:
        m.start()
    try:
        wait_until(lambda: balanced([m.snapshot()[0] for m in members], topic), timeout=60,
                   what="kafka-python members balanced")
        sets = [m.snapshot()[0] for m in members]
        produce_sync(broker.bootstrap, topic,
                     [(None, f"v{i}".encode(), None, i % PARTITIONS) for i in range(90)])
        wait_until(lambda: sum(len(m.snapshot()[1]) for m in members) >= 90, what="90 records")
        time.sleep(0.5)
        values = sorted(r[2] for m in members for r in m.snapshot()[1])
        assert values == sorted(f"v{i}".encode() for i in range(90))
        for m, owned in zip(members, sets):
            assert {(topic, p) for p, _, _ in m.snapshot()[1]} <= owned
    finally:
        for m in members:
            m.halt.set()
        for m in members:
            m.join(30)


def test_aiokafka_members_share_partitions_and_consume_once(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("aiogroup"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    seed_offsets(broker.bootstrap, group, topic, PARTITIONS)

    async def scenario():
        consumers = [AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group)
                     for _ in range(2)]
        for c in consumers:
            await c.start()
        records = [[], []]
        stop = asyncio.Event()

        async def pump(i, c):
            while not stop.is_set():
                batches = await c.getmany(timeout_ms=200)
                for tp, msgs in batches.items():
                    records[i] += [(m.partition, m.value) for m in msgs]

        tasks = [asyncio.create_task(pump(i, c)) for i, c in enumerate(consumers)]
        try:
            deadline = time.monotonic() + 60
            while not balanced([c.assignment() and {(tp.topic, tp.partition) for tp in c.assignment()}
                                or set() for c in consumers], topic):
                assert time.monotonic() < deadline, "aiokafka members not balanced"
                await asyncio.sleep(0.1)
            sets = [{(tp.topic, tp.partition) for tp in c.assignment()} for c in consumers]
            await asyncio.to_thread(produce_sync, broker.bootstrap, topic,
                                    [(None, f"a{i}".encode(), None, i % PARTITIONS)
                                     for i in range(60)])
            deadline = time.monotonic() + 30
            while sum(len(r) for r in records) < 60:
                assert time.monotonic() < deadline, f"consumed {sum(len(r) for r in records)}"
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            values = sorted(v for r in records for _, v in r)
            assert values == sorted(f"a{i}".encode() for i in range(60))
            for r, owned in zip(records, sets):
                assert {(topic, p) for p, _ in r} <= owned
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in consumers:
                await c.stop()

    asyncio.run(scenario())


def test_kafka_python_member_killed_is_evicted_and_its_partitions_move(broker_factory):
    broker = group_broker(broker_factory)
    topic, group = unique("kpkill"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    session = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
    victim = MemberProcess("kafka-python", broker.bootstrap, group, topic, **session)
    survivor = MemberProcess("kafka-python", broker.bootstrap, group, topic, **session)
    try:
        wait_for_balanced([victim, survivor], topic, PARTITIONS, timeout=60, what="two members")
        victim.kill9()
        wait_for_balanced([survivor], topic, PARTITIONS, timeout=30, what="survivor owns all")
    finally:
        victim.terminate()
        survivor.terminate()
