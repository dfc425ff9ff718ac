"""Log compaction on a real broker: latest value per key with offsets unchanged, in every codec;
tombstones gone after delete.retention.ms; kill -9 during a cleaning loses nothing kept;
keyless records refused on a compacted topic."""

import struct
import time
from pathlib import Path

from confluent_kafka import KafkaError, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KafkaPythonTopicPartition

from conftest import wait_for
from helpers import consumer, create_topic, produce_sync, producer, unique

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
KEY_COUNT = 6


def keys(codec):
    # Each codec has its own keys, so that the latest records of every codec survive.
    return [f"{codec}-key-{i}".encode() for i in range(KEY_COUNT)]


CLEANER = {"log.cleaner.backoff.ms": "200"}
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "4096",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "2000",
}


def value(codec, round_, key):
    # Compressible, so that librdkafka really compresses the batches.
    return f"{codec}-round-{round_:04d}-{key.decode()}-".encode() + b"payload " * 12


def produce_updates(bootstrap, topic, rounds, codecs=CODECS):
    """Rounds of updates of every key, each codec in turn; returns {offset: (key, value)}."""
    written = {}
    for codec in codecs:
        records = [(k, value(codec, r, k), None, 0) for r in range(rounds) for k in keys(codec)]
        if codec == "lz4":
            results = produce_kafka_python(bootstrap, topic, records, codec)
        else:
            results = produce_sync(bootstrap, topic, records,
                                   **{"compression.type": codec, "batch.num.messages": 12})
        for (k, v, _, _), (_, offset) in zip(records, results):
            written[offset] = (k, v)
    return written


def produce_kafka_python(bootstrap, topic, records, codec):
    """Records from kafka-python with its defaults (idempotent), for a second client's batches."""
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, acks="all",
                      linger_ms=5, batch_size=1500)
    futures = [p.send(topic, key=k, value=v, partition=0) for k, v, _, _ in records]
    p.flush(60)
    results = [(m.partition, m.offset) for m in (f.get(timeout=30) for f in futures)]
    p.close()
    return results


def consume_all(bootstrap, topic, timeout=30):
    """Every record from offset 0 up to the high watermark: {offset: (key, value)}."""
    c = consumer(bootstrap)
    try:
        _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, 0)])
        out = {}
        last = -1
        deadline = time.monotonic() + timeout
        while last < high - 1:
            assert time.monotonic() < deadline, f"consumed up to {last} of {high}"
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {m.error()}")
                assert m.offset() > last, "offsets go backwards"
                out[m.offset()] = (m.key(), m.value())
                last = m.offset()
        return out
    finally:
        c.close()


def latest_per_key(written):
    latest = {}
    for offset in sorted(written):
        latest[written[offset][0]] = offset
    return latest


def check_kept(written, consumed):
    """Every consumed record is what was written at its offset; each key's latest is there."""
    for offset, record in consumed.items():
        assert written.get(offset) == record, f"offset {offset}: {record} was not written there"
    for key, offset in latest_per_key(written).items():
        if written[offset][1] is not None:
            assert consumed.get(offset) == written[offset], f"latest of {key} at {offset} lost"


