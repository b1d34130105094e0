"""scripts/services/servicekit.wait_until: the start-up wait of the Kafka, PostgreSQL and Kafka
Connect scripts (each gives its own probe and messages)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts" / "services"))

from servicekit import Fail, wait_until  # noqa: E402


def test_it_returns_the_probes_answer_once_there_is_one():
    answers = iter([None, False, {"state": "RUNNING"}])
    assert wait_until(lambda: next(answers), lambda: None, lambda: "late", timeout=5, every=0) == {"state": "RUNNING"}


def test_a_process_gone_fails_with_its_message_before_the_probe_is_asked():
    asked = []
    with pytest.raises(Fail, match="died; last lines"):
        wait_until(lambda: asked.append(1), lambda: "Kafka (pid 7) died; last lines of x", lambda: "late",
                   timeout=5, every=0)
    assert asked == []


def test_no_answer_within_the_timeout_fails_with_the_late_message():
    rounds = []
    with pytest.raises(Fail, match="did not answer within 0s") as failed:
        wait_until(lambda: rounds.append(1), lambda: None, lambda: "did not answer within 0s", timeout=0, every=0)
    assert rounds and failed.value.code != 0


def test_a_failure_the_probe_finds_stops_the_wait_at_once():
    def probe():
        raise Fail("connector tms FAILED:\ntrace")
    with pytest.raises(Fail, match="FAILED"):
        wait_until(probe, lambda: None, lambda: "late", timeout=60, every=0)
