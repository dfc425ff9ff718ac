"""Hostile and broken clients over raw sockets. After each, the broker is alive and a normal
produce/consume succeeds."""

import random
import socket
import struct
import time

import pytest

import kafka_wire as kw
from helpers import create_topic, roundtrip_ok, unique


def healthy(broker, within=10.0):
    assert broker.alive(), f"broker died:\n{broker.log_tail()}"
    took = roundtrip_ok(broker.bootstrap, timeout=int(within))
    assert took < within, f"normal produce/consume took {took:.1f}s"
    assert broker.alive()
    return took


def send_and_expect_close(broker, data, why, timeout=5.0):
    with kw.connect(broker.port) as s:
        s.sendall(data)
        assert kw.closed_by_peer(s, timeout), f"broker kept the connection open after {why}"


def test_truncated_frame_then_close(broker):
    with kw.connect(broker.port) as s:
        s.sendall(kw.i32(100) + b"\x00\x12\x00\x00" + b"abcdef")  # 10 of 100 bytes
    frame = kw.api_versions_request(3)
    with kw.connect(broker.port) as s:
        s.sendall(frame[:len(frame) // 2])  # half a real request
    healthy(broker)


def test_frame_claiming_2gb(broker):
    send_and_expect_close(broker, kw.i32(0x7FFFFFFF) + b"\x00\x00\x00\x12" * 64, "a 2 GB size")
    send_and_expect_close(broker, kw.i32(-1) + b"\x00" * 16, "a negative size")
    # Just over socket.request.max.bytes (100 MiB): refused before it is read.
    send_and_expect_close(broker, kw.i32(104857600 + 1) + b"\x00" * 16, "a size over the limit")
    healthy(broker)


def test_garbage_bytes(broker):
    rng = random.Random(1234)
    for i in range(20):
        blob = rng.randbytes(rng.randrange(1, 4096))
        with kw.connect(broker.port) as s:
            try:
                s.sendall(blob)
            except OSError:
                pass
            kw.closed_by_peer(s, 0.2)
    # Garbage inside a well-formed frame: refused, connection closed.
    for i in range(20):
        body = rng.randbytes(rng.randrange(0, 64))
        send_and_expect_close(broker, kw.i32(len(body)) + body, f"garbage frame {body.hex()}")
    # A header whose client id claims more bytes than the frame has.
    bad = kw.i16(18) + kw.i16(0) + kw.i32(1) + kw.i16(1000) + b"short"
    send_and_expect_close(broker, kw.i32(len(bad)) + bad, "a client id longer than the frame")
    healthy(broker)


def test_unknown_api_key(broker):
    for key in (9999, 32767, -1, 38, 67):  # 38/67: CreateDelegationToken/AllocateProducerIds
        send_and_expect_close(broker, kw.request_frame(key, 0, 5, b"\x00" * 8),
                              f"unknown/unserved api key {key}")
    healthy(broker)


def test_valid_request_then_garbage_in_one_read_gets_its_response(broker):
    with kw.connect(broker.port) as s:
        s.sendall(kw.api_versions_request(0, correlation_id=77) + b"\xff" * 12)
        s.settimeout(5)
        corr, err, keys = kw.parse_api_versions_v0(kw.recv_frame(s))
        assert (corr, err) == (77, 0) and 18 in keys
        assert kw.closed_by_peer(s, 5), "the garbage frame did not close the connection"
    healthy(broker)


def test_unsupported_produce_version(broker):
    for version in (99, -1):
        send_and_expect_close(broker, kw.request_frame(0, version, 5, b"\x00" * 32),
                              f"Produce v{version}")
    # A served version with a body cut short: refused, not half-applied.
    body = kw.string(None) + kw.i16(1) + kw.i32(1000) + kw.i32(1) + kw.string("x")
    send_and_expect_close(broker, kw.request_frame(0, 3, 6, body), "a truncated Produce v3 body")
    healthy(broker)


def test_api_versions_v99_gets_unsupported_version_in_a_v0_body(broker):
    with kw.connect(broker.port) as s:
        resp, _ = kw.timed_request(s, kw.api_versions_request(99, correlation_id=4242))
        corr, err, keys = kw.parse_api_versions_v0(resp)
        assert corr == 4242
        assert err == 35  # UNSUPPORTED_VERSION
        assert keys.get(18) is not None and keys[18][0] == 0 and keys[18][1] >= 3
        assert 0 in keys and 1 in keys and 3 in keys
        # The client then retries with a version it shares, on the same connection.
        resp, _ = kw.timed_request(s, kw.api_versions_request(3, correlation_id=4243))
        corr, err, keys_v3, throttle = kw.parse_api_versions_v3(resp)
        assert (corr, err) == (4243, 0)
        assert keys_v3 == keys
        resp, _ = kw.timed_request(s, kw.api_versions_request(0, correlation_id=4244))
        assert kw.parse_api_versions_v0(resp)[:2] == (4244, 0)
    healthy(broker)


def test_client_vanishing_mid_request(broker):
    topic = unique("vanish")
    create_topic(broker.bootstrap, topic)
    # Gone while its long-poll fetch waits (FIN, then RST).
    for rst in (False, True):
        s = kw.connect(broker.port)
        s.sendall(kw.fetch_v4_request(topic, 0, 0, max_wait_ms=500))
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    # Gone after sending part of a produce.
    s = kw.connect(broker.port)
    s.sendall(kw.i32(5000) + kw.i16(0) + kw.i16(9) + kw.i32(1) + b"\x00" * 40)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    # Gone with many pipelined requests unread.
    s = kw.connect(broker.port)
    s.sendall(b"".join(kw.api_versions_request(3, correlation_id=i) for i in range(500)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(0.8)  # the abandoned long-polls expire
    healthy(broker)


def test_thousand_idle_connections(broker):
    socks = []
    try:
        for _ in range(1000):
            socks.append(kw.connect(broker.port, timeout=10))
        took = healthy(broker, within=5.0)
        print(f"produce/consume with 1000 idle connections: {took * 1000:.0f} ms")
        # The idle connections are still served.
        for s in (socks[0], socks[500], socks[-1]):
            resp, _ = kw.timed_request(s, kw.api_versions_request(3, correlation_id=77), timeout=5)
            assert kw.parse_api_versions_v3(resp)[:2] == (77, 0)
    finally:
        for s in socks:
            s.close()
    healthy(broker)
