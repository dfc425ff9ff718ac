"""A local cluster from `skein cluster up` for the CLI cluster tests: a fresh DIR and free ports
per test, `cluster down` (and a kill of anything left) afterwards, node logs on failure."""

import json
import os
import signal
import socket
import subprocess
import uuid
from pathlib import Path

from conftest import SKEIN_BIN, wait_for as wait_until  # noqa: F401 (re-exported)


def free_port_block(count: int, host: str = "127.0.0.1") -> int:
    """A base port P with P … P+count-1 all free on `host`."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            base = s.getsockname()[1]
        if base + count > 65000:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {count} free ports")


def skein(*args, check=True, timeout=120):
    r = subprocess.run([SKEIN_BIN, *args], capture_output=True, timeout=timeout)
    if check:
        assert r.returncode == 0, (
            f"skein {' '.join(args)} exited {r.returncode}:\n{r.stderr.decode(errors='replace')}"
            f"\n{r.stdout.decode(errors='replace')}")
    return r


def pid_runs(pid: int, argv) -> bool:
    """Whether `pid` is alive and runs exactly `argv` (a zombie's cmdline is empty)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return raw.split(b"\0")[:-1] == [a.encode() for a in argv]


def node_logs(dir: Path, lines=40) -> str:
    """The last `lines` of every node's skein.log under `dir`."""
    out = []
    for log in sorted(Path(dir).glob("node-*/skein.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"----- {log} -----\n" + "\n".join(tail))
    return "\n".join(out)


def describe(cluster, topic):
    """`skein topic describe --format json`'s partitions, or None when it fails."""
    r = skein("topic", "describe", topic, "--format", "json", "--bootstrap", cluster.bootstrap,
              check=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)["partitions"]


def create_in_sync(cluster, prefix, partitions, replication_factor, timeout=30):
    """Creates a uniquely named topic with `skein topic create` and waits until every
    partition has a leader and its whole replica set in the ISR; returns its name."""
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    skein("topic", "create", topic, "--partitions", str(partitions), "--replication-factor",
          str(replication_factor), "--bootstrap", cluster.bootstrap)

    def in_sync():
        d = describe(cluster, topic)
        return d is not None and len(d) == partitions and all(
            p["leader"] >= 0 and sorted(p["isr"]) == sorted(p["replicas"]) for p in d)
    wait_until(in_sync, timeout=timeout, what=f"{topic} in sync")
    return topic


def cluster_fixtures(name, brokers, racks, settings, log_lines=60):
    """A test module's fixtures: `cluster`, one `cluster up` for the module, and an autouse
    `logs_on_failure` that prints the nodes' logs after a failed test. Use as
    `cluster, logs_on_failure = cluster_fixtures(...)` at module level."""
    import pytest

    @pytest.fixture(scope="module")
    def cluster(tmp_path_factory):
        yield from module_cluster(tmp_path_factory, name, brokers, racks, settings)

    @pytest.fixture(autouse=True)
    def logs_on_failure(request, cluster):
        yield
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(f"\n{cluster.logs(log_lines)}")

    return cluster, logs_on_failure


def module_cluster(tmp_path_factory, name, brokers, racks, settings):
    """The body of a module-scoped `cluster` fixture: `cluster up` with `--set` settings,
    everything stopped afterwards."""
    c = LocalCluster(tmp_path_factory.mktemp(name) / "cluster", brokers=brokers, racks=racks)
    args = []
    for s in settings:
        args += ["--set", s]
    c.up(*args, timeout=180)
    yield c
    c.cleanup()


class LocalCluster:
    def __init__(self, dir: Path, brokers: int, racks: int):
        self.dir = Path(dir)
        self.brokers = brokers
        self.racks = racks
        # Client ports, the controller's, then one HTTP port per node.
        self.base_port = free_port_block(2 * brokers + 1)
        self.extra_pids = []

    def up(self, *extra, check=True, timeout=120):
        return skein("cluster", "up", "--brokers", str(self.brokers), "--racks", str(self.racks),
                     "--dir", str(self.dir), "--base-port", str(self.base_port), *extra,
                     check=check, timeout=timeout)

    def status(self, *extra, check=True):
        return skein("cluster", "status", "--dir", str(self.dir), *extra, check=check)

    def status_json(self):
        r = self.status("--format", "json", check=False)
        return json.loads(r.stdout), r.returncode

    def down(self, check=True):
        return skein("cluster", "down", "--dir", str(self.dir), check=check, timeout=180)

    @property
    def file(self) -> dict:
        return json.loads((self.dir / "cluster.json").read_text())

    @property
    def bootstrap(self) -> str:
        return self.file["bootstrap"]

    def node(self, node_id: int) -> dict:
        return next(n for n in self.file["nodes"] if n["id"] == node_id)

    def restart(self, node_id: int) -> subprocess.Popen:
        """Starts a node again from its argv in cluster.json, as a user would."""
        node = self.node(node_id)
        log = open(Path(node["data_dir"]) / "skein.log", "ab")
        proc = subprocess.Popen(node["argv"], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.extra_pids.append((proc.pid, node["argv"]))
        return proc

    def logs(self, lines=40) -> str:
        return node_logs(self.dir, lines)

    def cleanup(self):
        """`cluster down`, then SIGKILL for anything of this cluster still running."""
        if (self.dir / "cluster.json").exists():
            try:
                self.down(check=False)
            except subprocess.TimeoutExpired:
                pass
            argvs = [n["argv"] for n in self.file["nodes"]]
        else:
            argvs = []
        for pid, argv in self.extra_pids:
            if pid_runs(pid, argv):
                os.kill(pid, signal.SIGKILL)
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                for argv in argvs:
                    if pid_runs(int(entry.name), argv):
                        os.kill(int(entry.name), signal.SIGKILL)


def running_cluster(tmp_path, request, brokers: int, racks: int):
    """The body of a `cluster` fixture: a LocalCluster (not yet up), its nodes' logs printed
    when the test failed, and everything stopped afterwards."""
    c = LocalCluster(tmp_path / "cluster", brokers=brokers, racks=racks)
    yield c
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"\n{c.logs()}")
    c.cleanup()
