"""Fetch long-poll: woken by an append, answered by max_wait_ms when nothing comes."""

import threading
import time

from confluent_kafka import OFFSET_END

import kafka_wire as kw
from helpers import admin, create_topic, fetching_consumer, producer, unique


def test_consumer_blocked_in_poll_gets_a_record_quickly(broker):
    topic = unique("lp")
    create_topic(broker.bootstrap, topic)
    p = producer(broker.bootstrap, **{"linger.ms": 0, "acks": 1})
    p.list_topics(topic, timeout=10)  # connected and metadata known before timing anything
    c = fetching_consumer(broker.bootstrap, topic, 0, OFFSET_END,
                          **{"fetch.wait.max.ms": 5000, "fetch.min.bytes": 1})
    times = {}

    def produce_later():
        time.sleep(0.5)
        times["produce"] = time.monotonic()
        p.produce(topic, value=b"wake-up", partition=0)
        p.flush(10)
        times["acked"] = time.monotonic()

    try:
        t = threading.Thread(target=produce_later)
        start = time.monotonic()
        t.start()
        m = None
        while m is None and time.monotonic() - start < 8:
            m = c.poll(0.05)
        received = time.monotonic()
        t.join()
    finally:
        c.close()
    assert m is not None, "no record within 8 s"
    assert m.error() is None and (m.offset(), m.value()) == (0, b"wake-up")
    latency = received - times["produce"]
    print(f"produce->consume {latency * 1000:.0f} ms (ack after "
          f"{(times['acked'] - times['produce']) * 1000:.0f} ms)")
    assert latency < 0.3, f"record arrived {latency * 1000:.0f} ms after the produce"


def test_empty_long_poll_answers_at_max_wait(broker):
    topic = unique("lp-empty")
    create_topic(broker.bootstrap, topic)
    with kw.connect(broker.port) as s:
        for wait_ms in (1500, 300):
            resp, took = kw.timed_request(s, kw.fetch_v4_request(topic, 0, 0, max_wait_ms=wait_ms))
            _, [(_, _, err, hw, records)] = kw.parse_fetch_v4(resp)
            assert (err, hw, records) == (0, 0, b"")
            assert wait_ms / 1000 - 0.05 <= took <= wait_ms / 1000 + 0.5, (wait_ms, took)
        # max_wait 0: at once.
        resp, took = kw.timed_request(s, kw.fetch_v4_request(topic, 0, 0, max_wait_ms=0))
        assert took < 0.3


def test_min_bytes_not_reached_answers_at_max_wait_with_what_there_is(broker):
    topic = unique("lp-minbytes")
    create_topic(broker.bootstrap, topic)
    p = producer(broker.bootstrap, **{"linger.ms": 0})
    with kw.connect(broker.port) as s:
        threading.Timer(0.3, lambda: (p.produce(topic, value=b"tiny", partition=0),
                                      p.flush(5))).start()
        resp, took = kw.timed_request(
            s, kw.fetch_v4_request(topic, 0, 0, max_wait_ms=1500, min_bytes=100_000))
    _, [(_, _, err, hw, records)] = kw.parse_fetch_v4(resp)
    assert err == 0 and hw == 1
    assert [(b, l) for b, l, _ in kw.batch_headers(records)] == [(0, 0)]
    assert 1.4 <= took <= 2.0, took


def test_long_poll_answers_when_the_topic_is_deleted_meanwhile(broker):
    topic = unique("lp-del")
    create_topic(broker.bootstrap, topic)
    a = admin(broker.bootstrap)
    with kw.connect(broker.port) as s:
        threading.Timer(0.3, lambda: a.delete_topics([topic])[topic].result(10)).start()
        resp, took = kw.timed_request(s, kw.fetch_v4_request(topic, 0, 0, max_wait_ms=2000),
                                      timeout=10)
    _, parts = kw.parse_fetch_v4(resp)
    assert len(parts) == 1
    assert took <= 2.5, took
    # The same connection still works afterwards.
    with kw.connect(broker.port) as s:
        resp, _ = kw.timed_request(s, kw.api_versions_request(3))
        assert kw.parse_api_versions_v3(resp)[1] == 0


def test_pipelined_requests_answered_in_order_behind_a_long_poll(broker):
    topic = unique("lp-order")
    create_topic(broker.bootstrap, topic)
    with kw.connect(broker.port) as s:
        s.settimeout(10)
        t0 = time.monotonic()
        s.sendall(kw.fetch_v4_request(topic, 0, 0, max_wait_ms=1000, correlation_id=7)
                  + kw.api_versions_request(0, correlation_id=8))
        first = kw.recv_frame(s)
        second = kw.recv_frame(s)
        took = time.monotonic() - t0
    assert kw.parse_fetch_v4(first)[0] == 7
    corr, err, keys = kw.parse_api_versions_v0(second)
    assert (corr, err) == (8, 0) and 1 in keys
    assert 0.9 <= took <= 1.6, took
