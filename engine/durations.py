"""Durations in topology files: a number and a unit (``500ms``, ``5s``, ``1.5m``, ``2h``, ``1d``).

Core: operators (windows, idle times) and connectors (timeouts) read them the same way."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Tuple, Union

from engine.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
HINT = "write a number and a unit: 500ms, 5s, 2m, 1h or 1d"


class DurationTooLong(ValueError):
    """Longer than a timedelta holds (999999999 days)."""


def parse_duration(text: str) -> timedelta:
    """The timedelta of ``text``; ValueError (with :data:`HINT` as the fix) when malformed."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(f"invalid duration '{text}'")
    try:
        value = timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    except OverflowError:  # callers catch ValueError: 1000000000d was an internal error where they were not checked
        raise DurationTooLong(f"duration '{text}' is too long: at most 999999999 days") from None
    if value <= timedelta(0):
        raise ValueError(f"duration '{text}' must be positive")
    return value


def duration_option(text, path: Tuple[Union[str, int], ...]) -> timedelta:
    """``parse_duration`` of the topology option at ``path`` (within its step): a malformed one is
    a ConfigError there, with :data:`HINT` as the fix."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(str(exc), path, hint=HINT) from None
