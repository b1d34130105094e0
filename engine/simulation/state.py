"""What the lifecycle mixins (orders.py, trips.py) use of the simulation (tms.py's _Simulation provides it)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Callable, Dict, List

from engine.simulation.database import Database, Tx


class SimulationState:
    """The state and helpers the mixins share; declared here so each mixin type-checks on its own."""

    rng: random.Random
    move_rng: random.Random
    db: Database
    orders: int
    key_moves: bool
    moves_done: int
    note_id: int
    hu_serial: int
    trip_serial: int
    order_ids: Dict[int, str]

    def uuid(self) -> str:
        raise NotImplementedError

    def at(self, when: datetime, action: Callable[[Tx], None]) -> None:
        raise NotImplementedError

    def minutes(self, lo: int, hi: int) -> timedelta:
        raise NotImplementedError

    def new_note_id(self) -> int:
        raise NotImplementedError

    def _plan_trip_action(self, group: List[int]) -> Callable[[Tx], None]:
        raise NotImplementedError
