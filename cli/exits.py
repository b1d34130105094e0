"""The CLI's exit codes, one table that commands, ``--help`` and docs share, and its one-line error."""

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

EXIT_CODES = {
    EXIT_OK: "success (for run and deploy also: stopped cleanly by one SIGTERM or Ctrl-C)",
    EXIT_INVALID: "invalid topology (every problem is reported, with file:line:column); for test: a test failed",
    EXIT_USAGE: "usage error (unknown option, bad value)",
    EXIT_FAILED: ("the flow or a destination failed (standard output too: a full disk), or could not start "
                  "(missing input, unreachable service, missing tool)"),
    EXIT_INTERNAL: "internal error: a bug, please report it (VELOCITY_FLOW_DEBUG=1 shows the traceback)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C, SIGTERM; for run and deploy: a second one, which aborts)",
}


def error_line(message: str, markup: bool = False) -> str:
    """The one-line error of every command, ``error: <message>`` (the form docs and scripts know);
    ``markup``: for a rich console, ``error:`` in red and ``message`` taken as markup."""
    return f"[red]error:[/red] {message}" if markup else f"error: {message}"
