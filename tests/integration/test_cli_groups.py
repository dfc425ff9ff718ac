"""`skein consume --group` and `skein group` against the real broker's group coordinator,
alongside confluent-kafka consumers with their default settings."""

import signal
import subprocess
import time

import pytest

from conftest import SKEIN_BIN, wait_for
from helpers import create_topic, unique
from confluent_kafka import Consumer


def skein(broker, *args, input=None, check=True, timeout=60):
    r = subprocess.run([SKEIN_BIN, *args, "--bootstrap", broker.bootstrap], input=input,
                       capture_output=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"skein {args} exited {r.returncode}: {r.stderr.decode()}"
    return r


def fill(broker, topic, count, partition=0):
    skein(broker, "produce", "--topic", topic, "--partition", str(partition),
          input=("\n".join(f"v{i}" for i in range(count)) + "\n").encode())


def consume_group(broker, topic, group, *extra):
    r = skein(broker, "consume", "--topic", topic, "--group", group, *extra)
    return r.stdout.decode().splitlines()


def rows(text, first_column):
    """The table rows of `skein group describe` output that start with `first_column`, split."""
    return [line.split() for line in text.splitlines() if line.split()[:1] == [first_column]]


def partition_rows(text, group):
    return {int(r[2]): r for r in rows(text, group) if len(r) == 9 and r[2].isdigit()}


def test_consume_group_resumes_after_its_commit(broker):
    topic, group = unique("grp"), unique("g")
    create_topic(broker.bootstrap, topic)
    fill(broker, topic, 10)
    first = consume_group(broker, topic, group, "--from-beginning", "--max-messages", "6",
                          "--timeout-ms", "15000")
    assert first == [f"v{i}" for i in range(6)]
    second = consume_group(broker, topic, group, "--max-messages", "4", "--timeout-ms", "15000")
    assert second == [f"v{i}" for i in range(6, 10)]
    r = skein(broker, "consume", "--topic", topic, "--group", group, "--timeout-ms", "3000")
    assert r.stdout == b"" and b"Processed a total of 0 messages" in r.stderr

    # The committed offsets are Kafka's: a confluent-kafka member of the group resumes there.
    fill(broker, topic, 2)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append((msg.offset(), msg.value()))
        assert got == [(10, b"v0"), (11, b"v1")]
    finally:
        c.close()


def test_group_list_describe_reset_and_delete(broker):
    topic, group = unique("grp-admin"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=2)
    fill(broker, topic, 10, partition=0)
    fill(broker, topic, 4, partition=1)
    consume_group(broker, topic, group, "--from-beginning", "--max-messages", "14",
                  "--timeout-ms", "15000")
    assert group in skein(broker, "group", "list").stdout.decode().split()
    listed = skein(broker, "group", "list", "--state").stdout.decode()
    assert [group, "Empty"] in rows(listed, group)

    described = skein(broker, "group", "describe", group).stdout.decode()
    assert f"Consumer group '{group}' has no active members." in described
    parts = partition_rows(described, group)
    assert parts[0][1:6] == [topic, "0", "10", "10", "0"], described
    assert parts[1][1:6] == [topic, "1", "4", "4", "0"], described
    assert parts[0][6:] == ["-", "-", "-"]
    fill(broker, topic, 3, partition=1)
    parts = partition_rows(skein(broker, "group", "describe", group).stdout.decode(), group)
    assert parts[1][3:6] == ["4", "7", "3"], "lag is log end minus committed"

    # Dry run by default: the plan is printed, nothing changes.
    plan = skein(broker, "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert [[group, topic, "0", "0"], [group, topic, "1", "0"]] == rows(plan.stdout.decode(), group)
    assert b"Dry run" in plan.stderr
    assert partition_rows(skein(broker, "group", "describe", group).stdout.decode(), group)[0][3] == "10"

    def reset(*how):
        out = skein(broker, "group", "reset-offsets", group, *how, "--execute").stdout.decode()
        return {int(r[2]): int(r[3]) for r in rows(out, group)}

    assert reset("--topic", f"{topic}:0", "--to-offset", "3") == {0: 3}
    assert reset("--topic", f"{topic}:0", "--shift-by", "-1") == {0: 2}
    assert reset("--topic", f"{topic}:1", "--to-offset", "100") == {1: 7}, "clamped to the log end"
    assert reset("--topic", topic, "--to-datetime", "2000-01-01T00:00:00.000") == {0: 0, 1: 0}
    assert reset("--topic", topic, "--to-latest") == {0: 10, 1: 7}
    assert reset("--all-topics", "--to-offset", "5") == {0: 5, 1: 5}
    parts = partition_rows(skein(broker, "group", "describe", group).stdout.decode(), group)
    assert parts[0][3:6] == ["5", "10", "5"] and parts[1][3:6] == ["5", "7", "2"]
    # The group reads on from the reset offsets.
    got = consume_group(broker, topic, group, "--max-messages", "7", "--timeout-ms", "15000")
    assert sorted(got) == sorted([f"v{i}" for i in range(5, 10)] + ["v1", "v2"])

    skein(broker, "group", "delete", group)
    assert group not in skein(broker, "group", "list").stdout.decode().split()
    r = skein(broker, "group", "describe", group, check=False)
    assert r.returncode != 0 and b"does not exist" in r.stderr


def test_a_live_group_is_described_and_protected(broker):
    topic, group = unique("grp-live"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=3)
    fill(broker, topic, 2)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "client.id": "it-member"})
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while not c.assignment() and time.monotonic() < deadline:
            c.poll(0.2)
        assert len(c.assignment()) == 3
        described = skein(broker, "group", "describe", group).stdout.decode()
        state = rows(described, group)[0]
        assert state[2:] == ["range", "Stable", "1"], described
        parts = partition_rows(described, group)
        assert sorted(parts) == [0, 1, 2]
        assert all(r[8] == "it-member" for r in parts.values()), described
        members = [r for r in rows(described, group) if len(r) == 6]
        assert members and members[0][3] == "it-member" and members[0][4] == "3"
        assert members[0][5] == f"{topic}(0,1,2)"

        r = skein(broker, "group", "reset-offsets", group, "--topic", topic, "--to-earliest",
                  "--execute", check=False)
        assert r.returncode != 0 and b"inactive" in r.stderr and b"Stable" in r.stderr
        r = skein(broker, "group", "delete", group, check=False)
        assert r.returncode != 0 and b"NON_EMPTY_GROUP" in r.stderr
    finally:
        c.close()


