"""The settings the Kafka sink's producer starts from (a topology's ``settings`` override them).

Kept apart, with no imports, so that the benches' hand-written peers (bench/kafka_throughput.py,
bench/domain_peer.py) configure their producers alike without loading the engine.

``linger.ms`` is 100, as Kafka Streams sets it for its producers. librdkafka's idempotent
producer lets a partition have one request in flight once it holds 5+ messages, but sets its
wake-up before applying that cap: while a queued message is older than ``linger.ms`` and the
broker has not answered, its thread polls with a zero timeout, a busy core
(docs/upstream/librdkafka-idempotent-busy-loop.md). With librdkafka's 5 ms, that is every batch
an ``acks=all`` broker takes longer than 5 ms to answer. At a high rate the cap already holds
messages for a round trip, so the longer linger costs little latency there; at a low rate each
message waits up to 100 ms (set ``linger.ms`` lower in ``settings`` when that matters more than
CPU). Figures: docs/performance.md, *Scale-out*.
"""

PRODUCER = {"acks": "all", "enable.idempotence": True, "linger.ms": 100}