def consume_all_kafka_python(bootstrap, topic, timeout=30):
    """The same through kafka-python (python-lz4, python-snappy, zstandard, zlib)."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = KafkaPythonTopicPartition(topic, 0)
        c.assign([tp])
        high = c.end_offsets([tp])[tp]
        c.seek_to_beginning(tp)
        out = {}
        deadline = time.monotonic() + timeout
        while c.position(tp) < high:
            assert time.monotonic() < deadline, f"kafka-python reached {c.position(tp)} of {high}"
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    out[r.offset] = (r.key, r.value)
        return out
    finally:
        c.close()


def rewritten_batch_codecs(partition_dir: Path):
    """Codecs (attributes & 7) of the batches in the partition's segment files that the cleaner
    rewrote: fewer records than the offsets they span."""
    codecs = set()
    for path in sorted(partition_dir.glob("*.log")):
        data = path.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            length = struct.unpack_from(">i", data, pos + 8)[0]
            attributes, = struct.unpack_from(">h", data, pos + 21)
            last_delta, = struct.unpack_from(">i", data, pos + 23)
            count, = struct.unpack_from(">i", data, pos + 57)
            if 0 < count < last_delta + 1 and not attributes & 0x20:
                codecs.add(attributes & 7)
            pos += 12 + length
    return codecs


def test_latest_value_per_key_offsets_unchanged_every_codec(broker_factory):
    b = broker_factory(CLEANER)
    topic = unique("compacted")
    create_topic(b.bootstrap, topic, config=TOPIC_CONFIG)
    written = produce_updates(b.bootstrap, topic, rounds=40)
    assert len(written) == 40 * KEY_COUNT * len(CODECS)

    def compacted():
        consumed = consume_all(b.bootstrap, topic)
        return consumed if len(consumed) < len(written) // 4 else None

    consumed = wait_for(compacted, timeout=60, interval=0.5, what="compaction")
    check_kept(written, consumed)
    # Rewritten batches keep their codec (recompressed by the broker), and both clients read
    # them.
    codecs = rewritten_batch_codecs(b.data_dir / f"{topic}-0")
    assert codecs >= {0, 1, 2, 3, 4}, codecs
    again = consume_all(b.bootstrap, topic)
    check_kept(written, again)
    python_view = consume_all_kafka_python(b.bootstrap, topic)
    check_kept(written, python_view)
    assert set(python_view) <= set(consumed)
    assert (b.data_dir / "cleaner-offset-checkpoint").exists()
    # And it survives a restart (the cleaner may have gone on meanwhile: never back).
    b.restart()
    after = consume_all(b.bootstrap, topic)
    check_kept(written, after)
    assert set(after) <= set(consumed)


def test_tombstones_gone_after_delete_retention(broker_factory):
    b = broker_factory(CLEANER)
    topic = unique("tombstones")
    create_topic(b.bootstrap, topic, config=TOPIC_CONFIG)
    written = produce_updates(b.bootstrap, topic, rounds=20, codecs=["lz4"])
    gone = keys("lz4")[0]
    (_, offset), = produce_sync(b.bootstrap, topic, [(gone, None, None, 0)])
    written[offset] = (gone, None)
    # Push the tombstone out of the active segment.
    filler = [(b"filler-%d" % (i % 3), b"f" * 200, None, 0) for i in range(100)]
    for (k, v, _, _), (_, o) in zip(filler, produce_sync(b.bootstrap, topic, filler)):
        written[o] = (k, v)

    # First the tombstone is kept (and its older values are gone)...
    def tombstone_alone():
        consumed = consume_all(b.bootstrap, topic)
        mine = [o for o, (k, _) in consumed.items() if k == gone]
        return consumed if mine == [offset] else None

    consumed = wait_for(tombstone_alone, timeout=30, interval=0.3, what="first cleaning")
    assert consumed[offset] == (gone, None)
    check_kept(written, consumed)

    # ...then, delete.retention.ms later, it goes too.
    def tombstone_gone():
        consumed = consume_all(b.bootstrap, topic)
        return consumed if all(k != gone for k, _ in consumed.values()) else None

    consumed = wait_for(tombstone_gone, timeout=30, interval=0.3, what="tombstone removal")
    check_kept(written, consumed)
    for key in keys("lz4")[1:]:
        assert any(k == key for k, _ in consumed.values())


def test_kill9_during_cleaning_loses_nothing_kept(broker_factory):
    # A slow cleaner, so that a kill lands in the middle of a cleaning.
    b = broker_factory({**CLEANER, "log.cleaner.io.max.bytes.per.second": "60000"})
    topic = unique("crash")
    create_topic(b.bootstrap, topic, config=TOPIC_CONFIG)
    written = produce_updates(b.bootstrap, topic, rounds=60)
    pdir = b.data_dir / f"{topic}-0"
    wait_for(lambda: any(pdir.glob("*.cleaned")) or any(pdir.glob("*.swap")), timeout=60,
             interval=0.01, what="a cleaning in progress")
    b.kill9()
    left = sorted(p.name for p in pdir.iterdir() if p.suffix in (".cleaned", ".swap", ".deleted"))
    assert left, "the kill should leave cleaner files behind"
    b.start()
    consumed = consume_all(b.bootstrap, topic)
    check_kept(written, consumed)
    # Loading settled every interrupted swap.
    assert not any(p.suffix in (".swap", ".deleted") for p in pdir.iterdir())
    # The cleaner goes on after the restart and finishes the job.
    consumed = wait_for(
        lambda: (lambda c: c if len(c) < len(written) // 4 else None)(
            consume_all(b.bootstrap, topic)),
        timeout=120, interval=1, what="compaction after the restart")
    check_kept(written, consumed)


def test_keyless_record_to_compacted_topic_is_refused(broker_factory):
    b = broker_factory(CLEANER)
    topic = unique("keyless")
    create_topic(b.bootstrap, topic, config=TOPIC_CONFIG)
    for codec in ["none", "lz4"]:
        p = producer(b.bootstrap, **{"compression.type": codec, "acks": "all"})
        errors = []
        p.produce(topic, value=b"no key", partition=0, on_delivery=lambda e, m: errors.append(e))
        assert p.flush(15) == 0
        assert len(errors) == 1 and errors[0] is not None
        assert errors[0].code() == KafkaError.INVALID_RECORD == 87
    # Keyed records are still fine, and nothing keyless got in.
    produce_sync(b.bootstrap, topic, [(b"k", b"v", None, 0)])
    assert list(consume_all(b.bootstrap, topic).values()) == [(b"k", b"v")]
