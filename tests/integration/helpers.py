"""Client helpers shared by the integration tests (confluent-kafka, with its defaults)."""

import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# The broker has no group coordinator: consumers use assign() with explicit offsets, never
# commit, never subscribe. confluent-kafka wants a group.id in its config; it stays unused.
CONSUMER_BASE = {
    "group.id": "skein-it-unused",
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": False,
    "auto.offset.reset": "error",
}
PRODUCER_BASE = {}


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def admin(bootstrap) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap, name, partitions=1, config=None, timeout=15):
    a = admin(bootstrap)
    futures = a.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout, request_timeout=timeout)
    futures[name].result(timeout=timeout)
    # Wait until metadata shows every partition with a leader.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
                p.leader == 0 for p in t.partitions.values()):
            return
        time.sleep(0.05)
    raise AssertionError(f"topic {name} not ready")


def producer(bootstrap, **extra) -> Producer:
    conf = {"bootstrap.servers": bootstrap, **PRODUCER_BASE}
    conf.update(extra)
    return Producer(conf)


def consumer(bootstrap, **extra) -> Consumer:
    conf = {"bootstrap.servers": bootstrap, **CONSUMER_BASE}
    conf.update(extra)
    return Consumer(conf)


def poll_count(consumer, count, timeout=30, poll_s=0.5):
    """Polls `consumer` until it has delivered `count` records (errors skipped) or `timeout`
    seconds pass; returns how many it delivered."""
    got = 0
    deadline = time.monotonic() + timeout
    while got < count and time.monotonic() < deadline:
        m = consumer.poll(poll_s)
        if m is not None and m.error() is None:
            got += 1
    return got


def produce_sync(bootstrap, topic, records, **conf):
    """Produces (key, value, headers, partition) tuples; returns [(partition, offset)]."""
    p = producer(bootstrap, **{"linger.ms": 5, "acks": "all", **conf})
    results = [None] * len(records)
    errors = []

    def cb(i):
        def done(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                results[i] = (msg.partition(), msg.offset())
        return done

    for i, (k, v, h, part) in enumerate(records):
        kwargs = {"key": k, "value": v, "headers": h, "on_delivery": cb(i)}
        if part is not None:
            kwargs["partition"] = part
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(30)
    assert remaining == 0, f"{remaining} records not delivered"
    assert not errors, f"delivery errors: {errors[:5]}"
    return results


def consume_range(bootstrap, topic, partition, start, count, timeout=30, **conf):
    """Consumes `count` records from `start` with assign(); returns the Message objects."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, partition, start)])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            for m in c.consume(num_messages=min(10000, count - len(out)), timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {m.error()}")
                out.append(m)
        return out
    finally:
        c.close()


def roundtrip_ok(bootstrap, topic=None, n=5, timeout=15):
    """A normal produce then consume of `n` records; returns seconds taken. Asserts contents."""
    t0 = time.monotonic()
    topic = topic or unique("health")
    payload = [(f"k{i}".encode(), f"v{i}-{uuid.uuid4().hex}".encode(), None, 0) for i in range(n)]
    produced = produce_sync(bootstrap, topic, payload, **{"message.timeout.ms": timeout * 1000})
    first = produced[0][1]
    got = consume_range(bootstrap, topic, 0, first, n, timeout=timeout)
    assert [(m.key(), m.value(), m.offset()) for m in got] == [
        (k, v, first + i) for i, (k, v, _, _) in enumerate(payload)]
    return time.monotonic() - t0


def fetching_consumer(bootstrap, topic, partition, offset, timeout=15, **conf):
    """A consumer assigned at `offset` (logical ones too) that has resolved its position and is
    fetching (librdkafka's fetch_state "active", seen through its statistics)."""
    import json
    state = {}

    def on_stats(text):
        stats = json.loads(text)
        p = stats.get("topics", {}).get(topic, {}).get("partitions", {}).get(str(partition), {})
        state["fetch_state"] = p.get("fetch_state")

    c = consumer(bootstrap, **{"statistics.interval.ms": 100, "stats_cb": on_stats, **conf})
    c.assign([TopicPartition(topic, partition, offset)])
    deadline = time.monotonic() + timeout
    while state.get("fetch_state") != "active":
        if time.monotonic() > deadline:
            c.close()
            raise AssertionError(f"consumer never started fetching: {state}")
        m = c.poll(0.05)
        assert m is None, f"unexpected message before fetching: {m.offset()}"
    return c
