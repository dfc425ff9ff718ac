"""Group administration through confluent-kafka's and kafka-python's admin clients: list,
describe, offsets, delete (NON_EMPTY_GROUP while members are active, GROUP_ID_NOT_FOUND),
and __consumer_offsets as an internal topic."""

import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import errors as kerrors
from kafka.structs import OffsetAndMetadata, TopicPartition as KpTopicPartition

from group_helpers import ConfluentMember, group_broker, seed_offsets, wait_for_balanced, wait_until
from helpers import create_topic, unique


def test_confluent_admin_lists_describes_and_deletes_groups(broker_factory):
    broker = group_broker(broker_factory)
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic, active, idle = unique("gadm"), unique("active"), unique("idle")
    create_topic(broker.bootstrap, topic, partitions=2)
    seed_offsets(broker.bootstrap, idle, topic, 2, offset=3)
    member = ConfluentMember(broker.bootstrap, active, [topic], **{"client.id": "adm-client"})
    member.start()
    try:
        wait_for_balanced([member], topic, 2)
        listed = a.list_consumer_groups().result(timeout=15)
        states = {g.group_id: g.state for g in listed.valid}
        assert states[active] == ConsumerGroupState.STABLE
        assert states[idle] == ConsumerGroupState.EMPTY
        stable_only = a.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(timeout=15)
        assert {g.group_id for g in stable_only.valid} >= {active}
        assert idle not in {g.group_id for g in stable_only.valid}

        desc = a.describe_consumer_groups([active, idle])
        d = desc[active].result(timeout=15)
        assert d.state == ConsumerGroupState.STABLE
        assert d.partition_assignor in ("range", "roundrobin")
        [m] = d.members
        assert m.client_id == "adm-client"
        assert m.host.startswith("/127.0.0.1")
        assert {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions} == {
            (topic, 0), (topic, 1)}
        assert desc[idle].result(timeout=15).state == ConsumerGroupState.EMPTY

        offsets = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(idle)])
        got = offsets[idle].result(timeout=15)
        assert sorted((tp.partition, tp.offset) for tp in got.topic_partitions) == [(0, 3), (1, 3)]

        deleted = a.delete_consumer_groups([active, idle, unique("nosuch")])
        with pytest.raises(KafkaException) as busy:
            deleted[active].result(timeout=15)
        assert busy.value.args[0].name() == "NON_EMPTY_GROUP"
        deleted[idle].result(timeout=15)
        missing = [k for k in deleted if k not in (active, idle)][0]
        with pytest.raises(KafkaException) as nf:
            deleted[missing].result(timeout=15)
        assert nf.value.args[0].name() == "GROUP_ID_NOT_FOUND"
        listed = a.list_consumer_groups().result(timeout=15)
        assert idle not in {g.group_id for g in listed.valid}
    finally:
        member.stop()
    # The member left: its group is Empty now and can go.
    a.delete_consumer_groups([active])[active].result(timeout=15)


def test_kafka_python_admin_groups_and_offsets(broker_factory):
    broker = group_broker(broker_factory)
    topic, group, busy = unique("kpadm"), unique("g"), unique("busy")
    create_topic(broker.bootstrap, topic, partitions=3)
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    member = ConfluentMember(broker.bootstrap, busy, [topic])
    member.start()
    try:
        wait_for_balanced([member], topic, 3)
        altered = a.alter_group_offsets(group, {
            KpTopicPartition(topic, 0): OffsetAndMetadata(11, "m0", -1),
            KpTopicPartition(topic, 2): OffsetAndMetadata(22, "", -1)})
        assert all(e is kerrors.NoError for e in altered.values()), altered
        offsets = a.list_group_offsets({group: None})[group]
        assert {tp.partition: (o.offset, o.metadata) for tp, o in offsets.items()} == {
            0: (11, "m0"), 2: (22, "")}
        listed = {g["group_id"]: g for g in a.list_groups()}
        assert listed[group]["group_state"] == "Empty"
        assert listed[busy]["group_state"] == "Stable"
        assert listed[busy]["protocol_type"] == "consumer"
        assert listed[busy]["group_type"] == "classic"
        d = a.describe_groups([group, busy])
        assert d[group]["group_state"] == "Empty" and d[group]["members"] == []
        assert d[busy]["group_state"] == "Stable" and len(d[busy]["members"]) == 1
        # OffsetDelete: allowed for an Empty group, refused for a topic a live group consumes.
        deleted = a.delete_group_offsets(group, [KpTopicPartition(topic, 2)])
        assert deleted == {KpTopicPartition(topic, 2): kerrors.NoError}
        assert set(a.list_group_offsets({group: None})[group]) == {KpTopicPartition(topic, 0)}
        refused = a.delete_group_offsets(busy, [KpTopicPartition(topic, 0)])
        assert refused[KpTopicPartition(topic, 0)] is kerrors.GroupSubscribedToTopicError
        result = a.delete_groups([group, busy, unique("nosuch")])
        assert result[group] == "OK"
        assert result[busy] == "NonEmptyGroupError"
        assert sorted(result.values()) == ["GroupIdNotFoundError", "NonEmptyGroupError", "OK"]
        assert a.list_group_offsets({group: None})[group] == {}
    finally:
        member.stop()
        a.close()


def test_consumer_offsets_is_internal_and_not_deletable(broker_factory):
    broker = group_broker(broker_factory)
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    # Created, as in Kafka, when the first group looks for its coordinator.
    assert "__consumer_offsets" not in a.list_topics(timeout=10).topics
    a.describe_consumer_groups(["any-group"])["any-group"].result(timeout=30)
    t = wait_until(lambda: a.list_topics(timeout=10).topics.get("__consumer_offsets"),
                   what="__consumer_offsets in the metadata")
    assert len(t.partitions) == 50
    with pytest.raises(KafkaException):
        a.delete_topics(["__consumer_offsets"])["__consumer_offsets"].result(timeout=15)
    assert "__consumer_offsets" in a.list_topics(timeout=10).topics


def test_offsets_of_a_deleted_topic_are_removed(broker_factory):
    broker = group_broker(broker_factory)
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    gone, kept, group = unique("gone"), unique("kept"), unique("g")
    create_topic(broker.bootstrap, gone, partitions=2)
    create_topic(broker.bootstrap, kept, partitions=1)
    seed_offsets(broker.bootstrap, group, gone, 2, offset=4)
    seed_offsets(broker.bootstrap, group, kept, 1, offset=9)
    a.delete_topics([gone])[gone].result(timeout=15)

    def committed(admin):
        r = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
        return sorted((tp.topic, tp.partition, tp.offset) for tp in r.result(timeout=15).topic_partitions)

    assert committed(a) == [(kept, 0, 9)]
    # And after a restart (the tombstones are in __consumer_offsets), asked by a new client: the
    # old one's connection died with the broker, and a request caught in that can wait out
    # librdkafka's socket timeout.
    broker.restart()
    b = AdminClient({"bootstrap.servers": broker.bootstrap})
    import time
    deadline = time.monotonic() + 15
    while True:
        try:
            assert committed(b) == [(kept, 0, 9)]
            break
        except KafkaException:
            assert time.monotonic() < deadline
            time.sleep(0.2)
