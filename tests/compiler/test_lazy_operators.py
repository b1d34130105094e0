"""Bytewax's operators made at their first call (engine/connectors/lazy_operators.py) build the
same dataflows as Bytewax's own decorator: every shipped flow compiled both ways, step for step."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import bytewax.dataflow as bytewax_dataflow
import pytest
from bytewax.dataflow import Dataflow, Operator
from bytewax.testing import TestingSink, TestingSource, run_main

from engine.connectors import lazy_operators
from engine.connectors.lazy_operators import op, operator

ROOT = Path(__file__).resolve().parents[2]
FLOWS = sorted(str(p) for p in (ROOT / "topologies" / "velocity").glob("*.yaml") if not p.name.endswith(".test.yaml"))

# Compiles every Velocity flow (for Kafka: its file sources need files) and prints each one's steps as JSON; with "eager", bytewax.operators is
# imported first, so lazy_operators finds it imported and uses it as it is.
_DUMP = r"""
import json, sys
if sys.argv[1] == "eager":
    import bytewax.operators
from engine.binding import validate_file
from engine.compiler import compile_topology
from tests.compiler.test_lazy_operators import steps
out = {}
for path in sys.argv[2:]:
    result = validate_file(path, env={"KAFKA_BOOTSTRAP": "127.0.0.1:9"}, environment="kafka")
    assert result.ok, path
    out[path] = steps(compile_topology(result.topology))
print(json.dumps(out))
"""


def steps(flow: Dataflow) -> list:
    """Each step, nested: its class, whether it is one of Bytewax's core operators, its id, the
    ids of the ports each of its fields holds and the names of its input and output ports."""
    return [_step(step) for step in flow.substeps]


def _step(step: Operator) -> dict:
    ports = {}
    for field in dataclasses.fields(step):
        value = getattr(step, field.name)
        if hasattr(value, "port_id"):
            ports[field.name] = value.port_id
        elif hasattr(value, "port_ids"):
            ports[field.name] = sorted(value.port_ids.values()) if isinstance(value.port_ids, dict) \
                else list(value.port_ids)
    return {"class": type(step).__name__, "core": type(step).__mro__[1].__name__, "id": step.step_id,
            "ports": ports, "ups": step.ups_names, "downs": step.dwn_names,
            "substeps": [_step(s) for s in step.substeps]}


def _compiled(how: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _DUMP, how, *FLOWS], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_every_shipped_flow_is_built_of_the_same_steps_as_with_bytewaxs_decorator():
    lazy, eager = _compiled("lazy"), _compiled("eager")
    assert len(lazy) == len(FLOWS) >= 5
    assert lazy == eager
    some = next(iter(lazy.values()))
    assert some and any(step["substeps"] for step in some)  # Bytewax's operators nest their steps


_FRESH = r"""
import inspect
import bytewax.dataflow as bytewax_dataflow
from engine.connectors import lazy_operators
from engine.connectors.lazy_operators import op
assert op.map.__code__.co_name == "lazy", op.map.__code__.co_name
assert bytewax_dataflow.operator is lazy_operators._eager
assert op.map.__name__ == "map" and op.map.__doc__ == op.map.__wrapped__.__doc__
assert inspect.signature(op.map) == inspect.signature(op.map.__wrapped__)
"""


def test_bytewax_operators_is_imported_lazily_and_the_decorator_given_back():
    # in a fresh process: in this one another test module may have imported bytewax.operators first
    done = subprocess.run([sys.executable, "-c", _FRESH], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert bytewax_dataflow.operator is lazy_operators._eager  # and given back in this one too


def test_a_lazy_operator_runs_and_nests_its_steps_as_bytewaxs():
    @operator
    def twice(step_id: str, up: op.Stream) -> op.Stream:
        return op.map("double", up, lambda x: 2 * x)

    eager = lazy_operators._eager(twice.__wrapped__)
    out = {}
    for name, made in (("lazy", twice), ("eager", eager)):
        flow = Dataflow(name)
        got: list = []
        op.output("out", made("twice", op.input("in", flow, TestingSource([1, 2, 3]))), TestingSink(got))
        run_main(flow)
        out[name] = (got, steps(flow)[1])
    assert out["lazy"][0] == out["eager"][0] == [2, 4, 6]
    lazy_step, eager_step = out["lazy"][1], out["eager"][1]
    assert lazy_step["class"] == eager_step["class"] == "twice"
    assert lazy_step["substeps"][0]["class"] == "map"


def test_a_mistake_in_an_operator_is_reported_at_its_call_as_bytewax_would():
    @operator
    def broken(step_id: str, up: op.Stream) -> op.Stream:
        return op.map("m", up, lambda x: x)

    flow = Dataflow("f")
    with pytest.raises(TypeError, match="must be a `Stream`"):
        broken("b", "not a stream")
    assert op.input("in", flow, TestingSource([1])) is not None
