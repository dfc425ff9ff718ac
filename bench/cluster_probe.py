"""Probes for bench/cluster.sh, on confluent-kafka with its default settings.

  wait-isr BOOTSTRAP TOPIC NODE TIMEOUT_S   waits until NODE is in every partition's ISR
  failover BOOTSTRAP TOPIC CLUSTER_JSON     kill -9 of a partition's leader (not the controller)
                                            while producing to it; time to the first ack after

Each prints one line `RESULT key=value ...`.
"""

import json
import os
import signal
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


def failover(bootstrap, topic, cluster_json):
    nodes = {n["id"]: n for n in json.load(open(cluster_json))["nodes"]}
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
    stop = threading.Event()

    def produce():
        payload = b"x" * 1024
        while not stop.is_set():
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
    stop.set()
    worker.join(40)
    ms = (first - killed) * 1000 if first else -1
    print(f"RESULT mode=failover ok={int(first is not None)} ms={ms:.0f} partition={target.id} "
          f"killed={victim['id']} acked={len(acked)} failed={len(failed)}")
    return 0 if first else 1


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "wait-isr":
        sys.exit(wait_isr(args[0], args[1], int(args[2]), float(args[3])))
    if cmd == "failover":
        sys.exit(failover(args[0], args[1], args[2]))
    sys.exit(f"unknown probe {cmd}")
