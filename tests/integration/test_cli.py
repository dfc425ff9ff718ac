"""The `skein` command line against a real broker: topic admin, console produce and consume."""

import subprocess

from conftest import SKEIN_BIN
from helpers import unique


def skein(broker, *args, input=None, check=True):
    r = subprocess.run([SKEIN_BIN, *args, "--bootstrap", broker.bootstrap], input=input,
                       capture_output=True, timeout=60)
    if check:
        assert r.returncode == 0, f"skein {args} exited {r.returncode}: {r.stderr.decode()}"
    return r


def test_topic_lifecycle(broker):
    topic = unique("cli")
    skein(broker, "topic", "create", topic, "--partitions", "2", "--config", "retention.ms=3600000")
    assert topic in skein(broker, "topic", "list").stdout.decode().split()
    described = skein(broker, "topic", "describe", topic).stdout.decode()
    assert "retention.ms=3600000" in described, described
    assert described.count("Partition:") == 2, described

    skein(broker, "topic", "alter", topic, "--partitions", "3")
    assert skein(broker, "topic", "describe", topic).stdout.decode().count("Partition:") == 3

    again = skein(broker, "topic", "create", topic, check=False)
    assert again.returncode != 0
    assert b"already exists" in again.stderr

    skein(broker, "topic", "delete", topic)
    assert topic not in skein(broker, "topic", "list").stdout.decode().split()


def test_console_produce_and_consume(broker):
    topic = unique("cli-io")
    skein(broker, "topic", "create", topic, "--partitions", "1")
    lines = [f"k{i}:value {i}" for i in range(1000)]
    skein(broker, "produce", "--topic", topic, "--key-separator", ":", "--header", "h=1",
          input=("\n".join(lines) + "\n").encode())
    out = skein(broker, "consume", "--topic", topic, "--from-beginning", "--max-messages", "1000",
                "--timeout-ms", "10000", "--print-key", "--print-offset").stdout.decode()
    got = out.splitlines()
    assert len(got) == 1000
    assert "k0" in got[0] and "value 0" in got[0]
    assert "k999" in got[-1] and "value 999" in got[-1] and "999" in got[-1]

    tail = skein(broker, "consume", "--topic", topic, "--offset", "995", "--max-messages", "5",
                 "--timeout-ms", "10000").stdout.decode().splitlines()
    assert tail == [f"value {i}" for i in range(995, 1000)]


def test_errors_exit_non_zero(broker):
    r = skein(broker, "topic", "create", "bad/name", check=False)
    assert r.returncode != 0 and r.stderr
    r = skein(broker, "topic", "describe", unique("missing"), check=False)
    assert r.returncode != 0 and r.stderr
