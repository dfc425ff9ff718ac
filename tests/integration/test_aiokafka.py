"""aiokafka: a small produce/consume round trip without a consumer group."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from helpers import create_topic, unique


async def roundtrip(bootstrap, topic):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                compression_type="gzip", linger_ms=5)
    await producer.start()
    try:
        metas = []
        for i in range(200):
            metas.append(await producer.send(
                topic, key=f"k{i}".encode(), value=f"value-{i}".encode() * (i % 5 + 1),
                headers=[("n", str(i).encode())], partition=i % 2))
        metas = [await m for m in metas]
        batch_meta = await producer.send_and_wait(topic, value=b"last", partition=0)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = []
        async def collect():
            while len(got) < 201:
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                for recs in batch.values():
                    got.extend(recs)
        await asyncio.wait_for(collect(), timeout=30)
        end = await consumer.end_offsets(tps)
        begin = await consumer.beginning_offsets(tps)
        # Seek into the middle and read exactly that record.
        consumer.seek(tps[1], 42)
        consumer.pause(tps[0])
        one = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    return metas, batch_meta, got, end, begin, one


def test_aiokafka_roundtrip(broker):
    topic = unique("aio")
    create_topic(broker.bootstrap, topic, partitions=2)
    metas, last, got, end, begin, one = asyncio.run(roundtrip(broker.bootstrap, topic))
    assert [(m.partition, m.offset) for m in metas] == [(i % 2, i // 2) for i in range(200)]
    assert (last.partition, last.offset) == (0, 100)
    by_pos = {(r.partition, r.offset): r for r in got}
    assert len(by_pos) == 201 == len(got)
    for i in range(200):
        r = by_pos[(i % 2, i // 2)]
        assert r.key == f"k{i}".encode()
        assert r.value == f"value-{i}".encode() * (i % 5 + 1)
        assert list(r.headers) == [("n", str(i).encode())]
    assert by_pos[(0, 100)].value == b"last" and by_pos[(0, 100)].key is None
    assert end == {TopicPartition(topic, 0): 101, TopicPartition(topic, 1): 100}
    assert begin == {TopicPartition(topic, 0): 0, TopicPartition(topic, 1): 0}
    assert (one.partition, one.offset, one.key) == (1, 42, b"k85")
