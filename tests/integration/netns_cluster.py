"""A Skein cluster whose nodes each run in a network namespace of their own, so that the test
can congest (tc tbf) or cut (ip link set down) one broker's link while the others talk on.

Layout: a bridge in the root namespace holds 10.A.B.254/24; node i lives in namespace NS_i
behind a veth pair (the root end, `veth(i)`, enslaved to the bridge; the namespace end is
`eth0` with 10.A.B.(i+1)/24). The test and its clients stay in the root namespace and reach
every node over the bridge; nodes reach each other the same way. A.B comes from the pid (a
free /24 is picked if that one is taken) so parallel runs do not collide, and every name
carries the pid, so leftovers of a run that died are recognised and removed by the next one.

Traffic never leaves the machine: the namespaces have no route but their /24, and the bridge
has no uplink.
"""

from cluster_helpers import node_logs
import atexit
import json
import os
import random
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import kafka_wire as wire
from conftest import SKEIN_BIN, wait_for

NS_PREFIX = "skein-netns-"
LINK_PREFIX = "skn"
CLIENT_PORT = 9092
CONTROLLER_PORT = 9093


class NetnsUnavailable(RuntimeError):
    """This machine (or user) cannot create network namespaces, veths, bridges or qdiscs."""


def ip(*args, check=True, netns=None):
    cmd = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    return run(cmd, check=check)


