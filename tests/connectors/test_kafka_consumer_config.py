"""What a Kafka source's partition consumer is configured with, without a broker: the prefetch
cap always, the short empty-fetch wait only for ``tail: false`` (its end comes with the first
empty fetch), and the user's ``settings`` over both."""

from __future__ import annotations

import pytest

from engine.connectors import kafka


def _config(monkeypatch, **options) -> dict:
    made: list = []

    class _Consumer:
        def __init__(self, config) -> None:
            made.append(config)

        def assign(self, partitions) -> None:
            pass

    monkeypatch.setattr(kafka, "Consumer", _Consumer)
    source = kafka.KafkaSource("127.0.0.1:1", topic="t", align=False, **options)
    kafka._KafkaReader(source.config, "t", 0, "earliest", 5, source)
    return made[0]


@pytest.mark.parametrize("tail", [True, False])
def test_the_prefetch_cap_always_and_the_short_fetch_wait_only_for_a_bounded_source(monkeypatch, tail):
    config = _config(monkeypatch, tail=tail)
    assert config["queued.max.messages.kbytes"] == 2048 and config["fetch.queue.backoff.ms"] == 5
    assert config["enable.partition.eof"] is (not tail)
    if tail:  # a live flow long-polls an idle partition as librdkafka does (500 ms)
        assert "fetch.wait.max.ms" not in config
    else:
        assert config["fetch.wait.max.ms"] == 10


def test_settings_override_the_engine_s_defaults(monkeypatch):
    config = _config(monkeypatch, tail=False, settings={"fetch.wait.max.ms": 250, "queued.max.messages.kbytes": 65536})
    assert config["fetch.wait.max.ms"] == 250 and config["queued.max.messages.kbytes"] == 65536
