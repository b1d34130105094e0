"""Known fields of a stream: what validation knows about the events flowing between steps.

``Fields`` maps a top-level field name to an engine type name (``int``, ``decimal(10,2)``,
``timestamp``, ..., or ``any``). ``None`` means the stream's shape is unknown (a source
without a schema), in which case expressions may read any field.
"""

from __future__ import annotations

from typing import Dict, Optional

Fields = Optional[Dict[str, str]]


def with_fields(fields: Fields, added: Dict[str, str]) -> Fields:
    """``fields`` plus ``added`` (which wins); an unknown shape stays unknown."""
    if fields is None:
        return None
    return {**fields, **added}
