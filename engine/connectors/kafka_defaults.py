"""The settings the Kafka sink's producer starts from (a topology's ``settings`` override them).

Kept apart, with no imports, so that the benches' hand-written peers (bench/kafka_throughput.py,
bench/domain_peer.py) configure their producers alike without loading the engine.

``linger.ms`` is 100, as Kafka Streams sets it for its producers. librdkafka's idempotent
producer sends a partition no new request while 5 or more of its messages are in flight, but
sets its wake-up before applying that cap: while a queued message is older than ``linger.ms`` and the
broker has not answered, its thread polls with a zero timeout, a busy core
(docs/upstream/librdkafka-idempotent-busy-loop.md). With librdkafka's 5 ms, that is every batch
an ``acks=all`` broker takes longer than 5 ms to answer. The price is latency: a message waits
up to 100 ms before it is sent (set ``linger.ms`` lower in ``settings`` where that matters more
than CPU). Figures: docs/performance.md, *Scale-out*, and docs/connectors.md.
"""

PRODUCER = {"acks": "all", "enable.idempotence": True, "linger.ms": 100}
