"""Known fields of a stream: what validation knows about the events flowing between steps.

``Fields`` maps a top-level field name to an engine type name (``int``, ``decimal(10,2)``,
``timestamp``, ..., or ``any``). ``None`` means the stream's shape is unknown (a source
without a schema), in which case expressions may read any field. A dict holding the key
``OPEN`` is partly known: after ``cast`` on an unknown stream, the cast fields have known
types and other fields may exist.
"""

from __future__ import annotations

from typing import Dict, Optional

from engine.expressions.types import OPEN

Fields = Optional[Dict[str, str]]


def with_fields(fields: Fields, added: Dict[str, str]) -> Fields:
    """``fields`` plus ``added`` (which wins); an unknown shape stays unknown."""
    if fields is None:
        return {OPEN: "any", **added}
    return {**fields, **added}


def fully_known(fields: Fields) -> bool:
    return fields is not None and OPEN not in fields
