"""The live table's caption: one entry per connector with something to show in one line."""

from __future__ import annotations

from cli.live import LiveView
from engine.metrics import MetricsRegistry


def test_a_connector_with_only_per_partition_gauges_has_no_empty_entry():
    metrics = MetricsRegistry()
    metrics.step("orders")
    metrics.gauges("orders").set("position_per_partition", {"0": 12})  # a file source's only gauge
    metrics.gauges("technical").put("lag", "0", 3)
    metrics.gauges("technical").put("lag", "1", 4)
    caption = LiveView("flow", metrics).render(final=True).caption
    assert caption == "technical: lag 7"


def test_no_caption_without_gauges_to_show():
    metrics = MetricsRegistry()
    metrics.step("orders")
    metrics.gauges("orders").set("position_per_partition", {"0": 12})
    assert LiveView("flow", metrics).render(final=True).caption is None
