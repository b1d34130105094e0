"""Bytewax's protocol checks answered once per type (engine/compiler/bytewax_checks.py) give
typing's answers: for every argument compiling the shipped flows tests, and for objects of many
kinds (Hypothesis)."""

from pathlib import Path

import bytewax.dataflow as bytewax_dataflow
import pytest
from bytewax.dataflow import Dataflow
from hypothesis import given
from hypothesis import strategies as st

from engine.binding import validate_file
from engine.compiler import bytewax_checks, compile_topology
from engine.compiler.bytewax_checks import _ByType, fast_protocol_checks, stand_in

ROOT = Path(__file__).resolve().parents[2]
VELOCITY = sorted(p for p in (ROOT / "topologies" / "velocity").glob("*.yaml") if not p.name.endswith(".test.yaml"))
PROTOCOLS = {name: getattr(bytewax_dataflow, name).protocol if isinstance(getattr(bytewax_dataflow, name), _ByType)
             else getattr(bytewax_dataflow, name) for name in ("_HasScope", "_ToRef")}


@pytest.mark.parametrize("path", VELOCITY, ids=lambda p: p.stem)
def test_every_argument_compiling_a_shipped_flow_gets_typings_answer(path, monkeypatch):
    seen = []
    answer = _ByType.__instancecheck__

    def recorded(cls, instance):
        seen.append((cls, instance))
        return answer(cls, instance)

    monkeypatch.setattr(_ByType, "__instancecheck__", recorded)
    result = validate_file(str(path), env={"KAFKA_BOOTSTRAP": "127.0.0.1:9"}, environment="kafka")
    assert result.ok, [d.message for d in result.diagnostics]
    compile_topology(result.topology)
    assert {cls.__name__ for cls, _ in seen} == set(PROTOCOLS)  # both checks were made, through the stand-ins
    wrong = [(cls.__name__, instance) for cls, instance in seen
             if answer(cls, instance) != isinstance(instance, PROTOCOLS[cls.__name__])]
    assert not wrong
    assert any(answer(cls, instance) for cls, instance in seen)  # streams were among them, not only misses


def _objects():
    flow = Dataflow("f")
    return st.one_of(st.none(), st.integers(), st.text(), st.binary(), st.floats(allow_nan=False),
                     st.lists(st.integers()), st.dictionaries(st.text(), st.integers()),
                     st.sampled_from([flow, len, print, lambda x: x, object(), str, Dataflow, ValueError("x")]))


@given(_objects())
def test_a_stand_in_answers_as_its_protocol(value):
    for protocol in PROTOCOLS.values():
        assert isinstance(value, stand_in(protocol)) == isinstance(value, protocol)


def test_a_dataflow_and_its_streams_have_scopes():
    import bytewax.operators as op
    from bytewax.testing import TestingSource

    fast_protocol_checks()
    flow = Dataflow("f")
    stream = op.input("in", flow, TestingSource([1]))
    assert isinstance(flow, bytewax_dataflow._HasScope) and isinstance(stream, bytewax_dataflow._HasScope)
    assert isinstance(stream, bytewax_dataflow._ToRef) and not isinstance("in", bytewax_dataflow._ToRef)


def test_another_bytewax_keeps_its_own_checks(monkeypatch):
    class NotAProtocol:
        pass

    monkeypatch.setattr(bytewax_dataflow, "_HasScope", NotAProtocol)
    monkeypatch.setattr(bytewax_dataflow, "_ToRef", NotAProtocol)
    bytewax_checks.fast_protocol_checks()
    assert bytewax_dataflow._HasScope is NotAProtocol and bytewax_dataflow._ToRef is NotAProtocol


@given(st.sampled_from([bytewax_dataflow.Stream, Dataflow, bytewax_dataflow.SinglePort, bytewax_dataflow.MultiPort,
                        int, str, object, type(None), ValueError, list]))
def test_a_stand_in_answers_issubclass_as_its_protocol(kind):
    # Bytewax's decorator asks it of annotations to find an operator's ports (ups_names, dwn_names)
    for protocol in PROTOCOLS.values():
        assert issubclass(kind, stand_in(protocol)) == issubclass(kind, protocol)
    assert issubclass(bytewax_dataflow.Stream, stand_in(PROTOCOLS["_ToRef"]))
