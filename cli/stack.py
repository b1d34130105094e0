"""``velocity-flow stack up|down|status``: Kafka + PostgreSQL (TMS) + Debezium on loopback.

Each service is started by its own script in ``scripts/`` (bounded timeouts, logs and state
under ``.services/``); this command runs them in order, passes each one's address to the
next, and prints where everything is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Optional

from rich.console import Console
from rich.table import Table

from cli.main import EXIT_FAILED, EXIT_OK

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = ("kafka", "postgres", "debezium")


def _script(name: str, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    path = os.path.join(ROOT, "scripts", name)
    return subprocess.run([sys.executable, path, *args], capture_output=True, text=True, timeout=timeout)


def _last_line(result: subprocess.CompletedProcess) -> Optional[str]:
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else None


def stack(args, out: Console, err: Console) -> int:
    if not os.path.exists(os.path.join(ROOT, "scripts", "kafka")):
        err.print("[red]error:[/red] the stack scripts come with a source checkout (scripts/): run from the repository")
        return EXIT_FAILED
    if args.action == "down":
        for name in reversed(SERVICES):
            _script(name, "stop", timeout=120)
        out.print("stack stopped")
        return EXIT_OK
    if args.action == "status":
        return _status(out)
    return _up(out, err)


def _up(out: Console, err: Console) -> int:
    addresses: List[str] = []
    steps = [("kafka", ["start"]), ("postgres", ["start"])]
    for name, command in steps:
        out.print(f"starting {name} ...", highlight=False)
        result = _script(name, *command)
        if result.returncode != 0:
            err.print(f"[red]error:[/red] {name}: {result.stderr.strip()[-1500:]}", highlight=False)
            return EXIT_FAILED
        addresses.append(_last_line(result))
    out.print("starting debezium (Kafka Connect + the PostgreSQL connector) ...")
    result = _script("debezium", "start", "--bootstrap", addresses[0], "--dsn", addresses[1])
    if result.returncode != 0:
        err.print(f"[red]error:[/red] debezium: {result.stderr.strip()[-1500:]}", highlight=False)
        return EXIT_FAILED
    return _status(out)


def _status(out: Console) -> int:
    table = Table(title="velocity-flow stack", title_justify="left")
    table.add_column("service")
    table.add_column("state")
    code = EXIT_OK
    for name in SERVICES:
        result = _script(name, "status", timeout=60)
        table.add_row(name, _last_line(result) or result.stderr.strip()[-200:])
        if result.returncode != 0:
            code = 3
    out.print(table)
    return code
