"""The JSON Schema of topology files, derived from the declared components.

schemas/topology.schema.json is this, written by ``python scripts/topology_schema.py`` for
editors (a test keeps the two equal); validation uses :func:`topology_schema` itself, so a
component registered by a plugin is part of the format at once.
"""

from __future__ import annotations

import copy
from typing import Any, Dict

from engine.catalog.fragments import ID, REFS, SHARED, mapping, text
from engine.catalog.registry import components


def _def_name(role: str, name: str) -> str:
    return f"{name}{role.capitalize()}"  # fileSource, duckdbSink: the names editors have seen


def topology_schema() -> Dict[str, Any]:
    """Built afresh from the components declared now (engine/topology/schema.py keeps one per
    catalog generation for validation)."""
    defs: Dict[str, Any] = dict(copy.deepcopy(SHARED))
    kinds = {}
    for role in ("source", "sink"):
        for name, component in components(role).items():
            defs[_def_name(role, name)] = component.json_schema()
        kinds[role] = {name: {"$ref": f"#/$defs/{_def_name(role, name)}"} for name in components(role)}
    defs["topic"] = mapping("A Kafka topic's settings.", {
        "partitions": {"type": "integer", "minimum": 1, "default": 1,
                       "description": "Number of partitions (the unit of parallelism across workers)."},
        "replication_factor": {"type": "integer", "minimum": 1, "default": 1,
                               "description": "Copies of each partition (1 on a single broker)."},
        "config": {"type": "object", "description": "Topic configuration, e.g. `cleanup.policy: compact`, "
                   "`retention.ms: 604800000`.", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
        "brokers": {**components("source")["kafka"].option("brokers").json_schema(),
                    "description": "Where the topic lives. Default: the brokers of the kafka sources and sinks that "
                                   "use it."}} if "kafka" in components("source") else {})
    sources, sinks = ", ".join(f"`{k}`" for k in kinds["source"]), ", ".join(f"`{k}`" for k in kinds["sink"])
    defs["source"] = mapping(f"A source of events: exactly one connector ({sources}), plus optional settings.", {
        **kinds["source"],
        "schema": {"$ref": "#/$defs/schemaPath", "description": "Validate every decoded event against this JSON "
                   "Schema; its `properties` types also tell validation which fields exist."},
        "description": text("Free text for people.")}, minProperties=1)
    defs["sink"] = mapping(f"A sink: `from` plus exactly one connector ({sinks}).", {
        "from": REFS, **kinds["sink"], "description": text("Free text for people.")}, ["from"])
    defs["deadLetter"] = mapping(
        "Where events that a step could not process go, with the step id, the error, the origin and the time. "
        "Default: a JSON Lines file `dead-letter/<name>.jsonl`.",
        {**kinds["sink"], "description": text("Free text for people.")})
    operators = {name: c.json_schema() for name, c in components("operator").items()}
    defs["step"] = mapping(f"A step: an id, where it reads from, and exactly one operator ({', '.join(operators)}).", {
        "id": text("Unique name of the step; other steps and sinks refer to it. Letters, digits, '_' and '-'.",
                   pattern=ID),
        "from": {**REFS, "description": REFS["description"] + " Default: the previous step (or the only source, for "
                 "the first step)."},
        "description": text("Free text for people."), **operators}, ["id"], minProperties=2)
    defs["step"]["oneOf"] = [{"required": [k]} for k in operators]
    for name, kind in (("source", "source"), ("sink", "sink"), ("deadLetter", "sink")):
        defs[name]["oneOf"] = [{"required": [k]} for k in kinds[kind]]
    defs["environment"] = _environment()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://velocity-flow.dev/schemas/topology.schema.json",
        "title": "velocity-flow topology",
        "description": "A velocity-flow topology file: sources, steps and sinks of one dataflow (docs/topology.md).",
        "type": "object", "additionalProperties": False, "required": ["version", "name", "sources", "sinks"],
        "properties": {
            "version": {"const": 1, "description": "Version of the topology format; this is version 1."},
            "name": text("Name of the topology, used for the Bytewax dataflow id and default file names.", pattern=ID),
            "description": text("Free text for people."),
            "sources": {"type": "object", "minProperties": 1, "description": "Source name -> source. Names share one "
                        "namespace with step ids.", "propertyNames": {"pattern": ID},
                        "additionalProperties": {"$ref": "#/$defs/source"}},
            "steps": {"type": "array", "description": "The steps, each reading from sources or earlier steps.",
                      "items": {"$ref": "#/$defs/step"}},
            "sinks": {"type": "object", "minProperties": 1, "description": "Sink name -> sink.",
                      "propertyNames": {"pattern": ID}, "additionalProperties": {"$ref": "#/$defs/sink"}},
            "dead_letter": {"$ref": "#/$defs/deadLetter"},
            "topics": {"type": "object", "description": "Kafka topics this topology needs, created by `velocity-flow "
                       "deploy` when missing (and checked when present). Topic name -> settings.",
                       "additionalProperties": {"$ref": "#/$defs/topic"}},

            "environments": {"type": "object", "description": "Environment name -> what it changes (`--env NAME`, "
                             "VELOCITY_FLOW_ENV): deep-merged over the rest of the file, `null` deletes; the steps "
                             "are the same in every environment (docs/topology.md, Environments).",
                             "propertyNames": {"pattern": ID},
                             "additionalProperties": {"$ref": "#/$defs/environment"}},
        },
        "$defs": defs,
    }
    _describe_refs(schema, defs)
    return schema


def _environment() -> Dict[str, Any]:
    """A partial topology: each section is merged over the base's, so only its kinds are checked
    here; the merged result is checked as a whole."""
    part = {"type": ["object", "null"]}
    named = {"type": ["object", "null"], "propertyNames": {"pattern": ID}, "additionalProperties": part}
    return {"type": ["object", "null"], "additionalProperties": False,
            "description": "What an environment changes: sources, sinks, dead_letter, topics, name or description. "
                           "Mappings merge key by key, other values replace, `null` deletes; a connector key "
                           "(`kafka:`) replaces the base's connector.",
            "properties": {"name": text("Name of the topology in this environment.", pattern=ID),
                           "description": text("Free text for people."),
                           "sources": {**named, "description": "Source name -> what changes (`null` removes it)."},
                           "sinks": {**named, "description": "Sink name -> what changes (`null` removes it)."},
                           "dead_letter": {**part, "description": "What changes in the dead-letter sink."},
                           "topics": {"type": ["object", "null"], "additionalProperties": part,
                                      "description": "Topic name -> settings (`null` removes it)."}}}


def _describe_refs(node: Any, defs: Dict[str, Any]) -> None:
    """A property that is only a $ref gets the referenced definition's description, for editors."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                for prop in value.values():
                    if "$ref" in prop and "description" not in prop:
                        prop["description"] = defs[prop["$ref"].rsplit("/", 1)[1]]["description"]
            _describe_refs(value, defs)
    elif isinstance(node, list):
        for item in node:
            _describe_refs(item, defs)
