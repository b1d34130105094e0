"""``--status-file PATH``: the state of a running flow as JSON, for scripts and monitors.

Rewritten every second (to a temporary file renamed over PATH, so a reader never sees half a
document) and once more when the run ends: the counters of every step, and the health of
every connector that reports it (a Kafka source's lag per partition and its last event time,
a sink's last delivery, whether the brokers answer). Values from the environment are
redacted like every other output.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from typing import Callable, Optional

from engine.metrics import MetricsRegistry

INTERVAL = 1.0


def status(name: str, metrics: MetricsRegistry, state: str, redact: Callable[[str], str],
           extra: Optional[dict] = None) -> dict:
    """The state document; ``extra`` adds keys (``http``: the address ``--http`` serves)."""
    return {**(extra or {}),
        "topology": redact(name), "state": state,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "steps": {redact(k): {"in": c.events_in, "out": c.events_out, "dead": c.dead}
                  for k, c in metrics.snapshot().items()},
        "connectors": {redact(k): json.loads(redact(json.dumps(v))) for k, v in metrics.health().items() if v},
    }


def write(path: str, document: dict) -> None:
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
        os.replace(partial, path)
    except OSError:
        if os.path.isfile(partial):  # PATH a directory: the temporary file is not left behind
            os.remove(partial)
        raise


class StatusUnwritable(Exception):
    """``--status-file PATH`` cannot be written (a missing folder, a directory, no permission)."""


class StatusFile:
    """Writes the status every second while the block runs; ``finish(state)`` writes the last."""

    def __init__(self, path: Optional[str], name: str, metrics: MetricsRegistry, redact: Callable[[str], str]):
        self.path, self.name, self.metrics, self.redact = path, name, metrics, redact
        self.extra: dict = {}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "StatusFile":
        if self.path:
            try:
                write(self.path, status(self.name, self.metrics, "starting", self.redact, self.extra))
            except OSError as exc:
                raise StatusUnwritable(f"--status-file {self.path}: cannot write it: {exc.strerror or exc}") from None
            self._thread = threading.Thread(target=self._loop, name="velocity-flow-status", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(INTERVAL):
            self._write("running")

    def _write(self, state: str) -> None:
        """Once it started, a status that cannot be written (a full disk) is skipped, the run goes on."""
        try:
            write(self.path or "", status(self.name, self.metrics, state, self.redact, self.extra))
        except OSError:
            pass

    def finish(self, state: str) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._write(state)
            self._thread = None

    def __exit__(self, *exc) -> None:
        self.finish("failed" if exc[0] is not None else "finished")
