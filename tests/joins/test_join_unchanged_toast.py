"""The stream-table join's table side and Debezium's unchanged-TOAST placeholder: a table change
whose field holds the placeholder (engine/unavailable.py) keeps the value the key's row holds,
as the table sinks do; a key with no row gets null there. Before, the placeholder replaced the
value and every later event was enriched with it."""

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.joins.stream_table import StreamTableJoin
from engine.unavailable import UNAVAILABLE, UNAVAILABLE_ARRAYS
from tests.joins.restart_driver import Driver

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
PLACEHOLDERS = [UNAVAILABLE, *UNAVAILABLE_ARRAYS]


def join():
    config = {"table": "t", "on": "k", "table_key": "id", "delete_when": "gone", "fields": {"v": "v", "w": "w"},
              "how": "left"}
    return StreamTableJoin("j", config, None, {"table": None})


def test_a_placeholder_keeps_the_rows_value_and_a_new_key_gets_null():
    with Driver(join(), NOW) as driver:
        driver.feed("table", [{"id": "a", "v": "long text", "w": 1, "gone": False}])
        driver.feed("table", [{"id": "a", "v": UNAVAILABLE, "w": 2, "gone": False},
                              {"id": "b", "v": UNAVAILABLE_ARRAYS[1], "w": 3, "gone": False}])
        driver.feed("from", [{"k": "a"}, {"k": "b"}])
        driver.end()
    assert driver.out == [{"k": "a", "v": "long text", "w": 2}, {"k": "b", "v": None, "w": 3}]
    assert driver.dead == [] and driver.failures == []


values = st.one_of(st.integers(0, 3), st.sampled_from(PLACEHOLDERS), st.just("__debezium_unavailable_value "))
changes = st.builds(lambda k, v, w, gone: ("table", {"id": k, "v": v, "w": w, "gone": gone}),
                    st.sampled_from(["a", "b"]), values, values, st.booleans())
lookups = st.builds(lambda k: ("from", {"k": k}), st.sampled_from(["a", "b"]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.lists(st.one_of(changes, lookups), max_size=25), st.booleans())
def test_events_see_the_last_known_values(fed, snapshots):
    table: dict = {}
    expected = []
    with Driver(join(), NOW) as driver:
        for n, (side, event) in enumerate(fed):
            if side == "from":
                event["n"] = n
                row = table.get(event["k"])
                expected.append({**event, "v": row and row["v"], "w": row and row["w"]} if row else
                                {**event, "v": None, "w": None})
            elif event["gone"]:
                table.pop(event["id"], None)
            else:
                old = table.get(event["id"], {})
                table[event["id"]] = {f: old.get(f) if any(event[f] == p for p in PLACEHOLDERS) else event[f]
                                      for f in ("v", "w")}
            driver.feed(side, [event])
            if snapshots and n % 5 == 4:
                driver.snapshot()
        driver.end()
    assert driver.failures == []
    assert sorted(driver.out, key=lambda e: e["n"]) == expected
