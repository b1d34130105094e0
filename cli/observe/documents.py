"""The JSON documents of ``/api/v1/...`` (their schema: api.schema.json, docs/operations.md).

``status`` is cli/status.py's document, the one ``--status-file`` writes and the live view
shows, so the three never disagree.
"""

from __future__ import annotations

import json
import os
import resource
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List

from cli.observe.recent import RecentDeadLetters
from cli.status import status
from engine.metrics import MetricsRegistry
from engine.topology.render import graph

SCHEMA_PATH = Path(__file__).with_name("api.schema.json")
API = "/api/v1"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def topology_document(topology, redact: Callable[[str], str]) -> dict:
    """The DAG: nodes (``counters``: the key of their counters in ``status.steps``) and edges."""
    nodes, edges = graph(topology.definition)
    counters = {"source": "{}", "step": "{}", "sink": "sink:{}", "dead": "{}"}
    return {
        "topology": redact(topology.name),
        "nodes": [{"id": redact(node), "name": redact(name), "kind": kind,
                   "counters": redact(counters[kind].format(name))} for node, name, kind, _ in nodes],
        "edges": [{"from": redact(src), "to": redact(dst), "label": redact(label)} for src, dst, label in edges],
    }


_STARTED = time.time()


def process_document(process_index) -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"pid": os.getpid(), "index": process_index, "started": _STARTED,
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3), "max_rss_bytes": usage.ru_maxrss * 1024}


def status_document(name: str, metrics: MetricsRegistry, state: str, redact: Callable[[str], str],
                    url: str, process_index=None) -> dict:
    document = status(name, metrics, state, redact)
    document["http"] = url
    document["process"] = process_document(process_index)
    return document


def dead_letters_document(recent: RecentDeadLetters, limit: int) -> dict:
    by_step: Dict[str, int] = recent.by_step()
    records: List[dict] = recent.records(limit)
    return {"total": sum(by_step.values()), "by_step": by_step, "recent": records}


def health_document(state_document: dict) -> dict:
    """``ok``: the flow runs or ended well and every connector's brokers answer."""
    down = {name: gauges["brokers"] for name, gauges in state_document.get("connectors", {}).items()
            if str(gauges.get("brokers", "up")) != "up"}
    ok = state_document["state"] in ("starting", "running", "finished", "stopped") and not down
    return {"ok": ok, "state": state_document["state"], "down": down}
