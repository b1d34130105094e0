"""``key``: set the event's key (the ``_key`` field) for keyed steps and sinks."""

from __future__ import annotations

from engine.errors import ConfigError
from engine.operators.fields import with_fields
from engine.operators.map import Map
from engine.records import KEY_FIELD


class Key(Map):
    """``key: expr`` is ``map: {keep: all, key: expr}``."""

    def __init__(self, step_id: str, config: str, input_fields) -> None:
        try:
            super().__init__(step_id, {"keep": "all", "key": config}, input_fields)
        except ConfigError as exc:  # report at the option itself, not at a synthesized 'key'
            raise ConfigError(exc.message, exc.path[1:], offset=exc.offset, hint=exc.hint) from None
        self.output_fields = with_fields(input_fields, {KEY_FIELD: "str"})
