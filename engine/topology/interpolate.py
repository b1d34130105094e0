"""``${VAR}`` and ``${VAR:-default}`` interpolation of string values from the environment.

``$${`` writes a literal ``${``. Values that came from the environment are never echoed in
messages: the validator shows the file's own text, which holds ``${VAR}``, not the secret, and
every message, plan and graph passes through :func:`redact`.

An interpolated string is an :class:`EnvText`: a ``str`` that remembers its parts, so an
expression option can be rebuilt with each value as a literal (:func:`as_expression`).
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Tuple, Union

Part = Union[str, Tuple[str, str, bool]]  # file text, or (name, value, taken from the environment)

_PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}?")


class InterpolationError(ValueError):
    def __init__(self, message: str, offset: int, hint: str) -> None:
        super().__init__(message)
        self.message, self.offset, self.hint = message, offset, hint


class EnvText(str):
    """A string built by interpolation; ``parts`` keeps file text apart from variable values."""

    parts: List[Part]

    def __new__(cls, parts: List[Part]) -> "EnvText":
        parts = [parts] if isinstance(parts, str) else list(parts)
        self = super().__new__(cls, "".join(p if isinstance(p, str) else p[1] for p in parts))
        self.parts = parts
        return self

    def __getnewargs__(self):  # copy and pickle keep the parts
        return (self.parts,)

    def secrets(self) -> Dict[str, str]:
        """value -> ``${NAME}`` for the values taken from the environment (not defaults)."""
        return {p[1]: f"${{{p[0]}}}" for p in self.parts if not isinstance(p, str) and p[2]}


def interpolate(text: str, env: Mapping[str, str]) -> Tuple[str, bool]:
    """Return ``(value, used_env)``; raises InterpolationError for unset or malformed names.
    When a variable was used the value is an :class:`EnvText`."""
    if "$" not in text:
        return text, False
    parts: List[Part] = []
    used = False
    pos = 0
    for match in _PATTERN.finditer(text):
        parts.append(text[pos : match.start()])
        pos = match.end()
        if match.group(0) == "$${":
            parts.append("${")
            continue
        name, default, bad = match.group(1), match.group(2), match.group(3)
        if name is None:
            raise InterpolationError(
                f"malformed variable reference '${{{bad or ''}'",
                match.start(),
                "write ${NAME} or ${NAME:-default}; names are letters, digits and '_'",
            )
        used = True
        if name in env:
            parts.append((name, env[name], True))
        elif default is not None:
            parts.append((name, default, False))
        else:
            raise InterpolationError(
                f"environment variable '{name}' is not set",
                match.start(),
                f"export {name}=..., or give a default: ${{{name}:-value}}",
            )
    parts.append(text[pos:])
    if not used:
        return "".join(p for p in parts if isinstance(p, str)), False
    return EnvText(parts), True


# expressions ------------------------------------------------------------------------------
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _escaped(value: str, quote: str) -> str:
    return "".join(_ESCAPES.get(c, "\\" + c if c == quote else c) for c in value)


def _literal(value: str) -> str:
    """A value standing alone in an expression: a number, true/false/null, or a string."""
    if _NUMBER.fullmatch(value) or value in ("true", "false", "null"):
        return value
    if value.startswith("-") and _NUMBER.fullmatch(value[1:]):
        return f"({value})"
    return "'" + _escaped(value, "'") + "'"


def as_expression(text: str) -> str:
    """Expression text in which every ``${VAR}`` value is a literal, never expression syntax.

    Inside quotes (``kind == '${ONLY}'``) the value is escaped for that string; standing alone
    (``amount > ${MIN}``) it becomes a number, true/false/null or a quoted string; inside
    backticks (a field name) it may not contain a backtick. Plain strings are returned as is.
    Raises ValueError when a value cannot be placed.
    """
    if not isinstance(text, EnvText):
        return text
    out: List[str] = []
    quote: Optional[str] = None
    for part in text.parts:
        if not isinstance(part, str):
            name, value, _ = part
            if quote == "`" and "`" in value:
                raise ValueError(f"the value of '{name}' contains '`' and cannot be a field name")
            out.append(_literal(value) if quote is None else value if quote == "`" else _escaped(value, quote))
            continue
        out.append(part)
        index = 0
        while index < len(part):
            char = part[index]
            if quote is None and char in "'\"`":
                quote = char
            elif quote is not None and quote != "`" and char == "\\":
                index += 1
            elif char == quote:
                quote = None
            index += 1
    return "".join(out)


def redact(text: str, secrets: Mapping[str, str]) -> str:
    """``text`` with every value taken from the environment replaced by ``${NAME}``."""
    if not secrets or not isinstance(text, str):
        return text
    for value in sorted(secrets, key=len, reverse=True):
        text = text.replace(value, secrets[value])
    return text


def worth_redacting(value: str) -> bool:
    """Values too short or too common to hide without garbling messages stay (1, true, ...)."""
    return len(value.strip()) >= 3 and value not in ("true", "false", "null")


def file_secrets(path: str, env: Mapping[str, str]) -> Dict[str, str]:
    """value -> ``${NAME}`` for every variable a file names that ``env`` sets: what to hide in
    a message produced before (or without) a loaded topology, e.g. an internal error."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return {}
    names = {m.group(1) for m in _PATTERN.finditer(text) if m.group(1)}
    return {env[n]: f"${{{n}}}" for n in names if n in env and worth_redacting(env[n])}
