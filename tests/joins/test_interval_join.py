"""The interval join (engine/operators/joins/interval.py): pairs within the interval on event
time, late events dead-lettered, and the state freed once a key's window has passed, watched
through the state's size; an independent oracle (plain Python over Hypothesis input) for the
pairs; and a compiled flow."""

import pickle
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.binding import validate_text
from engine.operators.joins.interval import IntervalJoin

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)  # the system clock: far from event time on purpose
CONFIG = {"with": "scans", "on": "order", "with_key": "order", "time": "at", "with_time": "at",
          "before": "10m", "after": "5m", "fields": {"scan": "id"}}


def step(**config):
    return IntervalJoin("ij", {**CONFIG, **config}, None, {"with": None})


def minutes(n):
    return T0 + timedelta(minutes=n)


def drive(join, feed, now=NOW, logics=None):
    """feed: ("l" | "r", event) in arrival order, all at the system time ``now``; ``logics``: the
    keys' logics so far (the compiler keeps one per key)."""
    logics, out, dead = ({} if logics is None else logics), [], []
    for side, event in feed:
        groups, bad = (join.group if side == "l" else join.group_side)([event])
        dead += bad
        for key, pairs in groups:
            logic = logics.setdefault(key, join.logic(None))
            emitted, late = logic.add(pairs, now)
            out += emitted
            dead += late
    return out, dead, logics


def test_pairs_within_the_interval_either_side_first():
    feed = [("r", {"order": "o1", "at": minutes(-10), "id": "s1"}),  # 10 minutes before: in
            ("r", {"order": "o1", "at": minutes(-11), "id": "s0"}),  # 11 before: out
            ("l", {"order": "o1", "at": minutes(0), "n": 1}),
            ("r", {"order": "o1", "at": minutes(5), "id": "s2"}),    # 5 after: in
            ("r", {"order": "o1", "at": minutes(6), "id": "s3"}),    # 6 after: out
            ("r", {"order": "o2", "at": minutes(0), "id": "x"})]     # another key
    out, dead, _ = drive(step(allowed_lateness="1h"), feed)
    assert [e["scan"] for e in out] == ["s1", "s2"] and all(e["n"] == 1 for e in out) and dead == []


def test_a_late_event_is_a_dead_letter():
    feed = [("l", {"order": "o1", "at": minutes(30), "n": 1}), ("r", {"order": "o1", "at": minutes(25), "id": "s"}),
            ("r", {"order": "o1", "at": minutes(29), "id": "t"})]
    out, dead, _ = drive(step(allowed_lateness="2m"), feed)
    assert [e["scan"] for e in out] == ["t"]
    assert len(dead) == 1 and dead[0].error.startswith("late event: time 2026-11-02T06:25:00+00:00 is before")


def test_the_state_is_freed_once_the_window_has_passed():
    join = step()
    logics = {}
    sizes = []
    for n in range(600):  # 600 orders, each a departure and a scan 2 minutes later, event time moving on
        out, dead, _ = drive(join, [("l", {"order": f"o{n % 60}", "at": minutes(n), "n": n}),
                                    ("r", {"order": f"o{n % 60}", "at": minutes(n + 2), "id": n})], logics=logics)
        assert [e["scan"] for e in out] == [n] and dead == []
        sizes.append(sum(len(logic.state()) for logic in logics.values()))
    assert max(sizes) <= 2 * 60  # never more than each key's latest pair: bounded, not growing with input
    # the system clock moves on (nothing new arrives): every key's window passes, its state is freed
    later = NOW + timedelta(minutes=20)
    due = [logic.next_notification() for logic in logics.values()]
    assert all(d is not None and d <= later for d in due)
    for logic in logics.values():
        logic.due(later)
    assert sum(len(logic.state()) for logic in logics.values()) == 0
    assert all(logic.disposable for logic in logics.values())


