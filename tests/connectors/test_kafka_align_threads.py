"""The alignment of a group is shared by the readers of a process, which Bytewax's workers run
on threads of their own (``deploy -w 2``): one reader asks its limit while another's front comes
and goes."""

from __future__ import annotations

import sys
import threading

from engine.connectors.kafka_align import Alignment


def test_a_limit_is_asked_while_other_threads_change_the_fronts():
    align = Alignment(100)
    readers = [object() for _ in range(50)]
    for reader in readers:
        align.set_front(reader, 1)
    stop, errors = threading.Event(), []

    def churn() -> None:  # fronts leave (caught up) and come back (new messages)
        turn = 0
        while not stop.is_set():
            reader = readers[1 + turn % 49]
            align.set_front(reader, None)
            align.set_front(reader, turn + 2)
            turn += 1

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    other = threading.Thread(target=churn)
    other.start()
    try:
        for _ in range(20_000):
            limit = align.limit(readers[0])
            assert limit is None or limit >= 101
    except RuntimeError as exc:  # before: "dictionary keys changed during iteration"
        errors.append(exc)
    finally:
        stop.set()
        other.join()
        sys.setswitchinterval(before)
    assert errors == []
