"""Fixtures that run a real `skein serve` process for the integration tests.

Each test that asks for `broker` gets a fresh broker on a free loopback port with its own temp
data dir. `broker.restart()` stops it (SIGTERM) and starts it again on the same port and data
dir, `broker.kill9()` kills it hard, `broker.start()` brings it back. The broker's stderr goes to
a file whose tail is printed when a test fails.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKEIN_BIN = os.environ.get("SKEIN_BIN", str(REPO / ".build" / "debug" / "skein"))

sys.path.insert(0, str(Path(__file__).resolve().parent))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


class SkeinProcess:
    def __init__(self, data_dir: Path, log_path: Path, port: int | None = None, settings=None):
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.port = port or free_port()
        self.http_port = free_port()
        self.settings = dict(settings or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self):
        cmd = [SKEIN_BIN, "serve", "--listen", self.bootstrap, "--data-dir", str(self.data_dir),
               "--http-listen", f"127.0.0.1:{self.http_port}"]
        for k, v in self.settings.items():
            cmd += ["--set", f"{k}={v}"]
        cmd += ["--log-level", os.environ.get("SKEIN_LOG_LEVEL", "info")]
        return cmd

    def start(self, timeout: float = 30.0):
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"skein exited with {self.proc.returncode} during start-up:\n{self.log_tail()}")
            if port_accepts(self.port):
                return self
            time.sleep(0.05)
        raise RuntimeError(f"skein did not accept on {self.port} within {timeout}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"skein did not exit within {timeout}s of SIGTERM")

    def kill9(self):
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> int:
        code = self.stop()
        self.start()
        return code

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def broker_factory(tmp_path, request):
    """Starts brokers on demand (settings are `--set` pairs); all are stopped afterwards."""
    started: list[SkeinProcess] = []

    def make(settings=None, name="broker") -> SkeinProcess:
        b = SkeinProcess(tmp_path / f"{name}-data", tmp_path / f"{name}.log", settings=settings)
        started.append(b)
        return b.start()

    yield make
    for b in started:
        crashed = b.proc is not None and b.proc.poll() is not None and b.proc.returncode not in (0, -9)
        try:
            b.stop()
        except AssertionError as e:
            print(f"teardown: {e}")
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        if failed or crashed:
            print(f"\n----- skein log ({b.log_path}) -----\n{b.log_tail(80)}")
        if crashed:
            pytest.fail(f"skein exited unexpectedly with {b.proc.returncode}")


@pytest.fixture
def broker(broker_factory) -> SkeinProcess:
    return broker_factory()


def wait_for(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
