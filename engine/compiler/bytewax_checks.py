"""Bytewax's two protocol checks, answered once per type.

Each call of a Bytewax operator (``bytewax.dataflow.operator``) tests every argument, and what it
returns, with ``isinstance`` against two runtime-checkable protocols of ``bytewax/dataflow.py``:
``_HasScope`` (has ``_get_scopes`` and ``_with_scope``) and ``_ToRef`` (has ``_to_ref``). On
Python 3.11 such a check gathers the protocol's members anew every time, twice when it fails
(``typing._get_protocol_attrs``): compiling the transport-order flow made ~950 of them, 70M
instructions, ~57% of the compiling and ~6% of an idle ``deploy`` (counted with cachegrind,
2026-12-05).

``fast_protocol_checks`` puts in their place, in that module's namespace (the only place that
reads them), a class whose ``isinstance`` asks the protocol once per type of argument and keeps
the answer. The protocols' members are methods, which typing looks up on the type, so the answer
is the same for every instance of a type; typing's other way in, attributes set on an instance,
is met by none of the objects a flow is built from (steps ids, streams, functions, options), and
tests/compiler/test_bytewax_checks.py holds the two answers equal for every argument compiling
the shipped topologies passes. Bytewax 0.21.1 is its last release: a Bytewax without these names
is left as it is.
"""

from __future__ import annotations

from typing import Any, Dict

import bytewax.dataflow as _dataflow

_PROTOCOLS = ("_HasScope", "_ToRef")


class _ByType(type):
    """The metaclass of a stand-in: ``isinstance`` answered from the argument's type."""

    protocol: Any
    answers: Dict[type, bool]

    def __instancecheck__(cls, instance: Any) -> bool:
        kind = type(instance)
        known = cls.answers.get(kind)
        if known is None:
            known = cls.answers[kind] = isinstance(instance, cls.protocol)
        return known

    def __subclasscheck__(cls, subclass: type) -> bool:
        # Bytewax's decorator asks it of each parameter's annotation as it makes an operator's class
        # (its port names, ``ups_names``). Every operator whose class is made after the stand-ins are
        # in place (Bytewax's own since engine/connectors/lazy_operators.py, the engine's) found no
        # ports without this, and skipped Bytewax's check that its inputs are streams.
        return issubclass(subclass, cls.protocol)


def stand_in(protocol: Any) -> type:
    """A class ``isinstance`` tests as ``protocol`` does, asking it once per type."""
    return _ByType(protocol.__name__, (), {"protocol": protocol, "answers": {}})


def fast_protocol_checks() -> None:
    """Put the stand-ins in ``bytewax.dataflow`` (once; idempotent)."""
    for name in _PROTOCOLS:
        protocol = getattr(_dataflow, name, None)
        if isinstance(protocol, _ByType):
            continue  # done already
        if protocol is None or not getattr(protocol, "_is_runtime_protocol", False):
            return  # not the Bytewax this was written for: its own checks stay
        setattr(_dataflow, name, stand_in(protocol))
