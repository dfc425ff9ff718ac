"""kafka-python: produce with every codec it supports, consume back with assign/seek (no group),
seek_to_beginning/end, beginning/end offsets and offsets_for_times."""

import random
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.codec import has_gzip, has_lz4, has_snappy, has_zstd

import kafka_wire as kw
from helpers import create_topic, unique

N = 3000
CODECS = {None: True, "gzip": has_gzip(), "snappy": has_snappy(), "lz4": has_lz4(),
          "zstd": has_zstd()}


def test_all_codecs_available():
    """tests/requirements.txt installs every codec kafka-python can use."""
    assert all(CODECS.values()), CODECS


def make_consumer(bootstrap, **extra):
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                         consumer_timeout_ms=2000, **extra)


def poll_all(c, count, timeout=30):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=500, max_records=5000).values():
            out.extend(recs)
    return out


@pytest.mark.parametrize("codec", list(CODECS), ids=lambda c: c or "none")
def test_produce_and_consume_each_codec(broker, codec):
    topic = unique(f"kp-{codec or 'none'}")
    create_topic(broker.bootstrap, topic, partitions=2)
    rng = random.Random(11)
    base_ts = int(time.time() * 1000) - 100_000
    records = []
    for i in range(N):
        key = None if i % 11 == 0 else f"k{i % 300}".encode()
        value = None if i % 37 == 0 and key is not None else rng.randbytes(rng.randrange(0, 300)) + b"abc" * (i % 50)
        headers = [] if i % 3 == 0 else [("i", str(i).encode()), ("e", b"")]
        records.append((key, value, headers, base_ts + i))

    p = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec,
                      linger_ms=10, batch_size=256 * 1024)
    futures = [p.send(topic, key=k, value=v, headers=h, partition=i % 2, timestamp_ms=ts)
               for i, (k, v, h, ts) in enumerate(records)]
    p.flush(60)
    metas = [f.get(timeout=30) for f in futures]
    p.close()
    expected = {}
    for i, m in enumerate(metas):
        assert m.partition == i % 2
        expected[(m.partition, m.offset)] = records[i]
    for part in (0, 1):
        offs = sorted(o for (pp, o) in expected if pp == part)
        assert offs == list(range(N // 2))
        assert kw.stored_codecs(broker.port, topic, part) == {codec or "none"}

    c = make_consumer(broker.bootstrap)
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    c.assign(tps)
    c.seek_to_beginning()
    got = poll_all(c, N)
    assert len(got) == N
    for r in got:
        k, v, h, ts = expected[(r.partition, r.offset)]
        assert (r.key, r.value, list(r.headers), r.timestamp) == (k, v, h, ts), (r.partition, r.offset)

    # beginning/end offsets, seek into the middle, seek_to_end.
    assert c.beginning_offsets(tps) == {tps[0]: 0, tps[1]: 0}
    assert c.end_offsets(tps) == {tps[0]: N // 2, tps[1]: N // 2}
    c.seek(tps[1], 777)
    c.pause(tps[0])
    [first] = poll_all(c, 1)[:1]
    assert (first.partition, first.offset) == (1, 777)
    assert first.value == expected[(1, 777)][1]
    c.resume(tps[0])
    c.seek_to_end()
    assert c.position(tps[0]) == N // 2 and c.position(tps[1]) == N // 2
    assert c.poll(timeout_ms=500) == {}

    # offsets_for_times: first record whose timestamp is >= the target (record i has base_ts + i).
    target = base_ts + 1501  # record 1501 is on partition 1 at offset 750
    found = c.offsets_for_times({tps[0]: target, tps[1]: target})
    got = {tp.partition: (found[tp].offset, found[tp].timestamp - base_ts) for tp in tps}
    # As (offset, timestamp - base_ts); Kafka looks inside compressed batches too.
    assert got == {0: (751, 1502), 1: (750, 1501)}, f"ListOffsets(ts=base+1501) -> {got}"
    later = c.offsets_for_times({tps[0]: base_ts + 10 * N})
    assert later[tps[0]] is None
    c.close()
