"""kill -9 mid-stream: every acknowledged record survives, and the log goes on from there."""

import threading
import time

from confluent_kafka import KafkaError, TopicPartition

from helpers import consumer, create_topic, producer, unique

PARTITIONS = 2


class Stream:
    """Produces numbered records with acks=all as fast as it can, on a thread."""

    def __init__(self, bootstrap, topic):
        self.topic = topic
        self.p = producer(bootstrap, **{
            "acks": "all", "linger.ms": 2, "message.timeout.ms": 20_000,
            "reconnect.backoff.ms": 20, "reconnect.backoff.max.ms": 200,
            "retry.backoff.ms": 50, "queue.buffering.max.messages": 50_000})
        self.acked = {}   # seq -> (partition, offset)
        self.failed = {}  # seq -> error
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def value(self, seq):
        return f"record-{seq:08d}-".encode() + b"x" * (seq % 300)

    def run(self):
        seq = 0
        while not self.stop.is_set():
            def done(err, msg, seq=seq):
                if err is None:
                    self.acked[seq] = (msg.partition(), msg.offset())
                else:
                    self.failed[seq] = err
            try:
                self.p.produce(self.topic, key=str(seq).encode(), value=self.value(seq),
                               partition=seq % PARTITIONS, on_delivery=done)
                seq += 1
                self.sent = seq
            except BufferError:
                self.p.poll(0.01)
                continue
            if seq % 100 == 0:
                self.p.poll(0)
                time.sleep(0.001)
        self.p.poll(0)


def read_all(bootstrap, topic, partition, timeout=60):
    """Every record of the partition from offset 0 to its end, as {offset: value}."""
    c = consumer(bootstrap)
    lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    out = {}
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        deadline = time.monotonic() + timeout
        while len(out) < hi and time.monotonic() < deadline:
            for m in c.consume(num_messages=10_000, timeout=0.5):
                if m.error():
                    assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                    continue
                assert m.offset() not in out, f"offset {m.offset()} delivered twice"
                out[m.offset()] = m.value()
    finally:
        c.close()
    return lo, hi, out


def test_kill9_loses_no_acknowledged_record(broker):
    topic = unique("durable")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    stream = Stream(broker.bootstrap, topic)
    stream.thread.start()
    kills = []
    for cycle in range(2):
        time.sleep(1.5)
        before = len(stream.acked)
        broker.kill9()
        kills.append((before, stream.sent))
        time.sleep(0.3)
        broker.start()
        assert broker.alive()
    time.sleep(1.0)
    stream.stop.set()
    stream.thread.join(10)
    assert stream.p.flush(30) == 0
    print(f"sent {stream.sent}, acked {len(stream.acked)}, failed {len(stream.failed)}, "
          f"acked/sent at each kill: {kills}")
    for before, _ in kills:
        assert before > 0, "nothing was acknowledged before a kill: the test proves nothing"

    for part in range(PARTITIONS):
        lo, hi, stored = read_all(broker.bootstrap, topic, part)
        assert lo == 0
        assert sorted(stored) == list(range(hi)), f"partition {part}: offsets not dense 0..{hi}"
        acked_here = {seq: off for seq, (p, off) in stream.acked.items() if p == part}
        lost = [(seq, off) for seq, off in acked_here.items()
                if stored.get(off) != stream.value(seq)]
        assert not lost, (f"partition {part}: {len(lost)} acknowledged records missing or "
                          f"different, e.g. {sorted(lost)[:5]} (end offset {hi})")
        if acked_here:
            assert hi >= max(acked_here.values()) + 1

        # The log continues right after what it has.
        p = producer(broker.bootstrap, **{"acks": "all"})
        after = []
        for i in range(10):
            p.produce(topic, value=f"after-{i}".encode(), partition=part,
                      on_delivery=lambda err, msg: after.append((err, msg.offset())))
        assert p.flush(10) == 0
        assert after == [(None, hi + i) for i in range(10)]
        _, hi2, stored2 = read_all(broker.bootstrap, topic, part)
        assert hi2 == hi + 10
        assert [stored2[hi + i] for i in range(10)] == [f"after-{i}".encode() for i in range(10)]

    # Each restart after a kill went through recovery.
    restarts = broker.log_text().split("===== start #")[2:]
    assert len(restarts) == 2
    for text in restarts:
        assert "unclean shutdown" in text and "recovered" in text, text[-2000:]
