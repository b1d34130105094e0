"""The compiled core (scripts/compiled_core.py): what ``pip install .`` installs runs the flows'
tests as the sources do, and a machine that cannot compile still gets a working wheel.

mypyc checks a compiled function's annotations when it is called: an annotation that is not
true of some value (``dict`` where a compact tuple comes, ``str`` where a key may be null)
dead-letters events in the compiled build only. README's test command installs the wheel
(``pip install '.[test]'``) and runs the suite on the checkout's sources; the first test here
runs the tests that drive the compiled modules on the installed package, from a copy of
tests/ outside the checkout. An editable install (a developer's) has nothing compiled: skipped,
except under CI (``CI=true``), where the install must be the compiled one.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.services.ci import in_ci

ROOT = Path(__file__).resolve().parents[1]
COMPILED = runpy.run_path(str(ROOT / "scripts" / "compiled_core.py"))["compiled_list"](str(ROOT))
# the tests that run the compiled modules: the operators, the poison corpus through every Velocity
# topology, hand-made Debezium records, the golden flows, and the Kafka sink's messages (encoded,
# produced, through a broker) (~1,100 tests, ~2 minutes)
DRIVING = ["tests/operators", "tests/poison", "tests/test_velocity_domain_world_inputs.py",
           "tests/test_velocity_world_inputs.py", "tests/test_velocity_golden.py",
           *(f"tests/connectors/test_{name}.py" for name in ("encoding", "kafka_batch_encoder", "kafka_batches",
                                                            "kafka_sink_world_values", "kafka_produce_all",
                                                            "non_finite_floats", "kafka_sink_settings")),
           "tests/integration/test_kafka_sink_topics.py", "tests/integration/test_kafka_exactly_once.py",
           "tests/integration/test_kafka_refused.py",
           # the twenty kills test recovery (no compiled module of its own) for ~2 of this test's ~4 minutes;
           # the other exactly-once tests produce through the compiled encoding and transactions alike
           "--deselect", "tests/integration/test_kafka_exactly_once.py::test_twenty_kills"]  # (a node id prefix)
DATA = ["topologies", "schemas", "samples", "bench", "scripts", "docs", "README.md"]
_WHERE = ("import importlib.util, json, sys; print(json.dumps({m: importlib.util.find_spec(m).origin "
          "for m in sys.argv[1:]}))")


def _outside_env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _installed(cwd: Path) -> dict:
    """Where each compiled module is imported from, from ``cwd`` (not the checkout)."""
    done = subprocess.run([sys.executable, "-c", _WHERE, "engine", *COMPILED], cwd=cwd, env=_outside_env(),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_the_installed_compiled_core_passes_the_tests_that_drive_it(tmp_path):
    origins = _installed(tmp_path)
    installed = Path(origins.pop("engine")).parent
    if installed == ROOT / "engine" or not all(o.endswith((".so", ".pyd")) for o in origins.values()):
        message = f"the installed engine ({installed}) is not the compiled build: {origins}"
        if in_ci():
            pytest.fail(message + "; CI installs the wheel (README's test command), which must be compiled")
        pytest.skip(message + " (an editable or pure install)")
    shutil.copytree(ROOT / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)  # (pytest's options)
    for name in DATA:
        (tmp_path / name).symlink_to(ROOT / name)
    assert not (tmp_path / "engine").exists() and _installed(tmp_path) == {"engine": str(installed / "__init__.py"),
                                                                          **origins}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *DRIVING],
                          cwd=tmp_path, env=_outside_env(), capture_output=True, text=True, timeout=1200)
    tail = "\n".join(done.stdout.splitlines()[-30:])
    assert done.returncode == 0, tail
    assert " passed" in tail and " failed" not in tail, tail


def test_without_a_c_compiler_the_wheel_is_pure_python_and_says_so(tmp_path):
    """The hook never fails a build: with ``CC`` a compiler that fails, the wheel is the pure one."""
    if shutil.which("false") is None:
        pytest.skip("no `false` command to stand for a broken compiler")
    env = dict(_outside_env(), CC="false", LDSHARED="false")
    env.pop("VELOCITY_FLOW_PURE", None)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = list(tmp_path.glob("velocity_flow-*.whl"))
    assert len(wheels) == 1 and wheels[0].name.endswith("-py3-none-any.whl"), wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "engine/operators/debezium.py" in names and not [n for n in names if n.endswith((".so", ".pyd"))]
    assert "the compiled core was not built" in done.stdout + done.stderr  # (pip -v shows the hook's warning)
