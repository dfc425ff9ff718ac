"""`skein topic describe` (table, json, the deck's layout) and `skein topic create`'s replication
factor and configs, against a one-node cluster from `skein cluster up`."""

import json

import pytest

from cluster_helpers import LocalCluster, skein
from helpers import produce_sync, unique


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(tmp_path_factory.mktemp("describe") / "cluster", brokers=1, racks=1)
    c.up()
    yield c
    c.cleanup()


def describe(cluster, topic, *args, check=True):
    return skein("topic", "describe", topic, *args, "--bootstrap", cluster.bootstrap,
                 check=check)


def test_table_lists_leader_epoch_replicas_isr_and_offline(cluster):
    topic = unique("describe")
    skein("topic", "create", topic, "--partitions", "3", "--replication-factor", "1",
          "--config", "retention.ms=3600000", "--config", "min.insync.replicas=1",
          "--bootstrap", cluster.bootstrap)
    lines = describe(cluster, topic).stdout.decode().splitlines()
    head = lines[0].split("\t")
    assert head[0] == f"Topic: {topic}" and head[2] == "PartitionCount: 3"
    assert head[3] == "ReplicationFactor: 1"
    assert set(head[4].removeprefix("Configs: ").split(",")) == {
        "retention.ms=3600000", "min.insync.replicas=1"}
    assert lines[1:] == [
        f"\tTopic: {topic}\tPartition: {p}\tLeader: 0\tLeaderEpoch: 0\tReplicas: 0\tIsr: 0"
        "\tOffline: " for p in range(3)]


def test_json_is_the_same_model(cluster):
    topic = unique("describe-json")
    skein("topic", "create", topic, "--partitions", "2", "--config", "cleanup.policy=compact",
          "--bootstrap", cluster.bootstrap)
    doc = json.loads(describe(cluster, topic, "--format", "json").stdout)
    assert list(doc) == ["topic", "topic_id", "partition_count", "replication_factor",
                         "partitions", "configs"]
    assert doc["topic"] == topic and len(doc["topic_id"]) == 22
    assert doc["partition_count"] == 2 and doc["replication_factor"] == 1
    assert doc["partitions"] == [
        {"partition": p, "leader": 0, "leader_epoch": 0, "replicas": [0], "isr": [0],
         "offline_replicas": []} for p in range(2)]
    assert doc["configs"] == {"cleanup.policy": "compact"}

    every = json.loads(describe(cluster, topic, "--format", "json", "--all-configs").stdout)
    assert every["configs"]["cleanup.policy"] == {"value": "compact",
                                                  "source": "DYNAMIC_TOPIC_CONFIG"}
    assert every["configs"]["segment.bytes"] == {"value": "1073741824",
                                                 "source": "DEFAULT_CONFIG"}


def test_layout_table_and_json(cluster):
    topic = unique("layout")
    skein("topic", "create", topic, "--partitions", "4", "--bootstrap", cluster.bootstrap)
    produce_sync(cluster.bootstrap, topic, [(b"k", b"v", None, p) for p in range(4)])
    out = describe(cluster, topic, "--layout").stdout.decode()
    assert out.splitlines() == [
        f"Topic: {topic}",
        "Brokers | Leaders",
        "R1-B0   | P0 P1 P2 P3",
    ], out

    doc = json.loads(describe(cluster, topic, "--layout", "--format", "json").stdout)
    cells = [{"partition": p, "label": f"P{p}", "in_sync": True, "offline": False,
              "moved_leader": False} for p in range(4)]
    assert doc == {"topic": topic, "positions": 1,
                   "rows": [{"label": "R1-B0", "broker": 0, "rack": "R1", "registered": True,
                             "leaders": cells, "followers": []}],
                   "legend": {}}


def test_create_checks_replication_factor_and_configs(cluster):
    topic = unique("rf")
    r = skein("topic", "create", topic, "--replication-factor", "2",
              "--bootstrap", cluster.bootstrap, check=False)
    assert r.returncode != 0
    assert b"INVALID_REPLICATION_FACTOR" in r.stderr, r.stderr
    r = skein("topic", "create", topic, "--replication-factor", "0",
              "--bootstrap", cluster.bootstrap, check=False)
    assert r.returncode != 0 and b"--replication-factor must be positive" in r.stderr
    r = skein("topic", "create", topic, "--config", "retention.ms=soon",
              "--bootstrap", cluster.bootstrap, check=False)
    assert r.returncode != 0 and b"retention.ms" in r.stderr, r.stderr
    r = skein("topic", "create", topic, "--config", "retention.ms",
              "--bootstrap", cluster.bootstrap, check=False)
    assert r.returncode != 0 and b"key=value" in r.stderr
    assert topic not in skein("topic", "list", "--bootstrap",
                              cluster.bootstrap).stdout.decode().split()

    skein("topic", "create", topic, "--replication-factor", "1", "--config",
          "segment.bytes=1048576", "--bootstrap", cluster.bootstrap)
    doc = json.loads(describe(cluster, topic, "--format", "json").stdout)
    assert doc["replication_factor"] == 1 and doc["configs"] == {"segment.bytes": "1048576"}


def test_describe_unknown_topic_fails(cluster):
    for args in [(), ("--layout",), ("--format", "json")]:
        r = describe(cluster, unique("missing"), *args, check=False)
        assert r.returncode != 0 and r.stderr and not r.stdout, args
