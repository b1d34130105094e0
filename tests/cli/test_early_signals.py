"""A SIGTERM in the first milliseconds of a command ends it with the documented exit code and one
line, never the default action (killed, -15) while the CLI and the engine are still imported:
``run`` stops cleanly before the flow starts (exit 0, docs/deploy.md), other commands are
interrupted (130); two signals abort (130). Handlers are held from the program's first line
(cli/early_signals.py). The signal is sent to a child started with it blocked, as it would be pending
had it come while the interpreter itself starts (before any line of ours can run; deploy -p N
starts its processes so): the test is then the same on a quiet and a loaded box."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from cli import processes

FLOW = """\
version: 1
name: early
sources: {in: {file: {path: in.jsonl}}}
sinks: {out: {from: in, file: {path: out.jsonl}}}
"""
PROGRAMS = {"python -m cli": [sys.executable, "-m", "cli"],  # cli/__main__.py, as the console script
            "an older console script": [sys.executable, "-c", "from cli.main import entry; entry()"]}


@pytest.fixture
def flow(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "flow.yaml").write_text(FLOW)
    return tmp_path


def _signalled(directory, command, delay_ms, signals=(signal.SIGTERM,), program="python -m cli"):
    """The exit code and standard error of ``command`` sent ``signals`` ``delay_ms`` after its start."""
    child = subprocess.Popen(PROGRAMS[program] + command, cwd=directory, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.pthread_sigmask(signal.SIG_BLOCK, signals))  # noqa: PLW1509
    time.sleep(delay_ms / 1000)
    for sig in signals:
        child.send_signal(sig)
    _, err = child.communicate(timeout=120)
    assert "Traceback" not in err and "internal error" not in err, err
    return child.returncode, err


@pytest.mark.parametrize("program", PROGRAMS)
@pytest.mark.parametrize("delay_ms", [0, 5, 20, 50])
def test_a_sigterm_as_run_starts_is_a_clean_stop(flow, delay_ms, program):
    code, err = _signalled(flow, ["run", "-q", "flow.yaml"], delay_ms, program=program)
    assert code == 0 and "velocity-flow: stopping: the flow will not start" in err, (code, err)
    assert not (flow / "out.jsonl").exists() or (flow / "out.jsonl").read_text() == ""


@pytest.mark.parametrize("delay_ms", [0, 20])
def test_a_sigterm_as_another_command_starts_interrupts_it(flow, delay_ms):
    assert _signalled(flow, ["validate", "flow.yaml"], delay_ms) == (130, "interrupted\n")


@pytest.mark.parametrize("command", [["run", "-q", "flow.yaml"], ["validate", "flow.yaml"]])
def test_two_signals_as_it_starts_abort(flow, command):
    assert _signalled(flow, command, 0, (signal.SIGTERM, signal.SIGINT)) == (130, "interrupted\n")


def test_deploy_starts_its_processes_with_the_signals_held(flow):
    """A stop forwarded by deploy -p N right after it started its processes: clean stops."""
    child = subprocess.Popen(PROGRAMS["python -m cli"] + ["run", "-q", "flow.yaml"], cwd=flow,
                             stderr=subprocess.PIPE, text=True, preexec_fn=processes._child_setup())  # noqa: PLW1509
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0 and "the flow will not start" in err, (child.returncode, err)