def test_events_with_bad_times_or_keys_are_dead_letters_and_null_keys_meet_nothing():
    join = step()
    groups, dead = join.group([{"order": "o", "at": "soon"}, {"order": None, "at": minutes(0)},
                               {"order": "o", "at": None}])
    assert groups == [] and [d.error.split(":")[0] for d in dead] == ["time", "time"]


def test_the_state_survives_a_pickle():
    join = step()
    _, _, logics = drive(join, [("l", {"order": "o1", "at": minutes(0), "n": 1})])
    restored = join.logic(pickle.loads(pickle.dumps(logics["o1"].state())))
    emitted, _ = restored.add(join.group_side([{"order": "o1", "at": minutes(1), "id": "s"}])[0][0][1], NOW)
    assert emitted == [{"order": "o1", "at": minutes(0), "n": 1, "scan": "s"}]


def oracle(lefts, rights, before, after):
    return sorted((left["n"], right["id"]) for left in lefts for right in rights
                  if left["order"] == right["order"] and left["at"] - before <= right["at"] <= left["at"] + after)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["l", "r"]), st.sampled_from(["a", "b"]), st.integers(0, 60)), max_size=40))
def test_pairs_are_the_oracles_when_nothing_is_late(arrivals):
    """With lateness beyond any disorder nothing is late or freed early: the pairs are exactly the
    cross product within the interval, whatever the arrival order (events out of time order)."""
    lefts = [{"order": k, "at": minutes(t), "n": i} for i, (s, k, t) in enumerate(arrivals) if s == "l"]
    rights = [{"order": k, "at": minutes(t), "id": i} for i, (s, k, t) in enumerate(arrivals) if s == "r"]
    feed = [(s, (lefts if s == "l" else rights).pop(0)) for s, _, _ in arrivals]
    lefts = [e for s, e in feed if s == "l"]
    rights = [e for s, e in feed if s == "r"]
    out, dead, _ = drive(step(allowed_lateness="2h"), feed)
    assert sorted((e["n"], e["scan"]) for e in out) == oracle(lefts, rights, timedelta(minutes=10),
                                                               timedelta(minutes=5))
    assert dead == []


TOPOLOGY = """\
version: 1
name: interval
sources:
  departures: {{file: {{path: {dir}/departures.jsonl}}}}
  scans: {{file: {{path: {dir}/scans.jsonl}}}}
steps:
  - id: typed-departures
    from: departures
    map: {{fields: {{order: str(order), at: timestamp(at)}}}}
  - id: typed-scans
    from: scans
    map: {{fields: {{order: str(order), at: timestamp(at), id: str(id)}}}}
  - id: near
    from: typed-departures
    interval_join: {{with: typed-scans, on: order, with_key: order, time: at, with_time: at, before: 10m, after: 5m,
                    allowed_lateness: 1h, fields: {{scan: id}}}}
  - id: shaped
    map: {{fields: {{order: order, scan: {scan}}}}}
sinks:
  out: {{from: shaped, file: {{path: {dir}/out.jsonl}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl}}}}
"""


def test_a_flow_on_two_workers_and_a_located_typo(flow):
    from engine.runtime.runner import RunOptions

    text = TOPOLOGY.format(dir="/tmp", scan="scan")
    assert [d.message for d in validate_text("t.yaml", text).diagnostics] == []
    typo = [(d.line, d.column, d.message) for d in validate_text("t.yaml", text.replace("scan: id", "scan: idd"))
            .diagnostics]
    assert typo == [(16, 58, "unknown field 'idd'")]
    flow.write("departures.jsonl", [{"order": n, "at": minutes(n).isoformat()} for n in range(20)])
    flow.write("scans.jsonl", [{"order": n, "at": minutes(n + 3).isoformat(), "id": f"s{n}"} for n in range(20)])
    outcome = flow.run(TOPOLOGY, RunOptions(workers=2), scan="scan")
    assert sorted((int(e["order"]), e["scan"]) for e in outcome.rows("out")) == [(n, f"s{n}") for n in range(20)]
    assert outcome.dead == []
