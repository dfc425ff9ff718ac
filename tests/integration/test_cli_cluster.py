"""`skein cluster up|status|down` with one combined node, and the node flags of `skein serve`.

Clusters of several brokers need the replication runtime; their tests are in
`pending_cluster_cli_multi.py` (run it by path)."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from cluster_helpers import pid_runs, running_cluster, skein, wait_until
from conftest import SKEIN_BIN, free_port
from helpers import consume_range, produce_sync, unique


@pytest.fixture
def cluster(tmp_path, request):
    yield from running_cluster(tmp_path, request, brokers=1, racks=1)


def test_up_writes_cluster_json_and_returns_registered(cluster):
    out = cluster.up().stdout.decode()
    host, p = "127.0.0.1", cluster.base_port
    assert f"bootstrap {host}:{p}" in out and f"controller {host}:{p + 1}" in out, out

    raw = (cluster.dir / "cluster.json").read_text()
    doc = json.loads(raw)
    assert list(doc) == ["controller", "bootstrap", "nodes"]
    assert doc["controller"] == f"{host}:{p + 1}"
    assert doc["bootstrap"] == f"{host}:{p}"
    [node] = doc["nodes"]
    assert list(node) == ["id", "rack", "listen", "http", "pid", "data_dir", "argv"]
    assert node["http"] == f"{host}:{p + 2}"
    data_dir = str(cluster.dir / "node-0")
    assert node["id"] == 0 and node["rack"] == "R1" and node["listen"] == f"{host}:{p}"
    assert node["data_dir"] == data_dir
    assert node["argv"] == [
        os.path.realpath(SKEIN_BIN), "serve", "--node-id", "0", "--rack", "R1",
        "--listen", f"{host}:{p}", "--data-dir", data_dir, "--http-listen", f"{host}:{p + 2}",
        "--process-roles", "broker,controller", "--controller-listen", f"{host}:{p + 1}"]

    # The node is its own session (it outlives the CLI) and runs exactly its argv.
    pid = node["pid"]
    assert pid_runs(pid, node["argv"])
    assert os.getsid(pid) == pid
    log = Path(data_dir) / "skein.log"
    assert "skein node 0 of cluster" in log.read_text()
    assert (Path(data_dir) / "meta.properties").read_text().count("node.id=0") == 1

    # Registered at return: Metadata lists it.
    status, code = cluster.status_json()
    assert code == 0
    assert status["brokers"] == [{"id": 0, "rack": "R1", "listen": f"{host}:{p}", "pid": pid,
                                  "alive": True, "registered": True, "leaders": 0,
                                  "replicas": 0}]
    assert status["controller_id"] == 0 and status["error"] is None


def test_status_counts_leaders_and_replicas(cluster):
    cluster.up()
    topic = unique("status")
    skein("topic", "create", topic, "--partitions", "3", "--replication-factor", "1",
          "--bootstrap", cluster.bootstrap)
    status, code = cluster.status_json()
    assert code == 0
    [broker] = status["brokers"]
    assert broker["leaders"] >= 3 and broker["replicas"] == broker["leaders"]
    assert status["under_replicated"] == [] and status["offline"] == []

    table = cluster.status().stdout.decode()
    lines = table.splitlines()
    assert lines[0] == f"bootstrap {cluster.bootstrap}"
    assert lines[1] == f"controller 127.0.0.1:{cluster.base_port + 1} (node 0)"
    header = lines[3].split()
    assert header == ["ID", "RACK", "LISTEN", "PID", "PROCESS", "REGISTERED", "LEADERS",
                      "REPLICAS"]
    row = lines[4].split()
    assert row[:6] == ["0", "R1", cluster.bootstrap, str(cluster.node(0)["pid"]), "alive", "yes"]
    assert "Under-replicated partitions: none" in table
    assert "Offline partitions: none" in table


def test_argv_restarts_a_killed_node_and_down_stops_it(cluster):
    cluster.up()
    topic = unique("restart")
    skein("topic", "create", topic, "--partitions", "1", "--bootstrap", cluster.bootstrap)
    records = [(f"k{i}".encode(), f"v{i}".encode(), None, 0) for i in range(50)]
    delivered = produce_sync(cluster.bootstrap, topic, records)

    node = cluster.node(0)
    os.kill(node["pid"], signal.SIGKILL)
    wait_until(lambda: not pid_runs(node["pid"], node["argv"]), what="node 0 to die")
    status, code = cluster.status_json()
    assert code != 0
    assert status["brokers"][0]["alive"] is False and status["brokers"][0]["pid"] is None
    assert status["error"] and "cannot reach" in status["error"]
    down_table = cluster.status(check=False).stdout.decode()
    assert "down" in down_table.splitlines()[4].split()

    proc = cluster.restart(0)
    wait_until(lambda: cluster.status_json()[1] == 0, timeout=60, what="node 0 back")
    status, _ = cluster.status_json()
    assert status["brokers"][0]["pid"] == proc.pid and status["brokers"][0]["registered"]
    got = consume_range(cluster.bootstrap, topic, 0, delivered[0][1], 50)
    assert [m.value() for m in got] == [v for _, v, _, _ in records]

    # `down` finds the restarted process by its argv, stops it with SIGTERM, marks it stopped.
    out = cluster.down().stdout.decode()
    assert f"node 0 (pid {proc.pid}) stopped" in out, out
    assert proc.wait(timeout=10) == 0
    doc = cluster.file
    assert doc["nodes"][0]["pid"] is None and doc["nodes"][0]["state"] == "stopped"
    assert "clean shutdown complete" in Path(doc["nodes"][0]["data_dir"], "skein.log").read_text()


def test_up_refuses_a_running_cluster_and_restarts_a_stopped_one(cluster):
    cluster.up()
    topic = unique("again")
    skein("topic", "create", topic, "--partitions", "2", "--bootstrap", cluster.bootstrap)
    pid = cluster.node(0)["pid"]

    again = cluster.up(check=False)
    assert again.returncode != 0
    assert b"is running" in again.stderr and str(pid).encode() in again.stderr
    assert cluster.node(0)["pid"] == pid, "a refused up leaves cluster.json alone"

    cluster.down()
    assert not pid_runs(pid, cluster.node(0)["argv"])
    assert b"was not running" in cluster.down().stdout

    # Up again over the same DIR: same data, so the topic is still there.
    cluster.up()
    assert cluster.node(0)["pid"] != pid
    listed = skein("topic", "list", "--bootstrap", cluster.bootstrap).stdout.decode().split()
    assert topic in listed


def test_up_fails_with_the_nodes_log_when_a_node_exits(cluster):
    # An invalid setting passed to every node: the node refuses to start.
    r = cluster.up("--set", "broker.heartbeat.interval.ms=10000", check=False, timeout=60)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "node 0" in err and "exited with status" in err, err
    assert "must be less than broker.session.timeout.ms" in err, err
    doc = cluster.file
    assert doc["nodes"][0]["pid"] is None and doc["nodes"][0]["state"] == "stopped"
    assert "--set" in doc["nodes"][0]["argv"]


def test_up_passes_settings_to_every_node(cluster):
    cluster.up("--set", "num.partitions=3", "--set", "log.retention.ms=3600000")
    argv = cluster.node(0)["argv"]
    assert argv[-4:] == ["--set", "num.partitions=3", "--set", "log.retention.ms=3600000"]
    topic = unique("defaults")
    skein("topic", "create", topic, "--bootstrap", cluster.bootstrap)
    described = json.loads(skein("topic", "describe", topic, "--format", "json",
                                 "--bootstrap", cluster.bootstrap).stdout)
    assert described["partition_count"] == 3


def test_up_rejects_bad_arguments(tmp_path):
    for args, message in [
        (["--brokers", "0"], b"--brokers must be at least 1"),
        (["--brokers", "2", "--racks", "3"], b"--racks must be between 1"),
        (["--brokers", "1", "--set", "novalue"], b"key=value"),
    ]:
        r = skein("cluster", "up", "--dir", str(tmp_path / "c"), *args, check=False)
        assert r.returncode != 0 and message in r.stderr, (args, r.stderr)
    r = skein("cluster", "status", "--dir", str(tmp_path / "none"), check=False)
    assert r.returncode != 0 and b"cluster.json does not exist" in r.stderr


# ---- skein serve: node flags ----------------------------------------------------------------


def serve(tmp_path, *args, name="serve"):
    port = free_port()
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen(
        [SKEIN_BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
         str(tmp_path / f"{name}-data"), "--http-listen", f"127.0.0.1:{free_port()}", *args],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, port


def wait_serving(proc, port, log: Path):
    bootstrap = f"127.0.0.1:{port}"

    def up():
        assert proc.poll() is None, log.read_text()
        return subprocess.run([SKEIN_BIN, "topic", "list", "--bootstrap", bootstrap],
                              capture_output=True, timeout=30).returncode == 0
    wait_until(up, timeout=30, what="skein serve")
    return bootstrap


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def layout_rows(bootstrap, topic):
    out = skein("topic", "describe", topic, "--layout", "--bootstrap", bootstrap).stdout.decode()
    return [line.split("|")[0].strip() for line in out.splitlines()[2:] if "|" in line]


def test_serve_node_id_rack_and_controller_listener(tmp_path):
    ctl = free_port()
    proc, port = serve(tmp_path, "--node-id", "3", "--rack", "R9", "--process-roles",
                       "broker,controller", "--controller-listen", f"127.0.0.1:{ctl}")
    try:
        bootstrap = wait_serving(proc, port, tmp_path / "serve.log")
        topic = unique("flags")
        skein("topic", "create", topic, "--partitions", "2", "--bootstrap", bootstrap)
        assert layout_rows(bootstrap, topic) == ["R9-B3"]
        described = json.loads(skein("topic", "describe", topic, "--format", "json",
                                     "--bootstrap", bootstrap).stdout)
        assert [p["leader"] for p in described["partitions"]] == [3, 3]
    finally:
        stop(proc)
    assert "node.id=3" in (tmp_path / "serve-data" / "meta.properties").read_text()


def test_plain_serve_is_node_0(tmp_path):
    proc, port = serve(tmp_path)
    try:
        bootstrap = wait_serving(proc, port, tmp_path / "serve.log")
        topic = unique("plain")
        skein("topic", "create", topic, "--bootstrap", bootstrap)
        assert layout_rows(bootstrap, topic) == ["B0"]
    finally:
        stop(proc)
    assert "node.id=0" in (tmp_path / "serve-data" / "meta.properties").read_text()


def test_existing_data_dir_keeps_its_node_id_unless_one_is_given(tmp_path):
    proc, port = serve(tmp_path, "--node-id", "1")
    bootstrap = wait_serving(proc, port, tmp_path / "serve.log")
    topic = unique("old")
    skein("topic", "create", topic, "--bootstrap", bootstrap)
    stop(proc)

    # No node.id given: the directory's node 1 goes on as node 1, with a notice.
    proc, port = serve(tmp_path, name="serve")
    try:
        bootstrap = wait_serving(proc, port, tmp_path / "serve.log")
        assert layout_rows(bootstrap, topic) == ["B1"]
    finally:
        stop(proc)
    assert "no node.id was given: running as node 1" in (tmp_path / "serve.log").read_text()

    # An explicit other id is refused.
    proc, _ = serve(tmp_path, "--node-id", "2", name="serve")
    assert proc.wait(timeout=30) != 0
    assert "belongs to node.id 1" in (tmp_path / "serve.log").read_text()


def test_serve_refuses_invalid_node_configs(tmp_path):
    cases = [
        (["--process-roles", "broker"], "controller.quorum.bootstrap.servers"),
        (["--process-roles", "controller"], "controller-only node needs a CONTROLLER listener"),
        (["--process-roles", "broker,overseer"], "process.roles may hold only"),
        (["--set", "broker.heartbeat.interval.ms=9000"], "must be less than"),
        (["--controller-listen", "nowhere"], "--controller-listen wants HOST:PORT"),
        (["--process-roles", "broker", "--controller", "127.0.0.1:1",
          "--controller-listen", "127.0.0.1:2"], "must not have a controller listener"),
    ]
    for i, (args, message) in enumerate(cases):
        proc, _ = serve(tmp_path, *args, name=f"bad{i}")
        assert proc.wait(timeout=30) != 0, args
        text = (tmp_path / f"bad{i}.log").read_text()
        assert message in text, (args, text)
