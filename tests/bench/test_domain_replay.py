"""bench/domain_replay.py on a small backlog: it runs, and the engine's operators make the same
domain events as the hand-written peers (bench/domain_peer.py, bench/domain_peer_checked.py),
implementations written apart from the engine, on the simulator's Debezium messages read in the
sources' batch order."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode", [[], ["--fresh"]], ids=["kept operators", "fresh operators"])
def test_the_replay_finds_the_engine_and_the_peer_making_the_same_domain_events(mode):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--transactions", "300",
                          "--rounds", "2", "--batch-size", "7", *mode], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == 2 and all("equal domain events" in line and " checked " in line for line in rounds), \
        run.stdout
    assert run.stdout.splitlines()[-2].startswith("ratio engine/peer CPU per message: ")
    assert run.stdout.splitlines()[-1].startswith("ratio engine/checked peer CPU per message: ")


def test_one_side_runs_alone_on_a_kept_backlog_and_both_sides_find_the_same_number_of_events(tmp_path):
    """``--side`` (bench/domain_instructions.py counts such runs): the backlog written by the
    first run is read by the second, and each side's rounds make the same domain events."""
    kept = tmp_path / "backlog.pickle"
    found = {}
    for side in ("engine", "peer", "checked"):
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--transactions", "120",
                              "--side", side, "--rounds", "2", "--backlog", str(kept)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        assert kept.exists()
        rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
        assert len(rounds) == 2 and all(f": {side} " in line for line in rounds), run.stdout
        found[side] = {line.rsplit(", ", 1)[1] for line in rounds}
    assert found["engine"] == found["peer"] == found["checked"] and len(found["engine"]) == 1, found
    assert int(next(iter(found["engine"])).split()[0]) > 0


def test_the_instruction_bench_reads_a_warm_round_as_two_rounds_less_one(tmp_path):
    sys.path.insert(0, str(ROOT))
    from bench.domain_instructions import per_message, totals

    def written(name: str, counts: list) -> dict:
        path = tmp_path / name
        path.write_text("desc: I1 cache: 32768 B, 64 B, 8-way associative\ncmd: python\n"
                        "events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw Bc Bcm Bi Bim\nfl=x.c\nfn=f\n1 2 0 0 0 0 0 0 0 0 0 0 0 0\n"
                        f"summary: {' '.join(map(str, counts))}\n")
        return totals(str(path))

    one = written("one.out", [1000, 5, 1, 400, 40, 4, 200, 20, 2, 300, 30, 10, 3])
    two = written("two.out", [1600, 6, 1, 700, 70, 7, 330, 32, 5, 500, 51, 20, 6])
    assert one["Ir"] == 1000 and two["DLmw"] == 5 and two["Bim"] == 6
    assert per_message(two, one, 3) == {"Ir": 200.0, "D1": 14.0, "LL": 2.0, "Bm": 8.0}


def test_a_kept_backlog_says_what_it_holds_whatever_the_later_arguments(tmp_path):
    kept = tmp_path / "backlog.pickle"
    lines = []
    for transactions in ("60", "500"):  # the second run reads the first one's backlog
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--transactions", transactions,
                              "--side", "peer", "--rounds", "0", "--backlog", str(kept)],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        lines.append(run.stdout.splitlines()[0])
    assert lines[0] == lines[1] and lines[0].startswith("backlog: 60 transactions, "), lines


def test_the_engine_side_stops_after_the_step_it_is_told(tmp_path):
    """``--until`` (bench/domain_instructions.py --steps): stopped after the merge or the map, no
    domain event is encoded; after the last step (the sink's encoding), every one."""
    kept, found = tmp_path / "backlog.pickle", {}
    for until in ("merge", "map", "encode"):
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--transactions", "60",
                              "--side", "engine", "--rounds", "1", "--backlog", str(kept), "--until", until],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        found[until] = int(run.stdout.splitlines()[-1].rsplit(", ", 1)[1].split()[0])
    assert found["merge"] == found["map"] == 0 and found["encode"] > 0, found


def test_a_peer_side_stops_after_its_own_step_and_refuses_the_engines(tmp_path):
    """A peer's ``--until`` (its own steps: read, take, events, dumps): no event before its
    transactions are released, all of them after; an engine step is refused for a peer."""
    kept, found = tmp_path / "backlog.pickle", {}
    for until in ("read", "take", "events", "dumps"):
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--transactions", "60",
                              "--side", "checked", "--rounds", "1", "--backlog", str(kept), "--until", until],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        found[until] = int(run.stdout.splitlines()[-1].rsplit(", ", 1)[1].split()[0])
    assert found["read"] == found["take"] == 0 and found["events"] == found["dumps"] > 0, found
    refused = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--side", "peer", "--rounds",
                              "0", "--backlog", str(kept), "--until", "merge"], capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "not a step of --side peer" in refused.stderr, refused.stderr


def test_a_round_on_kept_operators_starts_with_the_values_of_the_last_one_forgotten(tmp_path):
    """``--side engine`` keeps its operators from one round to the next: the debezium step's
    memos of converted values must not carry a round's values into the next (the next round of
    the same backlog would find them all), nor the module's memo of plain JSON texts."""
    sys.path.insert(0, str(ROOT))
    from bench.domain_latency import TABLES, workload
    from bench.domain_replay import FLOW, batches, engine_run, forget, operators
    from engine.operators.debezium_types import json_text

    def memos(changes) -> list:
        return [len(convert.memo_get.__self__) for entries in changes._cache.values() for _, convs in entries
                for _, convert in convs if getattr(convert, "memo_get", None) is not None]

    order = batches(workload(str(tmp_path / "tms"), TABLES[FLOW], 20, 1)[:60])
    steps = operators()
    first, _ = engine_run(order, steps)
    assert memos(steps[0]) and sum(memos(steps[0])) > 0  # the workload's timestamps and decimals
    json_text.plain_texts["{}"] = None
    forget(steps[0])
    assert sum(memos(steps[0])) == 0 and not json_text.plain_texts
    second, _ = engine_run(order, steps)
    assert sorted(second) == sorted(first) and sum(memos(steps[0])) > 0


def test_the_instruction_bench_refuses_a_last_level_it_cannot_give_cachegrind():
    """``--ll SIZE,WAYS`` (a core's 1 MiB second level: ``1048576,8``) goes to cachegrind's
    ``--LL`` with the line size; anything else is refused before any run, exit 2."""
    for wrong in ("1MiB", "1048576", "1048576,8,64", "0,8"):
        run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_instructions.py"), "--ll", wrong],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and f"--ll {wrong}: SIZE,WAYS" in run.stderr, (wrong, run.stderr)
