"""A message the broker refuses (here: over the target topic's own ``max.message.bytes``, which
the sink's encoder cannot know) stops the flow loudly, on the batch encoder's short way too (an
event whose only envelope field is ``_key``); and keys given to librdkafka as text arrive as
that text."""

from __future__ import annotations

import pytest

from engine.runtime.runner import RunFailed
from tests.integration.kafka_io import consume_all, produce

KEYED = """\
    version: 1
    name: refused
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false}}}}
    steps:
      - id: domain
        map: {{fields: {{id: id, note: note}}, key: "str(id)"}}
    sinks:
      out: {{from: domain, kafka: {{brokers: "{bootstrap}", topic: {target}, timeout: 10s}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_message_the_broker_refuses_stops_the_flow(kafka_bootstrap, kafka_topic, flow):
    source = kafka_topic("orders")
    target = kafka_topic("small", config={"max.message.bytes": "2000"})
    produce(kafka_bootstrap, source, [{"id": i, "note": "x" * (5000 if i == 3 else 10)} for i in range(5)])
    with pytest.raises(RunFailed) as caught:
        flow.run(KEYED, bootstrap=kafka_bootstrap, source=source, target=target)
    assert "sink 'out': kafka sink:" in caught.value.message and "not delivered" in caught.value.message
    assert "too large" in caught.value.message.lower()


def test_keys_of_every_kind_arrive_as_their_text(kafka_bootstrap, kafka_topic, flow):
    source, target = kafka_topic("orders"), kafka_topic("keys")
    notes = ["", "k", "caf\u00e9", "x" * 300]
    produce(kafka_bootstrap, source, [{"id": n, "note": n} for n in notes])
    flow.run(KEYED.replace('key: "str(id)"', "key: note"), bootstrap=kafka_bootstrap, source=source,
             target=target)
    messages = consume_all(kafka_bootstrap, target, expected=len(notes))  # (an empty key reads as None)
    assert sorted((v["note"], k) for k, v, _ in messages) == sorted((n, n or None) for n in notes)
    assert all(v["id"] == v["note"] for _, v, _ in messages)
