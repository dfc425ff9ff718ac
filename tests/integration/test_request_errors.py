"""Kafka's RequestMetrics ErrorsPerSec under the JMX exporter's name,
kafka_network_requestmetrics_errors_total{request, error}: every error code of every answer
(top-level, per topic, per partition), NONE included, under the API and Kafka's error name."""

import shutil
import subprocess
import urllib.request

import pytest

from cluster_helpers import running_cluster
from conftest import port_accepts, wait_for
from helpers import consume_range, create_topic, produce_sync, unique
from kafka_wire import (Reader, array, connect, i8, i16, i32, i64, parse_produce_v3,
                        produce_v3_request, record_batch, recv_frame, request_frame, string)

ERRORS = "kafka_network_requestmetrics_errors_total"


def scrape(broker):
    return scrape_at(f"127.0.0.1:{broker.http_port}")


def scrape_at(http):
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=10) as r:
        assert r.status == 200
        return r.read()


def errors(broker):
    return errors_in(scrape(broker))


def errors_in(page):
    """{(request, error): count} of the errors_total family in a metrics page."""
    out = {}
    for line in page.decode().splitlines():
        if not line.startswith(ERRORS + "{"):
            continue
        labels, value = line[len(ERRORS) + 1:].rsplit("} ", 1)
        pairs = dict(p.split("=", 1) for p in labels.split(","))
        out[(pairs["request"].strip('"'), pairs["error"].strip('"'))] = float(value)
    return out


def grown(before, after):
    """What each (request, error) series gained between two scrapes."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def round_trip(sock, frame):
    sock.sendall(frame)
    return recv_frame(sock)


def list_offsets_v1(topic, partitions, correlation_id):
    body = i32(-1) + array([string(topic) + array([i32(p) + i64(-1) for p in partitions])])
    return request_frame(2, 1, correlation_id, body)


def parse_list_offsets_v1(frame):
    """{partition: error code} of a one-topic ListOffsets v1 answer."""
    r = Reader(frame)
    r.i32()  # correlation id
    assert r.i32() == 1
    r.string()
    codes = {}
    for _ in range(r.i32()):
        partition, code = r.i32(), r.i16()
        r.i64()
        r.i64()
        codes[partition] = code
    return codes


def create_topics_v0(name, correlation_id):
    body = array([string(name) + i32(1) + i16(1) + array([]) + array([])]) + i32(10_000)
    return request_frame(19, 0, correlation_id, body)


def parse_create_topics_v0(frame):
    """{topic: error code} of a CreateTopics v0 answer."""
    r = Reader(frame)
    r.i32()  # correlation id
    return {r.string(): r.i16() for _ in range(r.i32())}


def metadata_v4(topics, correlation_id):
    """Metadata v4 for `topics`, without auto-creation."""
    return request_frame(3, 4, correlation_id, array([string(t) for t in topics]) + i8(0))


def parse_metadata_v4_topic_errors(frame):
    """{topic: error code} of a Metadata v4 answer."""
    r = Reader(frame)
    r.i32()  # correlation id
    r.i32()  # throttle
    for _ in range(r.i32()):
        r.i32()
        r.string()
        r.i32()
        r.string()
    r.string()  # cluster id
    r.i32()  # controller id
    codes = {}
    for _ in range(r.i32()):
        code, name = r.i16(), r.string()
        r.i8()
        for _ in range(r.i32()):
            r.i16()
            r.i32()  # partition
            r.i32()  # leader
            for _ in range(2):  # replicas, isr
                for _ in range(r.i32()):
                    r.i32()
        codes[name] = code
    return codes


def test_errors_are_counted_per_api_and_code(broker):
    wait_for(lambda: port_accepts(broker.http_port), timeout=30, what="the HTTP listener")
    topic = unique("errs")
    create_topic(broker.bootstrap, topic, partitions=2)

    # confluent-kafka with its defaults: every partition answer is NONE.
    before = errors(broker)
    produce_sync(broker.bootstrap, topic, [(b"k%d" % i, b"v" * 100, None, i % 2) for i in range(40)])
    gained = grown(before, errors(broker))
    assert gained.get(("Produce", "NONE"), 0) >= 2, gained
    assert not [k for k in gained if k[0] == "Produce" and k[1] != "NONE"], gained
    assert len(consume_range(broker.bootstrap, topic, 0, 0, 20)) == 20
    assert errors(broker).get(("Fetch", "NONE"), 0) >= 1

    sock = connect(broker.port)
    try:
        # A produce to a partition the topic does not have: one UNKNOWN_TOPIC_OR_PARTITION.
        before = errors(broker)
        answer = round_trip(sock, produce_v3_request(topic, 7, record_batch([b"x"]), 11, acks=1))
        assert parse_produce_v3(answer)[1] == 3
        assert grown(before, errors(broker)) == {("Produce", "UNKNOWN_TOPIC_OR_PARTITION"): 1}

        # ListOffsets for a partition that exists and one that does not: each code once.
        before = errors(broker)
        answer = round_trip(sock, list_offsets_v1(topic, [0, 9], 12))
        assert parse_list_offsets_v1(answer) == {0: 0, 9: 3}
        assert grown(before, errors(broker)) == {
            ("ListOffsets", "NONE"): 1, ("ListOffsets", "UNKNOWN_TOPIC_OR_PARTITION"): 1}

        # Metadata of a known and an unknown topic: the topics' codes and the partitions'.
        missing = unique("missing")
        before = errors(broker)
        answer = round_trip(sock, metadata_v4([topic, missing], 13))
        assert parse_metadata_v4_topic_errors(answer) == {topic: 0, missing: 3}
        assert grown(before, errors(broker)) == {
            ("Metadata", "NONE"): 3, ("Metadata", "UNKNOWN_TOPIC_OR_PARTITION"): 1}
    finally:
        sock.close()

    # The family has its HELP and TYPE and the page still passes promtool.
    page = scrape(broker)
    assert f"# TYPE {ERRORS} counter".encode() in page
    assert f"# HELP {ERRORS} ".encode() in page
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is not installed"
    r = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


@pytest.fixture
def cluster(tmp_path, request):
    yield from running_cluster(tmp_path, request, brokers=2, racks=1)


def test_a_relayed_answer_is_counted_where_the_client_asked(cluster):
    """Node 1 is not the controller: it relays CreateTopics and counts the answer's codes."""
    cluster.up(timeout=180)
    node = cluster.node(1)
    port = node["listen"].rsplit(":", 1)[1]
    topic = unique("relayed")
    before = errors_in(scrape_at(node["http"]))
    sock = connect(int(port))
    try:
        assert parse_create_topics_v0(round_trip(sock, create_topics_v0(topic, 21))) == {topic: 0}
        assert parse_create_topics_v0(round_trip(sock, create_topics_v0(topic, 22))) == {topic: 36}
    finally:
        sock.close()
    page = scrape_at(node["http"])
    assert grown(before, errors_in(page)) == {
        ("CreateTopics", "NONE"): 1, ("CreateTopics", "TOPIC_ALREADY_EXISTS"): 1}
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is not installed"
    r = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
