"""Expression evaluation speed: compiled expressions vs hand-written Python, same run.

    python bench/expressions.py [--events N]

Prints nanoseconds per evaluation and evaluations/s for a typical predicate and a computed
field, each as a fused batch comprehension (how ``filter``/``map`` run them) and as a single
call, next to the same logic hand-written in Python (the baseline) and the ratio.
Goal (issue 2): a typical predicate well under 1 microsecond.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engine.expressions import NAMESPACE, compile_expression  # noqa: E402

PREDICATE = "status != 'DRAFT' and weight_kg > 0"
COMPUTED = "upper(status) + '-' + str(order_id)"
FIELDS = {"status": "str", "weight_kg": "decimal(10,3)", "order_id": "int"}


def events(count: int) -> list:
    statuses = ["NEW", "DRAFT", "PLANNED", None]
    return [{"order_id": i, "status": statuses[i % 4], "weight_kg": Decimal(i % 50) - 5} for i in range(count)]


def hand_predicate(e):
    status, weight = e.get("status"), e.get("weight_kg")
    return status is not None and status != "DRAFT" and weight is not None and weight > 0


def hand_computed(e):
    status = e.get("status")
    return None if status is None else status.upper() + "-" + str(e.get("order_id"))


def timed(fn, data, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - start)
    return best / len(data) * 1e9


def fused(source: str, mode: str):
    scope = dict(NAMESPACE)
    body = f"[e for e in batch if {source}]" if mode == "filter" else f"[{source} for e in batch]"
    exec(f"def run(batch):\n    return {body}\n", scope)  # noqa: S102 - benchmark of generated code
    return scope["run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    data = events(parser.parse_args().events)
    predicate, computed = compile_expression(PREDICATE, FIELDS), compile_expression(COMPUTED, FIELDS)
    assert [hand_predicate(e) for e in data] == [predicate.holds(e) for e in data]
    assert [hand_computed(e) for e in data] == [computed(e) for e in data]
    rows = [
        ("predicate, fused batch", timed(fused(predicate.test, "filter"), data),
         timed(lambda b: [e for e in b if hand_predicate(e)], data)),
        ("predicate, one call", timed(lambda b: [predicate.holds(e) for e in b], data),
         timed(lambda b: [hand_predicate(e) for e in b], data)),
        ("computed field, fused batch", timed(fused(computed.python, "map"), data),
         timed(lambda b: [hand_computed(e) for e in b], data)),
    ]
    print(f"{'case':30} {'ns/eval':>9} {'evals/s':>12} {'hand ns':>9} {'ratio':>7}")
    for name, ours, hand in rows:
        print(f"{name:30} {ours:9.0f} {1e9 / ours:12,.0f} {hand:9.0f} {hand / ours:7.2f}")
    print("ratio = hand-written time / compiled time (>= 1 means the compiled expression is faster)")


if __name__ == "__main__":
    main()
