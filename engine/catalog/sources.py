"""The built-in sources: ``file`` and ``kafka``."""

from __future__ import annotations

from engine.catalog.component import Component, Option
from engine.catalog.fragments import KAFKA_BROKERS, KAFKA_SETTINGS

FILE = Component(
    "source", "file",
    "Read JSON Lines from a file, every matching file of a directory, or a glob. Bounded: the flow ends when every "
    "file is read. Each file is a partition, so files spread over workers.",
    "engine.connectors.files:JsonlSource",
    options=(
        Option("path", "A file, a directory or a glob pattern.", {"type": "string", "minLength": 1}, required=True),
        Option("pattern", "With a directory: the file names to read (glob).", {"type": "string"}, default="*.jsonl"),
        Option("batch_size", "Lines read per batch.", {"type": "integer", "minimum": 1}, default=1000),
        Option("format", "Lines are JSON objects (default), or text as the event `{value: line}`.",
               {"enum": ["json", "string"]}, default="json"),
    ))

KAFKA = Component(
    "source", "kafka",
    "Read messages from Kafka topics. Each topic partition is a Bytewax partition, so partitions spread over workers "
    "and processes; the next offset of each is kept in the recovery store.",
    "engine.connectors.kafka:KafkaSource",
    options=(
        KAFKA_BROKERS,
        Option("topic", "One topic.", {"type": "string", "minLength": 1}),
        Option("topics", "Several topics.", {"type": "array", "items": {"type": "string"}, "minItems": 1}),
        Option("pattern", "A regular expression; every topic whose whole name matches is read.",
               {"type": "string", "minLength": 1}),
        Option("group_id", "Consumer group: offsets are committed to it one snapshot behind, and the last ones at "
               "a normal end (for lag monitoring and `start: committed`, at least once).", {"type": "string"}),
        Option("start", "Where to start without a recovery snapshot: `earliest` (default), `latest`, `committed` "
               "(the group's offsets) or an ISO-8601 time.", {"type": "string"}, default="earliest"),
        Option("format", "Message values: JSON objects (default), or text/bytes as the event `{value: ...}`.",
               {"enum": ["json", "string", "bytes"]}, default="json"),
        Option("metadata", "Add each message's topic, partition, offset, key, timestamp and headers to its event as "
               "the field `_meta`.", {"type": "boolean"}, default=False),
        Option("tail", "Keep reading new messages (default); `false` stops at the end of every partition.",
               {"type": "boolean"}, default=True),
        Option("batch_size", "Messages consumed per batch.", {"type": "integer", "minimum": 1}, default=100),
        Option("timeout", "How long to wait for the brokers before failing.", {"$ref": "#/$defs/duration"},
               default="10s"),
        Option("align", "How far (by message timestamp) a partition may run ahead of a lagging partition that the "
               "same process reads with the same brokers and group_id, like Kafka Streams' stream time: after a "
               "backlog, topics read together stay together instead of piling up in the state of "
               "merge_transactions. `false` reads every partition on its own.",
               {"oneOf": [{"$ref": "#/$defs/duration"}, {"const": False}]}, default="100ms"),
        KAFKA_SETTINGS,
    ),
    constraints={"oneOf": [{"required": ["topic"]}, {"required": ["topics"]}, {"required": ["pattern"]}]},
    shares=True)

SOURCES = (FILE, KAFKA)
