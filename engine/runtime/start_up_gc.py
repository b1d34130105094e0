"""What start-up makes, left out of the cyclic GC's passes while a flow runs.

Start-up (imports, validation, compiling) makes tens of thousands of objects that live as long as
the flow (modules, classes, functions, the compiled steps) and almost no cyclic garbage (~340
objects at the start of an idle ``deploy`` of transport_order_domain). With the run's threshold
(50,000, runner.py) the collector still walked them: once while the compiler was imported (a
young collection of ~48k objects, ~20M instructions) and again as the run's first collections
moved them up. Frozen (``gc.freeze``), they are left to reference counting, which frees all but
cycles; ``gc.unfreeze`` when the block ends hands them back to the collector, so a process that
runs many flows (the tests) does not keep the cycles of each.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def start_up_frozen() -> Iterator[None]:
    """Freeze what exists now (young objects included: their count starts again from zero); at
    the end, unfreeze, unless something had frozen objects before (its choice, kept)."""
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield
    finally:
        if not frozen_before:
            gc.unfreeze()
