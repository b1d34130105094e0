"""keyed_step's state emits what a call released as one list of events and one of dead letters
(engine/compiler/keyed.py ``_Batches``); re-batched, they are exactly what the boundary's item
per event gave: the same events and dead letters in the same order, failures included, and
lists a logic keeps and changes later are not the ones sent on."""

import random
from datetime import datetime, timezone

from engine.compiler import keyed
from engine.records import DeadLetter

NOW = datetime(2026, 12, 2, tzinfo=timezone.utc)


class Scripted:
    """A keyed step whose logic returns what each event says: events out, dead letters, a raise."""

    kind = "keyed"

    def logic(self, state=None):
        return ScriptedLogic()


class ScriptedLogic:
    disposable = False

    def __init__(self):
        self.kept = []  # returned by due(), then changed: a logic may keep what it returned

    def add(self, pairs, now):
        out, dead = [], []
        for _, event in pairs:
            if event.get("raise"):
                raise RuntimeError(f"bad {event['i']}")
            out += [{"i": event["i"], "n": n} for n in range(event.get("out", 0))]
            dead += [DeadLetter(event, "s", f"d{n}") for n in range(event.get("dead", 0))]
        return out, dead

    def due(self, now):
        self.kept = [{"due": 1}]
        return self.kept, []

    def next_notification(self):
        return None

    def state(self):
        return {}

    def resume(self, now):
        pass


def _per_item(step_id, key, tagged):
    """The re-batching of the boundary's item per event (before _Batches)."""
    items = [(key, t) for t in tagged]
    ok = [value for _, (kind, value) in items if kind == keyed._OK]
    dead = [value if kind == keyed._DEAD else keyed._failure(step_id, k, value)
            for k, (kind, value) in items if kind != keyed._OK]
    return ok, dead


def _batched(step_id, key, tagged):
    items = [(key, t) for t in tagged]
    ok = keyed._rebatch_ok(None)(items)
    dead = keyed._rebatch_dead(step_id, None)(items)
    return (ok[0] if ok else []), (dead[0] if dead else [])


def _shape(result):
    ok, dead = result
    return ok, [(d.event, d.step, d.error) for d in dead]


def test_batched_output_is_the_per_event_output_rebatched():
    for seed in range(200):
        rng = random.Random(seed)
        old = keyed._KeyLogic("s", Scripted(), None)
        new = keyed._Batches("s", Scripted(), None)
        for call in range(6):
            if rng.random() < 0.2:
                got_old, got_new = old.on_notify()[0], new.on_notify()[0]
            else:
                events = [{"i": i, "out": rng.randint(0, 2), "dead": rng.randint(0, 2), "raise": rng.random() < 0.1}
                          for i in range(rng.randint(0, 4))]
                batch = [[("k", e) for e in events]]
                got_old, got_new = old.on_batch(batch)[0], new.on_batch(batch)[0]
            expected = _shape(_per_item("s", "k", got_old))
            assert _shape(_batched("s", "k", got_new)) == expected, (seed, call)
            new.logic.kept.append({"changed": True})  # after the state emitted them
            assert _shape(_batched("s", "k", got_new)) == expected, (seed, call)
