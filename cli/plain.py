"""Printing a line without rich where rich would print it unstyled and unchanged: importing
rich.console costs ~20 ms of cpu, a fifth of a ``validate`` whose output goes to a file, a pipe
or CI's log.

Rich prints a string as it is (its markup tags removed, nothing else added) when its console is
no terminal: by rich's own rules (rich.console.Console.is_terminal), ``TTY_COMPATIBLE=0``, else
``FORCE_COLOR`` set empty, else a file that is no TTY; ``TTY_COMPATIBLE=1`` or a non-empty
``FORCE_COLOR`` make a terminal of anything. Under IPython (a notebook renders otherwise) or
with console options beyond the file, rich is used. And only text rich would not change: no
control character but the newline (rich removes some, expands tabs), no ``[`` (markup) and no
backslash (markup escapes); anything else goes through rich, as before.

``LazyConsole`` is the console main hands every command: rich only at its first use.
"""

from __future__ import annotations

import builtins
import os
import re
import threading
from typing import IO, Any, Mapping, Optional

_CHANGED_BY_RICH = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\[\\]")


def unstyled_file(options: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Optional[IO[str]]:
    """The file a console made with ``options`` (``stderr``, ``file`` only) would print to
    unstyled, or None when it would be a terminal (or it cannot be told without rich)."""
    if set(options) - {"stderr", "file"} or hasattr(builtins, "get_ipython"):
        return None
    import sys

    file = options.get("file") or (sys.stderr if options.get("stderr") else sys.stdout)
    if file is None:
        return None
    tty_compatible = environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return file if tty_compatible == "0" else None
    force_color = environ.get("FORCE_COLOR")
    if force_color is not None:
        return None if force_color else file
    isatty = getattr(file, "isatty", None)
    try:
        return file if isatty is not None and not isatty() else None
    except ValueError:  # closed: rich says no terminal, and its write fails as ours would
        return None


def plain_file(console: Any) -> Optional[IO[str]]:
    """The file ``console`` (a ``LazyConsole`` not made yet) would print to unstyled, so that
    text can be written there without rich; None for any other console or a terminal."""
    unstyled = getattr(console, "unstyled_file", None)
    return unstyled() if unstyled is not None else None


def unchanged_by_rich(text: str) -> bool:
    """Rich prints ``text`` (without markup) exactly as it is."""
    return _CHANGED_BY_RICH.search(text) is None


_BECOMING = threading.Lock()


class LazyConsole:
    """Becomes a SafeConsole at its first use (rich.console is imported then, ~30 ms): a command
    that prints nothing, such as a run -q that succeeds, never imports it. After that first use
    it is a SafeConsole (its class and state), so rich's Live and Progress take it as one."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs

    def unstyled_file(self) -> Any:
        """The file to write text to as it is when the console, once made, would print it
        unstyled (``unstyled_file``): no rich needed. None when it would not, or is made already."""
        kwargs = self.__dict__.get("_kwargs")
        return None if kwargs is None else unstyled_file(kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy/pickle probing: not a use
            raise AttributeError(name)
        with _BECOMING:  # a thread asking while another makes it waits, then finds it made
            kwargs = self.__dict__.get("_kwargs")
            if kwargs is not None:
                from cli.console import SafeConsole

                made = SafeConsole(**kwargs)
                del self.__dict__["_kwargs"]
                self.__dict__.update(vars(made))
                self.__class__ = SafeConsole  # type: ignore[assignment]
        return getattr(self, name)
