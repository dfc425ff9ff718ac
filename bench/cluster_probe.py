"""Probes for bench/cluster.sh, on confluent-kafka with its default settings.

  wait-isr BOOTSTRAP TOPIC NODE TIMEOUT_S   waits until NODE is in every partition's ISR
  failover BOOTSTRAP TOPIC CLUSTER_JSON [RUNS]
                                            kill -9 of a partition's leader (not the controller)
                                            while producing to it; time to the first ack after.
                                            Each run restarts its victim and waits for it to be
                                            back in the ISR; the median run is reported.
  stop CLUSTER_JSON NODE                    SIGTERM to NODE, waits until it has exited
  restart CLUSTER_JSON NODE                 starts NODE again with its argv (log appended to
                                            DATA_DIR/skein.log) and records its new pid

Each prints one line `RESULT key=value ...`.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient


def partitions(admin, topic):
    md = admin.list_topics(topic=topic, timeout=5)
    return md.topics[topic].partitions


def wait_isr(bootstrap, topic, node, timeout):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if all(node in p.isrs for p in partitions(admin, topic).values()):
                print(f"RESULT mode=wait-isr ok=1 ms={(time.monotonic() - t0) * 1000:.0f}")
                return 0
        except Exception:
            pass
        time.sleep(0.05)
    print(f"RESULT mode=wait-isr ok=0 ms=-1")
    return 1


def load_nodes(cluster_json):
    return {n["id"]: n for n in json.load(open(cluster_json))["nodes"]}


def stop(cluster_json, node, sig=signal.SIGTERM):
    pid = load_nodes(cluster_json)[node]["pid"]
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    while True:
        try:
            # A node this process restarted is its child: reap it, or it stays a zombie that
            # kill(pid, 0) still finds.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def restart(cluster_json, node):
    doc = json.load(open(cluster_json))
    entry = next(n for n in doc["nodes"] if n["id"] == node)
    with open(os.path.join(entry["data_dir"], "skein.log"), "ab") as out:
        proc = subprocess.Popen(entry["argv"], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=out, start_new_session=True)
    entry["pid"] = proc.pid
    with open(cluster_json, "w") as f:
        json.dump(doc, f, indent=2)
    return proc.pid


def failover_once(bootstrap, topic, cluster_json):
    nodes = load_nodes(cluster_json)
    controllers = {i for i, n in nodes.items() if "--controller-listen" in n["argv"]}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    target = next(p for p in partitions(admin, topic).values() if p.leader not in controllers)
    victim = nodes[target.leader]
    acked = []  # monotonic times of successful deliveries
    failed = []
    lock = threading.Lock()

    def delivered(err, msg):
        with lock:
            (failed if err else acked).append(time.monotonic())

    producer = Producer({"bootstrap.servers": bootstrap})
    stop_producing = threading.Event()

    def produce():
        payload = b"x" * 1024
        while not stop_producing.is_set():
            producer.produce(topic, payload, partition=target.id, on_delivery=delivered)
            producer.poll(0.001)
        producer.flush(30)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    time.sleep(3)
    os.kill(victim["pid"], signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + 60
    first = None
    while time.monotonic() < deadline and first is None:
        with lock:
            first = next((t for t in acked if t > killed), None)
        time.sleep(0.01)
    stop_producing.set()
    worker.join(40)
    ms = (first - killed) * 1000 if first else -1
    return ms, target.id, victim["id"], len(acked), len(failed)


def failover(bootstrap, topic, cluster_json, runs=1):
    results = []
    for _ in range(runs):
        ms, partition, victim, acked, failed = failover_once(bootstrap, topic, cluster_json)
        results.append(ms)
        if ms < 0:
            break
        stop(cluster_json, victim, signal.SIGKILL)
        restart(cluster_json, victim)
        admin = AdminClient({"bootstrap.servers": bootstrap})
        t0 = time.monotonic()
        while not all(victim in p.isrs for p in partitions(admin, topic).values()):
            if time.monotonic() - t0 > 60:
                print(f"RESULT mode=failover ok=0 ms=-1 runs={','.join(map(str, results))}")
                return 1
            time.sleep(0.1)
    ok = all(ms >= 0 for ms in results)
    median = statistics.median(results) if ok else -1
    print(f"RESULT mode=failover ok={int(ok)} ms={median:.0f} "
          f"runs_ms={','.join(f'{ms:.0f}' for ms in results)} partition={partition} "
          f"acked={acked} failed={failed}")
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait-isr":
        sys.exit(wait_isr(args[0], args[1], int(args[2]), float(args[3])))
    if cmd == "failover":
        sys.exit(failover(args[0], args[1], args[2], int(args[3]) if len(args) > 3 else 1))
    if cmd == "stop":
        sys.exit(stop(args[0], int(args[1])))
    if cmd == "restart":
        print(f"RESULT mode=restart ok=1 pid={restart(args[0], int(args[1]))}")
        sys.exit(0)
    sys.exit(f"unknown probe {cmd}")
