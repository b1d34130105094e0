"""Poison events at keyed steps: each is dead-lettered with its reason, the rest goes on."""

from datetime import datetime, timedelta, timezone

import pytest

from engine.operators.aggregate import Aggregate
from engine.operators.micro_batch import MicroBatch
from engine.operators.with_previous import WithPrevious

NOW = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
UTC = timezone.utc
HUGE = 10 ** 5000  # an int Python will not write as text


def keyed_events(pairs):
    return [event for _, items in pairs for _, event in items]


def test_micro_batch_dead_letters_events_it_cannot_key():
    step = MicroBatch("batched", {"every": "5s", "chunks": 2, "key": "domain + ':' + key"}, None)  # fast_storage.yaml
    good = [{"domain": "pickup", "key": str(i)} for i in range(4)]
    bad = [{"domain": 5, "key": "a"}, {"domain": "pickup", "key": [1]}]
    pairs, deads = step.group(good[:2] + bad + good[2:] + [{"domain": "pickup", "key": None}])  # a null key: chunk 0
    assert sorted(e["key"] for e in keyed_events(pairs) if e["key"] is not None) == ["0", "1", "2", "3"]
    assert [(d.event, d.step, d.error) for d in deads] == [
        (bad[0], "batched", "key: unsupported operand type(s) for +: 'int' and 'str'"),
        (bad[1], "batched", 'key: can only concatenate str (not "list") to str')]


def test_micro_batch_without_a_key_expression_dead_letters_a_key_it_cannot_write():
    pairs, deads = MicroBatch("batched", {"chunks": 3}, None).group([{"_key": HUGE}, {"_key": "a"}, {}])
    assert len(keyed_events(pairs)) == 2 and [d.error[:30] for d in deads] == ["key: Exceeds the limit (4300 d"]


def test_with_previous_dead_letters_events_it_cannot_key():
    step = WithPrevious("prev", {"key": "order + 1"}, None)
    pairs, deads = step.group([{"order": 1}, {"order": "x"}, {"order": None}])
    assert keyed_events(pairs) == [{"order": 1}]
    assert [d.error for d in deads] == ['key: can only concatenate str (not "int") to str', "the key is null"]


def test_aggregate_dead_letters_a_key_it_cannot_write_as_text():
    agg = Aggregate("agg", {"key": "k", "compute": {"n": "count()"}}, None)
    pairs, deads = agg.group([{"k": HUGE}, {"k": 1}])
    assert keyed_events(pairs) == [{"k": 1}] and deads[0].error.startswith("key: Exceeds the limit")


WINDOWS = [{"tumbling": "1h"}, {"sliding": {"size": "2h", "every": "1h"}}, {"session": {"gap": "1h"}}]
EDGES = [datetime(9999, 12, 31, 23, 30, tzinfo=UTC), datetime.max.replace(tzinfo=UTC),
         datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 30)]  # the last naive: taken as UTC


@pytest.mark.parametrize("window", WINDOWS, ids=["tumbling", "sliding", "session"])
@pytest.mark.parametrize("moment", EDGES, ids=["9999-12-31T23:30", "max", "0001-01-01", "naive"])
def test_event_times_whose_windows_would_pass_the_limits_of_timestamps_are_dead_lettered(window, moment):
    agg = Aggregate("agg", {"key": "k", "compute": {"n": "count()"}, "window": {**window, "event_time": "t"}}, None)
    logic = agg.logic()
    ok = {"k": "a", "t": datetime(2026, 11, 2, 6, tzinfo=UTC)}
    bad = {"k": "a", "t": moment}
    emitted, deads = logic.add([("a", ok), ("a", bad)], NOW)
    assert [d.event for d in deads] == [bad]
    assert deads[0].error.startswith(f"event_time {moment.replace(tzinfo=UTC).isoformat()} is out of range: its windows "
                                     "would pass the limits of timestamps; this window takes event times from 0001-01-02")
    assert logic.next_notification() is not None
    due, due_deads = logic.due(NOW + timedelta(hours=3))
    flushed, flush_deads = logic.flush()
    assert sum(r["n"] for r in due + flushed) == (2 if "sliding" in window else 1)  # the good event, in each window
    assert due_deads == flush_deads == []


def test_a_watermark_advanced_past_the_last_timestamp_closes_every_window():
    agg = Aggregate("agg", {"key": "k", "compute": {"n": "count()"}, "window": {"tumbling": "1h", "event_time": "t"}}, None)
    logic = agg.logic()
    late_in_time = datetime(9999, 12, 29, tzinfo=UTC)  # in range: its window ends 9999-12-29T01:00
    assert logic.add([("a", {"k": "a", "t": late_in_time})], NOW) == ([], [])
    assert logic.watermark(NOW + timedelta(days=5)) == datetime.max.replace(tzinfo=UTC)
    emitted, deads = logic.due(NOW + timedelta(days=5))
    assert [(r["window_start"], r["n"]) for r in emitted] == [(late_in_time, 1)] and deads == []
