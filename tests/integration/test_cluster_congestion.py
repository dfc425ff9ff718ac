"""Issue 7, scenario (c): a 3-broker cluster whose brokers each sit in a network namespace of
their own (netns_cluster.py), topics of RF 3 and min.insync.replicas 2, an acks=all
idempotent producer running through each fault, and at the end every acknowledged record read
back from every ISR member's log files, in order, once.

1. Congestion: tc tbf throttles what one follower receives, so its replica fetches fall behind
   for longer than replica.lag.time.max.ms while producing goes on. It leaves the ISR but stays
   registered and unfenced (heartbeats are tiny and still get through); lifting the throttle,
   it catches up and rejoins.
2. Partition: the same broker's link is set down: after broker.session.timeout.ms it is fenced,
   leaves every ISR and its leaderships move; with the link up again it rejoins.

Timings: replica.lag.time.max.ms 3 s (low for the test), heartbeats every 500 ms, and
broker.session.timeout.ms 6 s. The session must outlast the lag time by a clear margin: under
congestion the throttled broker's heartbeat answers queue behind its fetch responses and are
sometimes dropped by the tbf queue (then resent after TCP's retransmission timeout), so gaps
of a second or two between answered heartbeats are normal there; 6 s leaves room for that
while the ISR shrinks after 3 s, and it is what the partition scenario waits to see fencing.
"""

import threading
import time

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from cluster_helpers import wait_until
from helpers import unique
from netns_cluster import NetnsCluster, NetnsUnavailable
from test_cluster_replication import (
    Writer,
    check_every_ack_on_every_isr_member,
    describe,
    fully_in_sync,
)

LAG_MS = 3000
SESSION_MS = 6000
SETTINGS = [
    f"replica.lag.time.max.ms={LAG_MS}",
    f"broker.session.timeout.ms={SESSION_MS}",
    "broker.heartbeat.interval.ms=500",
]
# The broker the faults hit: not node 0, which is also the controller.
VICTIM = 2
# What the congested broker may receive: 16 KB/s, well below what the producer writes to the
# partitions it follows (a few thousand ~30-byte records a second), yet a hundred times what
# heartbeats need (~100 B each way every 500 ms). tbf's queue holds burst + rate x latency,
# ~11 KB: a heartbeat answer waits at most ~0.7 s behind fetch data, or is dropped and resent.
THROTTLE = {"rate": "128kbit", "burst": "8kb", "latency": "200ms"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = NetnsCluster(tmp_path_factory.mktemp("netns") / "cluster", brokers=3, settings=SETTINGS)
    try:
        try:
            c.up(timeout=90)
        except NetnsUnavailable as e:
            pytest.fail(str(e), pytrace=False)
        yield c
    finally:
        c.cleanup()


@pytest.fixture(autouse=True)
def logs_on_failure(request, cluster):
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n{cluster.qdisc_stats(VICTIM)}\n{cluster.logs(60)}")


def create_topic(cluster, topic, partitions=None, assignment=None):
    """RF 3, min.insync.replicas 2; placed by the controller or by `assignment`."""
    a = AdminClient({"bootstrap.servers": cluster.bootstrap})
    if assignment is not None:
        new = NewTopic(topic, num_partitions=len(assignment),
                       replica_assignment=assignment, config={"min.insync.replicas": "2"})
    else:
        new = NewTopic(topic, num_partitions=partitions, replication_factor=3,
                       config={"min.insync.replicas": "2"})
    a.create_topics([new])[topic].result(timeout=30)
    wait_until(lambda: (d := describe(cluster, topic)) and all(
        len(p["isr"]) == 3 and p["leader"] >= 0 for p in d), timeout=30,
        what=f"{topic} fully in sync")
    return describe(cluster, topic)


class RegistrationWatch:
    """Polls the controller node's Metadata every 200 ms in a thread; `missing` holds the
    times at which `node_id` was not listed (fenced or unregistered)."""

    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.node_id = node_id
        self.missing = []
        self.polls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            listed = self.cluster.brokers_listed_by(0)
            if listed is not None:
                self.polls += 1
                if self.node_id not in listed:
                    self.missing.append(time.monotonic())
            self.stop.wait(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def test_congested_follower_leaves_the_isr_and_rejoins(cluster):
    topic = unique("Congested")
    # The victim follows every partition and leads none, so the throttle slows only its own
    # replication (produce requests never cross its link).
    parts = create_topic(cluster, topic, assignment=[[0, 1, VICTIM], [1, 0, VICTIM]] * 2)
    assert all(p["leader"] != VICTIM for p in parts)
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 2000, timeout=30, what="producing")
        with RegistrationWatch(cluster, VICTIM) as watch:
            with cluster.throttled(VICTIM, **THROTTLE):
                throttled = time.monotonic()
                wait_until(lambda: all(VICTIM not in p["isr"] for p in describe(cluster, topic)),
                           timeout=LAG_MS / 1000 + 20, what=f"broker {VICTIM} out of every ISR")
                shrunk = time.monotonic() - throttled
                assert shrunk >= LAG_MS / 1000 * 0.9, f"ISR shrank after {shrunk:.1f}s"
                before = len(w.acked)
                wait_until(lambda: w.acked_since(before) > 2000, timeout=30,
                           what="producing goes on without the congested follower")
                # Still behind while throttled: it does not rejoin until the throttle is lifted.
                assert all(VICTIM not in p["isr"] for p in describe(cluster, topic))
                stats = cluster.qdisc_stats(VICTIM)
        assert watch.polls >= 10, watch.polls
        assert not watch.missing, (
            f"broker {VICTIM} was fenced while congested ({len(watch.missing)} of "
            f"{watch.polls} polls)")
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=30,
                   what=f"broker {VICTIM} back in every ISR once the throttle is lifted")
        before = len(w.acked)
        wait_until(lambda: w.acked_since(before) > 1000, timeout=30, what="producing after")
        w.finish()
    print(f"ISR shrank {shrunk:.1f}s after the throttle; {stats}")
    check_every_ack_on_every_isr_member(cluster, topic, w.acked)


