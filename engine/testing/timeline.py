"""A test case's processing time: ``clock`` (when the case starts) and ``inputs`` as a timeline.

``inputs`` is either a mapping (every source's events, all at the start time) or a list of
steps, each a mapping of sources to events (as in the mapping form) or ``advance: DURATION``,
which moves the clock on before the next step's events come (docs/testing.md, Processing
time). The clock stands still otherwise: a case's result never depends on how fast it ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple

from engine.durations import HINT as DURATION_HINT
from engine.durations import DurationTooLong, parse_duration
from engine.values import parse_timestamp

Lines = Dict[str, List[Optional[bytes]]]  # raw lines per source
Steps = List[Tuple[timedelta, Lines]]  # each step's lines, at this much after the case's clock
ADVANCE = "advance"
# the clock stays a day short of datetime's end: windows and timers add to it
_LAST = datetime.max.replace(tzinfo=timezone.utc) - timedelta(days=1)


def read_clock(problem: Callable[[str, Optional[str]], None], value: Any) -> Optional[datetime]:
    """The case's ``clock``: a timestamp (UTC unless it says otherwise), or None when absent."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    try:
        return parse_timestamp(str(value))
    except ValueError:
        problem(f"'clock' must be a timestamp, not {value!r}", "clock: \"2026-11-02T06:00:00Z\" (ISO-8601)")
        return None


def read_steps(value: Any, node: tuple, problem: Callable[[tuple, str, Optional[str]], None],
               read_lines: Callable[[Any, tuple], Lines], clock: Optional[datetime] = None) -> Steps:
    """``inputs`` as steps of the timeline; ``read_lines`` reads one mapping of sources; ``clock``
    is the case's (None: the system's), which no ``advance`` may move past datetime's end."""
    if not isinstance(value, list):
        return [(timedelta(0), read_lines(value, node))]
    steps: Steps = []
    offset = timedelta(0)
    room = _LAST - (clock or datetime.now(timezone.utc))
    for index, item in enumerate(value):
        where = (*node, index)
        if isinstance(item, dict) and ADVANCE in item:
            if len(item) != 1:
                problem(where, "'advance' stands alone in its step", "- advance: 30s")
                continue
            try:
                moved = parse_duration(str(item[ADVANCE]))
            except DurationTooLong:  # timedelta's own limit, ~2.7 million years
                moved = timedelta.max
            except ValueError as exc:
                problem((*where, ADVANCE), str(exc), DURATION_HINT)
                continue
            if moved > room - offset:
                problem((*where, ADVANCE), f"'advance: {item[ADVANCE]}' moves the clock past the year 9999",
                        "advance by less, or set an earlier 'clock'")
                continue
            offset += moved
            continue
        if not isinstance(item, dict):
            problem(where, "a step of 'inputs' is a mapping of sources to events, or 'advance: DURATION'",
                    "- orders: [{id: 1}]\n- advance: 1m")
            continue
        if not steps and offset:
            steps.append((timedelta(0), {}))  # the case's clock, with nothing yet
        steps.append((offset, read_lines(item, where)))
    if steps and offset > steps[-1][0]:
        steps.append((offset, {}))  # a last 'advance': the timers it passes fire before the end of input
    return steps
