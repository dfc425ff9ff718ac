"""Helpers for the consumer-group tests: brokers with a short initial rebalance delay, group
members in threads (confluent-kafka) or subprocesses (for kill -9), waiting for assignments."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

# The 3 s group.initial.rebalance.delay.ms only slows tests that do not test it.
FAST_GROUPS = {"group.initial.rebalance.delay.ms": "0"}

MEMBER_SCRIPT = str(Path(__file__).resolve().parent / "group_member.py")


def group_broker(broker_factory, **settings):
    return broker_factory(settings={**FAST_GROUPS, **settings})


COORDINATOR_MOVING = {KafkaError.COORDINATOR_LOAD_IN_PROGRESS, KafkaError.COORDINATOR_NOT_AVAILABLE,
                      KafkaError.NOT_COORDINATOR}


def seed_offsets(bootstrap, group, topic, partitions, offset=0):
    """Commits `offset` for every partition through the admin API (generation -1 commit on an
    Empty group), so members with default auto.offset.reset=latest read from there."""
    a = AdminClient({"bootstrap.servers": bootstrap})
    tps = [TopicPartition(topic, p, offset) for p in range(partitions)]
    # librdkafka hands partition-level errors back instead of retrying them; a coordinator still
    # loading a fresh `__consumer_offsets` answers COORDINATOR_LOAD_IN_PROGRESS, as Kafka does.
    deadline = time.monotonic() + 15
    while True:
        futures = a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])
        result = futures[group].result(timeout=15)
        errors = [tp.error for tp in result.topic_partitions if tp.error is not None]
        if not errors:
            return
        if time.monotonic() > deadline or not all(e.code() in COORDINATOR_MOVING for e in errors):
            raise AssertionError(f"seeding offsets of {group} failed: {errors}")
        time.sleep(0.1)


def wait_until(predicate, timeout=30.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class ConfluentMember(threading.Thread):
    """A confluent-kafka consumer with subscribe() in its own thread; records what it consumed
    and its current assignment."""

    def __init__(self, bootstrap, group, topics, **conf):
        super().__init__(daemon=True)
        self.conf = {"bootstrap.servers": bootstrap, "group.id": group, **conf}
        self.topics = list(topics)
        self.records = []  # (topic, partition, offset, value)
        self.assignment = set()
        self.assign_calls = 0
        self.revoke_calls = 0
        self.errors = []
        self.member_id = None
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self):
        c = Consumer(self.conf)

        def on_assign(consumer, partitions):
            with self._lock:
                self.assign_calls += 1

        def on_revoke(consumer, partitions):
            with self._lock:
                self.revoke_calls += 1

        c.subscribe(self.topics, on_assign=on_assign, on_revoke=on_revoke)
        try:
            while not self._halt.is_set():
                m = c.poll(0.2)
                if m is not None:
                    if m.error():
                        self.errors.append(m.error())
                    else:
                        with self._lock:
                            self.records.append((m.topic(), m.partition(), m.offset(), m.value()))
                with self._lock:
                    self.assignment = {(tp.topic, tp.partition) for tp in c.assignment()}
                    self.member_id = c.memberid()
        finally:
            self.commit_and_close(c)

    def commit_and_close(self, c):
        try:
            c.commit(asynchronous=False)
        except Exception as e:  # nothing consumed since the last commit
            self.errors.append(e)
        c.close()

    def stop(self, timeout=30):
        self._halt.set()
        self.join(timeout)
        assert not self.is_alive(), "member did not stop"

    def snapshot(self):
        with self._lock:
            return set(self.assignment), list(self.records)


def partitions_of(topic, n):
    return {(topic, p) for p in range(n)}


def wait_for_balanced(members, topic, partitions, timeout=60, what="balanced assignment",
                      even=False):
    """Waits until the members' assignments are disjoint, cover every partition and each member
    owns at least one (with `even`, also no member owns two more than another: an incremental
    rebalance passes through uneven states while a member revokes); returns them."""

    def balanced():
        sets = [m.snapshot()[0] for m in members]
        union = set().union(*sets)
        if union != partitions_of(topic, partitions):
            return None
        if sum(len(s) for s in sets) != partitions or any(not s for s in sets):
            return None
        if even and max(map(len, sets)) - min(map(len, sets)) > 1:
            return None
        return sets

    return wait_until(balanced, timeout=timeout, what=what)


class MemberProcess:
    """A consumer in a subprocess (group_member.py) so it can be killed with SIGKILL. It prints
    one JSON line per event: {"assigned": [...]} and {"record": [partition, offset, value]}."""

    def __init__(self, client, bootstrap, group, topic, **conf):
        args = [sys.executable, MEMBER_SCRIPT, client, bootstrap, group, topic, json.dumps(conf)]
        # stderr is inherited (pytest captures it) so a chatty client never blocks on a pipe.
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.assigned = set()
        self.records = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "assigned" in event:
                    self.assigned = {tuple(x) for x in event["assigned"]}
                if "record" in event:
                    self.records.append(tuple(event["record"]))

    def snapshot(self):
        with self._lock:
            return set(self.assigned), list(self.records)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
