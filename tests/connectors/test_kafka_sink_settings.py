"""The Kafka sink's producer settings: engine/connectors/kafka_defaults.py's, which a topology's
``settings`` override (librdkafka's names and values as they are)."""

from __future__ import annotations

from engine.connectors.kafka_defaults import PRODUCER
from engine.connectors.kafka_sink import KafkaSink


def test_the_producer_starts_from_the_declared_defaults():
    config = KafkaSink("127.0.0.1:1", topic="t").config
    assert {key: config[key] for key in PRODUCER} == PRODUCER
    assert config["linger.ms"] == 100 and config["enable.idempotence"] is True and config["acks"] == "all"


def test_settings_override_the_defaults_and_keep_the_rest():
    config = KafkaSink("127.0.0.1:1", topic="t", settings={"linger.ms": 5, "compression.type": "lz4",
                                                         "enable.idempotence": False}).config
    assert config["linger.ms"] == 5 and config["enable.idempotence"] is False
    assert config["compression.type"] == "lz4" and config["acks"] == "all"
    assert config["bootstrap.servers"] == "127.0.0.1:1"
