"""confluent-kafka: 100,000 records per compression codec, consumed back byte for byte."""

import random
import time

import pytest
from confluent_kafka import KafkaError, TopicPartition

import kafka_wire as kw
from helpers import consumer, create_topic, producer, unique

N = 100_000
PARTITIONS = 3


def make_records(seed):
    """Deterministic records: keys (some null), headers (some none, repeated keys, null header
    values), values of varied sizes (some null, some empty, some 20 KB, mixed compressibility)."""
    rng = random.Random(seed)
    text = b"the quick brown fox jumps over the lazy dog " * 500
    records = []
    for i in range(N):
        key = None if i % 97 == 0 else f"key-{i % 5000}".encode()
        r = rng.random()
        if i % 53 == 0:
            value = None
        elif i % 61 == 0:
            value = b""
        elif r < 0.002:
            value = rng.randbytes(20_000)
        elif r < 0.5:
            start = rng.randrange(0, 1000)
            value = text[start:start + rng.randrange(1, 400)]
        else:
            value = rng.randbytes(rng.randrange(1, 200))
        if i % 7 == 0:
            headers = None
        elif i % 7 == 1:
            headers = [("h", b"dup-1"), ("h", b"dup-2"), ("null", None)]
        else:
            headers = [("seq", str(i).encode()), ("bin", rng.randbytes(rng.randrange(0, 16)))]
        records.append((key, value, headers))
    return records


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_100k_records_roundtrip(broker, compression):
    topic = unique(f"bulk-{compression}")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    records = make_records(seed=len(compression) * 7919 + ord(compression[0]))

    t0 = time.monotonic()
    p = producer(broker.bootstrap, **{
        "compression.type": compression, "acks": "all", "linger.ms": 20,
        "batch.size": 1_000_000, "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 200_000, "queue.buffering.max.kbytes": 1_048_576,
        "message.timeout.ms": 120_000})
    delivered = {}
    errors = []

    # confluent-kafka has no per-message opaque: close over the index instead.
    def cb_for(i):
        return lambda err, msg: (errors.append((i, err)) if err is not None
                                 else delivered.__setitem__(i, (msg.partition(), msg.offset())))

    for i, (k, v, h) in enumerate(records):
        while True:
            try:
                p.produce(topic, key=k, value=v, headers=h, on_delivery=cb_for(i))
                break
            except BufferError:
                p.poll(0.01)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    produce_s = time.monotonic() - t0
    assert not errors, errors[:5]
    assert len(delivered) == N
    # Offsets per partition are 0..n-1, each used once.
    by_partition = {}
    for i, (part, off) in delivered.items():
        by_partition.setdefault(part, []).append(off)
    for part, offs in by_partition.items():
        assert sorted(offs) == list(range(len(offs))), f"partition {part} offsets not dense"
    # Same key -> same partition.
    key_part = {}
    for i, (k, _, _) in enumerate(records):
        if k is not None:
            assert key_part.setdefault(k, delivered[i][0]) == delivered[i][0]

    expected = {delivered[i]: records[i] for i in range(N)}
    t1 = time.monotonic()
    c = consumer(broker.bootstrap, **{"fetch.max.bytes": 52_428_800,
                                     "max.partition.fetch.bytes": 10_485_760,
                                     "queued.max.messages.kbytes": 262_144})
    c.assign([TopicPartition(topic, part, 0) for part in range(PARTITIONS)])
    seen = 0
    mismatches = []
    deadline = time.monotonic() + 120
    try:
        while seen < N and time.monotonic() < deadline:
            for m in c.consume(num_messages=10_000, timeout=0.5):
                err = m.error()
                if err is not None:
                    assert err.code() == KafkaError._PARTITION_EOF, err
                    continue
                at = (m.partition(), m.offset())
                want = expected.pop(at, None)
                if want is None:
                    mismatches.append(("unexpected or duplicate", at))
                    continue
                seen += 1
                k, v, h = want
                got_h = m.headers()
                if (m.key(), m.value(), got_h) != (k, v, h):
                    mismatches.append((at, (m.key(), m.value(), got_h), (k, v, h)))
                if m.topic() != topic:
                    mismatches.append((at, "topic", m.topic()))
    finally:
        c.close()
    consume_s = time.monotonic() - t1
    print(f"{compression}: produced {N} in {produce_s:.1f}s, consumed in {consume_s:.1f}s")
    assert not mismatches, mismatches[:3]
    assert seen == N, f"consumed {seen} of {N}; first missing: {sorted(expected)[:5]}"
    # The producer really compressed: the stored batches carry the codec asked for.
    # (librdkafka enables LZ4 only when the broker advertises FindCoordinator, which it does.)
    # librdkafka sends a batch uncompressed when compressing does not make it smaller (a small
    # last batch can): so the codec asked for is in every partition, beside at most "none".
    codecs = {part: kw.stored_codecs(broker.port, topic, part) for part in range(PARTITIONS)}
    for part, found in codecs.items():
        assert compression in found and found <= {compression, "none"}, (part, found)
