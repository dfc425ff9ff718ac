"""Seeks inside a batch, ListOffsets by timestamp, earliest/latest/max-timestamp."""

import struct
import time

import pytest
from confluent_kafka import OFFSET_END, TopicPartition
from confluent_kafka.admin import OffsetSpec

import kafka_wire as kw
from helpers import (admin, consume_range, consumer, create_topic, fetching_consumer,
                     producer, unique)

N = 100
MAX_TS_INDEX = 60


def produce_one_batch(bootstrap, topic, compression, t0):
    """N records in one batch (long linger, one flush): record i has timestamp t0 + 10*i, except
    record MAX_TS_INDEX which has the largest timestamp of all."""
    p = producer(bootstrap, **{"compression.type": compression, "linger.ms": 2000,
                               "batch.num.messages": 10_000, "acks": "all"})
    offsets = {}
    for i in range(N):
        ts = t0 + 10 * i if i != MAX_TS_INDEX else t0 + 1_000_000
        p.produce(topic, key=f"k{i}".encode(), value=f"value-{i}".encode(), partition=0,
                  timestamp=ts,
                  on_delivery=lambda err, msg, i=i: offsets.__setitem__(i, (err, msg.offset())))
    assert p.flush(30) == 0
    assert all(err is None for err, _ in offsets.values())
    assert [offsets[i][1] for i in range(N)] == list(range(N))


def first_batch_header(records: bytes):
    base_offset, length = struct.unpack(">qi", records[:12])
    last_offset_delta = struct.unpack(">i", records[23:27])[0]
    return base_offset, base_offset + last_offset_delta


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_seek_into_the_middle_of_a_batch(broker, compression):
    topic = unique(f"seek-{compression}")
    create_topic(broker.bootstrap, topic)
    produce_one_batch(broker.bootstrap, topic, compression, int(time.time() * 1000) - 60_000)

    # The batch really is one batch, and a fetch from inside it returns the whole batch.
    with kw.connect(broker.port) as s:
        resp, _ = kw.timed_request(s, kw.fetch_v4_request(topic, 0, 37, max_wait_ms=0))
        _, [(_, _, err, hw, records)] = kw.parse_fetch_v4(resp)
    assert err == 0 and hw == N
    assert first_batch_header(records) == (0, N - 1)
    codec = records[22] & 0x07  # attributes (int16 at 21..22), low 3 bits of the low byte
    assert codec == {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[compression]

    for start in (37, 0, 99):
        got = consume_range(broker.bootstrap, topic, 0, start, N - start, timeout=15)
        assert [(m.offset(), m.key(), m.value()) for m in got] == [
            (i, f"k{i}".encode(), f"value-{i}".encode()) for i in range(start, N)]


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_list_offsets_by_timestamp(broker, compression):
    topic = unique(f"ts-{compression}")
    create_topic(broker.bootstrap, topic)
    t0 = int(time.time() * 1000) - 60_000
    produce_one_batch(broker.bootstrap, topic, compression, t0)
    a = admin(broker.bootstrap)
    tp = TopicPartition(topic, 0)

    def list_offset(spec):
        r = a.list_offsets({tp: spec}, request_timeout=10)[tp].result(timeout=10)
        return r.offset, r.timestamp

    got = {
        "earliest": list_offset(OffsetSpec.earliest())[0],
        "latest": list_offset(OffsetSpec.latest())[0],
        # KIP-734: the record with the largest timestamp, not its batch's last offset.
        "max_timestamp": list_offset(OffsetSpec.max_timestamp()),
    }
    for label, target in [("exact 37", t0 + 370), ("between 37 and 38", t0 + 375),
                          ("before all", t0 - 5000), ("exact 50", t0 + 500),
                          ("exact 99", t0 + 990)]:
        got[label] = list_offset(OffsetSpec.for_timestamp(target))
    # After every record (even the max one): no offset.
    got["after all"] = list_offset(OffsetSpec.for_timestamp(t0 + 2_000_000))[0]
    expected = {"earliest": 0, "latest": N, "max_timestamp": (MAX_TS_INDEX, t0 + 1_000_000),
                "exact 37": (37, t0 + 370), "between 37 and 38": (38, t0 + 380),
                "before all": (0, t0), "exact 50": (50, t0 + 500),
                # Kafka: the FIRST offset whose timestamp is >= the target: record 60 (max ts).
                "exact 99": (MAX_TS_INDEX, t0 + 1_000_000), "after all": -1}

    def rel(d):  # timestamps relative to t0, for a readable failure
        return {k: (v[0], v[1] - t0) if isinstance(v, tuple) else v for k, v in d.items()}
    assert rel(got) == rel(expected)

    # The consumer API, then reading from the offset found gives that very record.
    c = consumer(broker.bootstrap)
    try:
        [c_found] = c.offsets_for_times([TopicPartition(topic, 0, t0 + 375)], timeout=10)
        lo, hi = c.get_watermark_offsets(tp, timeout=10)
    finally:
        c.close()
    assert (lo, hi) == (0, N)
    assert c_found.offset == 38, c_found
    [m] = consume_range(broker.bootstrap, topic, 0, c_found.offset, 1)
    assert (m.offset(), m.value(), m.timestamp()[1]) == (38, b"value-38", t0 + 380)


def test_earliest_and_latest_on_an_empty_and_growing_partition(broker):
    topic = unique("ends")
    create_topic(broker.bootstrap, topic)
    a = admin(broker.bootstrap)
    tp = TopicPartition(topic, 0)

    def ends():
        e = a.list_offsets({tp: OffsetSpec.earliest()})[tp].result(timeout=10).offset
        latest = a.list_offsets({tp: OffsetSpec.latest()})[tp].result(timeout=10).offset
        return e, latest

    assert ends() == (0, 0)
    p = producer(broker.bootstrap)
    for i in range(5):
        p.produce(topic, value=b"x", partition=0)
    p.flush(10)
    assert ends() == (0, 5)
    # A consumer assigned at OFFSET_END sees only what comes next.
    c = fetching_consumer(broker.bootstrap, topic, 0, OFFSET_END)
    try:
        p.produce(topic, value=b"after", partition=0)
        p.flush(10)
        deadline = time.monotonic() + 10
        m = None
        while m is None and time.monotonic() < deadline:
            m = c.poll(0.2)
        assert m is not None and m.error() is None
        assert (m.offset(), m.value()) == (5, b"after")
    finally:
        c.close()
