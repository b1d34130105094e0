"""What every join is to the compiler: a keyed step with a second input."""

from __future__ import annotations

from typing import List, Tuple

from engine.operators.keyed import KeyedStep
from engine.records import DeadLetter

Groups = Tuple[List[Tuple[str, list]], List[DeadLetter]]


class TwoInputStep(KeyedStep):
    """``kind = "join"``: ``group`` keys the batches of ``from``, ``group_side`` those of the input
    named by the option ``side`` (a reference: a join's ``table``, an interval join's ``with``);
    the pairs of both drive the same per-key logic (engine/compiler/joins.py)."""

    kind = "join"
    side: str

    def group_side(self, batch: list) -> Groups:
        raise NotImplementedError
