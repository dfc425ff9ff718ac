"""The deck's cluster, live: 6 brokers in 2 racks from `skein cluster up`, topic Invoice (10
partitions, RF 3, min.insync.replicas 2), acks=all idempotent producers running through each
fault, and at the end every acknowledged record read back from every ISR member's log files,
in order, once.

One cluster serves the whole module (it is healed after each scenario); liveness timings are
set low so that the faults play out in seconds: session 4 s, lag 4 s, rebalance check 3 s."""

import json
import os
import signal
import struct
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cluster_helpers import cluster_fixtures, describe, pid_runs, skein, wait_until
from helpers import unique, poll_count

SESSION_MS = 4000
SETTINGS = [
    f"broker.session.timeout.ms={SESSION_MS}",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=4000",
    "leader.imbalance.check.interval.seconds=3",
    "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector",
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.num.partitions=6",
]


cluster, logs_on_failure = cluster_fixtures("deck", 6, 2, SETTINGS, log_lines=60)




def create_invoice(cluster):
    topic = unique("Invoice")
    skein("topic", "create", topic, "--partitions", "10", "--replication-factor", "3",
          "--config", "min.insync.replicas=2", "--bootstrap", cluster.bootstrap)
    wait_until(lambda: (d := describe(cluster, topic)) and len(d) == 10 and all(
        len(p["isr"]) == 3 and p["leader"] >= 0 for p in d), timeout=30,
        what="Invoice fully in sync")
    return topic


def fully_in_sync(cluster, topic):
    d = describe(cluster, topic)
    return d is not None and all(
        p["leader"] >= 0 and sorted(p["isr"]) == sorted(p["replicas"]) for p in d)


class Writer:
    """An acks=all idempotent confluent-kafka producer writing unique values in a thread; keeps
    every acknowledgement (partition, offset, value)."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.acked = []
        self.errors = []
        self.stop = threading.Event()
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                           "linger.ms": 5, "message.timeout.ms": 60000})
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.sent = 0

    def run(self):
        def done(err, msg):
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked.append((msg.partition(), msg.offset(), msg.value()))
        while not self.stop.is_set():
            value = f"v{self.sent:09d}".encode()
            try:
                self.p.produce(self.topic, key=value, value=value, on_delivery=done)
                self.sent += 1
            except BufferError:
                self.p.poll(0.05)
                continue
            self.p.poll(0)
            if self.sent % 100 == 0:
                time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def acked_since(self, count):
        return len(self.acked) - count

    def finish(self):
        self.stop.set()
        self.thread.join()
        left = self.p.flush(60)
        assert left == 0, f"{left} records never delivered"
        assert not self.errors, f"delivery errors: {self.errors[:5]}"

    def __exit__(self, *exc):
        if not self.stop.is_set():
            self.stop.set()
            self.thread.join()


def read_log_values(data_dir, topic, partition):
    """(offset, value) of every record in a replica's segment files (uncompressed batches)."""
    out = []
    d = Path(data_dir) / f"{topic}-{partition}"
    for seg in sorted(d.glob("*.log")):
        buf = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(buf):
            base, length = struct.unpack_from(">qi", buf, pos)
            end = pos + 12 + length
            if end > len(buf):
                break
            attributes = struct.unpack_from(">h", buf, pos + 21)[0]
            assert attributes & 0x7 == 0, "compressed batch in the test topic"
            count = struct.unpack_from(">i", buf, pos + 57)[0]
            r = pos + 61
            for _ in range(count):
                length_, r = varint(buf, r)
                rec_end = r + length_
                r += 1  # attributes
                _, r = varint(buf, r)  # timestamp delta
                delta, r = varint(buf, r)
                klen, r = varint(buf, r)
                r += max(klen, 0)
                vlen, r = varint(buf, r)
                value = buf[r:r + vlen] if vlen >= 0 else None
                out.append((base + delta, value))
                r = rec_end
            pos = end
    return out


