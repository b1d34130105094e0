"""merge_transactions' idle timer (transaction_timer.IdleTimer) gives what a walk over every
open transaction gives, whatever the order of changes, END records, clocks that go back,
releases by idleness and restores."""

import pickle
import random
from datetime import timedelta

import pytest

from engine.operators.transaction_timer import waits
from tests.operators.test_transactions_snapshots import NOW, change, end, merger, row


def walked(logic):
    """The timer as it was computed before: every waiting transaction and loose unit looked at."""
    seen = [t.last_seen for t in logic.s.open.values() if waits(t) and t.last_seen is not None]
    seen += [u.last_seen for u in logic.s.loose if u.last_seen is not None]
    return min(seen) + logic.step.idle if seen else None


@pytest.mark.parametrize("clock", ["random", "forward", "mostly forward"])
def test_the_timer_is_the_oldest_waiting_transaction_after_any_sequence(clock):
    # random: the clock goes back often (the queue is rebuilt); forward: never (the queue only
    # appends, and many entries go stale); mostly forward: now and then a step back
    for seed in range(30):
        rng = random.Random(seed)
        merge, logic = merger(markers=rng.random() < 0.7, idle="10s")
        sent = {}
        moment = NOW
        for step in range(60):
            if clock == "random":
                now = NOW + timedelta(seconds=rng.randint(0, 40))  # may go back
            else:
                back = clock == "mostly forward" and rng.random() < 0.1
                moment += timedelta(seconds=-rng.randint(1, 20) if back else rng.choice([0, 0, 1, 7]))
                now = moment
            tx = rng.randint(1, 12)
            action = rng.random()
            if action < 0.55:
                c = change(rng.choice("cu"), rng.choice(["note", "leg"]), rng.randint(1, 5), row(1, 0), row(1, step),
                           tx=tx, lsn=step)
                sent.setdefault(tx, []).append(c)
                events = [c]
            elif action < 0.8:
                events = [end(tx, sent.get(tx, []))]
            elif action < 0.9:
                logic.due(now)
                assert logic.next_notification() == walked(logic), seed
                continue
            else:
                logic = merge.logic(pickle.loads(pickle.dumps(logic.state())))
                if rng.random() < 0.5:
                    logic.resume(now)
                assert logic.next_notification() == walked(logic), seed
                continue
            pairs, _ = merge.group(events)
            for _, items in pairs:
                logic.add(items, now)
            assert logic.next_notification() == walked(logic), (seed, step)


def test_a_clock_that_turns_naive_never_makes_add_fail():
    """Naive and aware times cannot be ordered: the timer's queue is dropped (its rebuild, in
    next_notification, says so; the keyed boundary reports and retries that), and add takes its
    events as ever."""
    merge, logic = merger(markers=True, idle="10s")
    first = change("c", "note", 1, None, row(1, 0), tx=1, lsn=1)
    pairs, _ = merge.group([first, end(1, [first]), change("c", "note", 2, None, row(2, 0), tx=2, lsn=2)])
    for _, items in pairs:
        assert logic.add(items, NOW)[1] == []
    assert logic.next_notification() == NOW + timedelta(seconds=10)  # (the queue is built)
    later = change("u", "note", 2, row(2, 0), row(2, 1), tx=2, lsn=3)
    pairs, _ = merge.group([later, end(2, [later])])
    for _, items in pairs:
        assert logic.add(items, NOW.replace(tzinfo=None))[1] == []
    assert 2 not in logic.s.open and "2" not in logic.s.open
