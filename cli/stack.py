"""``velocity-flow stack up|down|status [SERVICE...]``: Kafka + PostgreSQL (TMS) + Debezium on loopback.

Each service is started by its own script (bounded timeouts, logs and state in a state
directory); this command runs them in order, passes each one's address to the next, and prints
where everything is.

The scripts ship inside the package (``engine/_bundled/scripts`` after ``pip install .``,
``scripts/`` in a source checkout: :func:`engine.resources.scripts_dir`), so the command works
from any directory. Their state goes to ``$VELOCITY_STATE_DIR`` when set; otherwise a
checkout's ``.services/``, and for an installed package a per-user directory
(``$XDG_STATE_HOME/velocity-flow``, default ``~/.local/state/velocity-flow``), never
site-packages: ``up`` and ``down`` from different directories find the same services.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, List, Optional, Sequence

from rich.console import Console
from rich.table import Table

from cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error_line
from engine.resources import is_packed, scripts_dir

SERVICES = ("kafka", "postgres", "debezium")


def state_dir(scripts: str) -> Optional[str]:
    """Where the services keep their state: None leaves it to the scripts (the environment
    variable, or the checkout's ``.services/``)."""
    if os.environ.get("VELOCITY_STATE_DIR") or not is_packed(scripts):
        return os.environ.get("VELOCITY_STATE_DIR") or None
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "velocity-flow")


def _script(scripts: str, name: str, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    env: Dict[str, str] = dict(os.environ)
    state = state_dir(scripts)
    if state:
        env["VELOCITY_STATE_DIR"] = state
    return subprocess.run([sys.executable, os.path.join(scripts, name), *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _last_line(result: subprocess.CompletedProcess) -> Optional[str]:
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else None


def _chosen(names: Sequence[str], action: str) -> List[str]:
    """The services an action is about, in start order: all by default; debezium needs the others."""
    wanted = set(names or SERVICES)
    if action == "up" and "debezium" in wanted:
        wanted |= {"kafka", "postgres"}
    return [name for name in SERVICES if name in wanted]


def stack(args, out: Console, err: Console) -> int:
    scripts = scripts_dir()
    missing = [name for name in SERVICES if not os.path.isfile(os.path.join(scripts, name))]
    if missing:  # a broken installation: the wheel ships them
        err.print(error_line(f"the stack scripts are missing from {scripts} ({', '.join(missing)}): "
                             "reinstall velocity-flow", markup=True), highlight=False)
        return EXIT_FAILED
    unknown = [name for name in getattr(args, "services", None) or [] if name not in SERVICES]
    if unknown:
        err.print(error_line(f"unknown service {unknown[0]!r}: choose from {', '.join(SERVICES)}", markup=True),
                  highlight=False)
        return EXIT_USAGE
    names = _chosen(getattr(args, "services", None) or [], args.action)
    if args.action == "down":
        for name in reversed(names):
            _script(scripts, name, "stop", timeout=120)
        out.print(f"stopped: {', '.join(names)}", highlight=False)
        return EXIT_OK
    if args.action == "status":
        return _status(scripts, names, out)
    return _up(scripts, names, out, err)


def _up(scripts: str, names: List[str], out: Console, err: Console) -> int:
    addresses: Dict[str, str] = {}
    for name in names:
        if name == "debezium":
            out.print("starting debezium (Kafka Connect + the PostgreSQL connector) ...")
            command = ["start", "--bootstrap", addresses["kafka"], "--dsn", addresses["postgres"]]
        else:
            out.print(f"starting {name} ...", highlight=False)
            command = ["start"]
        result = _script(scripts, name, *command)
        if result.returncode != 0:
            err.print(error_line(f"{name}: {result.stderr.strip()[-1500:]}", markup=True), highlight=False)
            return EXIT_FAILED
        address = _last_line(result)
        if address is None and name != "debezium":
            err.print(error_line(f"{name}: its start script printed no address", markup=True), highlight=False)
            return EXIT_FAILED
        addresses[name] = address or ""
    return _status(scripts, names, out)


def _status(scripts: str, names: List[str], out: Console) -> int:
    table = Table(title="velocity-flow stack", title_justify="left")
    table.add_column("service")
    table.add_column("state")
    code = EXIT_OK
    for name in names:
        result = _script(scripts, name, "status", timeout=60)
        table.add_row(name, _last_line(result) or result.stderr.strip()[-200:])
        if result.returncode != 0:
            code = EXIT_FAILED
    out.print(table)
    out.print(f"scripts: {scripts}", highlight=False, soft_wrap=True)
    out.print(f"state: {state_dir(scripts) or os.path.join(os.path.dirname(scripts), '.services')}",
              highlight=False, soft_wrap=True)
    return code