def varint(buf, pos):
    shift = 0
    raw = 0
    while True:
        b = buf[pos]
        pos += 1
        raw |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    return (raw >> 1) ^ -(raw & 1), pos


def check_every_ack_on_every_isr_member(cluster, topic, acked):
    wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="ISR back to full")
    by_partition = {}
    for p, off, value in acked:
        by_partition.setdefault(p, {})[off] = value
    parts = describe(cluster, topic)
    # Followers reach the leader's log end within a fetch or two once producing stopped.
    time.sleep(2)
    for info in parts:
        p = info["partition"]
        want = by_partition.get(p, {})
        for replica in info["isr"]:
            got = read_log_values(cluster.node(replica)["data_dir"], topic, p)
            offsets = [o for o, _ in got]
            assert offsets == sorted(set(offsets)), f"{topic}-{p} on {replica}: offsets repeat"
            values = [v for _, v in got]
            assert len(values) == len(set(values)), f"{topic}-{p} on {replica}: a record twice"
            at = dict(got)
            missing = [o for o, v in want.items() if at.get(o) != v]
            assert not missing, (
                f"{topic}-{p} on broker {replica}: {len(missing)} acknowledged records missing, "
                f"first at {min(missing)}")
            # In order: the producer's sequence per partition is increasing with offsets.
            assert values == sorted(values), f"{topic}-{p} on {replica}: out of order"


def kill9(cluster, node_id):
    node = cluster.node(node_id)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and pid_runs(int(entry.name), node["argv"]):
            os.kill(int(entry.name), signal.SIGKILL)
    wait_until(lambda: not any(
        e.name.isdigit() and pid_runs(int(e.name), node["argv"]) for e in Path("/proc").iterdir()),
        timeout=10, what=f"node {node_id} gone")


def test_follower_crash_shrinks_isr_and_rejoins(cluster):
    topic = create_invoice(cluster)
    parts = describe(cluster, topic)
    # A follower that is not node 0: node 0 is also the controller (its own scenario below).
    follower = next(r for p in parts for r in p["replicas"][1:] if r != 0)
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 2000, timeout=30, what="producing")
        kill9(cluster, follower)
        wait_until(lambda: all(follower not in p["isr"] for p in describe(cluster, topic)),
                   timeout=SESSION_MS / 1000 + 10, what=f"broker {follower} out of every ISR")
        before = len(w.acked)
        wait_until(lambda: w.acked_since(before) > 2000, timeout=30,
                   what="producing goes on without the follower")
        cluster.restart(follower)
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=60,
                   what=f"broker {follower} back in every ISR")
        before = len(w.acked)
        wait_until(lambda: w.acked_since(before) > 1000, timeout=30, what="producing after")
        w.finish()
    check_every_ack_on_every_isr_member(cluster, topic, w.acked)


def test_leader_crash_elects_from_the_isr_and_preferred_leader_returns(cluster):
    topic = create_invoice(cluster)
    parts = describe(cluster, topic)
    index = next(i for i, p in enumerate(parts) if p["leader"] != 0)
    p0 = parts[index]
    leader = p0["leader"]
    assert leader == p0["replicas"][0]
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 2000, timeout=30, what="producing")
        kill9(cluster, leader)
        killed = time.monotonic()
        wait_until(lambda: describe(cluster, topic)[index]["leader"] not in (leader, -1),
                   timeout=SESSION_MS / 1000 + 3, what=f"a new leader for partition {index}")
        new = describe(cluster, topic)[index]
        assert new["leader"] in p0["isr"] and new["leader_epoch"] > p0["leader_epoch"]
        before = len(w.acked)
        wait_until(lambda: any(p == index for p, _, _ in w.acked[before:]), timeout=30,
                   what="an acknowledged record on the new leader")
        failover = time.monotonic() - killed
        assert failover <= SESSION_MS / 1000 + 3, failover
        cluster.restart(leader)
        wait_until(lambda: leader in describe(cluster, topic)[index]["isr"], timeout=60,
                   what="the old leader back in the ISR")
        wait_until(lambda: describe(cluster, topic)[index]["leader"] == leader, timeout=30,
                   what="the preferred leader restored")
        w.finish()
    check_every_ack_on_every_isr_member(cluster, topic, w.acked)


