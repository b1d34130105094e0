"""Operator name (the YAML key of a step) -> operator class.

Every class is built as ``cls(step_id, config, input_fields, context)`` and exposes
``kind`` (how the compiler wires it: stateless, route, union, keyed) and
``output_fields``. A new operator registers here and in ``schemas/topology.schema.json``.
"""

from __future__ import annotations

from typing import Dict, Type

from engine.operators.cast import Cast
from engine.operators.filter import Filter
from engine.operators.key import Key
from engine.operators.map import Map
from engine.operators.micro_batch import MicroBatch
from engine.operators.with_previous import WithPrevious
from engine.operators.route import Branch, Route
from engine.operators.merge_transactions import MergeTransactions
from engine.operators.union import Union
from engine.operators.unnest import Unnest
from engine.operators.validate import Validate


def _aggregate():
    from engine.operators.aggregate import Aggregate

    return Aggregate


OPERATORS: Dict[str, Type] = {
    "cast": Cast,
    "filter": Filter,
    "map": Map,
    "key": Key,
    "validate": Validate,
    "route": Route,
    "branch": Branch,
    "union": Union,
    "merge_transactions": MergeTransactions,
    "unnest": Unnest,
    "micro_batch": MicroBatch,
    "with_previous": WithPrevious,
}


def operator_class(name: str) -> Type:
    if name == "aggregate":
        return _aggregate()
    return OPERATORS[name]


def operator_names():
    return [*OPERATORS, "aggregate"]