@pytest.mark.parametrize("skein_first", [False, True], ids=["librdkafka-leads", "skein-leads"])
def start_skein_member(broker, topic, group):
    return subprocess.Popen(
        [SKEIN_BIN, "consume", "--topic", topic, "--group", group, "--from-beginning",
         "--timeout-ms", "40000", "--max-messages", "2", "--print-partition",
         "--bootstrap", broker.bootstrap],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def members_of(broker, group):
    described = skein(broker, "group", "describe", group, check=False).stdout.decode()
    return [r for r in rows(described, group) if len(r) == 6]


@pytest.mark.parametrize("skein_first", [False, True], ids=["librdkafka-leads", "skein-leads"])
def test_skein_and_confluent_members_share_a_group(broker, skein_first):
    topic, group = unique("grp-mixed"), unique("g")
    create_topic(broker.bootstrap, topic, partitions=4)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest"})
    proc = None
    try:
        if skein_first:
            # The first member leads: skein assigns, reading librdkafka's subscription.
            proc = start_skein_member(broker, topic, group)
            wait_for(lambda: len(members_of(broker, group)) == 1, timeout=30,
                     what="the skein member")
        c.subscribe([topic])
        if proc is None:
            deadline = time.monotonic() + 30
            while not c.assignment() and time.monotonic() < deadline:
                c.poll(0.2)
            proc = start_skein_member(broker, topic, group)
        # With both members the range assignor splits the partitions 2 and 2.
        members = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            c.poll(0.2)
            members = members_of(broker, group)
            if len(members) == 2 and len(c.assignment()) == 2:
                break
        assert len(members) == 2, members
        assert sorted(int(r[4]) for r in members) == [2, 2]
        mine = {p.partition for p in c.assignment()}
        for p in range(4):
            skein(broker, "produce", "--topic", topic, "--partition", str(p),
                  input=f"p{p}\n".encode())
        got = set()
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            msg = c.poll(0.2)
            if msg is not None and msg.error() is None:
                got.add(msg.value().decode())
        assert got == {f"p{p}" for p in mine}
        # The skein member exits by itself once it printed its two records.
        out, err = proc.communicate(timeout=40)
        assert proc.returncode == 0, err.decode()
        skein_got = {line.split("\t")[1] for line in out.decode().splitlines()}
        assert skein_got == {f"p{p}" for p in range(4) if p not in mine}
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        c.close()


def test_interrupted_consume_commits_what_it_printed(broker):
    topic, group = unique("grp-sigint"), unique("g")
    create_topic(broker.bootstrap, topic)
    fill(broker, topic, 5)
    proc = subprocess.Popen(
        [SKEIN_BIN, "consume", "--topic", topic, "--group", group, "--from-beginning",
         "--bootstrap", broker.bootstrap], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = [proc.stdout.readline().decode().strip() for _ in range(5)]
        assert got == [f"v{i}" for i in range(5)]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode()
        assert b"Processed a total of 5 messages" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    described = skein(broker, "group", "describe", group).stdout.decode()
    assert partition_rows(described, group)[0][3:6] == ["5", "5", "0"], described
    assert f"Consumer group '{group}' has no active members." in described, "it left the group"
