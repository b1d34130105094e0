"""The Kafka sources of one cluster list their partitions from one metadata request per run
(engine/run_context.remembered), not one client each; outside a run, and in the next run, the
metadata is asked for again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException

from engine import run_context
from engine.connectors import kafka
from engine.connectors.errors import ConnectorError
from engine.connectors.kafka import KafkaSource


class _Admin:
    made: list = []
    fail = False

    def __init__(self, config: dict) -> None:
        _Admin.made.append(config["bootstrap.servers"])

    def list_topics(self, timeout):
        if _Admin.fail:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        topics = {name: SimpleNamespace(error=None, partitions={0: None, 1: None}) for name in ("a", "b", "c")}
        return SimpleNamespace(topics=topics)


@pytest.fixture(autouse=True)
def admin(monkeypatch):
    _Admin.made, _Admin.fail = [], False
    monkeypatch.setattr(kafka, "AdminClient", _Admin)
    yield
    run_context.end()


def test_the_sources_of_a_run_ask_each_cluster_once():
    run_context.begin(None)
    parts = [KafkaSource("h1:9092", topic=t, group_id=f"g{t}").list_parts() for t in ("a", "b", "c")]
    parts.append(KafkaSource("h2:9092", topic="a").list_parts())  # another cluster: its own request
    assert parts == [["a#0", "a#1"], ["b#0", "b#1"], ["c#0", "c#1"], ["a#0", "a#1"]]
    assert _Admin.made == ["h1:9092", "h2:9092"]
    assert KafkaSource("h1:9092", topic="a", settings={"security.protocol": "ssl"}).list_parts()
    assert _Admin.made[-1] == "h1:9092" and len(_Admin.made) == 3  # other client settings: asked again


def test_outside_a_run_and_in_the_next_one_the_metadata_is_asked_for_again():
    source = KafkaSource("h1:9092", topic="a")
    source.list_parts()
    source.list_parts()
    assert len(_Admin.made) == 2
    run_context.begin(None)
    source.list_parts()
    run_context.end()
    run_context.begin(None)
    source.list_parts()
    assert len(_Admin.made) == 4


def test_a_failed_request_is_not_remembered():
    run_context.begin(None)
    _Admin.fail = True
    with pytest.raises(ConnectorError, match="cannot reach brokers at h1:9092"):
        KafkaSource("h1:9092", topic="a").list_parts()
    _Admin.fail = False
    assert KafkaSource("h1:9092", topic="b").list_parts() == ["b#0", "b#1"]
    assert len(_Admin.made) == 2


def test_a_missing_topic_is_still_reported_per_source():
    run_context.begin(None)
    assert KafkaSource("h1:9092", topic="a").list_parts()
    with pytest.raises(ConnectorError, match="topic 'zz' does not exist"):
        KafkaSource("h1:9092", topic="zz").list_parts()
