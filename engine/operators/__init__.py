"""Operators: the runtime-independent logic of each step kind.

An operator is built from its plain configuration (a dict, already checked against the
topology JSON Schema) and the known fields of its input, raising
``engine.errors.ConfigError`` for what is wrong. It then processes *batches* (lists of event
dicts); see docs/architecture.md.
"""
