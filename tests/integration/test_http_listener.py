"""The HTTP listener under hostile use: garbage, a client that sends a request slowly, and
1,000 idle connections. It keeps answering, the process keeps running, and the Kafka
listener does not notice."""

import os
import socket
import time
import urllib.request

from conftest import port_accepts, wait_for
from helpers import roundtrip_ok


def http_get(port, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read()


def test_garbage_slow_clients_and_idle_connections(broker):
    port = broker.http_port
    wait_for(lambda: port_accepts(port), timeout=30, what="the HTTP listener")
    assert http_get(port, "/v1/cluster")[0] == 200
    # Garbage: random bytes, a request line with no version, a header without a colon.
    for junk in [os.urandom(4096), b"GET\r\n\r\n", b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                 b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64]:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                pass
    # A slow client: the request line one byte at a time, while others are served.
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    for b in b"GET /v1/topics HTTP/1.1\r\nHost: x\r\n":
        slow.send(bytes([b]))
        time.sleep(0.005)
    assert http_get(port, "/metrics")[0] == 200
    slow.sendall(b"\r\n")
    slow.settimeout(10)
    assert slow.recv(64).startswith(b"HTTP/1.1 200")
    slow.close()
    # 1,000 idle connections to the HTTP listener.
    idle = []
    for _ in range(1000):
        idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    try:
        assert http_get(port, "/v1/cluster")[0] == 200
        assert roundtrip_ok(broker.bootstrap) < 10
    finally:
        for s in idle:
            s.close()
    assert broker.alive()
    assert http_get(port, "/metrics")[0] == 200
    assert roundtrip_ok(broker.bootstrap) < 10
