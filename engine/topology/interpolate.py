"""``${VAR}`` and ``${VAR:-default}`` interpolation of string values from the environment.

``$${`` writes a literal ``${``. Values that came from the environment are never echoed in
messages: the validator shows the file's own text, which holds ``${VAR}``, not the secret.
"""

from __future__ import annotations

import re
from typing import List, Mapping, Tuple

_PATTERN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{([^}]*)\}?")


class InterpolationError(ValueError):
    def __init__(self, message: str, offset: int, hint: str) -> None:
        super().__init__(message)
        self.message, self.offset, self.hint = message, offset, hint


def interpolate(text: str, env: Mapping[str, str]) -> Tuple[str, bool]:
    """Return ``(value, used_env)``; raises InterpolationError for unset or malformed names."""
    if "$" not in text:
        return text, False
    parts: List[str] = []
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
            parts.append(env[name])
        elif default is not None:
            parts.append(default)
        else:
            raise InterpolationError(
                f"environment variable '{name}' is not set",
                match.start(),
                f"export {name}=..., or give a default: ${{{name}:-value}}",
            )
    parts.append(text[pos:])
    return "".join(parts), used
