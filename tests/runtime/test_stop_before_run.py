"""A SIGTERM that comes while ``run`` or ``deploy`` is still starting is a clean stop: the flow
does not start, the exit is 0; a second signal aborts (KeyboardInterrupt). Before, such a
signal raised KeyboardInterrupt at once (exit 130), which the CI saw when a loaded box made a
deploy take longer to start than tests/integration/test_kafka_clean_stop.py waited."""

import os
import signal
from types import SimpleNamespace

import pytest

from engine import stopping

FLOW = """\
    version: 1
    name: early
    sources: {{events: {{file: {{path: "{dir}/in.jsonl"}}}}}}
    sinks: {{out: {{from: events, file: {{path: "{dir}/out.jsonl"}}}}}}
    """


@pytest.fixture
def early_stop_handlers():
    """The handlers installed for the test, and every flag cleared after it."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    stopping.stop_before_run_on_signals()
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)
    stopping._BEFORE_RUN.clear()
    stopping.clear_stop()


def test_a_signal_before_the_run_means_the_flow_does_not_start(flow, early_stop_handlers, capfd):
    flow.write("in.jsonl", [{"n": 1}, {"n": 2}])
    assert not stopping.stopped_before_run()
    os.kill(os.getpid(), signal.SIGTERM)
    assert stopping.stopped_before_run()
    flow.run(FLOW)  # returns, as a clean stop does
    assert stopping.stop_requested(), "the caller would report 'finished', not 'stopped'"
    assert not (flow.dir / "out.jsonl").exists() or (flow.dir / "out.jsonl").read_text() == ""
    assert "the flow will not start" in capfd.readouterr().err


def test_without_a_signal_the_flow_runs(flow, early_stop_handlers):
    flow.write("in.jsonl", [{"n": 1}, {"n": 2}])
    assert flow.run(FLOW).rows("out") == [{"n": 1}, {"n": 2}]


def test_a_second_signal_aborts(early_stop_handlers):
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)


def test_deploy_starts_no_process_after_a_signal(tmp_path, early_stop_handlers, monkeypatch):
    from cli import deploy, processes

    started = []
    monkeypatch.setattr(processes, "supervise", lambda commands, out, err, env=None: started.append(commands) or 0)
    args = SimpleNamespace(processes=2, path="flow.yaml", workers=1, snapshot_interval=None, status_file=None,
                           environment=None)
    assert deploy.run_processes(args, str(tmp_path / "recovery"), _Quiet(), _Quiet()) == 0
    assert len(started) == 1, "without a signal deploy starts its processes"
    os.kill(os.getpid(), signal.SIGTERM)
    assert deploy.run_processes(args, str(tmp_path / "recovery2"), _Quiet(), _Quiet()) == 0
    assert len(started) == 1, "a process was started after the stop"


class _Quiet:
    def print(self, *args, **kwargs) -> None:
        pass


def test_a_second_signal_after_the_run_ended_on_the_first_aborts(early_stop_handlers):
    """The run's handlers are given back as it ends: a stop already asked for during the run
    makes the next signal the second one (it printed "will not start" and exited 0)."""
    stopping.request_stop()  # the first signal, during the run
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
    assert not stopping.stopped_before_run()
