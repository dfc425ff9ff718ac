"""The HTTP listener of every node: Prometheus metrics under Kafka's JMX-exporter names, checked
by Debian's promtool and scraped by a real Prometheus, and the admin JSON API checked against
the cluster's own Metadata answers."""

import json
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request

from confluent_kafka.admin import AdminClient

from cluster_helpers import cluster_fixtures, create_in_sync, describe, skein, wait_until
from conftest import free_port
from helpers import produce_sync, unique, poll_count
from test_cluster_replication import fully_in_sync, kill9

SESSION_MS = 3000
SETTINGS = [
    f"broker.session.timeout.ms={SESSION_MS}",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=3000",
    "leader.imbalance.check.interval.seconds=3",
    "offsets.topic.num.partitions=3",
]


cluster, logs_on_failure = cluster_fixtures("metrics", 3, 3, SETTINGS, log_lines=60)


def get(url, timeout=10):
    """(status, body bytes) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(node, path):
    status, body = get(f"http://{node['http']}{path}")
    return status, json.loads(body)


def samples(text, name):
    """{labels string: value} of metric `name` in a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            out[key[len(name):]] = float(value)
    return out


def end_offsets(cluster, topic, partitions):
    """{partition: log end offset} from ListOffsets (confluent-kafka's watermarks)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": unique("ends")})
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)}
    finally:
        c.close()


def test_every_node_passes_promtool_with_kafkas_names(cluster):
    topic = create_in_sync(cluster, "m", 3, 3)
    produce_sync(cluster.bootstrap, topic, [(b"k%d" % i, b"v" * 100, None, None) for i in range(30)])
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is not installed"
    leaders, messages = 0, 0.0
    for node in cluster.file["nodes"]:
        status, body = get(f"http://{node['http']}/metrics")
        assert status == 200
        r = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
        assert r.returncode == 0, (node["id"], r.stdout.decode() + r.stderr.decode())
        text = body.decode()
        for name in ["kafka_server_replicamanager_underreplicatedpartitions",
                     "kafka_server_replicamanager_partitioncount",
                     "kafka_server_replicamanager_leadercount",
                     "kafka_controller_kafkacontroller_activecontrollercount",
                     "kafka_server_replicafetchermanager_maxlag",
                     "kafka_server_delayedoperationpurgatory_purgatorysize",
                     "kafka_network_requestmetrics_requests_total",
                     "kafka_network_requestmetrics_totaltimems_bucket",
                     "kafka_log_log_size", "kafka_log_log_logendoffset"]:
            assert samples(text, name), f"node {node['id']} has no {name}"
        assert samples(text, "kafka_server_replicamanager_partitioncount")[""] >= 3
        leaders += samples(text, "kafka_server_replicamanager_leadercount")[""]
        messages += samples(text, "kafka_server_brokertopicmetrics_messagesin_total").get(
            f'{{topic="{topic}"}}', 0)
        active = samples(text, "kafka_controller_kafkacontroller_activecontrollercount")[""]
        assert active == (1 if node["id"] == 0 else 0)
        ends = samples(text, "kafka_log_log_logendoffset")
        assert sum(v for k, v in ends.items() if f'topic="{topic}"' in k) == 30
    assert messages == 30, "every record counted once, by its partition's leader"
    assert leaders >= 3


def test_admin_api_agrees_with_metadata(cluster):
    topic = create_in_sync(cluster, "api", 4, 2)
    produce_sync(cluster.bootstrap, topic, [(b"k%d" % i, b"v", None, None) for i in range(20)])
    md = AdminClient({"bootstrap.servers": cluster.bootstrap}).list_topics(timeout=10)
    ends = end_offsets(cluster, topic, len(md.topics[topic].partitions))
    assert sum(ends.values()) == 20
    for node in cluster.file["nodes"]:
        status, c = get_json(node, "/v1/cluster")
        assert status == 200
        assert c["cluster_id"] == md.cluster_id and c["controller_id"] == md.controller_id
        assert c["node_id"] == node["id"]
        assert sorted(b["id"] for b in c["brokers"]) == sorted(md.brokers)
        for b in c["brokers"]:
            assert (b["host"], b["port"]) == (md.brokers[b["id"]].host, md.brokers[b["id"]].port)
            assert b["rack"] == cluster.node(b["id"])["rack"] and b["fenced"] is False
        status, t = get_json(node, "/v1/topics")
        assert status == 200 and topic in t["topics"]
        status, view = get_json(node, f"/v1/topics/{topic}")
        assert status == 200 and view["name"] == topic
        parts = md.topics[topic].partitions
        assert [p["partition"] for p in view["partitions"]] == sorted(parts)
        for p in view["partitions"]:
            m = parts[p["partition"]]
            assert p["leader"] == m.leader and p["replicas"] == m.replicas
            assert sorted(p["isr"]) == sorted(m.isrs)
            # Every node shows every replica's state, as the partition's leader knows it.
            states = {s["broker_id"]: s for s in p["replica_states"]}
            assert sorted(states) == sorted(p["replicas"])
            assert all(s["in_sync"] and s["lag"] == 0 for s in states.values())
            assert {s["log_end_offset"] for s in states.values()} == {ends[p["partition"]]}
            assert p["high_watermark"] == ends[p["partition"]]
        # What another node asks a leader for: the partitions it leads, alone.
        status, local = get_json(node, f"/v1/topics/{topic}?scope=local")
        assert status == 200
        for p in local["partitions"]:
            assert (p.get("replica_states") is not None) == (p["leader"] == node["id"])
        status, err = get_json(node, f"/v1/topics/{topic}?scope=everything")
        assert status == 400 and "scope" in err["error"]
        status, err = get_json(node, "/v1/topics/no-such-topic")
        assert status == 404 and "no-such-topic" in err["error"]


def test_prometheus_sees_under_replicated_partitions_come_and_go(cluster, tmp_path):
    prometheus = shutil.which("prometheus")
    assert prometheus, "prometheus (Debian's package) is not installed"
    topic = create_in_sync(cluster, "urp", 6, 3)
    targets = [n["http"] for n in cluster.file["nodes"]]
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n"
        "scrape_configs:\n  - job_name: skein\n    static_configs:\n"
        f"      - targets: {json.dumps(targets)}\n")
    port = free_port()
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    log.close()

    def query(expr):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            status, body = get(url, timeout=5)
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None
        if status != 200:
            return None
        result = json.loads(body)["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    urp = "sum(kafka_server_replicamanager_underreplicatedpartitions)"
    try:
        wait_until(lambda: query("count(up == 1)") == 3, timeout=30,
                   what="Prometheus scraping all three nodes")
        wait_until(lambda: query(urp) == 0, timeout=15, what="0 under-replicated")
        victim = 2
        led_elsewhere = sum(1 for p in describe(cluster, topic) if victim in p["replicas"])
        kill9(cluster, victim)
        wait_until(lambda: (query(urp) or 0) >= led_elsewhere, timeout=SESSION_MS / 1000 + 15,
                   what=f">= {led_elsewhere} under-replicated after the kill")
        cluster.restart(victim)
        wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="back in sync")
        wait_until(lambda: query(urp) == 0, timeout=30, what="0 under-replicated again")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_groups_in_the_api_and_their_lag_on_the_coordinator(cluster):
    from confluent_kafka import Consumer, TopicPartition

    topic = create_in_sync(cluster, "lag", 2, 3)
    produce_sync(cluster.bootstrap, topic, [(b"k%d" % i, b"v", None, i % 2) for i in range(40)])
    group = unique("g")
    c = Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": group,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    poll_count(c, 10)
    c.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in c.committed(
        [TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)}
    c.close()
    # Lag is known where the group committed (kafka-consumer-groups shows "-" elsewhere).
    expected_lag = sum(20 - v for v in committed.values() if v >= 0)
    assert expected_lag > 0
    nodes = cluster.file["nodes"]
    for node in nodes:
        status, listing = get_json(node, "/v1/groups")
        assert status == 200 and group in [g["group_id"] for g in listing["groups"]]
        status, view = get_json(node, f"/v1/groups/{group}")
        assert status == 200 and view["state"] == "Empty" and view["members"] == []
        offsets = {o["partition"]: o for o in view["offsets"] if o["topic"] == topic}
        assert sorted(offsets) == sorted(p for p, v in committed.items() if v >= 0)
        for p, o in offsets.items():
            assert o["committed_offset"] == committed[p] and o["log_end_offset"] == 20
            assert o["lag"] == 20 - committed[p]
        assert view["total_lag"] == expected_lag
        status, err = get_json(node, "/v1/groups/no-such-group")
        assert status == 404 and "no-such-group" in err["error"]
    # kafka-exporter's lag gauges, from the group's coordinator only.
    reporting = []
    for node in nodes:
        _, body = get(f"http://{node['http']}/metrics")
        lag = samples(body.decode(), "kafka_consumergroup_lag")
        mine = {k: v for k, v in lag.items() if f'consumergroup="{group}"' in k}
        if mine:
            reporting.append(node["id"])
            assert sum(mine.values()) == expected_lag
    assert len(reporting) == 1, reporting


def test_events_stream_isr_shrink_and_expand_around_a_kill(cluster):
    import threading

    topic = create_in_sync(cluster, "ev", 3, 3)
    watcher = cluster.node(0)
    status, body = get(f"http://{watcher['http']}/v1/events?after=x")
    assert status == 400
    status, listed = get_json(watcher, "/v1/events?format=json")
    assert status == 200
    assert any(e["event"]["kind"] == "topic_created" and e["event"]["topic"] == topic
               for e in listed["events"])
    last = max(e["id"] for e in listed["events"])
    seen = []

    def follow():
        req = urllib.request.urlopen(f"http://{watcher['http']}/v1/events?after={last}",
                                     timeout=120)
        assert req.headers["Content-Type"].startswith("text/event-stream")
        for raw in req:
            line = raw.decode().strip()
            if line.startswith("data: "):
                seen.append(json.loads(line[6:])["event"])

    threading.Thread(target=follow, daemon=True).start()
    victim = 1

    def kinds(kind, broker):
        return [e for e in seen if e["kind"] == kind and e.get("broker") == broker
                and e.get("topic") in (None, topic)]

    kill9(cluster, victim)
    wait_until(lambda: kinds("broker_fenced", victim) and kinds("isr_shrink", victim),
               timeout=SESSION_MS / 1000 + 10, what="fenced and ISR shrink events")
    assert all(e["reason"] for e in seen) and all(e["time_ms"] > 0 for e in seen)
    cluster.restart(victim)
    wait_until(lambda: kinds("broker_unfenced", victim) and kinds("isr_expand", victim),
               timeout=60, what="unfenced and ISR expand events")
    wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="back in sync")


def test_layout_endpoint_is_the_clis_layout_and_the_page_is_served(cluster):
    topic = create_in_sync(cluster, "lay", 6, 3)
    cli = json.loads(skein("topic", "describe", topic, "--layout", "--format", "json",
                           "--bootstrap", cluster.bootstrap).stdout)
    for node in cluster.file["nodes"]:
        status, api = get_json(node, f"/v1/topics/{topic}/layout")
        assert status == 200
        assert api == cli, f"node {node['id']}'s layout differs from the CLI's"
        status, err = get_json(node, "/v1/topics/no-such-topic/layout")
        assert status == 404
        status, page = get(f"http://{node['http']}/")
        assert status == 200 and b"/v1/topics/" in page and b"EventSource" in page


def test_a_deleted_topics_rates_leave_the_page(cluster):
    topic = create_in_sync(cluster, "gone", 1, 3)
    produce_sync(cluster.bootstrap, topic, [(b"k", b"v", None, None)] * 5)

    def series(name):
        found = 0
        for node in cluster.file["nodes"]:
            _, body = get(f"http://{node['http']}/metrics")
            found += sum(1 for k in samples(body.decode(), name) if f'topic="{topic}"' in k)
        return found

    assert series("kafka_server_brokertopicmetrics_messagesin_total") >= 1
    skein("topic", "delete", topic, "--bootstrap", cluster.bootstrap)
    wait_until(lambda: series("kafka_server_brokertopicmetrics_messagesin_total") == 0
               and series("kafka_log_log_size") == 0, timeout=15,
               what="the deleted topic's series gone from every node")


def test_cluster_status_and_the_api_report_the_same_health(cluster):
    """`skein cluster status` and /v1/cluster (the page's brokers panel) read one model:
    the same leaders and replicas per broker, the same under-replicated and offline partitions,
    with every broker up and with one killed."""
    topic = create_in_sync(cluster, "health", 6, 3)

    def problems(items):
        return sorted((p["topic"], p["partition"], p["leader"], p["replicas"], p["isr"])
                      for p in items)

    def agree(node, expect_under_replicated):
        status, code = cluster.status_json()
        if code != 0:
            return False
        http, api = get_json(node, "/v1/cluster")
        assert http == 200
        loads = {b["id"]: (b["leaders"], b["replicas"]) for b in api["brokers"] if not b["fenced"]}
        cli = {b["id"]: (b["leaders"], b["replicas"]) for b in status["brokers"] if b["registered"]}
        under = problems(api["under_replicated"])
        return (loads == cli and under == problems(status["under_replicated"])
                and problems(api["offline"]) == problems(status["offline"])
                and bool(under) == expect_under_replicated)

    for node in cluster.file["nodes"]:
        wait_until(lambda: agree(node, False), timeout=15, what=f"node {node['id']} agrees")
    victim = 2
    kill9(cluster, victim)
    try:
        wait_until(lambda: agree(cluster.node(0), True), timeout=SESSION_MS / 1000 + 15,
                   what="both see the under-replicated partitions")
        status, api = get_json(cluster.node(1), "/v1/cluster")
        assert any(p["topic"] == topic and victim not in p["isr"]
                   for p in api["under_replicated"])
    finally:
        cluster.restart(victim)
    wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="back in sync")


def placement_cli(*args):
    return json.loads(skein("placement", *args, "--format", "json").stdout)


def test_placement_endpoint_is_the_clis_explainer(cluster):
    node = cluster.node(1)
    deck = "0:R1,1:R1,2:R1,3:R2,4:R2,5:R2"
    query = urllib.parse.urlencode({"brokers": deck, "partitions": 10, "replication-factor": 3,
                                    "start-index": 0, "fail": "0,3"})
    status, api = get_json(node, f"/v1/placement?{query}")
    assert status == 200
    cli = placement_cli("--brokers", deck, "--partitions", "10", "--replication-factor", "3",
                        "--start-index", "0", "--fail", "0,3")
    assert api["partitions"] == cli["partitions"]
    failover = {k: v for k, v in api["failover"].items() if k != "layout"}
    failover["leaders"] = [{"partition": x["partition"], "leader": x["leader"]}
                           for x in failover["leaders"]]
    assert failover == cli["failover"]
    assert [b["label"] for b in api["brokers"]] == [
        "R1-B0", "R2-B3", "R1-B1", "R2-B4", "R1-B2", "R2-B5"]
    # The deck's table before and after: failed brokers' rows absent, their replicas out of
    # the ISR, moved leaders marked.
    rows = {r["label"]: r for r in api["failover"]["layout"]["rows"]}
    assert rows["R1-B0 (absent)"]["registered"] is False
    assert all(not c["in_sync"] for c in rows["R2-B3 (absent)"]["leaders"])
    assert any(c["moved_leader"] for r in rows.values() for c in r["followers"][0])
    before = {r["label"]: [[c["label"] for c in r["leaders"]]]
              + [[c["label"] for c in f] for f in r["followers"]]
              for r in api["layout"]["rows"]}
    assert before["R1-B0"][0] == ["P0", "P6"]

    # Brokers default to the cluster's; a plan needs partitions and a replication factor.
    status, plan = get_json(node, "/v1/placement?partitions=3&replication-factor=3")
    assert status == 200 and sorted(b["id"] for b in plan["brokers"]) == [0, 1, 2]
    for bad, says in [
        ("partitions=0&replication-factor=1", "partitions"),
        ("partitions=x&replication-factor=1", "partitions"),
        ("partitions=3", "replication-factor"),
        ("partitions=3&replication-factor=4", "INVALID_REPLICATION_FACTOR"),
        ("brokers=0,0&partitions=1&replication-factor=1", "twice"),
        ("brokers=0:a,1&partitions=1&replication-factor=1", "rack"),
        ("partitions=3&replication-factor=1&fail=9", "fail"),
        ("partitions=3&replication-factor=1&strategy=best", "strategy"),
        ("partitions=3&replication-factor=1&start-index=-1", "start-index"),
        ("partitions=3&replication_factor=1", "unknown parameter"),
        ("topic=__consumer_offsets&partitions=3", "topic"),
    ]:
        status, err = get_json(node, f"/v1/placement?{bad}")
        assert status == 400 and says in err["error"], (bad, status, err)
    status, err = get_json(node, "/v1/placement?topic=no-such-topic")
    assert status == 404 and "no-such-topic" in err["error"]


def test_what_if_predicts_where_leadership_moves(cluster):
    """The page's what-if for a live topic says where each partition's leadership goes if a
    broker fails; kill -9 that broker and the cluster moves it there."""
    topic = create_in_sync(cluster, "whatif", 6, 2)
    victim = 1
    status, api = get_json(cluster.node(0), f"/v1/placement?topic={topic}&fail={victim}")
    assert status == 200 and api["topic"] == topic
    predicted = {x["partition"]: x["leader"] for x in api["failover"]["leaders"]}
    was = {x["partition"]: x["was"] for x in api["failover"]["leaders"]}
    assert any(was[p] == victim for p in was), "the victim leads something"
    assert all(predicted[p] != victim for p in predicted)
    assert api["failover"]["offline"] == []
    kill9(cluster, victim)
    try:
        def moved():
            d = describe(cluster, topic)
            return d is not None and {p["partition"]: p["leader"] for p in d} == predicted
        wait_until(moved, timeout=SESSION_MS / 1000 + 15, what="leaders where the what-if said")
    finally:
        cluster.restart(victim)
    wait_until(lambda: fully_in_sync(cluster, topic), timeout=60, what="back in sync")
