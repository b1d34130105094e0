"""The program: ``python -m cli``, and the ``velocity-flow`` console script (``cli.__main__:entry``)."""

from cli.early_signals import hold_signals


def entry() -> None:
    try:
        hold_signals()  # before anything else is imported; signals that came blocked are delivered here
        from cli.main import entry as command
    except KeyboardInterrupt:  # a second signal while the CLI is imported (cli/early_signals.py)
        import signal
        import sys

        from cli.exits import EXIT_INTERRUPTED

        for sig in (signal.SIGTERM, signal.SIGINT):  # a third one: the exit is said already
            signal.signal(sig, signal.SIG_IGN)
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    command()


if __name__ == "__main__":
    entry()
