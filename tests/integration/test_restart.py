"""A clean (SIGTERM) restart keeps topics, topic ids, configs, dynamic configs and data."""

from confluent_kafka import TopicCollection, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from helpers import admin, consume_range, produce_sync, unique


def snapshot(bootstrap, topics):
    a = admin(bootstrap)
    names = sorted(t for t in a.list_topics(timeout=10).topics if not t.startswith("__"))
    described = a.describe_topics(TopicCollection(topics), request_timeout=10)
    ids = {}
    parts = {}
    for name, fut in described.items():
        d = fut.result(timeout=10)
        ids[name] = str(d.topic_id)
        parts[name] = [(p.id, p.leader.id, [r.id for r in p.replicas]) for p in d.partitions]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    resources.append(ConfigResource(ConfigResource.Type.BROKER, "0"))
    configs = {}
    for res, fut in a.describe_configs(resources, request_timeout=10).items():
        configs[(res.restype, res.name)] = {
            n: (e.value, e.source) for n, e in fut.result(timeout=10).items()}
    cluster = a.describe_cluster(request_timeout=10).result(timeout=10)
    return {"names": names, "ids": ids, "partitions": parts, "configs": configs,
            "cluster_id": cluster.cluster_id, "controller": cluster.controller.id}


def test_sigterm_restart_keeps_topics_ids_configs_and_data(broker):
    a = admin(broker.bootstrap)
    t1, t2 = unique("keep-a"), unique("keep-b")
    fs = a.create_topics([
        NewTopic(t1, 3, 1, config={"retention.ms": "1234567", "cleanup.policy": "delete"}),
        NewTopic(t2, 1, 1)])
    for f in fs.values():
        f.result(timeout=10)
    # Incremental changes: set a topic config; a dynamic broker default.
    r1 = ConfigResource(ConfigResource.Type.TOPIC, t1, incremental_configs=[
        ConfigEntry("segment.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    rb = ConfigResource(ConfigResource.Type.BROKER, "0", incremental_configs=[
        ConfigEntry("log.retention.bytes", "987654321",
                    incremental_operation=AlterConfigOpType.SET)])
    for f in a.incremental_alter_configs([r1, rb]).values():
        f.result(timeout=10)

    records = [(f"k{i}".encode(), f"v{i}".encode(), [("h", b"1")], i % 3) for i in range(300)]
    delivered = produce_sync(broker.bootstrap, t1, records)

    before = snapshot(broker.bootstrap, [t1, t2])
    c1 = before["configs"][(ConfigResource.Type.TOPIC, t1)]
    c2 = before["configs"][(ConfigResource.Type.TOPIC, t2)]
    assert c1["retention.ms"][0] == "1234567"
    assert c1["segment.ms"][0] == "3600000"
    assert c1["cleanup.policy"] == ("delete", 1)  # DYNAMIC_TOPIC_CONFIG
    assert c1["segment.bytes"] == ("1073741824", 5)  # DEFAULT_CONFIG
    assert c2["retention.bytes"] == ("987654321", 2)  # DYNAMIC_BROKER_CONFIG
    assert before["configs"][(ConfigResource.Type.BROKER, "0")]["log.retention.bytes"][0] == \
        "987654321"
    assert before["ids"][t1] != before["ids"][t2]
    assert "AAAAAAAAAAAAAAAAAAAAAA" not in before["ids"].values()

    code = broker.stop()
    assert code == 0, f"exit code {code} after SIGTERM"
    assert "clean shutdown complete" in broker.log_text()
    broker.start()
    last_start = broker.log_text().split("===== start #")[-1]
    assert "unclean" not in last_start, last_start

    after = snapshot(broker.bootstrap, [t1, t2])
    assert after == before

    # The data is all there, at the same offsets.
    for part in range(3):
        want = [(records[i][1], off) for i, (p, off) in enumerate(delivered) if p == part]
        got = consume_range(broker.bootstrap, t1, part, 0, len(want))
        assert [(m.value(), m.offset()) for m in got] == want
        assert [m.headers() for m in got] == [[("h", b"1")]] * len(want)
    # And the log continues.
    more = produce_sync(broker.bootstrap, t1, [(None, b"next", None, 0)])
    assert more == [(0, 100)]


def test_incremental_alter_configs_delete_reverts_to_the_default(broker):
    """IncrementalAlterConfigs DELETE of a topic override (Kafka: back to the default)."""
    a = admin(broker.bootstrap)
    topic = unique("alter-del")
    a.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "1234567",
                                                   "cleanup.policy": "compact",
                                                   "delete.retention.ms": "1000"})]
                    )[topic].result(timeout=10)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("cleanup.policy", None, incremental_operation=AlterConfigOpType.DELETE),
        ConfigEntry("delete.retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    a.incremental_alter_configs([res])[res].result(timeout=10)
    got = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
    configs = list(got.values())[0].result(timeout=10)
    assert (configs["retention.ms"].value, configs["retention.ms"].source) == ("604800000", 5)
    assert (configs["cleanup.policy"].value, configs["cleanup.policy"].source) == ("delete", 5)