def test_controller_restart_keeps_the_metadata_log(cluster):
    topic = create_invoice(cluster)
    before = describe(cluster, topic)
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 2000, timeout=30, what="producing")
        kill9(cluster, 0)
        time.sleep(1)
        cluster.restart(0)
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="node 0 back")
        after = describe(cluster, topic)
        assert [p["replicas"] for p in after] == [p["replicas"] for p in before]
        # The cluster carries on: a new topic, and more records acknowledged.
        create_invoice(cluster)
        n = len(w.acked)
        wait_until(lambda: w.acked_since(n) > 2000, timeout=30, what="producing after")
        w.finish()
    check_every_ack_on_every_isr_member(cluster, topic, w.acked)


def test_group_offsets_survive_the_coordinator_kill(cluster):
    topic = create_invoice(cluster)
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 3000, timeout=30, what="producing")
        w.finish()
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})

    def coordinator_of(g):
        # Right after __consumer_offsets is created, the broker FindCoordinator names may not
        # have its shard yet (NOT_COORDINATOR, which librdkafka's admin does not retry).
        def ask():
            try:
                # A list, so that node 0 is a truthy answer.
                return [a.describe_consumer_groups([g])[g].result(timeout=10).coordinator.id]
            except Exception:
                return None
        return wait_until(lambda: ask(), timeout=30, interval=0.5, what=f"coordinator of {g}")[0]

    # A group whose coordinator is not node 0, which is also the controller.
    group = next(g for g in (unique("billing") for _ in range(50)) if coordinator_of(g) != 0)
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    poll_count(c, 1000)
    c.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in c.committed(
        [TopicPartition(topic, p) for p in range(10)], timeout=10)}
    c.close()
    assert sum(o for o in committed.values() if o > 0) >= 1000
    coordinator = coordinator_of(group)
    kill9(cluster, coordinator)
    try:
        def fetch():
            c2 = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group})
            try:
                return {tp.partition: tp.offset for tp in c2.committed(
                    [TopicPartition(topic, p) for p in range(10)], timeout=5)}
            except Exception:
                return None
            finally:
                c2.close()
        seen = []

        def same():
            got = fetch()
            seen.append(got)
            return got == committed
        wait_until(same, timeout=SESSION_MS / 1000 + 20,
                   interval=0.5, what="the committed offsets from the new coordinator")
    except AssertionError:
        raise AssertionError(f"committed {committed}, fetched {seen[-3:]}")
    finally:
        cluster.restart(coordinator)
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="healed")


def test_consumer_with_client_rack_reads_from_its_rack(cluster):
    topic = create_invoice(cluster)
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 1000, timeout=30, what="producing")
        w.finish()
    racks = {n["id"]: n["rack"] for n in cluster.file["nodes"]}
    parts = describe(cluster, topic)
    # A partition led in R1 with an in-sync replica in R2.
    p = next(x for x in parts if racks[x["leader"]] == "R1"
             and any(racks[r] == "R2" for r in x["isr"]))
    state = {}

    def on_stats(text):
        s = json.loads(text)
        part = s.get("topics", {}).get(topic, {}).get("partitions", {}).get(str(p["partition"]))
        if part:
            state["broker"] = part.get("broker")
            state["leader"] = part.get("leader")

    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": unique("rack"),
                  "client.rack": "R2", "auto.offset.reset": "earliest",
                  "statistics.interval.ms": 200, "stats_cb": on_stats})
    c.assign([TopicPartition(topic, p["partition"], 0)])
    n = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (n > 0 and state.get("broker") not in (None, -1)
                                               and state.get("broker") != state.get("leader")):
        m = c.poll(0.2)
        if m is not None and not m.error():
            n += 1
    c.close()
    assert n > 0
    assert state.get("broker") != state.get("leader"), state
    assert racks[state["broker"]] == "R2", state