def run(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(ns: str):
    """SIGKILLs what runs in `ns` (only this helper starts processes in its namespaces)."""
    for _ in range(50):
        r = run(["ip", "netns", "pids", ns], check=False)
        pids = [int(p) for p in r.stdout.split()] if r.returncode == 0 else []
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove_leftovers():
    """Namespaces and links of earlier runs whose test process is gone."""
    r = run(["ip", "netns", "list"], check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(NS_PREFIX):
            continue
        pid = name[len(NS_PREFIX):].split("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            _kill_namespace_processes(name)
            run(["ip", "netns", "del", name], check=False)
    r = run(["ip", "-o", "link", "show", "type", "bridge"], check=False)
    for line in r.stdout.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        pid = name[len(LINK_PREFIX):-1]
        if name.startswith(LINK_PREFIX) and name.endswith("b") and pid.isdigit() \
                and not _pid_alive(int(pid)):
            run(["ip", "link", "del", name], check=False)


def _subnets_in_use() -> set[tuple[int, int]]:
    text = run(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    text += run(["ip", "-4", "route", "show", "table", "all"], check=False).stdout
    used = set()
    for word in text.split():
        word = word.split("/")[0]
        parts = word.split(".")
        if len(parts) == 4 and parts[0] == "10" and all(p.isdigit() for p in parts):
            used.add((int(parts[1]), int(parts[2])))
    return used


def pick_subnet() -> str:
    """A 10.A.B prefix no interface or route of this machine uses, derived from the pid."""
    used = _subnets_in_use()
    pid = os.getpid()
    candidate = (100 + (pid >> 8) % 150, pid & 0xFF)
    rng = random.Random(pid)
    while candidate in used:
        candidate = (rng.randrange(100, 250), rng.randrange(0, 256))
    return f"10.{candidate[0]}.{candidate[1]}"


class NetnsCluster:
    """Node 0 is broker and controller, the others brokers; node i in rack R(1 + i*racks/n).
    Offers what the replication checks of test_cluster_replication use (`bootstrap`,
    `node(id)["data_dir"]`) plus link faults on one node: `throttled`, `link_down`/`link_up`."""

    def __init__(self, dir: Path, brokers: int, racks: int = 1, settings=()):
        self.dir = Path(dir)
        self.brokers = brokers
        self.racks = racks
        self.settings = list(settings)
        self.pid = os.getpid()
        self.subnet = None
        self.namespaces: list[str] = []
        self.bridge = f"{LINK_PREFIX}{self.pid}b"
        self.bridge_made = False
        self.procs: dict[int, subprocess.Popen] = {}

    # Addresses and names

    def address(self, node_id: int) -> str:
        return f"{self.subnet}.{node_id + 1}"

    def namespace(self, node_id: int) -> str:
        return f"{NS_PREFIX}{self.pid}-{node_id}"

    def veth(self, node_id: int) -> str:
        """The root namespace's end of node `node_id`'s link: its egress is what the node
        receives (replica fetch responses, heartbeat answers, produce requests)."""
        return f"{LINK_PREFIX}{self.pid}v{node_id}"

    @property
    def controller(self) -> str:
        return f"{self.address(0)}:{CONTROLLER_PORT}"

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{self.address(i)}:{CLIENT_PORT}" for i in range(self.brokers))

    def rack(self, node_id: int) -> str:
        return f"R{node_id * self.racks // self.brokers + 1}"

    def argv(self, node_id: int) -> list[str]:
        argv = [SKEIN_BIN, "serve", "--node-id", str(node_id), "--rack", self.rack(node_id),
                "--listen", f"{self.address(node_id)}:{CLIENT_PORT}",
                "--data-dir", str(self.dir / f"node-{node_id}"),
                "--http-listen", f"{self.address(node_id)}:9644"]
        if node_id == 0:
            argv += ["--process-roles", "broker,controller", "--controller-listen", self.controller]
        else:
            argv += ["--process-roles", "broker", "--controller", self.controller]
        for s in self.settings:
            argv += ["--set", s]
        argv += ["--log-level", os.environ.get("SKEIN_LOG_LEVEL", "info")]
        return argv

    def node(self, node_id: int) -> dict:
        proc = self.procs.get(node_id)
        return {"id": node_id, "rack": self.rack(node_id),
                "listen": f"{self.address(node_id)}:{CLIENT_PORT}",
                "pid": proc.pid if proc else None,
                "data_dir": str(self.dir / f"node-{node_id}"), "argv": self.argv(node_id)}

    @property
    def file(self) -> dict:
        return {"controller": self.controller, "bootstrap": self.bootstrap,
                "nodes": [self.node(i) for i in range(self.brokers)]}

    # The network

    def build_network(self):
        """Bridge, namespaces and veths; NetnsUnavailable when the machine refuses."""
        remove_leftovers()
        self.subnet = pick_subnet()
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            self.bridge_made = True
            ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for i in range(self.brokers):
                ns = self.namespace(i)
                ip("netns", "add", ns)
                self.namespaces.append(ns)
                ip("link", "add", self.veth(i), "type", "veth", "peer", "name", "eth0",
                   "netns", ns)
                ip("link", "set", self.veth(i), "master", self.bridge)
                ip("link", "set", self.veth(i), "up")
                ip("addr", "add", f"{self.address(i)}/24", "dev", "eth0", netns=ns)
                ip("link", "set", "eth0", "up", netns=ns)
                ip("link", "set", "lo", "up", netns=ns)
            # tc must work too: probe it on a link before anything depends on it.
            run(["tc", "qdisc", "add", "dev", self.veth(0), "root", "tbf", "rate", "1gbit",
                 "burst", "1mb", "latency", "10ms"])
            run(["tc", "qdisc", "del", "dev", self.veth(0), "root"])
        except (RuntimeError, FileNotFoundError, PermissionError) as e:
            self.teardown_network()
            self.remove_bridge()
            raise NetnsUnavailable(
                f"cannot build the network namespaces for the cluster (needs root or "
                f"CAP_NET_ADMIN, iproute2 and the tbf qdisc): {e}") from e

    def teardown_network(self):
        """Removes the namespaces (their veths go with them) now and the bridge when this
        process exits: clients of the test that are still alive would otherwise reach
        10.A.B.x through the default route once the bridge's own route is gone."""
        for ns in self.namespaces:
            _kill_namespace_processes(ns)
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces = []
        if self.bridge_made:
            atexit.register(self.remove_bridge)

    def remove_bridge(self):
        if self.bridge_made:
            run(["ip", "link", "del", self.bridge], check=False)
            self.bridge_made = False

    def throttle(self, node_id: int, rate: str, burst: str, latency: str):
        run(["tc", "qdisc", "replace", "dev", self.veth(node_id), "root", "tbf", "rate", rate,
             "burst", burst, "latency", latency])

    def unthrottle(self, node_id: int):
        run(["tc", "qdisc", "del", "dev", self.veth(node_id), "root"], check=False)

    def qdisc_stats(self, node_id: int) -> str:
        return run(["tc", "-s", "qdisc", "show", "dev", self.veth(node_id)], check=False).stdout

    @contextmanager
    def throttled(self, node_id: int, rate: str, burst: str, latency: str):
        """Node `node_id` receives at most `rate` (tc tbf on the root end of its veth)."""
        self.throttle(node_id, rate, burst, latency)
        try:
            yield
        finally:
            self.unthrottle(node_id)

    def link_down(self, node_id: int):
        ip("link", "set", self.veth(node_id), "down")

    def link_up(self, node_id: int):
        ip("link", "set", self.veth(node_id), "up")

    @contextmanager
    def cut_off(self, node_id: int):
        """Node `node_id`'s link is down (nothing in or out) inside the block."""
        self.link_down(node_id)
        try:
            yield
        finally:
            self.link_up(node_id)

    # The nodes

    def start(self, node_id: int):
        data_dir = self.dir / f"node-{node_id}"
        data_dir.mkdir(parents=True, exist_ok=True)
        log = open(data_dir / "skein.log", "ab")
        # `ip netns exec` execs the command, so the Popen's pid is skein's.
        self.procs[node_id] = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace(node_id), *self.argv(node_id)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        log.close()

    def up(self, timeout=90):
        """Builds the network, starts every node and waits until every broker is listed in
        Metadata (registered and unfenced)."""
        from confluent_kafka.admin import AdminClient

        self.dir.mkdir(parents=True, exist_ok=True)
        self.build_network()
        for i in range(self.brokers):
            self.start(i)
        (self.dir / "cluster.json").write_text(json.dumps(self.file, indent=2) + "\n")
        admin = AdminClient({"bootstrap.servers": self.bootstrap})

        def ready():
            for i, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"node {i} exited with {proc.returncode}:\n{self.logs(30)}")
            return self.registered(admin) == set(range(self.brokers))

        wait_for(ready, timeout=timeout, interval=0.3, what="every broker registered")
        return self

    @staticmethod
    def registered(admin) -> set[int]:
        """Ids of the brokers Metadata lists (registered and unfenced), or an empty set."""
        try:
            return set(admin.list_topics(timeout=2).brokers)
        except Exception:
            return set()

    def brokers_listed_by(self, node_id: int, timeout=2.0) -> set[int] | None:
        """Broker ids node `node_id` lists in Metadata v1 (the registered, unfenced ones); None
        when it does not answer. Asking the controller's node gives the controller's view."""
        try:
            with socket.create_connection((self.address(node_id), CLIENT_PORT),
                                          timeout=timeout) as s:
                s.sendall(wire.request_frame(3, 1, 1, wire.i32(0)))
                r = wire.Reader(wire.recv_frame(s))
        except OSError:
            return None
        r.i32()  # correlation id
        ids = set()
        for _ in range(r.i32()):
            ids.add(r.i32())
            r.string()  # host
            r.i32()  # port
            r.string()  # rack
        return ids

    def logs(self, lines=40) -> str:
        return node_logs(self.dir, lines)

    def cleanup(self):
        """Stops every node (SIGKILL: the data dirs are thrown away), then removes the
        namespaces, veths and the bridge. Safe to call more than once."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.teardown_network()
