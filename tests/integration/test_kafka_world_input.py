"""Kafka as the world fills it, on a real broker: timestamps a datetime cannot hold (Kafka takes
any 64-bit number), keys and header values that are not UTF-8, empty values beside tombstones,
aborted transactions between committed ones (offset gaps), a group offset that retention has
deleted, a source topic that does not exist; and on the sink side messages at librdkafka's size
limit and keys that are objects. Each run is bounded (``tail: false``), a few seconds in all."""

from __future__ import annotations

import json
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from tests.integration.kafka_io import consume_all, produce

YEAR_10000 = 253402300800000

READ = """\
    version: 1
    name: world
    sources:
      described: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false, metadata: true}}}}
      plain: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false}}}}
    sinks:
      meta: {{from: described, file: {{path: "{dir}/meta.jsonl"}}}}
      values: {{from: plain, file: {{path: "{dir}/values.jsonl"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def _send(bootstrap: str, topic: str, messages) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value, key, headers, stamp in messages:
        producer.produce(topic, value, key, headers=headers, timestamp=stamp)
    assert producer.flush(30) == 0


def test_odd_timestamps_keys_headers_and_values_neither_stop_nor_lose_anything(kafka_bootstrap, kafka_topic, flow):
    """A timestamp past year 9999 stopped the flow (``metadata: true``, or the health view's
    last event time when it was a batch's last message), at that offset after every restart."""
    source = kafka_topic("world")
    _send(kafka_bootstrap, source, [
        (b'{"id": 1}', b"\xff\xfek", [("h", None), ("h", b"2"), ("x", b"\xff")], 1_700_000_000_123),
        (b'{"id": 2}', None, None, -1),  # Kafka's "no timestamp"
        (b"", b"k", None, 0),  # an empty value is not a tombstone: a dead letter
        (None, b"gone", None, 0),  # a tombstone: skipped
        (b"null", None, None, 0),  # a dead letter
        (b'{"id": 3}', None, None, -5),
        (b'{"id": 4}', None, None, 2 ** 62),
        (b'{"id": 5}', None, None, YEAR_10000),  # the batch's last message
    ])
    ran = flow.run(READ, bootstrap=kafka_bootstrap, source=source)
    assert [e["id"] for e in ran.rows("values")] == [1, 2, 3, 4, 5]
    meta = {e["id"]: e["_meta"] for e in ran.rows("meta")}
    assert sorted(meta) == [1, 2, 3, 4, 5]
    assert meta[1]["key"] == "\ufffd\ufffdk" and meta[1]["headers"] == {"h": "2", "x": "\ufffd"}
    assert meta[1]["timestamp"] == "2023-11-14T22:13:20.123000+00:00"
    assert meta[3]["timestamp"] == "1969-12-31T23:59:59.995000+00:00"
    assert [meta[i]["timestamp"] for i in (2, 4, 5)] == [None, None, None]
    dead = ran.dead
    assert sorted(d["origin"] for d in dead) == [f"{source}[0]@{o}" for o in (2, 2, 4, 4)]
    assert {d["error"].split(":")[0] for d in dead} == {"malformed JSON", "expected a JSON object, got null"}


GROUPED = """\
    version: 1
    name: grouped
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false, group_id: {group},
                        start: committed}}}}
    sinks:
      out: {{from: orders, file: {{path: "{dir}/out.jsonl"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_committed_offset_that_retention_deleted_resumes_at_the_earliest_kept_message(
        kafka_bootstrap, kafka_admin, kafka_topic, flow):
    """librdkafka's default for an offset out of range is the end: every message still kept
    after it was skipped without a word."""
    source, group = kafka_topic("retained"), f"g-{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, source, [{"id": i} for i in range(10)])
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(source, 0, 2)], asynchronous=False)
    consumer.close()
    (deleted,) = kafka_admin.delete_records([TopicPartition(source, 0, 6)]).values()
    assert deleted.result().low_watermark == 6  # offsets 0-5 are gone, the group's 2 with them
    ran = flow.run(GROUPED, bootstrap=kafka_bootstrap, source=source, group=group)
    assert [e["id"] for e in ran.rows("out")] == [6, 7, 8, 9]


def test_aborted_transactions_are_never_read_and_the_offset_gaps_are_crossed(kafka_bootstrap, kafka_topic, flow):
    source = kafka_topic("transactions")
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "transactional.id": f"w-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    for ids, commit in ((range(0, 3), True), (range(100, 104), False), (range(3, 6), True),
                        (range(200, 202), False)):
        producer.begin_transaction()
        for i in ids:
            producer.produce(source, f'{{"id": {i}}}'.encode())
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)
    produce(kafka_bootstrap, source, [{"id": 6}])  # after the last (aborted) transaction, no transaction
    ran = flow.run(READ, bootstrap=kafka_bootstrap, source=source)
    assert [e["id"] for e in ran.rows("values")] == list(range(7))
    assert [e["_meta"]["offset"] for e in ran.rows("meta")] == [0, 1, 2, 9, 10, 11, 16]  # markers at 3, 8, 12, 15
    assert ran.dead == []


def test_a_source_topic_that_does_not_exist_stops_the_run_with_one_line(kafka_bootstrap, flow, capsys):
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    ran = flow.cli(GROUPED, bootstrap=kafka_bootstrap, source=missing, group="g")
    err = capsys.readouterr().err.strip()
    assert ran.exit == 3
    assert err == f"error: step 'orders': kafka source: topic '{missing}' does not exist at {kafka_bootstrap}"


WRITE = """\
    version: 1
    name: sizes
    sources:
      events: {{file: {{path: "{dir}/in.jsonl"}}}}
    sinks:
      out: {{from: events, kafka: {{brokers: "{bootstrap}", topic: {target}, timeout: 10s,
                                    settings: {{message.max.bytes: 1000}}}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_message_librdkafka_would_refuse_is_a_dead_letter_and_keys_are_their_text(kafka_bootstrap, kafka_topic,
                                                                                     flow):
    """An event whose message was within librdkafka's 36 bytes of overhead of message.max.bytes
    passed the encoder and made ``produce`` raise in the sink: the flow stopped, and again at
    every restart on the same input."""
    target = kafka_topic("sizes")
    pad = 1000 - 36 - len(b'{"id":1,"pad":""}') - 1  # the largest value with the key "k"
    flow.write("in.jsonl", [
        {"id": 1, "pad": "x" * pad, "_key": "k"},  # exactly librdkafka's largest: written
        {"id": 2, "pad": "x" * (pad + 1), "_key": "k"},  # one byte more: a dead letter
        {"id": 3, "pad": "x" * (pad + 26), "_key": "k"},  # under 1000 with its key, over with the overhead
        {"id": 4, "_key": {"order": 4, "leg": [1, 2]}}, {"id": 5, "_key": True}, {"id": 6, "_key": None},
        {"id": 7, "_headers": {"a\u0000b": "v"}}])  # a NUL cut the header's name short
    ran = flow.run(WRITE, bootstrap=kafka_bootstrap, target=target)
    got = {v["id"]: k for k, v, _ in consume_all(kafka_bootstrap, target, expected=4, timeout=15)}
    assert got == {1: "k", 4: '{"order":4,"leg":[1,2]}', 5: "true", 6: None}
    dead = {d["event"]["id"] if isinstance(d["event"], dict) else None: d["error"] for d in ran.dead}
    assert sorted(dead) == [2, 3, 7]
    assert "over message.max.bytes (1,000)" in dead[2] and "over message.max.bytes" in dead[3]
    assert "NUL" in dead[7]


LATEST = """\
    version: 1
    name: latest
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false, start: latest}}}}
    sinks:
      out: {{from: orders, file: {{path: "{dir}/out.jsonl", mode: append}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_flow_started_at_latest_resumes_with_what_was_sent_while_it_was_down(kafka_bootstrap, kafka_topic, flow):
    """``start: latest`` on a quiet topic: the snapshots held no offset until a message came, so
    the restarted flow started at the end again, past every message sent while it was down."""
    from cli.main import main

    source = kafka_topic("quiet")
    produce(kafka_bootstrap, source, [{"id": 0}])  # before the first start: not read
    path, recovery = flow.yaml(LATEST, bootstrap=kafka_bootstrap, source=source), str(flow.dir / "recovery")
    assert main(["run", "-q", "-r", recovery, str(path)]) == 0
    produce(kafka_bootstrap, source, [{"id": 1}, {"id": 2}])  # while it is down
    assert main(["run", "-q", "-r", recovery, str(path)]) == 0
    assert [json.loads(line)["id"] for line in (flow.dir / "out.jsonl").read_text().splitlines()] == [1, 2]
