"""aggregate through real Bytewax: keyed state, windows, late events, several workers."""

import json

from engine.runtime.runner import RunOptions

STEPS = {
    "final": "aggregate: {key: k, compute: {n: count(), s: sum(x)}, emit: final}",
    "updates": "aggregate: {key: k, compute: {n: count()}}",
    "tumbling": ("aggregate: {key: k, compute: {n: count(), s: sum(x)},"
                 " window: {tumbling: 10s, event_time: t}}"),
    "processing": "aggregate: {key: k, compute: {n: count()}, window: {tumbling: 1h, time: processing}}",
    "session": ("aggregate: {key: k, compute: {n: count(), xs: collect(x)},"
                " window: {session: {gap: 5s}, event_time: t, allowed_lateness: 1m}}"),
    "count": "aggregate: {key: k, compute: {s: sum(x)}, window: {count: 2}}",
}


TOPOLOGY = """\
    version: 1
    name: agg
    sources:
      events: {{file: {{path: "{dir}/in.jsonl", batch_size: {batch_size}}}}}
    steps:
      - id: typed
        cast: {{fields: {{x: int, t: timestamp}}}}
      - id: agg
        {step}
    sinks:
      out: {{from: agg, file: {{path: "{dir}/out.jsonl"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def run(flow, step, lines, workers=1, batch_size=1000):
    flow.write("in.jsonl", lines)
    ran = flow.run(TOPOLOGY, RunOptions(workers=workers), step=STEPS[step], batch_size=batch_size)
    return ran.rows("out"), ran.dead


EVENTS = [{"k": key, "x": i} for i, key in enumerate("abcabca")]


def test_final_results_once_per_key(flow):
    out, dead = run(flow, "final", EVENTS)
    assert sorted((r["k"], r["n"], r["s"]) for r in out) == [("a", 3, 9), ("b", 2, 5), ("c", 2, 7)]
    assert dead == []


def test_updates_after_every_batch(flow):
    out, _ = run(flow, "updates", EVENTS, batch_size=3)
    assert [(r["k"], r["n"]) for r in out if r["k"] == "a"] == [("a", 1), ("a", 2), ("a", 3)]


def test_event_time_windows_and_a_late_event(flow):
    stamps = [1, 4, 12, 25, 3, 27]  # 3 arrives after 25 closed [0, 10): late
    events = [{"k": "a", "x": i, "t": f"2026-11-02T06:00:{s:02d}Z"} for i, s in enumerate(stamps)]
    out, dead = run(flow, "tumbling", events)
    assert [(r["window_start"][-14:], r["n"], r["s"]) for r in out] == [
        ("06:00:00+00:00", 2, 1), ("06:00:10+00:00", 1, 2), ("06:00:20+00:00", 2, 8)]
    assert [d["event"]["x"] for d in dead] == [4]
    assert dead[0]["step"] == "agg" and dead[0]["error"].startswith("late event: event time 2026-11-02T06:00:03+00:00")


def test_processing_time_window_is_flushed_at_the_end_of_input(flow):
    out, _ = run(flow, "processing", EVENTS)
    assert sorted((r["k"], r["n"]) for r in out) == [("a", 3), ("b", 2), ("c", 2)]


def test_two_workers_agree_with_one(flow_factory):
    many = [{"k": f"key{i % 13}", "x": i} for i in range(3000)]
    one, _ = run(flow_factory("one"), "final", many, batch_size=100)
    two, _ = run(flow_factory("two"), "final", many, workers=2, batch_size=100)
    assert sorted(map(json.dumps, one)) == sorted(map(json.dumps, two))
    assert len(one) == 13 and sum(r["n"] for r in one) == 3000


def test_sessions_merge_across_batches(flow):
    stamps = [0, 20, 8, 4, 30]  # 4 bridges the sessions at 0 and 8; 20 and 30 are apart
    events = [{"k": "a", "x": i, "t": f"2026-11-02T06:00:{s:02d}Z"} for i, s in enumerate(stamps)]
    out, dead = run(flow, "session", events, batch_size=2)
    assert [(r["window_start"][-14:-6], r["window_end"][-14:-6], r["n"], r["xs"]) for r in out] == [
        ("06:00:00", "06:00:08", 3, [0, 3, 2]), ("06:00:20", "06:00:20", 1, [1]), ("06:00:30", "06:00:30", 1, [4])]
    assert dead == []


def test_count_windows_per_key(flow):
    out, _ = run(flow, "count", EVENTS, batch_size=2)
    assert sorted((r["k"], r["window_index"], r["s"]) for r in out) == [
        ("a", 0, 3), ("a", 1, 6), ("b", 0, 5), ("c", 0, 7)]


def test_state_survives_a_crash_and_downtime_does_not_make_events_late(tmp_path):
    """Bytewax recovery: abort mid-stream, wait, resume; the window holds every event once."""
    import time
    from datetime import datetime, timedelta, timezone

    from bytewax import operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.recovery import RecoveryConfig
    from bytewax.testing import TestingSink, TestingSource, run_main

    from engine.compiler.keyed import build_keyed
    from engine.operators.aggregate import Aggregate
    from engine.runtime.recovery_store import prepare_recovery_directory

    t0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
    batch = lambda *ms: [{"k": "a", "t": t0 + timedelta(milliseconds=m)} for m in ms]  # noqa: E731
    items = [batch(100), batch(200), TestingSource.ABORT(), batch(300, 400), batch(500)]
    aggregate = Aggregate("agg", {"key": "k", "compute": {"n": "count()"},
                                  "window": {"tumbling": "1s", "event_time": "t"}}, None)
    out, dead = [], []
    flow = Dataflow("recovery")
    ok, failed = build_keyed("agg", op.input("in", flow, TestingSource(items)), aggregate, None)
    op.output("out", ok, TestingSink(out))
    op.output("dead", failed, TestingSink(dead))
    prepare_recovery_directory(str(tmp_path))
    recovery = RecoveryConfig(str(tmp_path))
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert out == [] and dead == []  # aborted before the window closed
    time.sleep(1.2)  # longer than the window: counted as event time, it would close it
    run_main(flow, epoch_interval=timedelta(0), recovery_config=recovery)
    assert dead == []
    assert [[(r["window_start"], r["n"]) for r in results] for results in out] == [[(t0, 5)]]
