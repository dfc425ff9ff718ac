"""`skein placement`: Kafka's replica placement from the command line, no broker needed."""

import json
import subprocess

from conftest import SKEIN_BIN

DECK = "0:R1,1:R1,2:R1,3:R2,4:R2,5:R2"
KAFKA_RACKS = "0:rack1,1:rack3,2:rack3,3:rack2,4:rack2,5:rack1"


def placement(*args, check=True):
    r = subprocess.run([SKEIN_BIN, "placement", *args], capture_output=True, timeout=60)
    if check:
        assert r.returncode == 0, f"skein placement {args} exited {r.returncode}: {r.stderr.decode()}"
    return r


def replicas(*args):
    out = placement(*args, "--format", "json").stdout.decode()
    doc = json.loads(out)
    assert list(doc) == ["partitions"]
    assert [p["partition"] for p in doc["partitions"]] == list(range(len(doc["partitions"])))
    return [p["replicas"] for p in doc["partitions"]]


def table_rows(out: str):
    """The broker table: label -> list of cells, each a set of partition labels."""
    lines = out.splitlines()
    header = [c.strip() for c in lines[0].split("|")]
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = [c.strip() for c in line.split("|")]
        rows[cells[0]] = [set() if c == "-" else set(c.split()) for c in cells[1:]]
    return header, rows


def test_json_is_exactly_the_assignment():
    out = placement("--brokers", "0,1,2,3,4", "--partitions", "10", "--replication-factor", "3",
                    "--start-index", "0", "--format", "json").stdout.decode()
    assert out == (
        '{"partitions":[' + ",".join(
            f'{{"partition":{p},"replicas":[{",".join(map(str, r))}]}}'
            for p, r in enumerate([[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 1],
                                   [0, 2, 3], [1, 3, 4], [2, 4, 0], [3, 0, 1], [4, 1, 2]])
        ) + "]}\n"
    )


def test_kafka_documented_examples():
    assert replicas("--brokers", KAFKA_RACKS, "--partitions", "7", "--replication-factor", "3",
                    "--start-index", "0") == [
        [0, 3, 1], [3, 1, 5], [1, 5, 4], [5, 4, 2], [4, 2, 0], [2, 0, 3], [0, 4, 2]]


def test_deck_kafka_strategy():
    assert replicas("--brokers", DECK, "--partitions", "10", "--replication-factor", "3",
                    "--start-index", "0") == [
        [0, 3, 1], [3, 1, 4], [1, 4, 2], [4, 2, 5], [2, 5, 0], [5, 0, 3],
        [0, 4, 2], [3, 2, 5], [1, 5, 0], [4, 0, 3]]


def test_deck_round_robin_table():
    out = placement("--brokers", DECK, "--partitions", "10", "--replication-factor", "3",
                    "--strategy", "round-robin", "--start-index", "0").stdout.decode()
    header, rows = table_rows(out)
    assert header == ["Brokers", "Leaders", "Followers", "Followers"]
    assert list(rows) == ["R1-B0", "R2-B3", "R1-B1", "R2-B4", "R1-B2", "R2-B5"]
    # The deck's last "Partition Assignment" table, cell for cell.
    deck = {
        "R1-B0": ["P0 P6", "P5", "P4"],
        "R2-B3": ["P1 P7", "P0 P6", "P5"],
        "R1-B1": ["P2 P8", "P1 P7", "P0 P6"],
        "R2-B4": ["P3 P9", "P2 P8", "P1 P7"],
        "R1-B2": ["P4", "P3 P9", "P2 P8"],
        "R2-B5": ["P5", "P4", "P3 P9"],
    }
    assert rows == {b: [set(c.split()) for c in cells] for b, cells in deck.items()}
    assert "R1-B0: 4 replicas, 2 leaders" in out
    assert "R2-B4: 6 replicas, 2 leaders" in out
    assert "P0: replicas 0,3,1; racks R1,R2 (2)" in out


def test_random_start_is_still_valid():
    for _ in range(3):
        parts = replicas("--brokers", DECK, "--partitions", "12", "--replication-factor", "3")
        assert len(parts) == 12
        assert all(len(set(r)) == 3 and {b < 3 for b in r} == {True, False} for r in parts)
        leaders = [r[0] for r in parts]
        assert sorted(leaders) == sorted(list(range(6)) * 2)


def test_brokers_without_racks_and_failures():
    out = placement("--brokers", "0,1,2", "--partitions", "3", "--replication-factor", "1",
                    "--start-index", "0", "--fail", "1").stdout.decode()
    header, rows = table_rows(out)
    assert header == ["Brokers", "Leaders"]
    assert rows == {"B0": [{"P0"}], "B1": [{"P1"}], "B2": [{"P2"}]}
    assert "P1: offline, no surviving replica (was led by 1)" in out
    assert "Leaders per surviving broker: B0 1, B2 1" in out
    assert "Partitions without a replica: P1" in out

    out = placement("--brokers", DECK, "--partitions", "10", "--replication-factor", "3",
                    "--start-index", "0", "--fail", "0,3", "--format", "json").stdout.decode()
    doc = json.loads(out)
    leaders = {x["partition"]: x["leader"] for x in doc["failover"]["leaders"]}
    assert leaders[0] == 1 and leaders[1] == 1 and leaders[6] == 4
    assert doc["failover"]["offline"] == []
    assert sum(c["leaders"] for c in doc["failover"]["leader_counts"]) == 10


def test_errors_exit_non_zero_with_kafka_message():
    r = placement("--brokers", "0,1,2", "--partitions", "1", "--replication-factor", "4",
                  check=False)
    assert r.returncode != 0
    assert b"Replication factor: 4 larger than available brokers: 3." in r.stderr
    assert r.stdout == b""

    r = placement("--brokers", "0:a,1,2:b", "--partitions", "1", "--replication-factor", "1",
                  check=False)
    assert r.returncode != 0
    assert b"Not all brokers have rack information for replica rack aware assignment." in r.stderr

    r = placement("--brokers", "0,1", "--partitions", "0", "--replication-factor", "1",
                  check=False)
    assert r.returncode != 0
    assert b"Number of partitions must be larger than 0." in r.stderr

    r = placement("--brokers", "0,1", "--partitions", "1", "--replication-factor", "0",
                  check=False)
    assert r.returncode != 0
    assert b"Replication factor must be larger than 0." in r.stderr
