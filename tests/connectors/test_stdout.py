"""The stdout sink prints what it receives, through a real flow."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from connector_flows import write_all
from engine.connectors.errors import ConnectorError
from engine.connectors.stdout import StdoutSink
from engine.metrics import StepCounters


def test_json_format_prints_one_compact_line_per_event(capfd):
    counters = StepCounters("sink:out")
    write_all([[{"a": 1, "d": Decimal("1.50")}], [{"b": "x"}, {"c": None}]], StdoutSink(metrics=counters))
    out = capfd.readouterr().out
    assert out == '{"a":1,"d":1.50}\n{"b":"x"}\n{"c":null}\n'
    assert counters.events_out == 3


def test_json_format_goes_through_sys_stdout(capsys):
    write_all([[{"a": 1}]], StdoutSink(format="json"))
    assert capsys.readouterr().out == '{"a":1}\n'


def test_pretty_format_prints_indented_json(capsys):
    write_all([[{"a": 1, "nested": {"b": [1, 2]}}]], StdoutSink(format="pretty"))
    out = capsys.readouterr().out
    assert "\n" in out.strip()  # indented over several lines
    assert json.loads(out) == {"a": 1, "nested": {"b": [1, 2]}}


def test_unknown_format_is_a_clear_error():
    with pytest.raises(ConnectorError, match="format must be 'json' or 'pretty', not 'xml'"):
        StdoutSink(format="xml")
