"""Load a topology file with ruamel.yaml, keeping the position of every key and value.

The result is plain Python data (dicts, lists, scalars) plus a position index keyed by the
path of each node (``("steps", 2, "filter")``), so later checks can report
``file:line:column`` without ever touching YAML objects.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent
from ruamel.yaml.parser import RoundTripParser
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.scanner import Scanner

from engine.frozen import Frozen, init
from engine.topology.diagnostics import Diagnostic
from engine.topology.interpolate import EnvText, InterpolationError, interpolate, worth_redacting

NodePath = Tuple[Union[str, int], ...]

MAX_DEPTH = 64  # nested mappings/sequences; real topologies stay under 10
MAX_ALIAS_NODES = 10_000  # nodes that aliases (*name) may add by repeating what they point to


class Position(Frozen):  # a frozen record (engine/frozen.py): no dataclass made at import
    """0-based line/column of a value, and of its key when it sits in a mapping."""

    __slots__ = ("line", "column", "key_line", "key_column", "quoted", "from_env")
    line: int
    column: int
    key_line: Optional[int]
    key_column: Optional[int]
    quoted: bool  # the value is a one-line quoted scalar: text starts one column later
    from_env: bool  # the value holds an interpolated environment variable

    def __init__(self, line: int, column: int, key_line: Optional[int] = None, key_column: Optional[int] = None,
                 quoted: bool = False, from_env: bool = False) -> None:
        init(self, "line", line)  # field by field: one is made per node of the file (set_fields loops)
        init(self, "column", column)
        init(self, "key_line", key_line)
        init(self, "key_column", key_column)
        init(self, "quoted", quoted)
        init(self, "from_env", from_env)


class Document:  # a plain class: a dataclass costs ~2M instructions to make at import
    """A loaded topology file: data, positions, and the text for rendering problems."""

    _FIELDS = ("path", "text", "data", "positions", "problems", "secrets")

    def __init__(self, path: str, text: str, data: Any, positions: Optional[Dict[NodePath, Position]] = None,
                 problems: Optional[List[Diagnostic]] = None, secrets: Optional[Dict[str, str]] = None) -> None:
        self.path = path
        self.text = text
        self.data = data
        self.positions: Dict[NodePath, Position] = {} if positions is None else positions
        self.problems: List[Diagnostic] = [] if problems is None else problems
        self.secrets: Dict[str, str] = {} if secrets is None else secrets  # environment value -> "${NAME}"

    def replace(self, **changes: Any) -> "Document":
        """A copy with ``changes`` (field=value), as ``dataclasses.replace`` made."""
        return Document(**{**{name: getattr(self, name) for name in self._FIELDS}, **changes})

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Document:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return "Document(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS) + ")"

    @property
    def lines(self) -> List[str]:
        return self.text.splitlines()

    def locate(
        self,
        node: NodePath,
        *,
        at_key: bool = False,
        offset: Optional[int] = None,
    ) -> Tuple[int, int]:
        """1-based (line, column) of a node: its key, its value, or a character inside it.

        Falls back to the nearest ancestor that has a position (a missing option is reported
        where its parent mapping is).
        """
        path = tuple(node)
        while path not in self.positions and path:
            path, at_key = path[:-1], True
        pos = self.positions.get(path)
        if pos is None:
            return 1, 1
        if at_key and pos.key_line is not None and pos.key_column is not None:
            return pos.key_line + 1, pos.key_column + 1
        column = pos.column + 1
        if offset is not None and not pos.from_env:
            column += offset + (1 if pos.quoted else 0)
        return pos.line + 1, column


def _yaml(plain_scanner: bool = False) -> YAML:
    yaml = YAML(typ="rt")
    if plain_scanner:  # no comments gathered (~40% of loading a file; no comment is kept)
        yaml.Scanner, yaml.Composer = _PlainScanner, _Composer
    yaml.Parser = _LimitedParser
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    return yaml


_NOT_LOADED = object()
# A comment right after a ':' (or '?', '-') with nothing between: where the round-trip scanner
# puts an empty value there ('key: # note', nothing under it), the plain one puts it at the next
# token; such a file is loaded by the round-trip scanner only, so positions stay as they were.
_COMMENT_AFTER_INDICATOR = re.compile(r"[:?-][ \t]+#")


def _round_trip(text: str) -> Any:
    """The file loaded by the round-trip scanner: what a file that the plain scanner refused is
    reported by (its messages and positions), or a limit (``_Refused``) the whole file breaks."""
    try:
        return _yaml().load(text)
    except _Refused:
        raise
    except Exception:  # noqa: BLE001 - re-raised unless the whole file's events decide first
        limit = _limits(text)
        if limit is None:
            raise
        raise _Refused(*limit) from None


def load_text(path: str, text: str, env: Optional[Mapping[str, str]] = None) -> Document:
    """Parse ``text``; YAML and interpolation problems land in ``Document.problems``."""
    doc = Document(path=path, text=text, data=None)
    raw = _NOT_LOADED
    if not _COMMENT_AFTER_INDICATOR.search(text):
        try:  # the plain scanner first; a file it refuses is loaded again to report as before
            raw = _yaml(plain_scanner=True).load(text)
        except Exception:  # noqa: BLE001 - found again, and reported, as the round-trip scanner sees it
            raw = _NOT_LOADED
    if raw is _NOT_LOADED:
        try:
            raw = _round_trip(text)
        except _Refused as refused:
            doc.problems.append(Diagnostic(path, *refused.args))
            return doc
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            message = (exc.problem or exc.context or "invalid YAML").strip()
            source_line = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
            hint = _yaml_hint(message, source_line) or _context_hint(exc)
            doc.problems.append(Diagnostic(path, line, col, f"invalid YAML: {message}", hint=hint))
            return doc
        except YAMLError as exc:  # pragma: no cover - unmarked errors are rare
            doc.problems.append(Diagnostic(path, 1, 1, f"invalid YAML: {exc}"))
            return doc
        except (TypeError, ValueError, AttributeError) as exc:  # the constructor on odd input
            doc.problems.append(Diagnostic(path, 1, 1, f"invalid YAML: {type(exc).__name__}",
                                           hint="use plain mappings, lists and scalars"))
            return doc
    doc.data = _plain(raw, (), doc, os.environ if env is None else env, None)
    return doc


MAX_FILE_BYTES = 4 * 1024 * 1024  # a topology is a page or two of YAML


def load_file(path: str, env: Optional[Mapping[str, str]] = None) -> Document:
    try:
        if not os.path.isfile(path):  # /dev/zero, a FIFO, a directory: never read (a hang, or no end)
            raise OSError(0, "not a regular file" if os.path.exists(path) else "No such file or directory")
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_FILE_BYTES + 1)
        if len(text) > MAX_FILE_BYTES:
            raise OSError(0, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, which no topology is")
    except (OSError, UnicodeDecodeError) as exc:
        doc = Document(path=path, text="", data=None)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        doc.problems.append(Diagnostic(path, 1, 1, f"cannot read topology file: {reason}"))
        return doc
    return load_text(path, text, env)


class _Refused(Exception):
    """A limit the file goes beyond: args are (line, column, message, hint), 1-based."""


class _Limits:
    """Refuses, at the offending spot, what could make loading hang or exhaust memory: nesting
    deeper than MAX_DEPTH, aliases that repeat more than MAX_ALIAS_NODES nodes in all (a
    "billion laughs" file), and explicit tags (``!foo``, ``!!str``: a topology needs none, and
    the loader would not keep them). Fed the parser's events one by one (no tree is built)."""

    def __init__(self) -> None:
        self.sizes: Dict[str, int] = {}  # anchor -> nodes in its value, aliases inside counted expanded
        self.open_nodes: List[List[Any]] = []  # [anchor, nodes so far] of each open collection
        self.added = 0

    def see(self, event: Any) -> None:
        if not isinstance(event, (NodeEvent, CollectionEndEvent)):
            return
        open_nodes = self.open_nodes
        if isinstance(event, CollectionEndEvent):
            anchor, count = open_nodes.pop()
            if anchor is not None:
                self.sizes[anchor] = count
            if open_nodes:
                open_nodes[-1][1] += count
            return
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if isinstance(event, AliasEvent):
            size = self.sizes.get(event.anchor, 1)
            self.added += size
            if self.added > MAX_ALIAS_NODES:
                raise _Refused(*where, f"aliases repeat more than {MAX_ALIAS_NODES:,} values in all "
                                       f"('*{event.anchor}')",
                               "write the values out, or use fewer aliases (*name) of large anchors (&name)")
            if open_nodes:
                open_nodes[-1][1] += size
            return
        tag = getattr(event, "tag", None)
        tag = getattr(tag, "value", tag)
        if tag is not None:
            raise _Refused(*where, f"YAML tag '{tag}' is not supported",
                           ("remove the tag: topology files use plain mappings, lists and scalars; "
                            "quote a value to make it text"))
        if isinstance(event, CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise _Refused(*where, f"nesting deeper than {MAX_DEPTH} levels",
                               "topology files need only a few levels; flatten the structure")
            open_nodes.append([event.anchor, 1])
        else:
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
            if open_nodes:
                open_nodes[-1][1] += 1


class _LimitedParser(RoundTripParser):
    """The round-trip parser, each event checked by ``_Limits`` as the composer takes it, so a
    file is parsed once (a separate pass over the events cost as much as a third of loading)."""

    scanner: Any = None  # the loader's scanner, kept: ruamel's property asks the loader at every token

    def __init__(self, loader: Any) -> None:
        super().__init__(loader)
        self.limits = _Limits()
        self.scanner = loader.scanner

    def get_event(self) -> Any:
        event = super().get_event()
        self.limits.see(event)
        return event


class _PlainScanner(Scanner):
    """ruamel's plain scanner with its reader kept (its property is asked at every character);
    together with the parser's kept scanner, ~10% of loading a file."""

    reader: Any = None

    def __init__(self, loader: Any = None) -> None:
        self.reader = loader.reader
        super().__init__(loader)


class _Composer(Composer):
    """ruamel's composer with the loader's parser and resolver kept (its properties, asked at
    every event and node, look them up through the loader's: ~8% of loading a file)."""

    parser: Any = None
    resolver: Any = None

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.parser, self.resolver = loader.parser, loader.resolver


def _limits(text: str) -> Optional[Tuple[int, int, str, str]]:
    """The limits over the whole file's events, nothing composed: (line, column, message,
    hint) or None. Asked only when loading failed otherwise: the composer stops at its first
    error (an undefined alias), and a limit or a syntax error further on was reported first."""
    try:
        for _ in _yaml().parse(text):  # _LimitedParser checks each event
            pass
    except _Refused as refused:
        return refused.args
    return None


def _context_hint(exc: MarkedYAMLError) -> Optional[str]:
    """Where the construct that failed started, e.g. an unclosed '[' lines earlier."""
    mark, problem = exc.context_mark, exc.problem_mark
    if not exc.context or mark is None or (problem and (mark.line, mark.column) == (problem.line, problem.column)):
        return None
    return f"{exc.context.strip()} that starts at line {mark.line + 1}, column {mark.column + 1}"


def _yaml_hint(message: str, source_line: str) -> Optional[str]:
    if "${" in source_line and ("{" in source_line.split("${")[0] or "[" in source_line.split("${")[0]):
        return ("inside { } or [ ], quote a value that contains ${...}: \"${VAR}\" (quoted it is text; for a "
                "number or true/false write that mapping in block style, unquoted: 'batch_size: ${BATCH:-500}')")
    if "duplicate key" in message:
        return "each key may appear once in a mapping; remove or rename one of them"
    if "mapping values are not allowed" in message:
        return "a value containing ': ' must be quoted"
    if "tab" in message:
        return "indent with spaces, not tabs"
    return None


def _plain(node: Any, path: NodePath, doc: Document, env: Mapping[str, str], pos: Optional[Position]) -> Any:
    """Turn ruamel nodes into plain data, recording positions and interpolating strings."""
    if isinstance(node, CommentedMap):
        out = {}
        for key in node:
            try:
                key_line, key_col = node.lc.key(key)
                val_line, val_col = node.lc.value(key)
            except (KeyError, TypeError):  # a key merged in with `<<: *anchor`: blame the mapping
                key_line, key_col = (pos.line, pos.column) if pos else (0, 0)
                val_line, val_col = key_line, key_col
            value = node[key]
            name = str(key)
            if "${" in name:  # a key may be a topic name from the environment (`topics:`)
                name = _interpolated(name, path, doc, env, Position(key_line, key_col, key_line, key_col))
            child = (*path, name)
            quoted = isinstance(value, (SingleQuotedScalarString, DoubleQuotedScalarString))
            child_pos = Position(val_line, val_col, key_line, key_col, quoted and val_line == key_line)
            if isinstance(value, (CommentedMap, CommentedSeq)) and not value:
                child_pos = Position(val_line, val_col, key_line, key_col)
            doc.positions[child] = child_pos
            out[name] = _plain(value, child, doc, env, child_pos)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for index, value in enumerate(node):
            line, col = node.lc.item(index)
            quoted = isinstance(value, (SingleQuotedScalarString, DoubleQuotedScalarString))
            child_pos = Position(line, col, line, col, quoted)
            child_path = path + (index,)
            doc.positions[child_path] = child_pos
            out_list.append(_plain(value, child_path, doc, env, child_pos))
        return out_list
    if isinstance(node, str):
        value = _interpolated(str(node), path, doc, env, pos)
        unquoted = not isinstance(node, (SingleQuotedScalarString, DoubleQuotedScalarString))
        if unquoted and value is not node and node.startswith("${") and node.endswith("}"):
            return _typed(value)  # `tail: ${TAIL:-true}` is a boolean, as if written in place
        return value
    return node


_TYPED = {"true": True, "false": False, "null": None}


def _typed(text: str) -> Any:
    """An unquoted value that is one whole ``${...}`` reads like YAML would read its result:
    true/false/null, integers and decimals; anything else stays text."""
    if text in _TYPED:
        return _TYPED[text]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _interpolated(text: str, path: NodePath, doc: Document, env: Mapping[str, str], pos: Optional[Position]) -> str:
    try:
        value, used = interpolate(text, env)
    except InterpolationError as exc:
        line, col = doc.locate(path, offset=exc.offset)
        doc.problems.append(Diagnostic(doc.path, line, col, exc.message, hint=exc.hint))
        return text
    if isinstance(value, EnvText):
        doc.secrets.update((v, name) for v, name in value.secrets().items() if worth_redacting(v))
    if used and pos is not None:
        doc.positions[path] = Position(
            pos.line, pos.column, pos.key_line, pos.key_column, pos.quoted, from_env=True
        )
    return value
