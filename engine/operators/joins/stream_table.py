"""``join``: a stream-table join. Each event is enriched with the current row of its key in a
changelog, the *table*, kept per key as keyed state (docs/joins.md).

The step has two inputs: ``from`` (the events, which drive: one output per event at most) and
``table`` (the changelog, which only updates the state: it emits nothing). The compiler groups
each side with its own function (``group``: :meth:`StreamTableJoin.group_events`, ``group_side``:
:meth:`StreamTableJoin.group_table`) and drives one :class:`TableRow` per key through the keyed
contract (engine/operators/keyed.py), so both sides of a key meet on the same worker and the
state is snapshotted and restored like any keyed step's.

A pair's first element says what it is: :data:`EVENT` (an event to enrich), :data:`UNMATCHED`
(an event whose key is null: no row can match it), or ``(UPSERT, row)`` / ``DELETE`` (a table
change; ``row`` is already projected to the ``fields`` values, so the state holds only those).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

from engine import clock, unavailable
from engine.durations import duration_option
from engine.errors import ConfigError
from engine.operators.codegen import build_function
from engine.operators.dead import describe
from engine.operators.expr import compile_option
from engine.operators.fields import Fields, with_fields
from engine.operators.joins.base import Groups, TwoInputStep
from engine.operators.keyed import KeyLogic, Released
from engine.operators.map import key_text
from engine.records import DeadLetter

# pair tags: small ints (they cross workers pickled; an upsert is ``(UPSERT, row)``)
EVENT, UNMATCHED, UPSERT, DELETE = 0, 1, 2, 3
NULL_KEY = "\x00null"  # the key text of events whose key is null: never a table key
_OPS = {"c": UPSERT, "r": UPSERT, "u": UPSERT, "d": DELETE}


class Joined:
    """One key's state: its row (projected; None when the key has none) and the events held for a
    late row, as ``(deadline, event)`` in arrival order. Slots: the state of a table of 100k
    rows is mostly these objects."""

    __slots__ = ("row", "present", "held")

    def __init__(self) -> None:
        self.row: Any = None
        self.present = False
        self.held: Sequence[Tuple[datetime, dict]] = ()  # a list while events wait: no list per key

    def copy(self) -> tuple:
        """A snapshot, as a plain tuple (no class name in the recovery store): rows and events are
        never changed in place, so only the list of held events is copied."""
        return (self.row, self.present, list(self.held) if self.held else ())

    def __getstate__(self):
        return (self.row, self.present, self.held)

    def __setstate__(self, state) -> None:
        self.row, self.present, self.held = state


class TableRow(KeyLogic):
    """One key of the join: table changes replace or delete the row; events are enriched with it."""

    State = Joined

    def __init__(self, step: Any, state: Any = None) -> None:
        if isinstance(state, tuple):  # a snapshot (Joined.copy)
            restored = Joined()
            restored.__setstate__(state)
            state = restored
        super().__init__(step, state)

    def add(self, pairs: list, now: Optional[datetime]) -> Released:
        """``now`` None: the clock is read only if an event is held (the compiler's fast path)."""
        step, s = self.step, self.s
        out: List[dict] = []
        merged = step.alias is None  # the usual case: the row's values merged into the event
        for tag, event in pairs:
            if tag == EVENT:
                if s.present:
                    out.append({**event, **s.row} if merged else step.enrich(event, s.row))
                elif step.wait is not None:
                    if now is None:
                        now = clock.now()
                    if s.held:
                        s.held.append((now + step.wait, event))  # type: ignore[attr-defined]
                    else:
                        s.held = [(now + step.wait, event)]
                elif step.left:
                    out.append(step.enrich(event, None))
            elif tag == DELETE:
                s.row, s.present = None, False
            elif tag == UNMATCHED:
                if step.left:
                    out.append(step.enrich(event, None))
            else:  # (UPSERT, row)
                row = tag[1]
                if type(row) is dict and unavailable.carries(row):  # Debezium's unchanged TOAST value:
                    row = unavailable.kept(row, s.row if s.present else None)  # the row's own is kept
                s.row, s.present = row, True
                if s.held:
                    out += [step.enrich(held, s.row) for _, held in s.held]
                    s.held = ()
        return out, []

    def due(self, now: datetime) -> Released:
        held = self.s.held
        expired = 0
        while expired < len(held) and held[expired][0] <= now:
            expired += 1
        released, self.s.held = held[:expired], held[expired:] or ()
        return self._unmatched(released), []

    def flush(self) -> Released:
        released, self.s.held = self.s.held, ()
        return self._unmatched(released), []

    def _unmatched(self, held: Sequence) -> List[dict]:
        return [self.step.enrich(event, None) for _, event in held] if self.step.left else []

    def next_notification(self) -> Optional[datetime]:
        return self.s.held[0][0] if self.s.held else None

    def resume(self, now: datetime) -> None:
        """Restored from a snapshot: the downtime is not waiting (the rows the held events wait for
        may come with the input replayed after the restart), so each held event waits ``wait`` again."""
        if self.s.held and self.step.wait is not None:
            deadline = now + self.step.wait
            self.s.held = [(max(at, deadline), event) for at, event in self.s.held]

    @property
    def disposable(self) -> bool:
        return not self.s.present and not self.s.held


class StreamTableJoin(TwoInputStep):
    """Compiles the join's options; the compiler wires it with ``kind = "join"``."""

    side = "table"  # the option naming the second input
    Logic = TableRow

    def __init__(self, step_id: str, config: dict, input_fields: Fields, sides: Optional[Dict[str, Fields]] = None
                 ) -> None:
        self.step_id = step_id
        table_fields = (sides or {}).get("table")
        self.rows = config.get("changelog", "upsert") == "rows"
        row_fields = None if self.rows else table_fields  # a row change's images have no known fields
        self.left = config.get("how", "left") == "left"
        self.on = compile_option(config["on"], input_fields, ("on",))
        self._keys = build_function("keys", f"def keys(events):\n    return [({self.on.python}) for e in events]\n",
                                    step_id)
        self.table_key = compile_option(config["table_key"], row_fields, ("table_key",))
        delete_when = config.get("delete_when")
        if delete_when is not None and self.rows:
            raise ConfigError("'delete_when' is for 'changelog: upsert'", ("delete_when",),
                              hint="with 'changelog: rows' a change with op 'd' deletes its row")
        self.delete_when = compile_option(delete_when, table_fields, ("delete_when",)) if delete_when else None
        self.fields = {name: compile_option(text, row_fields, ("fields", name))
                       for name, text in (config.get("fields") or {}).items()}
        self.alias: Optional[str] = config.get("as")
        self.wait: Optional[timedelta] = None
        if config.get("wait") is not None:
            self.wait = duration_option(config["wait"], ("wait",))
        self._nulls = self._project(None)
        self._upserts = self._upserts_function(step_id)
        added = {name: expression.type for name, expression in self.fields.items()}
        if self.alias:
            added[self.alias] = "json"
        self.output_fields = with_fields(input_fields, added) if input_fields is not None else None

    # -- the event side -----------------------------------------------------------------
    def group_events(self, batch: list) -> Groups:
        """Events by the key of ``on``; a null key cannot match a row (``UNMATCHED``). The keys of
        a batch are computed by one generated function; a batch where it raises, one by one."""
        groups: Dict[str, list] = {}
        deads: List[DeadLetter] = []
        keyed: Any
        try:
            keyed = zip(self._keys(batch), batch, strict=True)
        except Exception:  # noqa: BLE001 - find the events whose key fails
            keyed = self._keys_one_by_one(batch, deads)
        for value, event in keyed:
            if value is None:
                groups.setdefault(NULL_KEY, []).append((UNMATCHED, event))
            else:
                groups.setdefault(value if type(value) is str else key_text(value), []).append((EVENT, event))
        return list(groups.items()), deads

    def _keys_one_by_one(self, batch: list, deads: List[DeadLetter]) -> List[tuple]:
        keyed = []
        for event in batch:
            try:
                keyed.append((self.on(event), event))
            except Exception as exc:  # noqa: BLE001 - this event's key, not the batch
                deads.append(DeadLetter(event, self.step_id, f"on: {describe(exc)}"))
        return keyed

    def group(self, batch: list) -> Groups:
        """The input of ``from``: the events."""
        return self.group_events(batch)

    def group_side(self, batch: list) -> Groups:
        """The input of ``table``: its changes."""
        return self.group_table(batch)

    def enrich(self, event: dict, row: Any) -> dict:
        if self.alias is None:
            return {**event, **(row if row is not None else self._nulls)}
        if not self.fields:
            return {**event, self.alias: row}
        return {**event, **(row[0] if row is not None else self._nulls), self.alias: row and row[1]}

    # -- the table side -----------------------------------------------------------------
    def group_table(self, batch: list) -> Groups:
        """Table changes by the key of ``table_key``, each already projected to what the state keeps."""
        if self._upserts is not None:
            try:
                return self._grouped_upserts(batch)
            except Exception:  # noqa: BLE001 - find the changes that fail, one by one below
                pass
        groups: Dict[str, list] = {}
        deads: List[DeadLetter] = []
        change = self._row_change if self.rows else self._upsert
        for event in batch:
            try:
                key, tag = change(event)
            except _BadChange as exc:
                deads.append(DeadLetter(event, self.step_id, f"table: {exc}"))
                continue
            except Exception as exc:  # noqa: BLE001 - this change, not the batch
                deads.append(DeadLetter(event, self.step_id, f"table: {describe(exc)}"))
                continue
            groups.setdefault(key, []).append((tag, event))
        return list(groups.items()), deads

    def _grouped_upserts(self, batch: list) -> Groups:
        """The common case (``changelog: upsert``, ``fields`` only), with the key and the values of a
        batch from one generated function; raises when any change fails."""
        groups: Dict[str, list] = {}
        deads: List[DeadLetter] = []
        for event, (key, values) in zip(batch, self._upserts(batch), strict=True):  # type: ignore[misc]
            if key is None:
                deads.append(DeadLetter(event, self.step_id, "table: table_key is null"))
                continue
            groups.setdefault(key if type(key) is str else key_text(key), []).append(
                (DELETE if values is None else (UPSERT, values), event))
        return list(groups.items()), deads

    def _upserts_function(self, step_id: str):
        """``[(key, values or None for a delete)]`` of a batch, for ``changelog: upsert`` with ``fields``
        and no ``as`` (else None: the general path)."""
        if self.rows or self.alias is not None:
            return None
        values = "{" + ", ".join(f"{name!r}: ({e.python})" for name, e in self.fields.items()) + "}"
        if self.delete_when is not None:
            values = f"(None if ({self.delete_when.test}) else {values})"
        source = f"def upserts(events):\n    return [(({self.table_key.python}), {values}) for e in events]\n"
        return build_function("upserts", source, step_id)

    def _upsert(self, event: dict) -> Tuple[str, Any]:
        key = self._key(event)
        if self.delete_when is not None and self.delete_when.holds(event):
            return key, DELETE
        return key, (UPSERT, self._project(event))

    def _row_change(self, event: dict) -> Tuple[str, Any]:
        kind = _OPS.get(str(event.get("op")))
        if kind is None:
            raise _BadChange(f"not a row change: op {event.get('op')!r} (c, r, u or d expected)")
        image = event.get("after" if kind == UPSERT else "before")
        if not isinstance(image, dict):
            side = "after" if kind == UPSERT else "before"
            raise _BadChange(f"a row change with op {event['op']!r} needs '{side}' to be the row")
        key = self._key(image)
        return key, DELETE if kind == DELETE else (UPSERT, self._project(image))

    def _key(self, row: dict) -> str:
        value = self.table_key(row)
        if value is None:
            raise _BadChange("table_key is null")
        return key_text(value)

    def _project(self, row: Optional[dict]) -> Any:
        """What the state keeps of a row: the ``fields`` values (a dict), the whole row for ``as``
        (both: a pair). ``None``: the values of a missing row."""
        values = {name: (None if row is None else expression(row)) for name, expression in self.fields.items()}
        if self.alias is None:
            return values
        if row is None:
            return values if self.fields else None
        return (values, row) if self.fields else row


class _BadChange(ValueError):
    """A table event that is no change of a row: dead-lettered with this reason."""
