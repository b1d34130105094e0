"""The Quix Streams peer of bench/kafka_throughput.py: its topology's work (cast, filter, map,
Kafka to Kafka) as a Quix Streams user writes it. Run by the Python given as ``--quix-python``
(Quix Streams pins an older confluent-kafka than the engine allows)."""

from __future__ import annotations

import uuid
from typing import Callable

import orjson

from engine.connectors.kafka_defaults import PRODUCER  # (no imports of its own)


def quix_copy(bootstrap: str, source: str, target: str, count: int, start: Callable[[], float],
              elapsed: Callable[[float], float]) -> float:
    """The same work as the topology, written as a Quix Streams user would; ``start`` and
    ``elapsed`` time the run (bench/kafka_throughput.py's clock, CPU and page faults)."""
    from datetime import datetime
    from decimal import ROUND_HALF_UP, Decimal

    from quixstreams import Application  # type: ignore[import-not-found]
    from quixstreams.models.serializers import JSONSerializer  # type: ignore[import-not-found]

    grams, iso = Decimal("0.001"), datetime.fromisoformat

    def exact(value):
        if isinstance(value, Decimal):
            return orjson.Fragment(str(value))
        raise TypeError(type(value).__name__)

    def typed(e: dict) -> dict:
        after = e["after"]  # a fresh dict of this message: converted in place
        after["order_id"] = int(after["order_id"])
        after["weight_kg"] = Decimal(after["weight_kg"]).quantize(grams, ROUND_HALF_UP)
        after["planned_at"] = iso(after["planned_at"])
        return e

    def domain(e: dict) -> dict:
        after, origin = e["after"], e["source"]
        return {"order_id": after["order_id"], "status": after["status"].upper(), "weight_kg": after["weight_kg"],
                "planned_at": after["planned_at"], "tx": origin["txId"], "lsn": origin["lsn"]}

    app = Application(broker_address=bootstrap, consumer_group=f"quix-{uuid.uuid4().hex}",
                      auto_offset_reset="earliest", loglevel="WARNING", use_changelog_topics=False,
                      producer_extra_config=dict(PRODUCER))
    out = app.topic(target, key_serializer="str", value_serializer=JSONSerializer(
        dumps=lambda value: orjson.dumps(value, default=exact)))
    sdf = app.dataframe(app.topic(source, value_deserializer="json"))
    sdf = sdf.apply(typed).filter(lambda e: e["op"] != "d" and e["after"]["weight_kg"] > 0).apply(domain)
    sdf.to_topic(out, key=lambda value: str(value["order_id"]))
    started = start()
    app.run(count=count, collect=False)
    return elapsed(started)
