"""SIGTERM and SIGINT held from the program's first lines (cli/__main__.py, before anything else
is imported) until the command takes them over (cli/main.py).

Importing the CLI and the engine takes a tenth of a second or more; a SIGTERM meanwhile (a
supervisor stopping what it just started) killed the process by the default action (-15, no
line, nothing said) before the command's own handlers were in. Held, a signal is kept until
the command takes signals over: ``run`` and ``deploy`` then stop cleanly before the flow
starts (exit 0, docs/deploy.md), the other commands end as interrupted (130). A second one
aborts at once (130), as at any later moment. Only the interpreter's own start (before the
first line) is left to the default action, unless the signals come blocked (``deploy -p N``
starts its processes so, cli/processes.py): they are unblocked here, once held.
"""

import _signal  # type: ignore[import-not-found]  # signal's own module: `import signal` costs ~5 ms (enum)

_HELD: list = []  # the signals that came before the command took them over


def _hold(signum, frame) -> None:
    _HELD.append(signum)
    if len(_HELD) > 1:
        raise KeyboardInterrupt  # a second one aborts (cli/__main__.py and cli/main.py say "interrupted", 130)


def hold_signals() -> None:
    """SIGTERM and SIGINT kept for the command (``held``) from now on."""
    for sig in (_signal.SIGTERM, _signal.SIGINT):
        _signal.signal(sig, _hold)
    if hasattr(_signal, "pthread_sigmask"):
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, (_signal.SIGTERM, _signal.SIGINT))


def held() -> bool:
    """Whether a signal came before the command took signals over."""
    return bool(_HELD)
