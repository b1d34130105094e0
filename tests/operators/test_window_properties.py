"""The batched placement of sliding and session windows (engine/operators/windows/sliding.py,
session.py: a run of in-order events folded at once, window lists shared by the events of one
period) against the simple reference, one event at a time as the windows were first written:
the same results, in the same order, and the same dead letters with the same reasons, whatever
the times (in order, late, out of order), the values (failing folds) and the batching."""

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.operators.aggregate import Aggregate
from engine.operators.windows import bounds
from engine.operators.windows.session import SessionWindows
from engine.operators.windows.sliding import SlidingWindows

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


class ReferenceSessions(SessionWindows):
    def place(self, moments, events, now):
        deads = []
        for moment, event in zip(moments, events, strict=True):
            closed_before = self.closed_before(now)
            self.advance(moment, now)
            self._place_one(moment, event, closed_before, deads)
        return deads


class ReferenceSliding(SlidingWindows):
    def place(self, moments, events, now):
        groups, deads = {}, []
        size, every = self.settings.size, self.settings.every
        for moment, event in zip(moments, events, strict=True):
            closed_before = self.closed_before(now)
            self.advance(moment, now)
            spans = bounds.sliding(moment, size, every)
            open_spans = [w for w in spans if closed_before is None or w[1] > closed_before]
            if not open_spans:
                deads.append(self.late(event, moment, spans[-1], closed_before))
                continue
            for span in open_spans:
                groups.setdefault(span, []).append(event)
        return self.fold_groups(groups, deads)


# seconds after T0: mostly increasing, with steps back (late or out-of-order events)
steps = st.lists(st.tuples(st.integers(-40, 25), st.one_of(st.integers(-5, 50), st.just("x"), st.none(),
                                                              st.floats(-1e308, 1e308))), min_size=1, max_size=30)
WINDOWS = [
    ("session", {"session": {"gap": "5s"}, "event_time": "t"}),
    ("session", {"session": {"gap": "10s"}, "event_time": "t", "allowed_lateness": "7s"}),
    ("session", {"session": {"gap": "5s"}, "time": "processing"}),
    ("sliding", {"sliding": {"size": "10s", "every": "5s"}, "event_time": "t"}),
    ("sliding", {"sliding": {"size": "10s", "every": "3s"}, "event_time": "t", "allowed_lateness": "4s"}),
    ("sliding", {"sliding": {"size": "4s", "every": "4s"}, "time": "processing"}),
]
COMPUTE = {"n": "count()", "s": "sum(x)", "lo": "min(x)", "first": "first(x)", "all": "collect(x)"}


def _run(logic_class, config, batches, advance):
    agg = Aggregate("agg", {"key": "k", "compute": COMPUTE, "window": config}, None)
    logic = logic_class(agg)
    now, out = T0, []
    for batch in batches:
        results, deads = logic.add([("a", e) for e in batch], now)
        out.append((results, [(id(d.event), d.error) for d in deads]))
        now += timedelta(seconds=advance)
        out.append(logic.due(now))
    out.append(logic.flush())
    return out


@PROPERTY
@example(0, [(0, 1), (100, "x"), (-97, 1), (1, 2)], [4], 0)  # a failed event moved the watermark on
@example(3, [(0, 1), (100, "x"), (-97, 1), (1, 2)], [4], 0)
@example(0, [(0, 1), (1, 1), (2, 1)], [1], 12)  # system time closes the session between batches
@given(st.sampled_from(range(len(WINDOWS))), steps, st.lists(st.integers(1, 6), min_size=1, max_size=8),
       st.integers(0, 12))
def test_batched_placement_is_the_one_event_at_a_time_placement(window, events, cuts, advance):
    kind, config = WINDOWS[window]
    second, timed = 0, []
    for step, x in events:
        second += step
        timed.append({"k": "a", "t": T0 + timedelta(seconds=second), "x": x})
    batches, start = [], 0
    for cut in cuts * 10:
        if start >= len(timed):
            break
        batches.append(timed[start:start + cut])
        start += cut
    fast, reference = (SessionWindows, ReferenceSessions) if kind == "session" else (SlidingWindows, ReferenceSliding)
    assert _run(fast, config, batches, advance) == _run(reference, config, batches, advance)
