"""Standard output whose reader may leave early: ``velocity-flow schema | head -1``.

Python raises ``BrokenPipeError`` at the next write once the reader is gone, and rich turns it
into ``SystemExit(1)``: a traceback or an exit code that lies (1 is "invalid topology", "a test
failed"). Here the command goes on with its output dropped (standard output then writes to
the null device, as ``tap`` does) and ends with its own exit code. Writes to
``sys.stdout.buffer`` (the stdout sink, ``tap``) are not covered: they handle it themselves.

Any other failure to write (``> /dev/full``, a full disk, an I/O error) is the destination
failing, not a bug: it raises :class:`OutputFailed`, which the command line reports in one line
with exit 3 instead of an "internal error".
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, NoReturn, TextIO


class OutputFailed(Exception):
    """Standard output could not be written (other than its reader leaving)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"cannot write standard output: {error.strerror or error}")


class ReaderMayLeave:
    """A text stream that writes to ``stream`` until its reader is gone, then nowhere."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)
        except OSError as exc:
            self._failed(exc)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._gone()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> NoReturn:
        # the rest goes nowhere, so that the interpreter's last flush at exit cannot fail again
        # ("Exception ignored ..." and exit 120) after the command said what went wrong
        self._gone()
        raise OutputFailed(exc) from exc

    def _gone(self) -> None:
        """From now on the stream's descriptor is the null device (what is buffered goes there too)."""
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):  # no descriptor to replace: writes keep failing, and are dropped
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def reader_may_leave() -> None:
    """Make ``sys.stdout`` a ``ReaderMayLeave`` (the console entry point: tests keep their own)."""
    if sys.stdout is not None and not isinstance(sys.stdout, ReaderMayLeave):
        sys.stdout = ReaderMayLeave(sys.stdout)  # type: ignore[assignment]
