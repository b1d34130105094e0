"""The ``kafka`` sink's factory, as engine/catalog/sinks.py declares it: at-least-once (a producer
per worker, engine/connectors/kafka_sink.py) or, with ``delivery: exactly-once``, the
transactional outbox (engine/connectors/kafka_exactly_once.py).

The outbox brings Kafka transactions and the recovery store's reader (sqlite3, a subprocess) with
it: it is imported only by a sink that asks for it, so an at-least-once flow never loads them.
"""

from __future__ import annotations

from typing import Any


def kafka_sink(**options: Any) -> Any:
    from engine.connectors.kafka_sink import KafkaSink

    plain = KafkaSink(**options)
    if plain.delivery != "exactly-once":
        return plain
    from engine.connectors.kafka_exactly_once import ExactlyOnceKafkaSink

    return ExactlyOnceKafkaSink(plain)
