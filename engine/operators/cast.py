"""``cast``: convert field values to declared types."""

from __future__ import annotations

from itertools import islice
from typing import Optional, Tuple

from engine.errors import ConfigError
from engine.operators.cast_fields import parse_casts, shown
from engine.operators.cast_inline import inline
from engine.operators.codegen import FirstTry, adopt_keys, build_function, key_cells
from engine.operators.dead import describe, one_by_one
from engine.operators.fields import with_fields
from engine.records import SHARED
from engine.values import converter

_MISSING = object()
_DONE = object()  # the in-place strict loop converted every event


class _NullValue(Exception):
    pass


def _not_null(convert):
    """``convert`` for the strict loop, where a null must not be converted (it stays null)."""

    def strict(value):
        if value is None:
            raise _NullValue
        return convert(value)

    return strict


class Cast:
    """Converts the listed fields (dotted paths reach into nested objects).

    ``process`` never modifies its input events (several steps may read the same stream): a
    converted event is a copy, so a dead letter carries the event as it arrived.
    ``process_owned`` (engine/operators/contract.py) converts the top-level fields of events
    no one else holds in place, all of an event's fields or none (a failing event is redone
    from the untouched event, as a copy): the copy was a fifth of the step's time;
    ``process_owned_whole``, for events owned whole (a source's), also the fields of nested
    objects, whose copy was ~2% of a Kafka -> Kafka flow (bench/kafka_throughput.py). A failed conversion
    dead-letters the event with the field, the value and the reason, or with ``on_error: null``
    sets the field to null. An event that is not an object is dead-lettered.

    A batch runs through one generated loop; an event it cannot convert is redone on its own
    (for the reason) and the loop resumes at the next event, so a few bad events cost about
    what they weigh, not a slow batch.
    """

    kind = "stateless"
    fresh_output = True  # every event it gives is its own (a copy, or an owned input)

    def __init__(self, step_id: str, config: dict, input_fields) -> None:
        self.step_id = step_id
        if "debezium" in config:  # format 1 before 2026-12: the decoder hid inside cast
            raise ConfigError("Debezium change events are decoded by their own step now", ("debezium",),
                              hint="write 'debezium: {}' instead of 'cast: {debezium: true}' (hints and "
                                   "'fields' go inside: 'debezium: {decimal: string, fields: {...}}')")
        if not config.get("fields"):
            raise ConfigError("cast needs 'fields'", ("fields",))
        self.to_null = config.get("on_error", "dead_letter") == "null"
        self.casts, top_level = parse_casts(config["fields"], converter)
        self.output_fields = with_fields(input_fields, top_level)
        self._flat = all(len(path) == 1 for path, _, _ in self.casts)
        self._flat_casts = [(path[0], type_name, convert) for path, type_name, convert in self.casts]
        self._fast = None if self.to_null else self._fused(step_id)
        flat = self._fast is not None and self._flat
        self._in_place = self._fused(step_id, in_place=True) if flat else None
        # the usual batch (every field there, none null, every parent an object) read with e[name]
        # and no null tests; a field that is also the parent of another is left to the lenient loop
        paths = [path for path, _, _ in self.casts]
        plain = not any(p[:len(q)] == q for p in paths for q in paths if len(q) < len(p))
        self._keys: dict = {}  # the in-place strict loop's field names: {name: its cell} (adopt_keys)
        # the strict loops by how the events are held: "copy", "owned" (top level), "whole"; a flat
        # cast changes no nested object, so its "whole" loop is its "owned" one (whose cells _keys holds)
        self._strict = {held: self._fused(step_id, held != "copy", strict=True)
                        for held in ("copy", "owned")} if self._fast is not None and plain else {}
        if self._strict:
            self._strict["whole"] = self._strict["owned"] if self._flat else \
                self._fused(step_id, in_place=True, strict=True, whole=True)
        self._lenient_batches = 0  # after a batch the strict loop could not finish: these many without it

    def _fused(self, step_id: str, in_place: bool = False, strict: bool = False, whole: bool = False):
        """One generated loop over ``batch[start:]`` appending to ``out``, converters inlined by
        name or as their inline forms (``cast_inline``), nested objects copied once per parent:
        no per-field Python loop. It stops at the first event that fails; :meth:`process` takes
        it from there. ``in_place`` (flat casts only, unless ``strict``): the event's own fields
        are set, after every value of it converted. ``strict``: fields read as ``e[name]``
        (KeyError when missing), a null value or a parent that is not an object raises; every
        value is converted before the event or its copy changes (``_strict_lines``); ``whole``
        (strict and in place): nested objects changed in place too, not copied."""
        names: dict = {}  # converters and the constants of their inline forms
        tree: dict = {}
        for number, (path, type_name, convert) in enumerate(self.casts):
            node = tree
            for key in path[:-1]:
                node = node.setdefault(("object", key), {})
            name = f"_c{number}"
            names[name] = _not_null(convert) if strict else convert
            fast = inline(type_name, name, strict)
            if fast is not None:
                names.update(fast[1])
            node[("value", path[-1])] = fast[0] if fast is not None else f"{name}(v)"
        lines = ["def cast_all(batch, start, out):", "    add = out.append",
                 "    for e in islice(batch, start, None):"]
        if in_place and strict:  # the events converted where they are: no output list to fill
            keys = {key: f"k{n}" for n, (_, key) in enumerate(tree)} if self._flat else {}
            reads, writes = _strict_lines(tree, "e", "                ", keys, whole)
            lines = [f"def make({', '.join(keys.values())}):", "    def cast_all(batch):", "        e = _done",
                     "        try:", "            for e in batch:", *reads, *writes,
                     "        except Exception:", "            return e", "        return _done", "    return cast_all"]
        elif strict:
            reads, writes = _strict_lines(tree, "o", "        ")
            lines += [*reads, "        o = e.copy()", *writes, "        add(o)"]
        elif in_place:
            values = [(key, item) for (_, key), item in tree.items()]
            for number, (key, item) in enumerate(values):
                lines += [f"        v = e.get({key!r})", f"        x{number} = _skip if v is None else {item}"]
            lines += [f"        if x{number} is not _skip: e[{key!r}] = x{number}"
                      for number, (key, _) in enumerate(values)]
            lines += ["        add(e)"]
        else:
            lines += ["        o = e.copy()"]  # not a dict: fails
            lines += _cast_lines("o", tree, "        ", iter(range(1, 1000)))
            lines += ["        add(o)"]
        function = build_function("make" if in_place and strict else "cast_all", "\n".join(lines) + "\n", step_id,
                                  {**names, "dict": dict, "type": type, "islice": islice, "_skip": _MISSING,
                                   "_done": _DONE, "Exception": Exception, "_NotAnObject": _NotAnObject})
        if not (in_place and strict):
            return function
        function = function(*keys)  # each name in a cell of its own, first holding the text itself
        self._keys = key_cells(function, keys)
        return function

    def process(self, batch: list):
        return self._run(self._fast, batch, self._strict.get("copy"))

    def process_owned(self, batch: list):
        return self._run(self._in_place or self._fast, batch, self._strict.get("owned"), owned=True)

    def process_owned_whole(self, batch: list):
        return self._run(self._in_place or self._fast, batch, self._strict.get("whole"), owned=True)

    def _run(self, fast, batch: list, strict=None, owned: bool = False):
        if fast is None:
            return self._by_event(batch)
        out: list = []
        deads: list = []
        start = 0
        if strict is not None:
            if self._lenient_batches:
                self._lenient_batches -= 1
            elif owned:  # converts in place, stops at the first event it cannot convert (left as it was)
                if self._keys and batch:  # read with the events' own key objects
                    adopt_keys(self._keys, batch[0])
                failed = strict(batch)
                if failed is _DONE:
                    return batch, deads  # the same events, each its own (engine/compiler/ownership.py)
                start = _index(batch, failed)
                out = batch[:start]
                self._lenient_batches = FirstTry.PAUSE
            else:
                try:
                    strict(batch, 0, out)
                    return out, deads
                except Exception:  # noqa: BLE001 - a missing or null field, or a failure: the lenient loop decides
                    start = len(out)  # the events before it are done (an event is converted whole or not at all)
                    self._lenient_batches = FirstTry.PAUSE  # as filter's and map's strict forms pause
        while True:
            done = len(out)
            try:
                fast(batch, start, out)
                return out, deads
            except Exception:  # noqa: BLE001 - this event fails: redone alone below, with the reason
                failed = start + len(out) - done
            oks, dead = self._by_event(batch[failed:failed + 1])
            out += oks
            deads += dead
            start = failed + 1

    def _by_event(self, batch: list):
        return one_by_one(self.step_id, batch, self._cast_one, catch=Exception)

    def _cast_one(self, event) -> dict:
        if type(event) is not dict:
            raise _CastFailure(f"expected an object, got {type(event).__name__}")
        return self._cast_flat(event) if self._flat else self._cast_nested(event)

    def _cast_flat(self, event: dict) -> dict:
        out = dict(event)
        for key, type_name, convert in self._flat_casts:
            value = out.get(key)
            if value is not None:
                out[key] = self._convert(convert, value, key, type_name)
        return out

    def _cast_nested(self, event: dict) -> dict:
        out = dict(event)
        for path, type_name, convert in self.casts:
            parent = _copy_parents(out, path)
            if parent is None:
                continue
            value = parent.get(path[-1])
            if value is not None:
                parent[path[-1]] = self._convert(convert, value, ".".join(path), type_name)
        return out

    def _convert(self, convert, value, name: str, type_name: str):
        try:
            return convert(value)
        except Exception as exc:  # noqa: BLE001 - whatever the value does, it is this field's failure
            if self.to_null:
                return None
            raise _CastFailure(f"cannot cast field '{name}' value {shown(value)} to {type_name}: "
                               f"{describe(exc)}") from None


