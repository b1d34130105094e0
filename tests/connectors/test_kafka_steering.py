"""Backlog steering (engine/steering.py) as the Kafka partitions' alignment applies it, without a
broker: which partitions wait, what the others are aligned to, and that reading never stops."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine import run_context, steering
from engine.connectors.kafka_align import HELD, Alignment

LEAD = 100


def _group(fronts: dict) -> Alignment:
    """An alignment of readers named by their topics, at ``fronts`` (None: caught up)."""
    align = Alignment(LEAD)
    for topic, front in fronts.items():
        align.join(topic, topic, 0)
        align.set_front(topic, front)
    return align


def test_topics_carry_the_table_after_their_last_dot():
    assert [steering.table_of(t) for t in ("tms.public.note", "tms.transaction", "plain")] == \
        ["note", "transaction", "plain"]


def test_without_a_want_the_timestamps_decide():
    run_context.begin(None)
    align = _group({"tms.public.a": 1000, "tms.public.b": 5000, "tms.transaction": 300})
    assert align.limit("tms.public.b") == 300 + LEAD
    assert align.limit("tms.transaction") == 1000 + LEAD


def test_a_wanted_table_reads_while_the_others_wait():
    run_context.begin(None)
    align = _group({"tms.public.a": 9000, "tms.public.b": 5000, "tms.transaction": 300})
    steering.current().want("merge", frozenset({"a"}), frozenset({"a", "b"}))
    assert align.limit("tms.public.a") is None  # aligned to the wanted ones only: none other
    assert align.limit("tms.public.b") == HELD
    assert align.limit("tms.transaction") == HELD
    steering.current().withdraw("merge")
    assert align.limit("tms.public.a") == 300 + LEAD


def test_a_want_of_markers_lets_the_topics_of_no_table_of_the_step_read():
    run_context.begin(None)
    align = _group({"tms.public.a": 100, "tms.public.b": 200, "tms.transaction": 9000, "tms.audit": 9500})
    steering.current().want("merge", steering.MARKERS, frozenset({"a", "b"}))
    assert align.limit("tms.public.a") == HELD
    assert align.limit("tms.transaction") == 9500 + LEAD  # the wanted two are aligned to each other
    assert align.limit("tms.audit") == 9000 + LEAD


def test_nobody_waits_for_a_wanted_partition_that_has_no_messages():
    """A wanted topic caught up (front None) or not read in this process: no one is held."""
    run_context.begin(None)
    align = _group({"tms.public.a": None, "tms.public.b": 5000, "tms.transaction": 300})
    steering.current().want("merge", frozenset({"a", "zz"}), frozenset({"a", "b"}))
    assert align.limit("tms.public.b") == 300 + LEAD


def test_two_steps_wanting_different_tables_hold_only_what_neither_wants():
    run_context.begin(None)
    align = _group({"t.public.a": 100, "t.public.b": 200, "t.public.c": 300})
    steering.current().want("one", frozenset({"a"}), frozenset({"a", "c"}))
    steering.current().want("two", frozenset({"b"}), frozenset({"b", "c"}))
    assert align.limit("t.public.c") == HELD
    assert align.limit("t.public.a") == 200 + LEAD and align.limit("t.public.b") == 100 + LEAD


def test_outside_a_run_nothing_is_steered():
    run_context.end()
    align = _group({"t.public.a": 100, "t.public.b": 5000})
    steering.current().want("merge", frozenset({"a"}), frozenset({"a", "b"}))  # a registry of its own
    assert align.limit("t.public.b") == 100 + LEAD


TOPICS = ["t.public.a", "t.public.b", "t.public.c", "t.transaction", "other"]


@given(fronts=st.dictionaries(st.sampled_from(TOPICS), st.one_of(st.none(), st.integers(0, 10_000)), min_size=1),
       wants=st.lists(st.tuples(st.one_of(st.none(), st.frozensets(st.sampled_from("abcxyz"))),
                                st.frozensets(st.sampled_from("abc"))), max_size=3))
def test_some_partition_with_messages_may_always_deliver_its_next_one(fronts, wants):
    """Whatever the fronts and the wants: reading never stops (one partition may go)."""
    run_context.begin(None)
    try:
        align = _group(fronts)
        for index, (tables, own) in enumerate(wants):
            steering.current().want(index, tables, own)
        live = [topic for topic, front in fronts.items() if front is not None]
        limits = {topic: align.limit(topic) for topic in live}
        assert not live or any(limit is None or limit >= fronts[topic] for topic, limit in limits.items())
        for topic, limit in limits.items():  # only what no step wants waits
            if limit == HELD:
                assert wants and not steering.current().wanted(steering.table_of(topic))
    finally:
        run_context.end()
