"""Backlog steering: a stateful step that holds much tells the sources of its process what it
waits for, and they read that first.

Timestamp alignment (engine/connectors/kafka_align.py) keeps topics read together within a lead
of each other, which is enough when a transaction's messages carry close timestamps. In a
backlog they often do not: a producer draining a deep queue (Kafka Connect's, catching up)
sends a topic of small messages (Debezium's transaction topic) in fewer, fuller batches than
topics of large ones, so the END records of thousands of transactions are appended seconds
before their changes. ``merge_transactions`` then holds every transaction between the two: on
bench/domain_cpu.py's 30,000-transaction backlog 6,000 open transactions on average (10,000
changes) instead of ~600, and 9-18% more CPU per message for the memory it walks.

So a step under pressure (more than ``PRESSURE`` open transactions) publishes a *want*: the
tables whose changes its oldest held transaction still lacks, or ``MARKERS`` when what it holds
lacks END records. A source partition that no want asks for waits while a wanted partition of
its alignment group has messages; the others read as before. Inputs are named by table, as
Debezium names topics (``<topic.prefix>.<schema>.<table>``): a topic carries the table after
its last dot; under ``MARKERS`` the wanted topics are those that carry none of the step's tables
(the transaction topic). A topic named otherwise is never wanted, so it is steered only while
a wanted one has messages.

It chooses an order of delivery only, never a result, and it never stops reading: a partition
waits only while a wanted one can deliver, and a step that has not moved for ``STALL`` (the
same oldest transaction, nothing released: its data is not coming, e.g. a change dead-lettered
upstream or read by another process) withdraws its want. One registry per run (``current``),
shared by the run's workers.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Dict, FrozenSet, Optional, Tuple

from engine import run_context

PRESSURE = 500  # open transactions a step holds before it steers its sources
STALL = timedelta(seconds=1)
MARKERS: Optional[FrozenSet[str]] = None  # a want of END records, not of tables' changes

Want = Tuple[Optional[FrozenSet[str]], FrozenSet[str]]  # (wanted tables or MARKERS, the step's tables)


def table_of(topic: str) -> str:
    """The table a Debezium topic carries: the part after its last dot."""
    return topic.rsplit(".", 1)[-1]


def _wanted(want: Want, table: str) -> bool:
    tables, own = want
    return table in tables if tables is not None else table not in own


class Steering:
    """The wants of a run's steps, by step."""

    def __init__(self) -> None:
        self._wants: Dict[object, Want] = {}
        self._lock = threading.Lock()  # (workers are threads; readers only read the dict)

    def want(self, step: object, tables: Optional[FrozenSet[str]], own: FrozenSet[str]) -> None:
        """``step`` waits for changes of ``tables`` (or, ``MARKERS``, for END records)."""
        with self._lock:
            self._wants[step] = (tables, own)

    def withdraw(self, step: object) -> None:
        if step in self._wants:
            with self._lock:
                self._wants.pop(step, None)

    def active(self) -> bool:
        return bool(self._wants)

    def wanted(self, table: str) -> bool:
        """Whether some step waits for what a topic carrying ``table`` holds."""
        return any(_wanted(want, table) for want in list(self._wants.values()))


def current() -> Steering:
    """The running flow's registry (outside a run, one of its own: nothing is steered)."""
    return run_context.remembered(("steering",), Steering)
