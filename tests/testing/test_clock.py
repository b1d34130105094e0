"""Processing time in ``velocity-flow test``: a case's ``clock`` stands still and moves only at
the ``advance`` steps of its inputs, so processing-time windows, ``micro_batch`` timers and the
event-time watermark's advance give the same result on every run (docs/testing.md)."""

import textwrap

import pytest

from engine import clock
from tests.testing.test_command import ROOT, cli

FLOW = """\
version: 1
name: clocked
sources:
  readings: {file: {path: in.jsonl}}
  other: {file: {path: other.jsonl}}
steps:
  - id: per-minute
    from: readings
    aggregate: {key: sensor, window: {tumbling: 1m, time: processing}, compute: {n: count()}}
  - id: by-event-time
    from: readings
    aggregate: {key: sensor, window: {tumbling: 1m, event_time: timestamp(at)}, compute: {n: count()}}
  - id: held
    from: [readings, other]
    micro_batch: {every: 30s}
  - id: released
    from: held
    aggregate: {key: "'all'", window: {tumbling: 1m, time: processing}, compute: {n: count()}}
sinks:
  minutes: {from: per-minute, file: {path: out/minutes.jsonl}}
  windows: {from: by-event-time, file: {path: out/windows.jsonl}}
  batches: {from: released, file: {path: out/batches.jsonl}}
"""


def run(tmp_path, tests, *extra):
    (tmp_path / "flow.yaml").write_text(FLOW)
    path = tmp_path / "flow.test.yaml"
    path.write_text("topology: flow.yaml\ntests:\n" + textwrap.dedent(tests))
    return cli("test", str(path), *extra)


def window(sensor, start, end, n):
    return f'{{sensor: {sensor}, window_start: "2026-11-02T{start}Z", window_end: "2026-11-02T{end}Z", n: {n}}}'


def test_advance_splits_processing_time_windows(tmp_path):
    code, out, err = run(tmp_path, f"""\
      - name: two minutes of processing time
        clock: "2026-11-02T06:00:10Z"
        inputs:
          - readings: [{{sensor: a, at: x}}, {{sensor: a, at: x}}, {{sensor: b, at: x}}]
          - advance: 1m
          - readings: [{{sensor: a, at: x}}]
          - advance: 5s
          - readings: [{{sensor: a, at: x}}]
        expect:
          - at: per-minute
            events:
              - {window("a", "06:00:00", "06:01:00", 2)}
              - {window("b", "06:00:00", "06:01:00", 1)}
              - {window("a", "06:01:00", "06:02:00", 2)}
      - name: without advance the clock stands still
        clock: "2026-11-02T06:00:59Z"
        inputs:
          readings: [{{sensor: a, at: x}}, {{sensor: a, at: x}}, {{sensor: a, at: x}}]
        expect:
          - at: per-minute
            events: [{window("a", "06:00:00", "06:01:00", 3)}]
    """)
    assert code == 0, out + err
    assert "2 passed, 0 failed" in out


def test_the_event_time_watermark_moves_with_the_clock(tmp_path):
    """An event-time window's watermark is the latest event time plus the processing time
    since it came: after ``advance: 2m`` an event 30 s older than the latest is late."""
    inputs = """\
          - readings: [{sensor: a, at: "2026-11-02T06:00:00Z"}]
          - advance: 2m
          - readings: [{sensor: a, at: "2026-11-02T06:00:30Z"}]"""
    code, out, err = run(tmp_path, f"""\
      - name: late after two minutes
        inputs:
{inputs}
        expect:
          - at: by-event-time
            events: [{window("a", "06:00:00", "06:01:00", 1)}]
        dead_letters: [{{step: by-event-time, error: late event, count: 1}}]
      - name: on time without them
        inputs:
{inputs.replace("advance: 2m", "advance: 1s")}
        expect:
          - at: by-event-time
            events: [{window("a", "06:00:00", "06:01:00", 2)}]
        dead_letters: []
    """)
    assert code == 0, out + err


def test_a_timer_the_clock_passes_fires_before_the_next_events(tmp_path):
    """``micro_batch`` releases at its timer: the two first events reach the processing-time
    window of the minute the clock is in when it fires, the third a later one; with every
    source on the same timeline."""
    code, out, err = run(tmp_path, """\
      - name: released by the timer, then at the end of input
        clock: "2026-11-02T06:00:00Z"
        inputs:
          - readings: [{sensor: a, at: x}]
            other: [{sensor: b, at: x}]
          - advance: 45s
          - other: [{sensor: c, at: x}]
          - advance: 1m
        expect:
          - at: held
            events: [{sensor: a, at: x}, {sensor: b, at: x}, {sensor: c, at: x}]
          - at: released
            count: 2
            contains:
              - {window_start: "2026-11-02T06:00:00Z", n: 2}
              - {window_start: "2026-11-02T06:01:00Z", n: 1}
    """)
    assert code == 0, out + err
    assert not clock.controlled()  # back to the system clock after the run


@pytest.mark.parametrize("step, message", [
    ("- advance: soon", "invalid duration 'soon'"),
    ("- {advance: 1m, readings: []}", "'advance' stands alone in its step"),
    ("- 42", "a step of 'inputs' is a mapping of sources to events, or 'advance: DURATION'"),
])
def test_a_bad_timeline_step_is_reported_at_its_line(tmp_path, step, message):
    code, out, err = run(tmp_path, f"""\
      - name: bad
        inputs:
          - readings: [{{sensor: a}}]
          {step}
        expect: [{{at: held, count: 1}}]
    """)
    assert code == 1
    assert "flow.test.yaml:6:" in err and message in err, err


def test_a_clock_that_is_not_a_timestamp(tmp_path):
    code, _, err = run(tmp_path, """\
      - name: bad
        clock: yesterday
        inputs: {readings: [{sensor: a}]}
        expect: [{at: held, count: 1}]
    """)
    assert code == 1
    assert "flow.test.yaml:4:10: error: 'clock' must be a timestamp, not 'yesterday'" in err, err


def test_the_documented_example(tmp_path):
    page = (ROOT / "docs" / "testing.md").read_text()
    section = page.split("### Processing time: `clock` and `advance`", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    code, out, err = run(tmp_path, block)
    assert code == 0, out + err


def test_now_reads_the_cases_clock(tmp_path):
    """``now()`` in an expression is processing time too: in a test case it is the case's clock."""
    (tmp_path / "stamp.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: stamp
        sources:
          readings: {file: {path: in.jsonl}}
        steps:
          - id: stamped
            map: {fields: {sensor: sensor, seen: "now()", late: "now() - timestamp(at) > minutes(1)"}}
        sinks:
          out: {from: stamped, file: {path: out/out.jsonl}}
        """))
    path = tmp_path / "stamp.test.yaml"
    path.write_text(textwrap.dedent("""\
        topology: stamp.yaml
        tests:
          - name: the clock, then a minute later
            clock: "2026-11-02T06:00:10Z"
            inputs:
              - readings: [{sensor: a, at: "2026-11-02T06:00:00Z"}]
              - advance: 1m
              - readings: [{sensor: b, at: "2026-11-02T06:00:00Z"}]
            expect:
              - at: stamped
                events:
                  - {sensor: a, seen: "2026-11-02T06:00:10Z", late: false}
                  - {sensor: b, seen: "2026-11-02T06:01:10Z", late: true}
        """))
    code, out, err = cli("test", str(path))
    assert code == 0, out + err
    assert "1 passed, 0 failed" in out
