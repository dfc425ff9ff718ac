"""Consumer groups on a 3-broker cluster from `skein cluster up`: the group coordinator answers
only what is committed to the ISR of its `__consumer_offsets` partition, so a coordinator killed
with kill -9 right after an OffsetCommit returned loses nothing, and a group keeps consuming
across the kill with its committed offsets never going backwards.

One cluster serves the module (healed after each test); liveness timings are low so that a
kill plays out in seconds: session 3 s, lag 4 s, preferred-leader check 2 s."""

import json
import os
import signal
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cluster_helpers import cluster_fixtures, describe, pid_runs, skein, wait_until
from helpers import unique

SESSION_MS = 3000
OFFSETS_PARTITIONS = 6
PARTITIONS = 6
SETTINGS = [
    f"broker.session.timeout.ms={SESSION_MS}",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=4000",
    "leader.imbalance.check.interval.seconds=2",
    "group.initial.rebalance.delay.ms=0",
    f"offsets.topic.num.partitions={OFFSETS_PARTITIONS}",
]


cluster, logs_on_failure = cluster_fixtures("groups", 3, 1, SETTINGS, log_lines=80)




def healthy(cluster, topic):
    """Every partition led by its preferred replica with the full ISR."""
    d = describe(cluster, topic)
    return d is not None and len(d) > 0 and all(
        p["leader"] == p["replicas"][0] and sorted(p["isr"]) == sorted(p["replicas"]) for p in d)


def create_topic(cluster):
    topic = unique("orders")
    skein("topic", "create", topic, "--partitions", str(PARTITIONS), "--replication-factor", "3",
          "--bootstrap", cluster.bootstrap)
    wait_until(lambda: healthy(cluster, topic), timeout=30, what=f"{topic} in sync")
    return topic


def produce(cluster, topic, count, start=0):
    p = Producer({"bootstrap.servers": cluster.bootstrap})
    errors = []

    def done(err, _msg):
        if err is not None:
            errors.append(str(err))
    for i in range(start, start + count):
        value = f"r{i:07d}".encode()
        while True:
            try:
                p.produce(topic, key=value, value=value, on_delivery=done)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(60) == 0
    assert not errors, errors[:5]


def end_offsets(cluster, topic):
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": unique("probe")})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(PARTITIONS)}
    finally:
        c.close()


def java_hash(s: str) -> int:
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (h * 31 + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group: str) -> int:
    h = java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % OFFSETS_PARTITIONS


def coordinator_of(cluster, group):
    """The coordinator the admin client finds for `group` (FindCoordinator, then
    DescribeGroups on it)."""
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})

    def ask():
        try:
            # A list, so that node 0 is a truthy answer.
            return [a.describe_consumer_groups([group])[group].result(timeout=10).coordinator.id]
        except Exception:
            # Right after __consumer_offsets is created its shards are still loading.
            return None
    return wait_until(ask, timeout=30, interval=0.5, what=f"coordinator of {group}")[0]


def group_led_off_node0(cluster):
    """A fresh group id whose coordinator is not node 0 (also the controller), and that
    coordinator."""
    coordinator_of(cluster, unique("warmup"))  # creates __consumer_offsets
    wait_until(lambda: healthy(cluster, "__consumer_offsets"), timeout=60,
               what="__consumer_offsets in sync")
    leaders = {p["partition"]: p["leader"] for p in describe(cluster, "__consumer_offsets")}
    for _ in range(200):
        g = unique("billing")
        if leaders[offsets_partition(g)] != 0:
            assert coordinator_of(cluster, g) == leaders[offsets_partition(g)]
            return g, leaders[offsets_partition(g)]
    raise AssertionError("no group led off node 0")


def pid_of(cluster, node_id):
    argv = cluster.node(node_id)["argv"]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_runs(int(entry.name), argv):
            return int(entry.name)
    raise AssertionError(f"node {node_id} not running")


def wait_gone(cluster, node_id):
    argv = cluster.node(node_id)["argv"]
    wait_until(lambda: not any(
        e.name.isdigit() and pid_runs(int(e.name), argv) for e in Path("/proc").iterdir()),
        timeout=10, what=f"node {node_id} gone")


def heal(cluster, node_id, topic):
    cluster.restart(node_id)
    for t in (topic, "__consumer_offsets"):
        wait_until(lambda: healthy(cluster, t), timeout=90, interval=0.5,
                   what=f"{t} back on its preferred leaders after node {node_id} returned")


def committed(cluster, group, topic, timeout=5):
    """The group's committed offsets by partition (OffsetFetch without joining), or None."""
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=timeout)
        if any(tp.error is not None for tp in got):
            return None
        return {tp.partition: tp.offset for tp in got}
    except KafkaException:
        return None
    finally:
        c.close()


