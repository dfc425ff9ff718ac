"""kcat (Debian's, on librdkafka 2.0.2): metadata, keyed produce with headers, consume back."""

import json
import shutil
import subprocess

import pytest

import kafka_wire as kw
from helpers import create_topic, unique

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def kcat(*args, input=None, timeout=60):
    assert KCAT, "kcat is not installed (scripts/integration.sh installs it with apt-get)"
    r = subprocess.run([KCAT, *args], input=input, capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"kcat {args} exited {r.returncode}: {r.stderr.decode(errors='replace')}"
    return r


def test_kcat_lists_the_broker(broker):
    out = kcat("-b", broker.bootstrap, "-L").stdout.decode()
    assert "1 brokers:" in out, out
    assert f"broker 0 at {broker.bootstrap}" in out, out

    topic = unique("kcat-meta")
    create_topic(broker.bootstrap, topic, partitions=2)
    meta = json.loads(kcat("-b", broker.bootstrap, "-L", "-J", "-t", topic).stdout)
    assert meta["brokers"] == [{"id": 0, "name": broker.bootstrap}]
    [t] = meta["topics"]
    assert t["topic"] == topic
    assert "error" not in t or not t["error"]
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    for p in t["partitions"]:
        assert p["leader"] == 0
        assert [r["id"] for r in p["replicas"]] == [0]
        assert [r["id"] for r in p["isrs"]] == [0]


@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_keyed_produce_with_headers_and_consume_back(broker, compression):
    topic = unique(f"kcat-{compression}")
    # Auto-creation through the producer's Metadata request (1 partition by default).
    lines = [f"key{i}:value {i} {'x' * (i * 7)}" for i in range(50)]
    lines[10] = "key10:"  # empty value
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", "-z", compression,
         "-H", "h1=v1", "-H", "trace=abc-123",
         input=("\n".join(lines) + "\n").encode())

    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
               "-f", "%k|%s|%o|%p|%h\n").stdout.decode()
    expected = "".join(
        f"{line.split(':', 1)[0]}|{line.split(':', 1)[1]}|{i}|0|h1=v1,trace=abc-123\n"
        for i, line in enumerate(lines))
    assert out == expected

    # From an offset in the middle: exactly the records from there on.
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "37", "-e", "-q",
               "-f", "%o:%k\n").stdout.decode()
    assert out == "".join(f"{i}:key{i}\n" for i in range(37, 50))

    # The batches on the broker really are compressed with the codec kcat was asked for.
    # (librdkafka < 2.12 only compresses when the broker advertises Produce v0, and LZ4 only
    # when it advertises FindCoordinator: Kafka keeps advertising both, see KAFKA-18659.)
    # Skein advertises both, as Kafka 4 does.
    expected = compression
    # librdkafka sends a batch uncompressed when compressing would not shrink it (a lone
    # short record), so "none" may sit beside the codec asked for.
    stored = kw.stored_codecs(broker.port, topic, 0)
    assert expected in stored and stored <= {expected, "none"}, stored
