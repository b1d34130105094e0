"""Load a topology file with ruamel.yaml, keeping the position of every key and value.

The result is plain Python data (dicts, lists, scalars) plus a position index keyed by the
path of each node (``("steps", 2, "filter")``), so later checks can report
``file:line:column`` without ever touching YAML objects.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from engine.code_cache import private
from engine.frozen import Frozen, init
from engine.topology import libyaml_pass
from engine.topology.diagnostics import Diagnostic
from engine.topology.interpolate import EnvText, InterpolationError, interpolate, worth_redacting
from engine.topology.yaml_passes import COMMENT_AFTER_INDICATOR, NOT_LOADED, Refused, round_trip, yaml_for

NodePath = Tuple[Union[str, int], ...]

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


def load_text(path: str, text: str, env: Optional[Mapping[str, str]] = None) -> Document:
    """Parse ``text``; YAML and interpolation problems land in ``Document.problems``."""
    doc = Document(path=path, text=text, data=None)
    raw = NOT_LOADED
    if not COMMENT_AFTER_INDICATOR.search(text):
        raw = libyaml_pass.load(text)  # libyaml where it reads as the plain scanner; else NOT_LOADED
    if raw is NOT_LOADED and not COMMENT_AFTER_INDICATOR.search(text):
        try:  # the plain scanner next; a file it refuses is loaded again to report as before
            raw = yaml_for(plain_scanner=True).load(text)
        except Exception:  # noqa: BLE001 - found again, and reported, as the round-trip scanner sees it
            raw = NOT_LOADED
    if raw is NOT_LOADED:
        try:
            raw = round_trip(text)
        except Refused as refused:
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
        except ReaderError as exc:  # a character YAML does not allow (NUL, a control character)
            line, col = _line_column(text, exc.position) if isinstance(exc.position, int) else (1, 1)
            code = exc.character if isinstance(exc.character, int) else 0
            doc.problems.append(Diagnostic(path, line, col, f"invalid YAML: character U+{code:04X} is not allowed",
                                           hint=f"remove it, or write it as \\u{code:04x} inside double quotes"))
            return doc
        except YAMLError as exc:  # pragma: no cover - unmarked errors are rare
            doc.problems.append(Diagnostic(path, 1, 1, f"invalid YAML: {str(exc).splitlines()[0]}"))
            return doc
        except (TypeError, ValueError, AttributeError) as exc:  # the constructor on odd input
            doc.problems.append(Diagnostic(path, 1, 1, f"invalid YAML: {type(exc).__name__}",
                                           hint="use plain mappings, lists and scalars"))
            return doc
    doc.data = _plain(raw, (), doc, os.environ if env is None else env, None)
    return doc


MAX_FILE_BYTES = 4 * 1024 * 1024  # a topology is a page or two of YAML


def load_file(path: str, env: Optional[Mapping[str, str]] = None, what: str = "topology file") -> Document:
    """The file at ``path`` loaded; ``what`` it is names it in the problems (``velocity-flow test``
    loads its test files here too)."""
    try:
        if not os.path.isfile(path):  # /dev/zero, a FIFO, a directory: never read (a hang, or no end)
            raise OSError(0, "not a regular file" if os.path.exists(path) else "No such file or directory")
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise OSError(0, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, which no {what} is")
        text = data.decode("utf-8")
    except OSError as exc:
        doc = Document(path=path, text="", data=None)
        reason = exc.strerror or str(exc)
        doc.problems.append(Diagnostic(path, 1, 1, f"cannot read {what}: {reason}"))
        return doc
    except UnicodeDecodeError as exc:  # located at the first byte that is not UTF-8, on its line as shown
        before = _universal_newlines(data[:exc.start].decode("utf-8"))
        line, col = _line_column(before + "\ufffd", len(before))
        doc = Document(path=path, text=_universal_newlines(data.decode("utf-8", "replace")), data=None)
        doc.problems.append(Diagnostic(path, line, col, f"cannot read {what}: byte 0x{data[exc.start]:02x} "
                                       "is not UTF-8", hint="save the file as UTF-8"))
        return doc
    return load_text(path, _universal_newlines(text), env)


def _universal_newlines(text: str) -> str:
    """Line ends as a file opened as text reads them: '\\r\\n' and '\\r' become '\\n'."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _line_column(text: str, index: int) -> Tuple[int, int]:
    """1-based line and column of character ``index``, lines as ``Document.lines`` splits them."""
    line, start = 1, 0
    for piece in text.splitlines(keepends=True):
        if start + len(piece) > index:
            break
        line, start = line + 1, start + len(piece)
    return line, index - start + 1


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
    if message.startswith("cannot read '"):
        return "write a valid value, or quote it to make it text"
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
            if isinstance(value, (dict, list)) and isinstance(value, (CommentedMap, CommentedSeq)) and not value:
                child_pos = Position(val_line, val_col, key_line, key_col)
            doc.positions[child] = child_pos
            out[name] = _plain(value, child, doc, env, child_pos)
        return out
    if isinstance(node, list) and isinstance(node, CommentedSeq):  # list first: CommentedSeq's is an ABC's check
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
        secrets = {v: name for v, name in value.secrets().items() if worth_redacting(v)}
        doc.secrets.update(secrets)
        private(secrets)  # never in code kept on disk
    if used and pos is not None:
        doc.positions[path] = Position(
            pos.line, pos.column, pos.key_line, pos.key_column, pos.quoted, from_env=True
        )
    return value
