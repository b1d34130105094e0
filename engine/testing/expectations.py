"""Check a case's expectations against what its run saw; each failure says what was expected,
what came, and per field how they differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from engine.testing.matching import differences, printable, same, show
from engine.testing.spec import Case, DeadLetterExpectation, PlaceExpectation, Where

MAX_LISTED = 5  # events or dead letters listed in one message


@dataclass
class Failure:
    where: Where
    at: str  # the place, or 'dead_letters'
    message: str  # first line: what failed; then the diff, one line each

    def __post_init__(self) -> None:
        # field names, engine errors and values quote events: one escape for all keeps the lines apart
        self.message = printable(self.message, lines=True)

    def to_dict(self) -> dict:
        return {"line": self.where[0], "column": self.where[1], "at": self.at, "message": self.message}


def check_case(case: Case, seen: Dict[str, List[Any]], dead: List[dict]) -> List[Failure]:
    failures = []
    for expectation in case.expect:
        failures += check_place(expectation, seen.get(expectation.at, []))
    for dead_expectation in case.dead_letters if case.dead_letters is not None else []:
        failure = check_dead(dead_expectation, dead)
        if failure is not None:
            failures.append(failure)
    if case.dead_letters == [] and dead:
        failures.append(Failure(case.where, "dead_letters", f"expected no dead letter, got {len(dead)}:\n"
                                + _listed([_dead_line(d) for d in dead])))
    return failures


def check_place(expectation: PlaceExpectation, events: List[Any]) -> List[Failure]:
    out: List[Failure] = []

    def fail(message: str, spot: str) -> None:
        out.append(Failure(expectation.spot(spot), expectation.at, message))

    if expectation.events is not None:
        message = _exact(expectation.events, events)
        if message:
            fail(message, "events")
    for index, wanted in enumerate(expectation.contains or []):
        if not any(same(wanted, event, subset=True) for event in events):
            fail(_missing(wanted, events), f"contains.{index}")
    if expectation.count is not None and len(events) != expectation.count:
        fail(f"count: expected {expectation.count} event(s), got {len(events)}"
              + ("\n" + _listed([show(e) for e in events]) if events else ""), "count")
    for predicate, where in expectation.predicates:
        failing, broken = [], []
        for index, event in enumerate(events):
            try:
                if not predicate.holds(event):
                    failing.append(index)
            except Exception as exc:  # noqa: BLE001 - an expression failing on an event is a failure, not a crash
                broken.append(f"event #{index + 1}: {type(exc).__name__}: {exc}")
        if failing or broken:
            lines = [f"event #{i + 1}: {show(events[i])}" for i in failing] + broken
            out.append(Failure(where, expectation.at, f"where '{predicate.text}' does not hold for "
                               f"{len(failing) + len(broken)} of {len(events)} event(s):\n" + _listed(lines)))
    return out


def _exact(expected: List[Any], events: List[Any]) -> Optional[str]:
    lines = []
    for index, (wanted, got) in enumerate(zip(expected, events, strict=False)):
        lines += [f"event #{index + 1}: {d}" for d in differences(wanted, got)]
    lines += [f"event #{i + 1}: expected {show(e)}, missing"
              for i, e in enumerate(expected[len(events):], len(events))]
    lines += [f"event #{i + 1}: not expected, got {show(e)}"
              for i, e in enumerate(events[len(expected):], len(expected))]
    if not lines:
        return None
    how = "differing" if len(expected) == len(events) else "in all"
    return f"events: expected {len(expected)} event(s), got {len(events)}, {how}:\n" + _listed(lines, 20)


def _missing(wanted: Dict[str, Any], events: List[Any]) -> str:
    head = f"contains: no event matches {show(wanted)}"
    if not events:
        return head + " (no event came)"
    ranked = sorted(enumerate(events), key=lambda pair: len(differences(wanted, pair[1], subset=True)))
    index, closest = ranked[0]
    return (f"{head}; the closest of {len(events)}, event #{index + 1}, differs in:\n"
            + _listed(differences(wanted, closest, subset=True)))


def check_dead(expectation: DeadLetterExpectation, dead: List[dict]) -> Optional[Failure]:
    matching = [d for d in dead if (expectation.step is None or d.get("step") == expectation.step)
                and (expectation.error is None or expectation.error in str(d.get("error")))]
    wanted = " and ".join(filter(None, [expectation.step and f"step '{expectation.step}'",
                                        expectation.error and f"an error containing {show(expectation.error)}"]))
    if expectation.count is None and matching:
        return None
    if expectation.count is not None and len(matching) == expectation.count:
        return None
    need = f"{expectation.count}" if expectation.count is not None else "at least 1"
    message = f"dead letters: expected {need} with {wanted or 'any step'}, got {len(matching)}"
    message += ("; dead letters were:\n" + _listed([_dead_line(d) for d in dead])) if dead else "; there were none"
    return Failure(expectation.where, "dead_letters", message)


def _dead_line(record: dict) -> str:
    return (f"{record.get('step')}: {record.get('error')} "
            f"(origin {record.get('origin')}, event {show(record.get('event'))})")


def _listed(lines: List[str], most: int = MAX_LISTED) -> str:
    shown = [f"  {line}" for line in lines[:most]]
    if len(lines) > most:
        shown.append(f"  ... and {len(lines) - most} more")
    return "\n".join(shown)
