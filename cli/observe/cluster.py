"""``deploy -p N --http ADDRESS``: one endpoint for the N processes of a cluster.

Each process serves its own counters on a loopback port deploy chose for it (``run --http``);
deploy itself serves ADDRESS and answers every request from theirs, fetched when asked:

- ``/metrics``: every process's metrics with a ``process`` label ("0", "1", ...), one family
  per name (what Prometheus would get scraping each process and labelling it), and
  ``velocity_flow_process_up{process}``: whether it answered;
- ``/api/v1/status``: counters summed, connectors merged (a partition is one process's: lag
  per partition side by side, their sum as ``lag``, the latest event and delivery, brokers
  down when down anywhere), ``processes``: each one's process document;
- ``/api/v1/dead-letters``: counts summed, the last ones of all processes, newest first;
- ``/api/v1/topology`` and ``graph.svg``: deploy's own (every process runs the same file).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List, Optional, Tuple

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from cli.observe import documents
from cli.observe.exposition import exposition
from cli.observe.picture import svg

FETCH_TIMEOUT = 2.0
ORDER = ("failed", "running", "starting", "stopped", "finished")  # the cluster's state: the first any process has


class ClusterView:
    def __init__(self, topology, peers: List[str]) -> None:
        self.topology, self.peers = topology, peers
        self.redact = topology.redact
        self.url = ""
        self._svg: Optional[Tuple[str, str]] = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=min(16, max(1, len(peers))), thread_name_prefix="velocity-peer")
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Merged(self))  # type: ignore[arg-type]

    def _fetch_all(self, path: str) -> List[Optional[bytes]]:
        return list(self._pool.map(lambda peer: _fetch(peer + path), self.peers))

    def metrics_text(self) -> bytes:
        return exposition(self._registry)

    def graph_svg(self) -> Tuple[str, str]:
        with self._lock:
            if self._svg is None:
                self._svg = svg(self.topology, self.redact)
            return self._svg

    def topology_doc(self) -> dict:
        return {**documents.topology_document(self.topology, self.redact), "layout": self.graph_svg()[1]}

    def status_doc(self) -> dict:
        answers = [json.loads(a) if a else None for a in self._fetch_all(f"{documents.API}/status")]
        return merge_status([a for a in answers if a], self.redact(self.topology.name), self.url)

    def dead_letters_doc(self, limit: int) -> dict:
        answers = [json.loads(a) if a else None for a in self._fetch_all(f"{documents.API}/dead-letters?limit={limit}")]
        by_step: Dict[str, int] = {}
        recent: List[dict] = []
        for index, answer in enumerate(answers):
            if answer is None:
                continue
            for step, count in answer["by_step"].items():
                by_step[step] = by_step.get(step, 0) + count
            recent += [{**record, "process": index} for record in answer["recent"]]
        recent.sort(key=lambda r: r["time"], reverse=True)
        return {"total": sum(by_step.values()), "by_step": by_step, "recent": recent[:limit]}


def _fetch(url: str) -> Optional[bytes]:
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - our own loopback peers
            return response.read()
    except OSError:  # a process starting, gone or busy: left out of this answer
        return None


def merge_status(answers: List[dict], name: str, url: str) -> dict:
    steps: Dict[str, Dict[str, int]] = {}
    connectors: Dict[str, dict] = {}
    for answer in answers:
        for step, counters in answer["steps"].items():
            total = steps.setdefault(step, {"in": 0, "out": 0, "dead": 0})
            for key in total:
                total[key] += counters[key]
        for connector, gauges in answer["connectors"].items():
            _merge_gauges(connectors.setdefault(connector, {}), gauges)
    states = {a["state"] for a in answers}
    state = next((s for s in ORDER if s in states), "starting")
    return {"topology": name, "state": state, "updated": max((a["updated"] for a in answers), default=""),
            "http": url, "steps": steps, "connectors": connectors,
            "processes": [a["process"] for a in answers if "process" in a]}


def _merge_gauges(into: dict, gauges: dict) -> None:
    for key, value in gauges.items():
        if key.endswith("_per_partition"):  # each partition is one process's
            into.setdefault(key, {}).update(value)
            if key == "lag_per_partition":
                into["lag"] = sum(into[key].values())
        elif key in ("last_event", "last_delivery"):
            into[key] = max(into.get(key, value), value)
        elif key == "brokers":
            into[key] = value if value != "up" or key not in into else into[key]
        elif key == "queued":
            into[key] = into.get(key, 0) + value
        elif key != "lag":
            into[key] = value


class _Merged:
    """The processes' metrics, each sample with a ``process`` label."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    def collect(self) -> Iterator[Metric]:
        families: Dict[str, Metric] = {}
        up = GaugeMetricFamily("velocity_flow_process_up", "Whether a process of the cluster answered (1) or not (0)",
                               labels=["process"])
        for index, text in enumerate(self.view._fetch_all("/metrics")):
            up.add_metric([str(index)], 0 if text is None else 1)
            if text is None:
                continue
            for family in text_string_to_metric_families(text.decode("utf-8")):
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                merged.samples += [Sample(s.name, {**s.labels, "process": str(index)}, s.value, s.timestamp, s.exemplar)
                                   for s in family.samples]
        yield from families.values()
        yield up
