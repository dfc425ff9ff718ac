"""kafka-python and kcat, with their default settings, against a 3-broker cluster whose leader
is killed under them: they follow the leader to its new broker (NOT_LEADER_OR_FOLLOWER or a dead
connection, then refreshed metadata) and every record they were told is delivered is read back.
confluent-kafka does the same in test_cluster_replication.py."""

import json
import subprocess
import threading
import time

from kafka import KafkaConsumer, KafkaProducer

from cluster_helpers import cluster_fixtures, describe, skein, wait_until
from helpers import unique
from test_cluster_replication import fully_in_sync, kill9

SESSION_MS = 4000
SETTINGS = [
    f"broker.session.timeout.ms={SESSION_MS}",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=4000",
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.num.partitions=3",
]


cluster, logs_on_failure = cluster_fixtures("clients", 3, 3, SETTINGS, log_lines=60)


def create_topic(cluster):
    topic = unique("moves")
    skein("topic", "create", topic, "--partitions", "3", "--replication-factor", "3",
          "--config", "min.insync.replicas=2", "--bootstrap", cluster.bootstrap)
    wait_until(lambda: fully_in_sync(cluster, topic) and len(describe(cluster, topic)) == 3,
               timeout=30, what=f"{topic} fully in sync")
    return topic


def victim_partition(cluster, topic):
    """A partition led by a broker that is not node 0 (the controller has its own test)."""
    return next(p for p in describe(cluster, topic) if p["leader"] != 0)


def moved_away(cluster, topic, partition, old_leader):
    d = describe(cluster, topic)
    return d is not None and d[partition]["leader"] not in (old_leader, -1)


def bring_back(cluster, topic, node_id):
    cluster.restart(node_id)
    wait_until(lambda: fully_in_sync(cluster, topic), timeout=60,
               what=f"broker {node_id} back in every ISR")


def kcat_leaders(cluster, topic):
    """{partition: leader} as kcat's own metadata request sees it."""
    r = subprocess.run(["kcat", "-b", cluster.bootstrap, "-L", "-J", "-t", topic],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    meta = json.loads(r.stdout)
    return {p["partition"]: p["leader"] for t in meta["topics"] for p in t["partitions"]}


def test_kafka_python_follows_a_killed_leader(cluster):
    topic = create_topic(cluster)
    target = victim_partition(cluster, topic)
    index, leader = target["partition"], target["leader"]
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap)
    assert producer.config["enable_idempotence"], "kafka-python's default is idempotent"
    futures, stop = [], threading.Event()

    def produce():
        n = 0
        while not stop.is_set():
            value = f"kp{n:08d}".encode()
            futures.append((value, producer.send(topic, value=value, partition=n % 3)))
            n += 1
            time.sleep(0.0005)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        wait_until(lambda: sum(f.is_done for _, f in futures) > 1000, timeout=30,
                   what="kafka-python producing")
        kill9(cluster, leader)
        killed = len(futures)
        wait_until(lambda: moved_away(cluster, topic, index, leader),
                   timeout=SESSION_MS / 1000 + 5, what=f"a new leader for partition {index}")
        wait_until(lambda: any(f.is_done and not f.failed() and f.value.partition == index
                               for _, f in futures[killed:]),
                   timeout=30, what="an acknowledged record on the new leader")
    finally:
        stop.set()
        worker.join()
    producer.flush(timeout=60)
    producer.close(timeout=10)
    failed = [(v, f.exception) for v, f in futures if f.failed()]
    assert not failed, f"{len(failed)} sends failed: {failed[:3]}"
    acked = {v: (f.value.partition, f.value.offset) for v, f in futures}
    assert len(acked) == len(futures)

    # A group consumer (subscribe, kafka-python's defaults but for where a new group starts)
    # reads every acknowledged record once, at the offset it was acknowledged at.
    consumer = KafkaConsumer(topic, bootstrap_servers=cluster.bootstrap, group_id=unique("kp"),
                             auto_offset_reset="earliest")
    seen = {}
    deadline = time.monotonic() + 60
    while len(seen) < len(acked) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            for r in records:
                assert r.value not in seen, f"{r.value} read twice"
                seen[r.value] = (r.partition, r.offset)
    consumer.close()
    missing = [v for v in acked if v not in seen]
    assert not missing, f"{len(missing)} acknowledged records not read back: {missing[:5]}"
    assert all(seen[v] == acked[v] for v in acked)
    bring_back(cluster, topic, leader)


def test_kcat_follows_a_killed_leader(cluster):
    topic = create_topic(cluster)
    target = victim_partition(cluster, topic)
    index, leader = target["partition"], target["leader"]
    assert kcat_leaders(cluster, topic)[index] == leader
    # kcat -P with librdkafka's defaults (acks=all, retries until message.timeout.ms), one line
    # a record, all to the partition whose leader dies.
    kcat = subprocess.Popen(["kcat", "-b", cluster.bootstrap, "-P", "-t", topic,
                             "-p", str(index)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    sent = []

    def write(count):
        for _ in range(count):
            line = f"kc{len(sent):08d}"
            kcat.stdin.write(line.encode() + b"\n")
            sent.append(line)
        kcat.stdin.flush()

    write(2000)
    time.sleep(1)
    kill9(cluster, leader)
    for _ in range(20):  # while the partition has no live leader and after it has one again
        write(200)
        time.sleep(0.25)
    wait_until(lambda: moved_away(cluster, topic, index, leader),
               timeout=SESSION_MS / 1000 + 5, what=f"a new leader for partition {index}")
    write(2000)
    kcat.stdin.close()
    err = kcat.stderr.read().decode(errors="replace")
    assert kcat.wait(timeout=120) == 0, err
    assert "Delivery failed" not in err, err
    new_leader = kcat_leaders(cluster, topic)[index]
    assert new_leader not in (leader, -1), "kcat's metadata still names the dead leader"

    r = subprocess.run(["kcat", "-b", cluster.bootstrap, "-C", "-t", topic, "-p", str(index),
                        "-o", "beginning", "-e", "-q", "-f", "%s\n"],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    read = r.stdout.decode().split()
    # librdkafka is not idempotent by default: a retry after a lost response may write a line
    # twice, but every line kcat reported delivered is there.
    missing = set(sent) - set(read)
    assert not missing, f"{len(missing)} delivered lines not read back: {sorted(missing)[:5]}"
    bring_back(cluster, topic, leader)
