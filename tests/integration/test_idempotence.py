"""The idempotent producer: producer ids, retries answered with their original offsets,
sequence and epoch errors, state that survives kill -9, and real clients with their defaults."""

import threading
import time

from confluent_kafka import KafkaError, TopicPartition

import kafka_wire as kw
from helpers import consumer, create_topic, producer, unique

OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
COORDINATOR_NOT_AVAILABLE = 15


def produce(sock, topic, batch, correlation_id=1):
    resp, _ = kw.timed_request(sock, kw.produce_v3_request(topic, 0, batch, correlation_id))
    corr, err, base = kw.parse_produce_v3(resp)
    assert corr == correlation_id
    return err, base


def test_resent_batch_gets_its_original_offset_and_gaps_are_refused(broker):
    topic = unique("idem")
    create_topic(broker.bootstrap, topic)
    with kw.connect(broker.port) as s:
        err, pid, epoch = kw.init_producer_id(s)
        assert (err, epoch) == (0, 0) and pid >= 0
        first = kw.record_batch([b"a", b"b", b"c"], pid, 0, 0)
        assert produce(s, topic, first) == (0, 0)
        assert produce(s, topic, first, 2) == (0, 0), "a resent batch is a duplicate"
        assert produce(s, topic, kw.record_batch([b"d"], pid, 0, 3), 3) == (0, 3)
        # A gap in the sequence: records would be missing.
        err, _ = produce(s, topic, kw.record_batch([b"x"], pid, 0, 9), 4)
        assert err == OUT_OF_ORDER_SEQUENCE_NUMBER
        # A new epoch starts at 0; the old epoch is fenced from then on.
        assert produce(s, topic, kw.record_batch([b"e"], pid, 1, 0), 5) == (0, 4)
        err, _ = produce(s, topic, kw.record_batch([b"y"], pid, 0, 4), 6)
        assert err == INVALID_PRODUCER_EPOCH
        assert kw.describe_producers(s, topic, 0) == (0, [(pid, 1, 0)])
        # Only five records are in the log.
        _, [(_, _, err, hw, records)] = kw.parse_fetch_v4(
            kw.timed_request(s, kw.fetch_v4_request(topic, 0, 0, max_wait_ms=0))[0])
        assert (err, hw) == (0, 5)
        assert [b[:2] for b in kw.batch_headers(records)] == [(0, 2), (3, 3), (4, 4)]


def test_retry_after_kill9_is_still_a_duplicate(broker):
    topic = unique("idem-kill")
    create_topic(broker.bootstrap, topic)
    with kw.connect(broker.port) as s:
        _, pid, _ = kw.init_producer_id(s)
        for seq in range(3):
            assert produce(s, topic, kw.record_batch([b"v%d" % seq], pid, 0, seq), seq + 1)[0] == 0
    broker.kill9()
    broker.start()
    with kw.connect(broker.port) as s:
        # The last batch, retried because its answer was lost in the crash.
        assert produce(s, topic, kw.record_batch([b"v2"], pid, 0, 2)) == (0, 2)
        assert produce(s, topic, kw.record_batch([b"v3"], pid, 0, 3), 2) == (0, 3)
        # Producer ids are never handed out twice, also across restarts.
        _, pid2, _ = kw.init_producer_id(s)
        assert pid2 > pid


def test_transactional_ids_wait_for_the_transaction_coordinator(broker):
    with kw.connect(broker.port) as s:
        err, pid, epoch = kw.init_producer_id(s, transactional_id="tx-1")
        assert (err, pid, epoch) == (COORDINATOR_NOT_AVAILABLE, -1, -1)


def test_readme_kafka_python_example_delivers_its_record(broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTP
    topic = unique("readme")
    p = KafkaProducer(bootstrap_servers=broker.bootstrap)  # idempotent by default
    metadata = p.send(topic, key=b"k", value=b"v").get(timeout=30)
    p.flush()
    p.close()
    assert metadata.offset == 0
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None)
    c.assign([KTP(topic, 0)])
    c.seek_to_beginning()
    got = []
    deadline = time.monotonic() + 15
    while not got and time.monotonic() < deadline:
        for records in c.poll(timeout_ms=500).values():
            got += [(r.key, r.value) for r in records]
    c.close()
    assert got == [(b"k", b"v")]


def test_idempotent_stream_through_kill9_has_every_record_exactly_once_in_order(broker):
    topic = unique("idem-stream")
    create_topic(broker.bootstrap, topic, partitions=2)
    total = 300_000
    # Idempotence switched on on purpose: librdkafka's default is off.
    p = producer(broker.bootstrap, **{
        "enable.idempotence": True, "linger.ms": 5, "message.timeout.ms": 120_000,
        "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200, "retry.backoff.ms": 50,
        "queue.buffering.max.messages": 100_000})
    errors = []
    acked = [0]

    def done(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[0] += 1

    def run():
        for seq in range(total):
            while True:
                try:
                    p.produce(topic, value=b"%08d" % seq, partition=seq % 2, on_delivery=done)
                    break
                except BufferError:
                    p.poll(0.01)
            if seq % 1000 == 0:
                p.poll(0)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    kills = []
    for _ in range(2):
        time.sleep(1.2)
        kills.append(acked[0])
        broker.kill9()
        time.sleep(0.3)
        broker.start()
    thread.join(120)
    assert p.flush(120) == 0
    assert not errors, errors[:5]
    assert kills[0] > 0 and kills[-1] < total, f"kills did not land mid-stream: {kills}"

    c = consumer(broker.bootstrap)
    try:
        for part in range(2):
            c.assign([TopicPartition(topic, part, 0)])
            values = []
            deadline = time.monotonic() + 60
            while len(values) < total // 2 and time.monotonic() < deadline:
                for m in c.consume(num_messages=10_000, timeout=0.5):
                    if m.error():
                        assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                        continue
                    values.append(int(m.value()))
            expected = list(range(part, total, 2))
            assert values == expected, (
                f"partition {part}: {len(values)} records, first difference at "
                f"{next((i for i, (a, b) in enumerate(zip(values, expected)) if a != b), None)}")
    finally:
        c.close()