def test_offsets_committed_right_before_the_coordinator_dies_survive(cluster):
    topic = create_topic(cluster)
    produce(cluster, topic, 3000)
    for round_ in range(3):
        group, coordinator = group_led_off_node0(cluster)
        pid = pid_of(cluster, coordinator)
        c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                      "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 30
        while got < 500 * (round_ + 1) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                got += 1
        assert got >= 500 * (round_ + 1), f"consumed only {got}"
        result = c.commit(asynchronous=False)
        # The coordinator dies the moment the commit is acknowledged.
        os.kill(pid, signal.SIGKILL)
        acked = {tp.partition: tp.offset for tp in result if tp.offset >= 0}
        assert sum(acked.values()) >= got, (acked, got)
        wait_gone(cluster, coordinator)
        c.close()
        seen = []

        def same():
            now = committed(cluster, group, topic)
            seen.append(now)
            return now is not None and all(now.get(p) == o for p, o in acked.items())
        try:
            wait_until(same, timeout=SESSION_MS / 1000 + 20, interval=0.5,
                       what=f"round {round_}: the committed offsets from the new coordinator")
        except AssertionError:
            raise AssertionError(f"round {round_}: committed {acked}, fetched {seen[-3:]}")
        finally:
            heal(cluster, coordinator, topic)


class Member:
    """A confluent-kafka group member in a thread: subscribe(), poll, and a synchronous
    commit after every batch; keeps every record it consumed and every commit that returned."""

    def __init__(self, cluster, group, topic):
        self.c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                           "auto.offset.reset": "earliest"})
        self.topic = topic
        self.consumed = set()
        self.commits = []
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        self.c.subscribe([self.topic])
        while not self.stop.is_set():
            batch = self.c.consume(num_messages=100, timeout=0.5)
            for m in batch:
                if not m.error():
                    self.consumed.add((m.partition(), m.offset()))
            if batch:
                try:
                    result = self.c.commit(asynchronous=False)
                    self.commits.append({tp.partition: tp.offset for tp in result
                                         if tp.error is None and tp.offset >= 0})
                except KafkaException as e:
                    # Coordinator moving, rebalancing: the next batch commits again.
                    self.errors.append(str(e))
        self.c.close()


def test_a_group_keeps_consuming_across_the_coordinator_kill(cluster):
    topic = create_topic(cluster)
    group, coordinator = group_led_off_node0(cluster)
    produce(cluster, topic, 3000)
    members = [Member(cluster, group, topic) for _ in range(2)]
    observed = []  # committed offsets as readers saw them, in time order
    watching = threading.Event()

    def watch():
        while not watching.is_set():
            now = committed(cluster, group, topic, timeout=2)
            if now is not None:
                observed.append(now)
            time.sleep(0.2)
    watcher = threading.Thread(target=watch, daemon=True)
    for m in members:
        m.thread.start()
    watcher.start()
    try:
        wait_until(lambda: sum(len(m.consumed) for m in members) >= 1000, timeout=60,
                   what="the group consuming")
        wait_until(lambda: any(o >= 0 for snap in observed for o in snap.values()),
                   timeout=30, what="the watcher seeing a commit before the kill")
        os.kill(pid_of(cluster, coordinator), signal.SIGKILL)
        killed_at = len(observed)
        wait_gone(cluster, coordinator)
        produce(cluster, topic, 3000, start=3000)
        ends = end_offsets(cluster, topic)
        everything = {(p, o) for p in range(PARTITIONS) for o in range(ends[p])}

        def all_consumed():
            return everything <= set().union(*(m.consumed for m in members))
        wait_until(all_consumed, timeout=90, interval=0.5,
                   what="every record consumed at least once")
        wait_until(lambda: (now := committed(cluster, group, topic)) is not None and all(
            now.get(p) == ends[p] for p in range(PARTITIONS)), timeout=30, interval=0.5,
            what="the committed offsets at the log ends")
        # The run can be quick; keep watching until a few reads span the fail-over.
        wait_until(lambda: len(observed) >= killed_at + 3, timeout=30,
                   what="the watcher reading after the kill")
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.thread.join(30)
        watching.set()
        watcher.join(30)
        heal(cluster, coordinator, topic)
    assert len(observed) >= killed_at + 3 and killed_at >= 1, \
        "the watcher saw too few committed offsets"
    high = {}
    for i, snapshot in enumerate(observed):
        for p, o in snapshot.items():
            if o < 0:
                continue
            assert o >= high.get(p, -1), (
                f"partition {p}: committed offset went back from {high[p]} to {o} "
                f"(observation {i} of {len(observed)})")
            high[p] = o
