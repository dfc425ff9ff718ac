"""A minimal hand-written Kafka wire codec for the raw-socket tests (no client library)."""

import socket
import struct
import time


def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def array(items):
    return i32(len(items)) + b"".join(items)


def request_frame(api_key, version, correlation_id, body=b"", client_id="skein-it", flexible=False):
    header = i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)
    if flexible:
        header += uvarint(0)  # tagged fields
    payload = header + body
    return i32(len(payload)) + payload


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError(f"read underflow at {self.pos}+{n} of {len(self.data)}")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = 0
        value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def remaining(self):
        return len(self.data) - self.pos


def connect(port, timeout=5.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def recv_frame(sock) -> bytes:
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    return recv_exact(sock, size)


def closed_by_peer(sock, timeout=5.0) -> bool:
    """True when the peer closes (EOF or reset) within `timeout`; False if it stays open."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# --- ApiVersions ---------------------------------------------------------------------------

def api_versions_request(version, correlation_id=1):
    if version >= 3:
        body = compact_string("skein-it") + compact_string("1.0") + uvarint(0)
        return request_frame(18, version, correlation_id, body, flexible=True)
    return request_frame(18, version, correlation_id)


def parse_api_versions_v0(frame: bytes):
    """Response header v0 + ApiVersions v0 body -> (correlation_id, error_code, {key: (min, max)})."""
    r = Reader(frame)
    corr = r.i32()
    err = r.i16()
    n = r.i32()
    keys = {}
    for _ in range(n):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        keys[k] = (lo, hi)
    return corr, err, keys


def parse_api_versions_v3(frame: bytes):
    r = Reader(frame)
    corr = r.i32()  # ApiVersions responses always use header v0
    err = r.i16()
    n = r.uvarint() - 1
    keys = {}
    for _ in range(n):
        k, lo, hi = r.i16(), r.i16(), r.i16()
        r.uvarint()  # tagged fields
        keys[k] = (lo, hi)
    throttle = r.i32()
    return corr, err, keys, throttle


# --- Fetch v4 (non-flexible) ----------------------------------------------------------------

def fetch_v4_request(topic, partition, offset, max_wait_ms, min_bytes=1, max_bytes=1 << 20,
                     correlation_id=1):
    body = (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])]))
    return request_frame(1, 4, correlation_id, body)


def parse_fetch_v4(frame: bytes):
    """-> (correlation_id, [(topic, partition, error, high_watermark, records_bytes)])."""
    r = Reader(frame)
    corr = r.i32()
    r.i32()  # throttle
    out = []
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err = r.i16()
            hw = r.i64()
            r.i64()  # last stable offset
            n = r.i32()
            for _ in range(max(n, 0)):
                r.i64()
                r.i64()
            records = r.bytes_()
            out.append((topic, p, err, hw, records or b""))
    return corr, out


def timed_request(sock, frame, timeout=30.0):
    """Sends one request, returns (response_frame, seconds)."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    sock.sendall(frame)
    resp = recv_frame(sock)
    return resp, time.monotonic() - t0


# --- RecordBatch inspection -----------------------------------------------------------------

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def batch_headers(records: bytes):
    """Yields (base_offset, last_offset, codec_name) for each whole batch in `records`."""
    pos = 0
    while pos + 61 <= len(records):
        base_offset, length = struct.unpack(">qi", records[pos:pos + 12])
        if pos + 12 + length > len(records):
            return
        attributes = struct.unpack(">h", records[pos + 21:pos + 23])[0]
        last_delta = struct.unpack(">i", records[pos + 23:pos + 27])[0]
        yield base_offset, base_offset + last_delta, CODECS.get(attributes & 0x07, attributes & 0x07)
        pos += 12 + length


def stored_codecs(port, topic, partition, offset=0, max_bytes=1 << 20):
    """The codecs of the batches stored from `offset` on, as a Fetch v4 returns them."""
    with connect(port) as s:
        resp, _ = timed_request(
            s, fetch_v4_request(topic, partition, offset, max_wait_ms=0, max_bytes=max_bytes))
    _, [(_, _, err, _, records)] = parse_fetch_v4(resp)
    assert err == 0, f"fetch error {err}"
    return {codec for _, _, codec in batch_headers(records)}


# --- Idempotent produce ---------------------------------------------------------------------

def varint(v):
    return uvarint((v << 1) ^ (v >> 63))


def record_batch(values, producer_id=-1, epoch=-1, base_sequence=-1, timestamp=None):
    """An uncompressed v2 batch of keyless records, with the producer fields given."""
    import crc32c
    ts = int(time.time() * 1000) if timestamp is None else timestamp
    records = b""
    for delta, value in enumerate(values):
        body = (i8(0) + varint(0) + varint(delta) + varint(-1) + varint(len(value)) + value
                + varint(0))
        records += varint(len(body)) + body
    after_crc = (i16(0) + i32(len(values) - 1) + i64(ts) + i64(ts) + i64(producer_id)
                 + i16(epoch) + i32(base_sequence) + i32(len(values)) + records)
    crc = crc32c.crc32c(after_crc)
    rest = i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(rest)) + rest


def produce_v3_request(topic, partition, batch, correlation_id=1, acks=-1, transactional_id=None):
    body = (string(transactional_id) + i16(acks) + i32(10_000)
            + array([string(topic) + array([i32(partition) + i32(len(batch)) + batch])]))
    return request_frame(0, 3, correlation_id, body)


def parse_produce_v3(frame: bytes):
    """(correlation id, error code, base offset) of a one-partition Produce v3 response."""
    r = Reader(frame)
    corr = r.i32()
    assert r.i32() == 1
    r.string()
    assert r.i32() == 1
    r.i32()
    err = r.i16()
    base = r.i64()
    r.i64()  # log append time
    return corr, err, base


def init_producer_id(sock, transactional_id=None, correlation_id=7):
    """InitProducerId v0: (error code, producer id, epoch)."""
    frame = request_frame(22, 0, correlation_id, string(transactional_id) + i32(60_000))
    resp, _ = timed_request(sock, frame)
    r = Reader(resp)
    assert r.i32() == correlation_id
    r.i32()  # throttle
    return r.i16(), r.i64(), r.i16()


def describe_producers(sock, topic, partition, correlation_id=8):
    """DescribeProducers v0 for one partition: (error code, [(id, epoch, last seq)])."""
    body = uvarint(2) + compact_string(topic) + uvarint(2) + i32(partition) + uvarint(0) + uvarint(0)
    resp, _ = timed_request(sock, request_frame(61, 0, correlation_id, body, flexible=True))
    r = Reader(resp)
    assert r.i32() == correlation_id
    r.uvarint()  # response header tags
    r.i32()  # throttle
    assert r.uvarint() == 2
    r.take(r.uvarint() - 1)
    assert r.uvarint() == 2
    r.i32()
    err = r.i16()
    n = r.uvarint()
    if n > 1:
        r.take(n - 1)
    producers = []
    for _ in range(r.uvarint() - 1):
        pid, epoch, seq = r.i64(), r.i32(), r.i32()
        r.i64()
        r.i32()
        r.i64()
        r.uvarint()
        producers.append((pid, epoch, seq))
    return err, producers
