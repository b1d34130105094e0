"""JSON Schema fragments the declarations are written with, and the shared definitions
(``#/$defs/...``) every topology schema carries."""

from __future__ import annotations

from typing import Any, Dict, Iterable

from engine.catalog.component import Option

ID = r"^[A-Za-z_][A-Za-z0-9_-]*$"
REF = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)?$"
DURATION = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)$"
CAST = r"^(int|float|bool|str|date|json|timestamp(\((s|ms|us)\))?|decimal\([0-9]+, ?[0-9]+\))$"
COLUMN = r"^(int|float|bool|str|date|json|timestamp|decimal\([0-9]+, ?[0-9]+\))$"


def text(description: str, **schema: Any) -> Dict[str, Any]:
    return {"type": "string", "description": description, **schema}


def mapping(description: str, properties: Dict[str, Any], required: Iterable[str] = (),
            **schema: Any) -> Dict[str, Any]:
    """A closed object: every property is declared (a typo is an error, not ignored)."""
    out = {"type": "object", "description": description, "properties": properties,
           "additionalProperties": False, **schema}
    if required:
        out["required"] = list(required)
    return out


def expression(description: str) -> Dict[str, Any]:
    return {"$ref": "#/$defs/expression", "description": description}


def ref(name: str, description: str) -> Dict[str, Any]:
    return {"$ref": f"#/$defs/{name}", "description": description}


REFS: Dict[str, Any] = {
    "description": "Where the events come from: a source name, a step id, or a route output `step.output`; "
                   "a list means the union of them.",
    "oneOf": [{"$ref": "#/$defs/ref"}, {"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 1}]}

# The options every Kafka connector shares (the source and the sink declare them alike)
KAFKA_BROKERS = Option(
    "brokers", "Bootstrap servers (librdkafka `bootstrap.servers`): `host:port`, comma-separated, or a list.",
    {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
    required=True)
KAFKA_SETTINGS = Option(
    "settings", "librdkafka properties passed through as they are (`security.protocol`, `sasl.mechanism`, "
    "`sasl.username`, ...). Take secrets from the environment: `sasl.password: \"${KAFKA_PASSWORD}\"`; they are "
    "never printed.", {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean", "number"]}})

SHARED = {
    "ref": text("A source name, a step id, or `step.output` for an output of a route or branch step.", pattern=REF),
    "expression": text("An expression in velocity-flow's expression language (docs/expressions.md), compiled once "
                       "when the topology loads.", minLength=1),
    "aggregation": text("An aggregation call such as `sum(weight_kg)`: count, sum, min, max, avg, first, last or "
                        "collect of an expression (docs/aggregate.md)."),
    "duration": text("A duration: a number and a unit, ms, s, m, h or d (`500ms`, `5s`, `2m`).", pattern=DURATION),
    "castType": text("Target type: int, float, bool, str, date, json, timestamp (ISO-8601 text), timestamp(s|ms|us) "
                     "(epoch number in that unit), or decimal(precision,scale).", pattern=CAST),
    "columnType": text("Column type: int, float, bool, str, date, json, timestamp, or decimal(precision,scale).",
                       pattern=COLUMN),
    "schemaPath": text("Path of a JSON Schema file (draft 2020-12 or earlier), relative to the working directory. "
                       "Every event is validated with a compiled validator; a violating event goes to the dead-letter "
                       "sink with the reason.", minLength=1),
}
