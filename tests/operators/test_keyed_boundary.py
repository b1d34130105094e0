"""The last-resort boundary of keyed steps (engine/compiler/keyed.py): a logic call that raises
never stops the flow, and no event of it vanishes."""

import pickle
from datetime import datetime, timedelta, timezone

from bytewax import operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from engine.compiler import keyed
from engine.compiler.keyed import _KeyLogic, build_keyed

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)


class Tally:
    """A keyed operator with bugs on demand: ``boom`` events make ``add`` raise after it
    counted the events before them (a half-applied call); ``explode`` makes ``group`` raise."""

    kind = "keyed"

    def __init__(self, broken=()):
        self.broken = set(broken)  # of "due", "flush", "next", "state"

    def group(self, batch):
        groups = {}
        for event in batch:
            if event.get("explode"):
                raise RuntimeError("group exploded")
            groups.setdefault(event["k"], []).append((event["k"], event))
        return list(groups.items()), []

    def logic(self, state=None):
        return TallyLogic(self, state if state is not None else {"seen": [], "due_at": None})


class TallyLogic:
    def __init__(self, tally, state):
        self.tally, self.s = tally, state

    def add(self, pairs, now):
        for _, event in pairs:
            if event.get("boom"):
                raise KeyError("boom")
            self.s["seen"].append(event["i"])
        self.s["due_at"] = now
        return [], []

    def due(self, now):
        if "due" in self.tally.broken:
            self.s["seen"].clear()  # half done before it raises: a careful key gets it back
            raise ZeroDivisionError("due broke")
        return [], []

    def flush(self):
        if "flush" in self.tally.broken:
            raise ValueError("flush broke")
        return [{"seen": list(self.s["seen"])}], []

    def next_notification(self):
        if "next" in self.tally.broken:
            raise TypeError("next broke")
        return self.s["due_at"]

    def resume(self, now):
        return None

    def state(self):
        if "state" in self.tally.broken:
            return lambda: None  # cannot be pickled
        return self.s

    @property
    def disposable(self):
        return False


def run_flow(tally, batches):
    out, dead = [], []
    flow = Dataflow("boundary")
    ok, failed = build_keyed("tally", op.input("in", flow, TestingSource(batches)), tally, None)
    op.output("out", ok, TestingSink(out))
    op.output("dead", failed, TestingSink(dead))
    run_main(flow)
    return [e for batch in out for e in batch], [d for batch in dead for d in batch]


def ev(i, **extra):
    return {"k": "a", "i": i, **extra}


def test_a_raising_add_dead_letters_its_events_then_the_key_runs_carefully_and_rolls_back():
    batches = [[ev(1), ev(2)], [ev(3), ev(0, boom=True), ev(4)], [ev(5), ev(0, boom=True), ev(6)]]
    out, dead = run_flow(Tally(), batches)
    # first failure: every event of the call is dead-lettered, and 3 was already counted (said so)
    first = [d for d in dead if "may hold part" in d.error]
    assert [d.event["i"] for d in first] == [3, 0, 4]
    assert first[0].step == "tally" and first[0].error.startswith("internal error in add() for key 'a': ")
    # careful mode: the call is undone and redone one event at a time; only the bad one is dead
    careful = [d for d in dead if d not in first]
    assert [(d.event["i"], d.error) for d in careful] == [
        (0, "internal error in add() for key 'a': KeyError: 'boom' (rolled back)")]
    assert out == [{"seen": [1, 2, 3, 5, 6]}]


def test_a_batch_whose_group_raises_is_grouped_one_event_at_a_time():
    out, dead = run_flow(Tally(), [[ev(1), ev(2, explode=True), ev(3)]])
    assert out == [{"seen": [1, 3]}]
    assert [(d.event["i"], d.step, d.error) for d in dead] == [(2, "tally", "RuntimeError: group exploded")]


def test_a_raising_flush_is_reported_with_the_key_and_no_event():
    out, dead = run_flow(Tally(broken={"flush"}), [[ev(1)]])
    assert out == []
    assert [(d.event, d.error) for d in dead] == [
        (None, "internal error in flush() for key 'a': flush broke (what it was releasing may be lost)")]


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def clock(monkeypatch, moment):
    monkeypatch.setattr(keyed, "_now", lambda: moment)


def dead_of(tagged):
    return [keyed._failure("tally", "a", value) for kind, value in tagged if kind == keyed._FAILED]


def test_a_raising_due_is_retried_with_back_off_and_a_careful_key_loses_nothing(monkeypatch):
    logic = _KeyLogic("tally", Tally(broken={"due"}), None)
    clock(monkeypatch, at(0))
    logic.on_batch([[("a", ev(1))]])
    assert logic.careful == 0 and logic.notify_at() == at(0)
    tagged, _ = logic.on_notify()  # not careful yet: due's half-done work stays done
    assert [d.error for d in dead_of(tagged)] == [
        "internal error in due() for key 'a': ZeroDivisionError: due broke (what it was releasing may be lost)"]
    assert logic.logic.s["seen"] == [] and logic.notify_at() == at(1)  # retried after 1 s, not at once
    logic.logic.s["seen"].append(9)
    clock(monkeypatch, at(1))
    tagged, _ = logic.on_notify()  # careful now: rolled back, so 9 is still there
    assert "(rolled back; retried later)" in dead_of(tagged)[0].error
    assert logic.logic.s["seen"] == [9] and logic.notify_at() == at(3)  # 2 s: the delay doubles
    logic.logic.tally.broken.clear()
    clock(monkeypatch, at(3))
    assert logic.on_notify()[0] == [] and logic.retry_at is None


def test_a_raising_next_notification_is_reported_once_per_back_off(monkeypatch):
    logic = _KeyLogic("tally", Tally(broken={"next"}), None)
    clock(monkeypatch, at(0))
    assert logic.notify_at() == at(1)
    tagged, _ = logic.on_notify()  # before the retry time: due is not called, the report goes out
    assert [d.error for d in dead_of(tagged)] == [
        "internal error in next_notification() for key 'a': next broke (its timer is retried later)"]
    assert logic.notify_at() == at(1)  # asked again within the back-off: not reported twice
    assert dead_of(logic.on_notify()[0]) == []
    clock(monkeypatch, at(1))
    assert logic.notify_at() == at(3) and len(dead_of(logic.on_notify()[0])) == 1


def test_an_unpicklable_state_gives_an_empty_snapshot_reported_once():
    logic = _KeyLogic("tally", Tally(broken={"state"}), None)
    assert logic.snapshot() is None and logic.snapshot() is None
    tagged, _ = logic.on_batch([])
    assert [d.error for d in dead_of(tagged)] == [
        "internal error in snapshot() for key 'a': AttributeError: Can't pickle local object "
        "'TallyLogic.state.<locals>.<lambda>' (the key's state would not survive a restart)"]


def test_a_snapshot_that_cannot_be_read_back_starts_the_key_empty_and_says_so(monkeypatch):
    clock(monkeypatch, at(0))
    logic = _KeyLogic("tally", Tally(), b"not a pickle")
    assert logic.logic.s == {"seen": [], "due_at": None}
    assert logic.notify_at() == at(0)  # emit the report now
    tagged, _ = logic.on_notify()
    [report] = dead_of(tagged)
    assert report.event is None and report.error.startswith("internal error in restoring the state for key 'a': "
                                                            "UnpicklingError: ")
    assert report.error.endswith("(the key starts from an empty state)")
    assert _KeyLogic("tally", Tally(), pickle.dumps({"seen": [7], "due_at": None})).logic.s["seen"] == [7]
