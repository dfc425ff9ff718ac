"""A consumer-group member run as a subprocess by group_helpers.MemberProcess:
python group_member.py <confluent|kafka-python> <bootstrap> <group> <topic> <json conf>.
Prints {"assigned": [[topic, partition], ...]} whenever its assignment changes and
{"record": [partition, offset, value]} per record; SIGTERM closes it cleanly."""

import json
import signal
import sys

client, bootstrap, group, topic, conf = sys.argv[1:6]
conf = json.loads(conf)
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)


def emit(event):
    print(json.dumps(event), flush=True)


if client == "confluent":
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **conf})
    c.subscribe([topic])
    last = None
    while not stopping:
        m = c.poll(0.2)
        if m is not None and not m.error():
            emit({"record": [m.partition(), m.offset(), m.value().decode()]})
        current = sorted([tp.topic, tp.partition] for tp in c.assignment())
        if current != last:
            last = current
            emit({"assigned": current})
    c.close()
else:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, **conf)
    last = None
    while not stopping:
        batches = c.poll(timeout_ms=200)
        for tp, msgs in batches.items():
            for m in msgs:
                emit({"record": [m.partition, m.offset, m.value.decode()]})
        current = sorted([tp.topic, tp.partition] for tp in c.assignment())
        if current != last:
            last = current
            emit({"assigned": current})
    c.close()
