"""How a source, sink or operator is declared: once, with its options.

Modelled on Flink CDC's ``Factory`` + ``ConfigOption``: a :class:`Component` names its YAML
key, its role, its options (each an :class:`Option` with its JSON Schema, default and
description) and the class that implements it. The topology JSON Schema, validation, the
connector and operator registries and the option tables of docs/connectors.md are all
derived from these declarations; nothing else lists a component's options.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from engine.frozen import Frozen, set_fields

ROLES = ("source", "sink", "operator")
EXPRESSION_REFS = ("#/$defs/expression", "#/$defs/aggregation")


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()


class Option(Frozen):  # a frozen record (engine/frozen.py): no dataclass made at import
    """One option: ``key`` in YAML, the JSON Schema of its value, what it means, its default."""

    __slots__ = ("key", "description", "schema", "default", "required")
    key: str
    description: str
    schema: Mapping[str, Any]
    default: Any
    required: bool

    def __init__(self, key: str, description: str, schema: Optional[Mapping[str, Any]] = None,
                 default: Any = NO_DEFAULT, required: bool = False) -> None:
        set_fields(self, key, description, {} if schema is None else schema, default, required)

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def json_schema(self) -> Dict[str, Any]:
        out = {**self.schema}
        if self.description:  # else the topology schema gives it the description of its $ref
            out["description"] = self.description
        if self.has_default:
            out["default"] = self.default
        return out


class Component(Frozen):  # a frozen record (engine/frozen.py)
    """A source, sink or operator: its YAML name, options and implementing class.

    ``factory`` is ``"module:attribute"``, imported on first use (DuckDB and confluent-kafka
    are loaded only by topologies that use them). ``check``, also ``"module:attribute"``, is a
    function of the options that raises ``engine.errors.ConfigError`` for what the schema cannot
    say (a DuckDB view that is not one SELECT); validation calls it. ``constraints`` are JSON Schema keywords over
    the whole option mapping (``oneOf`` of required options). ``config`` replaces the option
    mapping for an operator whose YAML value is not a mapping (``filter: <expression>``).
    ``shares``: independent processes may each run it on a share of the sources' partitions
    (``deploy -p N`` without a cluster, engine/shares.py): a source whose partitions divide, an
    operator that keeps nothing across events, a sink that several processes may write at once.
    False unless declared: a plugin opts in.
    """

    __slots__ = ("role", "name", "description", "factory", "options", "constraints", "config", "check", "shares")
    role: str
    name: str
    description: str
    factory: str
    options: Tuple[Option, ...]
    constraints: Mapping[str, Any]
    config: Optional[Mapping[str, Any]]
    check: str
    shares: bool

    def __init__(self, role: str, name: str, description: str, factory: str, options: Tuple[Option, ...] = (),
                 constraints: Optional[Mapping[str, Any]] = None, config: Optional[Mapping[str, Any]] = None,
                 check: str = "", shares: bool = False) -> None:
        set_fields(self, role, name, description, factory, options, {} if constraints is None else constraints,
                   config, check, shares)
        if self.role not in ROLES:
            raise ValueError(f"component role must be one of {ROLES}, not {self.role!r}")
        if ":" not in self.factory:
            raise ValueError(f"component {self.name!r}: factory must be 'module:attribute', not {self.factory!r}")

    def option(self, key: str) -> Option:
        return next(o for o in self.options if o.key == key)

    def defaults(self) -> Dict[str, Any]:
        return {o.key: o.default for o in self.options if o.has_default}

    def json_schema(self) -> Dict[str, Any]:
        if self.config is not None:
            return {**self.config, "description": self.description}
        out: Dict[str, Any] = {"type": "object", "description": self.description,
                               "properties": {o.key: o.json_schema() for o in self.options},
                               "additionalProperties": False}
        required = [o.key for o in self.options if o.required]
        if required:
            out["required"] = required
        out.update(self.constraints)
        return out

    def expression_paths(self) -> List[Tuple[str, ...]]:
        """Where the options hold expressions (``"*"``: every value of a mapping), found from
        the declared schema: ``${VAR}`` there is placed as a literal, never as syntax."""
        found: List[Tuple[str, ...]] = []
        _expressions(self.json_schema(), (), found)
        return found

    def load(self) -> Callable[..., Any]:
        """The implementing class (or a function choosing one)."""
        return _imported(self.factory)

    def check_options(self, options: Mapping[str, Any]) -> None:
        """The component's own checks of its options (ConfigError), if it declares any."""
        if self.check:
            _imported(self.check)(options)


def _expressions(schema: Any, path: Tuple[str, ...], found: List[Tuple[str, ...]]) -> None:
    if not isinstance(schema, Mapping):
        return
    if schema.get("$ref") in EXPRESSION_REFS:
        if path not in found:
            found.append(path)
        return
    for key, sub in (schema.get("properties") or {}).items():
        _expressions(sub, (*path, key), found)
    _expressions(schema.get("additionalProperties"), (*path, "*"), found)
    for alternative in [*schema.get("oneOf", ()), *schema.get("anyOf", ())]:
        _expressions(alternative, path, found)


def _imported(name: str) -> Any:
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)