def test_partitioned_broker_is_fenced_loses_leaderships_and_rejoins(cluster):
    topic = unique("Partitioned")
    parts = create_topic(cluster, topic, partitions=6)
    led = [p["partition"] for p in parts if p["leader"] == VICTIM]
    assert led, f"broker {VICTIM} leads none of {parts}"
    with Writer(cluster.bootstrap, topic) as w:
        wait_until(lambda: len(w.acked) > 2000, timeout=30, what="producing")
        with cluster.cut_off(VICTIM):
            down = time.monotonic()
            wait_until(lambda: (b := cluster.brokers_listed_by(0)) is not None and VICTIM not in b,
                       timeout=SESSION_MS / 1000 + 5, interval=0.1, what=f"broker {VICTIM} fenced")
            fenced = time.monotonic() - down
            assert fenced >= SESSION_MS / 1000 - 1, f"fenced after {fenced:.1f}s"

            def moved():
                d = describe(cluster, topic)
                return d and all(VICTIM not in p["isr"] and p["leader"] not in (VICTIM, -1)
                                 for p in d)
            wait_until(moved, timeout=10, what=f"broker {VICTIM} out of every ISR, leaders moved")
            # Producing goes on to the partitions the victim did not lead. (The client's
            # requests to the victim hang until its request.timeout.ms or the link returns.)
            before = len(w.acked)
            wait_until(lambda: sum(p not in led for p, _, _ in w.acked[before:]) > 1000,
                       timeout=30, what="producing goes on while the victim is cut off")
        up = time.monotonic()
        before = len(w.acked)
        wait_until(lambda: {p for p, _, _ in w.acked[before:]} >= set(led), timeout=40,
                   what=f"acknowledgements from the new leaders of {led}")
        resumed = time.monotonic() - up
        wait_until(lambda: VICTIM in (cluster.brokers_listed_by(0) or ()), timeout=30,
                   what=f"broker {VICTIM} unfenced after the link is up")
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=40,
                   what=f"broker {VICTIM} back in every ISR")
        before = len(w.acked)
        wait_until(lambda: w.acked_since(before) > 1000, timeout=30, what="producing after")
        w.finish()
    print(f"fenced {fenced:.1f}s after the link went down, link up {up - down:.1f}s after; "
          f"partitions {led} acknowledged again {resumed:.1f}s after the link was up")
    check_every_ack_on_every_isr_member(cluster, topic, w.acked)
