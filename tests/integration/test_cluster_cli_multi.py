"""`skein cluster` and `skein topic describe --layout` over the deck's 6 brokers in 2 racks."""

import json
import os
import signal

import pytest

from cluster_helpers import pid_runs, running_cluster, skein, wait_until
from conftest import SKEIN_BIN
from helpers import produce_sync, unique

DECK_ORDER = ["R1-B0", "R2-B3", "R1-B1", "R2-B4", "R1-B2", "R2-B5"]


@pytest.fixture
def cluster(tmp_path, request):
    yield from running_cluster(tmp_path, request, brokers=6, racks=2)


def layout(cluster, topic):
    return json.loads(skein("topic", "describe", topic, "--layout", "--format", "json",
                            "--bootstrap", cluster.bootstrap).stdout)


def partitions(cluster, topic):
    return json.loads(skein("topic", "describe", topic, "--format", "json",
                            "--bootstrap", cluster.bootstrap).stdout)["partitions"]


def create_invoice(cluster):
    topic = unique("Invoice")
    skein("topic", "create", topic, "--partitions", "10", "--replication-factor", "3",
          "--config", "min.insync.replicas=2", "--bootstrap", cluster.bootstrap)
    wait_until(lambda: all(len(p["isr"]) == 3 and p["leader"] >= 0
                           for p in partitions(cluster, topic)),
               timeout=30, what="every partition of Invoice fully in sync")
    return topic


def test_six_brokers_in_two_racks_come_up_registered(cluster):
    cluster.up(timeout=180)
    doc = cluster.file
    p = cluster.base_port
    assert doc["controller"] == f"127.0.0.1:{p + 6}"
    assert doc["bootstrap"] == ",".join(f"127.0.0.1:{p + i}" for i in range(6))
    assert [n["id"] for n in doc["nodes"]] == list(range(6))
    assert [n["rack"] for n in doc["nodes"]] == ["R1"] * 3 + ["R2"] * 3
    assert [n["listen"] for n in doc["nodes"]] == [f"127.0.0.1:{p + i}" for i in range(6)]
    exe = os.path.realpath(SKEIN_BIN)
    for n in doc["nodes"]:
        assert pid_runs(n["pid"], n["argv"]) and os.getsid(n["pid"]) == n["pid"]
        assert n["data_dir"] == str(cluster.dir / f"node-{n['id']}")
        assert n["http"] == f"127.0.0.1:{p + 7 + n['id']}"
        assert n["argv"][:12] == [exe, "serve", "--node-id", str(n["id"]), "--rack", n["rack"],
                                  "--listen", n["listen"], "--data-dir", n["data_dir"],
                                  "--http-listen", n["http"]]
        if n["id"] == 0:
            assert n["argv"][12:] == ["--process-roles", "broker,controller",
                                      "--controller-listen", doc["controller"]]
        else:
            assert n["argv"][12:] == ["--process-roles", "broker", "--controller",
                                      doc["controller"]]

    status, code = cluster.status_json()
    assert code == 0 and status["controller_id"] == 0
    assert [(b["id"], b["rack"], b["alive"], b["registered"]) for b in status["brokers"]] == [
        (i, "R1" if i < 3 else "R2", True, True) for i in range(6)]


def test_invoice_layout_is_the_decks_table(cluster):
    cluster.up(timeout=180)
    topic = create_invoice(cluster)
    doc = layout(cluster, topic)
    assert [r["label"] for r in doc["rows"]] == DECK_ORDER
    assert doc["positions"] == 3 and doc["legend"] == {}
    # Every partition once per position; leaders spread evenly (Kafka's placement).
    for position in range(3):
        cells = [c["partition"] for r in doc["rows"]
                 for c in (r["leaders"] if position == 0 else r["followers"][position - 1])]
        assert sorted(cells) == list(range(10))
    assert sorted(len(r["leaders"]) for r in doc["rows"]) == [1, 1, 2, 2, 2, 2]
    racks = {i: "R1" if i < 3 else "R2" for i in range(6)}
    for p in partitions(cluster, topic):
        assert {racks[r] for r in p["replicas"]} == {"R1", "R2"}, p

    table = skein("topic", "describe", topic, "--layout",
                  "--bootstrap", cluster.bootstrap).stdout.decode().splitlines()
    assert [c.strip() for c in table[1].split("|")] == ["Brokers", "Leaders", "Followers",
                                                        "Followers"]
    assert [line.split("|")[0].strip() for line in table[2:8]] == DECK_ORDER
    assert len(table) == 8, "no legend while every replica is in sync"

    status, _ = cluster.status_json()
    assert sum(b["leaders"] for b in status["brokers"]) >= 10
    assert status["under_replicated"] == [] and status["offline"] == []


def test_killed_follower_shows_in_status_and_layout_then_rejoins(cluster):
    cluster.up("--set", "replica.lag.time.max.ms=3000", timeout=180)
    topic = create_invoice(cluster)
    produce_sync(cluster.bootstrap, topic, [(b"k", b"v", None, p) for p in range(10)])
    victim = cluster.node(4)
    held = [p["partition"] for p in partitions(cluster, topic) if 4 in p["replicas"]]
    assert held

    os.kill(victim["pid"], signal.SIGKILL)
    wait_until(lambda: next(b for b in cluster.status_json()[0]["brokers"] if b["id"] == 4)
               ["registered"] is False, timeout=30, what="broker 4 fenced")
    wait_until(lambda: all(4 not in p["isr"] for p in partitions(cluster, topic)
                           if p["partition"] in held), timeout=30, what="ISR shrink")
    status, _ = cluster.status_json()
    b4 = next(b for b in status["brokers"] if b["id"] == 4)
    assert b4["alive"] is False and b4["pid"] is None
    assert sorted(u["partition"] for u in status["under_replicated"]
                  if u["topic"] == topic) == sorted(held)
    assert status["offline"] == []

    doc = layout(cluster, topic)
    absent = [r for r in doc["rows"] if r["broker"] == 4]
    assert len(absent) == 1 and absent[0]["registered"] is False
    assert all(not c["in_sync"] for c in absent[0]["leaders"] + sum(absent[0]["followers"], []))
    assert "*" in doc["legend"]
    text = skein("topic", "describe", topic, "--layout",
                 "--bootstrap", cluster.bootstrap).stdout.decode()
    assert "* not in the ISR" in text and "B4 (absent)" in text

    proc = cluster.restart(4)
    wait_until(lambda: all(len(p["isr"]) == 3 for p in partitions(cluster, topic)),
               timeout=90, what="broker 4 back in every ISR")
    status, _ = cluster.status_json()
    b4 = next(b for b in status["brokers"] if b["id"] == 4)
    assert b4["alive"] and b4["registered"] and b4["pid"] == proc.pid
    assert status["under_replicated"] == []
    assert [r["label"] for r in layout(cluster, topic)["rows"]] == DECK_ORDER


def test_down_stops_brokers_first_and_the_controller_last(cluster):
    cluster.up(timeout=180)
    create_invoice(cluster)
    pids = {n["id"]: n["pid"] for n in cluster.file["nodes"]}
    out = cluster.down().stdout.decode().splitlines()
    assert out == [f"node {i} (pid {pids[i]}) stopped" for i in [1, 2, 3, 4, 5, 0]], out
    doc = cluster.file
    assert all(n["pid"] is None and n["state"] == "stopped" for n in doc["nodes"])
    for n in doc["nodes"]:
        assert not pid_runs(pids[n["id"]], n["argv"])
        log = (cluster.dir / f"node-{n['id']}" / "skein.log").read_text()
        assert "clean shutdown complete" in log
