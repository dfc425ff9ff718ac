"""SkeinClient's producer against the real broker: `skein produce` is idempotent by default
(the broker knows its producer id and last sequence), and --no-idempotence turns it off."""

import subprocess

import kafka_wire as kw
from conftest import SKEIN_BIN
from helpers import create_topic, unique


def skein(broker, *args, input=None, check=True):
    r = subprocess.run([SKEIN_BIN, *args, "--bootstrap", broker.bootstrap], input=input,
                       capture_output=True, timeout=60)
    if check:
        assert r.returncode == 0, f"skein {args} exited {r.returncode}: {r.stderr.decode()}"
    return r


def lines(values):
    return ("\n".join(values) + "\n").encode()


def producers(broker, topic, partition=0):
    with kw.connect(broker.port) as s:
        err, found = kw.describe_producers(s, topic, partition)
    assert err == 0
    return found


def test_skein_produce_is_idempotent_by_default(broker):
    topic = unique("idem-cli")
    create_topic(broker.bootstrap, topic, partitions=2)
    # Small batches: many batches, each with its own base sequence.
    skein(broker, "produce", "--topic", topic, "--partition", "0", "--batch-size", "200",
          input=lines(f"value {i}" for i in range(300)))
    [(pid, epoch, last_sequence)] = producers(broker, topic, 0)
    assert pid >= 0 and epoch == 0
    assert last_sequence == 299, "one sequence per record, counted from 0"
    assert producers(broker, topic, 1) == []

    # Keyed lines spread over both partitions: each partition counts its own sequence.
    skein(broker, "produce", "--topic", topic, "--key-separator", ":",
          input=lines(f"k{i}:v{i}" for i in range(100)))
    p0 = producers(broker, topic, 0)
    p1 = producers(broker, topic, 1)
    assert len(p0) == 2 and len(p1) == 1, (p0, p1)
    second = p1[0][0]
    assert second != pid, "a new producer gets a new id"
    in_p0 = [seq for (id_, _, seq) in p0 if id_ == second][0] + 1
    assert in_p0 + p1[0][2] + 1 == 100

    out = skein(broker, "consume", "--topic", topic, "--partition", "0", "--from-beginning",
                "--max-messages", "300", "--timeout-ms", "10000").stdout.decode().splitlines()
    assert out[:300] == [f"value {i}" for i in range(300)]


def test_no_idempotence_and_conflicting_acks(broker):
    topic = unique("plain-cli")
    create_topic(broker.bootstrap, topic)
    skein(broker, "produce", "--topic", topic, "--no-idempotence", input=lines(["a", "b"]))
    assert producers(broker, topic) == []
    # acks=1 without an explicit choice quietly produces without idempotence, as Java does.
    skein(broker, "produce", "--topic", topic, "--acks", "1", input=lines(["c"]))
    assert producers(broker, topic) == []
    r = skein(broker, "produce", "--topic", topic, "--idempotence", "--acks", "1",
              input=lines(["d"]), check=False)
    assert r.returncode != 0 and b"acks" in r.stderr
    out = skein(broker, "consume", "--topic", topic, "--from-beginning", "--max-messages", "3",
                "--timeout-ms", "10000").stdout.decode().splitlines()
    assert out == ["a", "b", "c"]
