"""The commands' console: rich, with only their own markup interpreted (cli/main.py makes it at first use)."""

from __future__ import annotations

import re

from rich.console import Console
from rich.errors import MarkupError

# Rich markup that the commands' own messages use; any other [tag] in a printed string is text
# (an event table named '[/]' or a path with '[conceal]' must print as written).
_STYLES = {"red", "yellow", "green", "bold", "dim", "cyan", "blue", "magenta"}
_TAG = re.compile(r"(\\*)\[([a-z#/@][^\[]*?)\]")


def _only_known_markup(text: str) -> str:
    def fix(match: "re.Match") -> str:
        slashes, tag = match.group(1), match.group(2)
        if len(slashes) % 2 or tag.lstrip("/") in _STYLES and tag != "/":
            return match.group(0)  # escaped already, or one of ours
        return slashes + "\\" + f"[{tag}]"

    return _TAG.sub(fix, text)


class SafeConsole(Console):
    """A Console whose string arguments keep only the commands' own style tags: markup that
    came with data (a name, a path, an error text) is printed literally, never interpreted,
    and a string whose tags do not balance is printed without markup rather than failing."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("emoji", False)  # ':smile:' in a name stays text
        kwargs.setdefault("soft_wrap", True)  # an error is one line, whatever the terminal's width
        super().__init__(**kwargs)

    def print(self, *objects, **kwargs) -> None:
        objects = tuple(_only_known_markup(o) if isinstance(o, str) else o for o in objects)
        try:
            super().print(*objects, **kwargs)
        except MarkupError:
            super().print(*objects, **{**kwargs, "markup": False})

