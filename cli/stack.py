"""``velocity-flow stack up|down|status``: Kafka + PostgreSQL (TMS) + Debezium on loopback.

Each service is started by its own script in ``scripts/`` (bounded timeouts, logs and state
under ``.services/``); this command runs them in order, passes each one's address to the
next, and prints where everything is.

The scripts are not part of the installed package: they come with a source checkout, found by
:func:`find_checkout` (the package's parent directory for an editable install, else the current
directory or one of its parents). The scripts keep their state in that checkout's
``.services/`` (or ``$VELOCITY_STATE_DIR``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional

from rich.console import Console
from rich.table import Table

from cli.exits import EXIT_FAILED, EXIT_OK

# Where the ``cli`` package lives: the checkout itself for an editable install, site-packages
# (no scripts/) for ``pip install .``.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ("kafka", "postgres", "debezium")


def find_checkout(cwd: Optional[str] = None) -> Optional[str]:
    """The source checkout holding ``scripts/kafka``: the package's parent directory, else
    ``cwd`` (default: the current directory) or its nearest parent that has it; None if none."""
    candidates = [PACKAGE_PARENT]
    here = os.path.abspath(cwd if cwd is not None else os.getcwd())
    while True:
        candidates.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "scripts", "kafka")):
            return candidate
    return None


def _script(root: str, name: str, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    path = os.path.join(root, "scripts", name)
    return subprocess.run([sys.executable, path, *args], capture_output=True, text=True, timeout=timeout)


def _last_line(result: subprocess.CompletedProcess) -> Optional[str]:
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else None


def stack(args, out: Console, err: Console) -> int:
    root = find_checkout()
    if root is None:
        err.print("[red]error:[/red] the stack scripts (scripts/kafka, scripts/postgres, scripts/debezium) come "
                  "with a source checkout of velocity-flow, and none was found next to the installed package "
                  f"nor in {os.getcwd()} or its parents: run this command from inside the repository",
                  highlight=False)
        return EXIT_FAILED
    if args.action == "down":
        for name in reversed(SERVICES):
            _script(root, name, "stop", timeout=120)
        out.print(f"stack stopped ({root})", highlight=False)
        return EXIT_OK
    if args.action == "status":
        return _status(root, out)
    return _up(root, out, err)


def _up(root: str, out: Console, err: Console) -> int:
    addresses: List[str] = []
    steps = [("kafka", ["start"]), ("postgres", ["start"])]
    for name, command in steps:
        out.print(f"starting {name} ...", highlight=False)
        result = _script(root, name, *command)
        if result.returncode != 0:
            err.print(f"[red]error:[/red] {name}: {result.stderr.strip()[-1500:]}", highlight=False)
            return EXIT_FAILED
        address = _last_line(result)
        if address is None:
            err.print(f"[red]error:[/red] {name}: its start script printed no address", highlight=False)
            return EXIT_FAILED
        addresses.append(address)
    out.print("starting debezium (Kafka Connect + the PostgreSQL connector) ...")
    result = _script(root, "debezium", "start", "--bootstrap", addresses[0], "--dsn", addresses[1])
    if result.returncode != 0:
        err.print(f"[red]error:[/red] debezium: {result.stderr.strip()[-1500:]}", highlight=False)
        return EXIT_FAILED
    return _status(root, out)


def _status(root: str, out: Console) -> int:
    table = Table(title="velocity-flow stack", title_justify="left")
    table.add_column("service")
    table.add_column("state")
    code = EXIT_OK
    for name in SERVICES:
        result = _script(root, name, "status", timeout=60)
        table.add_row(name, _last_line(result) or result.stderr.strip()[-200:])
        if result.returncode != 0:
            code = 3
    out.print(table)
    out.print(f"scripts: {os.path.join(root, 'scripts')}", highlight=False, soft_wrap=True)
    return code