def _index(batch: list, event) -> int:
    """Where ``event`` is in ``batch``, by identity (an owned batch holds each event once)."""
    return next(i for i, e in enumerate(batch) if e is event)


def _strict_lines(tree: dict, target: str, indent: str, keys: Optional[dict] = None, whole: bool = False):
    """The strict loop's statements: ``reads`` convert every value of ``tree`` (read from ``e``
    and its nested objects, each parent tested to be a dict) into ``x<n>``; ``writes`` then
    put them into ``target`` (``e`` itself, or its copy), each nested parent copied once on
    the way (a nested object is not the step's to change), unless ``whole`` (the events are
    owned whole): then only a top-level parent that a source's events may share (``SHARED``)
    is copied, and every parent inside it. Nothing is written before every value is converted:
    an event that fails is left as it came. ``keys``: the names holding the top-level field
    names (else written as text)."""
    reads: list = []
    writes: list = []
    numbers = iter(range(10**6))

    def walk(node: dict, source: str, into: str, copied: bool) -> None:
        for (kind, key), item in node.items():
            n = next(numbers)
            if kind == "value":
                name = keys[key] if keys and source == "e" else repr(key)
                reads.extend((f"{indent}v = {source}[{name}]", f"{indent}x{n} = {item}"))
                writes.append(f"{indent}{into}[{name}] = x{n}")
            else:
                reads.extend((f"{indent}p{n} = {source}[{key!r}]",
                              f"{indent}if type(p{n}) is not dict: raise _NotAnObject"))
                copy = copied or (source == "e" and key in SHARED)
                if not copy:  # the event's own object: written where it is
                    walk(item, f"p{n}", f"p{n}", copied=False)
                    continue
                writes.append(f"{indent}c{n} = {into}[{key!r}] = dict(p{n})")
                walk(item, f"p{n}", f"c{n}", copied=True)

    walk(tree, "e", target, copied=not whole)
    return reads, writes


def _cast_lines(var: str, tree: dict, indent: str, names) -> list:
    """Statements converting the values of ``tree`` inside the dict ``var`` (copying nested
    dicts before writing into them, so the input event is never modified)."""
    lines = []
    for (kind, key), item in tree.items():
        if kind == "value":
            lines += [f"{indent}v = {var}.get({key!r})", f"{indent}if v is not None: {var}[{key!r}] = {item}"]
            continue
        child = f"p{next(names)}"
        lines += [f"{indent}{child} = {var}.get({key!r})", f"{indent}if type({child}) is dict:",
                  f"{indent}    {child} = {var}[{key!r}] = dict({child})"]
        lines += _cast_lines(child, item, indent + "    ", names)
    return lines


class _CastFailure(ValueError):  # a ValueError: its message alone is the dead letter's reason
    pass


class _NotAnObject(Exception):
    """The strict loop met a parent that is not an object: the lenient loop decides."""


def _copy_parents(event: dict, path: Tuple[str, ...]):
    """Copy the nested dicts along ``path`` (so the input is untouched); the last parent."""
    node = event
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return None
        node[key] = child = dict(child)
        node = child
    return node
