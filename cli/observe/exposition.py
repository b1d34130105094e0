"""``/metrics``: the flow's counters and gauges in the Prometheus text format.

A collector reads the registry at each scrape (nothing is kept between scrapes, nothing is
done between them). Names and labels follow Prometheus's conventions; docs/operations.md
lists them with their meaning.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Callable, Dict, Iterator, Optional, Tuple

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from cli.observe.recent import RecentDeadLetters
from engine.metrics import BATCH_SECONDS, MetricsRegistry, StepCounters

PREFIX = "velocity_flow"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_PARTITION = re.compile(r"^(.*)\[(\d+)\]$")
SINK = "sink:"


def _stamp(text) -> Optional[float]:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return None


def _topic_partition(part: str) -> Tuple[str, str]:
    """``topic[3]`` -> (topic, "3")."""
    match = _PARTITION.match(part)
    return (match.group(1), match.group(2)) if match else (part, "")


class FlowCollector:
    """The metrics of one run: ``state()`` is the run's state (running, finished, ...)."""

    def __init__(self, topology: str, metrics: MetricsRegistry, dead_letters: RecentDeadLetters,
                 redact: Callable[[str], str], state: Callable[[], str]) -> None:
        self.topology, self.metrics, self.dead_letters = topology, metrics, dead_letters
        self.redact, self.state = redact, state

    def collect(self) -> Iterator[Metric]:
        hide = self.redact
        info = GaugeMetricFamily(f"{PREFIX}_info", "The flow this process runs and its state (1)",
                                 labels=["topology", "state"])
        info.add_metric([hide(self.topology), self.state()], 1)
        yield info
        steps = self.metrics.snapshot()
        yield from self._steps({hide(k): c for k, c in steps.items() if not k.startswith(SINK)})
        yield from self._sinks({hide(k[len(SINK):]): c for k, c in steps.items() if k.startswith(SINK)})
        # topics and file paths (partition labels) may hold values from the environment too
        health = self.metrics.health()
        yield from self._connectors({hide(k): json.loads(hide(json.dumps(v))) for k, v in health.items()})

    def _steps(self, steps: Dict[str, StepCounters]) -> Iterator[Metric]:
        families = {
            "in": CounterMetricFamily(f"{PREFIX}_step_events_in", "Events a step (or a source's decoding) received",
                                      labels=["step"]),
            "out": CounterMetricFamily(f"{PREFIX}_step_events_out", "Events a step passed on", labels=["step"]),
            "dead": CounterMetricFamily(f"{PREFIX}_step_dead_letters", "Events a step dead-lettered",
                                        labels=["step"]),
        }
        batches = HistogramMetricFamily(f"{PREFIX}_step_batch_seconds", "Time a step took per batch",
                                        labels=["step"], unit="")
        for name, c in steps.items():
            families["in"].add_metric([name], c.events_in)
            families["out"].add_metric([name], c.events_out)
            families["dead"].add_metric([name], c.dead)
            if any(c.batch_counts):
                buckets, total = [], 0
                for bound, count in zip((*BATCH_SECONDS, float("inf")), c.batch_counts, strict=True):
                    total += count
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), total))
                batches.add_metric([name], buckets, c.batch_seconds)
        yield from families.values()
        yield batches

    def _sinks(self, sinks: Dict[str, StepCounters]) -> Iterator[Metric]:
        delivered = CounterMetricFamily(f"{PREFIX}_sink_delivered", "Events a sink wrote (confirmed by Kafka)",
                                        labels=["sink"])
        failed = CounterMetricFamily(f"{PREFIX}_sink_failed", "Events a sink could not take (dead-lettered)",
                                     labels=["sink"])
        by_step = self.dead_letters.by_step()
        for name, c in sinks.items():
            delivered.add_metric([name], c.events_out)
            failed.add_metric([name], by_step.get(SINK + name, 0))
        yield delivered
        yield failed

    def _connectors(self, health: Dict[str, dict]) -> Iterator[Metric]:
        lag = GaugeMetricFamily(f"{PREFIX}_source_lag_messages", "Messages of a partition after the source's next "
                                "offset (from the last fetch's high watermark)",
                                labels=["source", "topic", "partition"])
        last_event = GaugeMetricFamily(f"{PREFIX}_source_last_event_timestamp_seconds",
                                       "Time of the last event a source read from a partition (its Kafka timestamp)",
                                       labels=["source", "topic", "partition"])
        queued = GaugeMetricFamily(f"{PREFIX}_sink_queued_messages",
                                   "Messages handed to the Kafka producer, not yet confirmed", labels=["sink"])
        delivery = GaugeMetricFamily(f"{PREFIX}_sink_last_delivery_timestamp_seconds",
                                     "Time of a sink's last confirmed delivery", labels=["sink"])
        snapshot = GaugeMetricFamily(f"{PREFIX}_source_last_snapshot_timestamp_seconds",
                                     "Time a source partition last gave Bytewax its position: the end of an epoch "
                                     "(with -r, the snapshot of the recovery store)", labels=["source", "partition"])
        epoch = GaugeMetricFamily(f"{PREFIX}_epoch_seconds", "Length of a source partition's last epoch (between "
                                  "its last two snapshots)", labels=["source", "partition"])
        brokers = GaugeMetricFamily(f"{PREFIX}_brokers_up", "Whether a connector's Kafka brokers answer (1) or not (0)",
                                    labels=["connector"])
        for name, gauges in health.items():
            sink = name[len(SINK):] if name.startswith(SINK) else None
            for part, value in (gauges.get("lag_per_partition") or {}).items():
                lag.add_metric([name, *_topic_partition(part)], value)
            for part, text in (gauges.get("last_event_per_partition") or {}).items():
                if (stamp := _stamp(text)) is not None:
                    last_event.add_metric([name, *_topic_partition(part)], stamp)
            for part, text in (gauges.get("last_snapshot_per_partition") or {}).items():
                if (stamp := _stamp(text)) is not None:
                    snapshot.add_metric([name, part], stamp)
            for part, seconds in (gauges.get("epoch_seconds_per_partition") or {}).items():
                epoch.add_metric([name, part], seconds)
            if sink is not None and "queued" in gauges:
                queued.add_metric([sink], gauges["queued"])
            if sink is not None and "last_delivery" in gauges and (stamp := _stamp(gauges["last_delivery"])):
                delivery.add_metric([sink], stamp)
            if "brokers" in gauges:
                brokers.add_metric([name], 1 if gauges["brokers"] == "up" else 0)
        yield from (lag, last_event, snapshot, epoch, queued, delivery, brokers)


def registry(collector: FlowCollector) -> CollectorRegistry:
    """The flow's metrics, with the process's CPU and memory (``process_*``, Linux)."""
    metrics = CollectorRegistry(auto_describe=False)
    metrics.register(collector)  # type: ignore[arg-type]
    ProcessCollector(registry=metrics)
    return metrics


def exposition(metrics: CollectorRegistry) -> bytes:
    return generate_latest(metrics)
