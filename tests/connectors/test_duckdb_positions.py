"""Fast Storage writes ordered per row by source position (duckdb_positions, duckdb_tables):
hand-made row changes delivered out of order, replayed, or changing a primary key."""

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_flows import Encoding
from engine.connectors.duckdb_positions import older, read_position
from engine.connectors.duckdb_tables import DuckDBTablesSink
from engine.connectors.errors import ConnectorError

TABLES = {
    "handling_unit": {"key": ["id"], "columns": {"id": "str", "order_id": "str", "status": "str"}},
    "leg_order": {"key": ["leg_id", "order_id"], "columns": {"leg_id": "str", "order_id": "str", "units": "int"}},
}


def writer(path):
    sink = DuckDBTablesSink(str(path), TABLES)
    return Encoding(sink, sink.build_part("s", "p", None))


def query(path, sql):
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def hu(op, lsn, seq, id="X", order="A", status="NEW", before=None):
    row = {"id": id, "order_id": order, "status": status}
    if op == "d":
        return {"table": "handling_unit", "op": "d", "before": row, "after": None, "lsn": lsn, "seq": seq}
    return {"table": "handling_unit", "op": op, "before": before, "after": row, "lsn": lsn, "seq": seq}


def units(path):
    return query(path, "SELECT id, order_id, status FROM handling_unit ORDER BY id")


def test_an_older_upsert_after_a_newer_one_is_ignored(tmp_path):
    db = tmp_path / "fast.duckdb"
    part = writer(db)
    part.write_batch([[hu("u", 200, 0, order="B", status="MOVED")]])  # chunk of order B first
    part.write_batch([[hu("u", 100, 3, order="A", status="LOADED")]])  # chunk of order A later
    part.close()
    assert units(db) == [("X", "B", "MOVED")]


def test_an_older_upsert_after_a_newer_delete_is_ignored_by_the_tombstone(tmp_path):
    db = tmp_path / "fast.duckdb"
    part = writer(db)
    part.write_batch([[hu("c", 100, 0)]])
    part.write_batch([[hu("d", 300, 1)]])
    part.write_batch([[hu("u", 200, 0, status="LOADED")]])  # older than the delete
    part.close()
    assert units(db) == []
    assert query(db, "SELECT id, _lsn, _seq, _deleted FROM _positions_handling_unit") == [("X", 300, 1, True)]


def test_a_newer_upsert_after_a_delete_recreates_the_row(tmp_path):
    db = tmp_path / "fast.duckdb"
    part = writer(db)
    part.write_batch([[hu("c", 100, 0), hu("d", 200, 0)]])
    part.write_batch([[hu("c", 300, 0, status="AGAIN")]])
    part.close()
    assert units(db) == [("X", "A", "AGAIN")]


def test_the_same_batch_replayed_leaves_the_same_state(tmp_path):
    db = tmp_path / "fast.duckdb"
    batch = [hu("c", 100, 0, id="X"), hu("c", 100, 1, id="Y"), hu("u", 150, 0, id="X", status="LOADED"),
             hu("d", 160, 2, id="Y")]
    part = writer(db)
    part.write_batch([batch])
    first = (units(db), query(db, "SELECT * FROM _positions_handling_unit ORDER BY id"))
    part.write_batch([batch])
    part.write_batch([list(reversed(batch))])
    part.close()
    assert (units(db), query(db, "SELECT * FROM _positions_handling_unit ORDER BY id")) == first
    assert first[0] == [("X", "A", "LOADED")]


def test_a_key_change_in_one_update_deletes_the_old_row_and_writes_the_new_one(tmp_path):
    db = tmp_path / "fast.duckdb"
    part = writer(db)
    part.write_batch([[{"table": "leg_order", "op": "c", "after": {"leg_id": "L1", "order_id": "A", "units": 2},
                        "lsn": 100, "seq": 0}]])
    move = {"table": "leg_order", "op": "u", "before": {"leg_id": "L1", "order_id": "A", "units": 2},
            "after": {"leg_id": "L1", "order_id": "B", "units": 2}, "lsn": 200, "seq": 0}
    part.write_batch([[move]])
    # an older write of the old key, delivered late, does not bring it back
    part.write_batch([[{"table": "leg_order", "op": "u", "before": None,
                        "after": {"leg_id": "L1", "order_id": "A", "units": 5}, "lsn": 150, "seq": 0}]])
    part.close()
    assert query(db, "SELECT * FROM leg_order") == [("L1", "B", 2)]


def test_the_modelled_table_keeps_its_columns_and_an_old_file_gets_its_side_tables(tmp_path):
    db = tmp_path / "fast.duckdb"
    con = duckdb.connect(str(db))  # written before positions existed
    con.execute("CREATE TABLE handling_unit (id VARCHAR, order_id VARCHAR, status VARCHAR, PRIMARY KEY (id))")
    con.execute("INSERT INTO handling_unit VALUES ('X', 'A', 'OLD')")
    con.close()
    part = writer(db)
    part.write_batch([[hu("u", 100, 0, status="NEW")]])
    part.write_batch([[hu("u", 90, 0, status="STALE")]])
    part.close()
    assert units(db) == [("X", "A", "NEW")]
    assert [c for (c,) in query(db, "SELECT column_name FROM information_schema.columns "
                                    "WHERE table_name = 'handling_unit' ORDER BY ordinal_position")] == \
        ["id", "order_id", "status"]


def test_changes_without_a_readable_position_apply_in_arrival_order(tmp_path):
    db = tmp_path / "fast.duckdb"
    part = writer(db)
    part.write_batch([[hu("u", 500, 0, status="POSITIONED")]])
    part.write_batch([[hu("u", None, None, status="NO-POSITION")]])  # applies, the position becomes unknown
    assert units(db) == [("X", "A", "NO-POSITION")]
    part.write_batch([[hu("u", 10, 0, status="LOW")]])  # nothing known to be newer: applies
    part.write_batch([[hu("u", True, 0, status="BOOL"), hu("u", "not-an-lsn", 0, id="Y")]])  # unreadable: arrival order
    part.close()
    assert units(db) == [("X", "A", "BOOL"), ("Y", "A", "NEW")]


@pytest.mark.parametrize("lsn, seq, expected", [
    (5, 1, (5, 1)), ("5", "1", (5, 1)), (" 42 ", None, (42, None)), ("16/B374D848", 0, ((0x16 << 32) | 0xB374D848, 0)),
    (None, 3, None), (True, 0, None), (1.5, 0, None), ("x", 0, None), (5, "y", None), (5, 2 ** 64, None),
    (2 ** 70, 0, (2 ** 70, 0)), (2 ** 130, 0, None), ([1], 0, None),
])
def test_reading_positions(lsn, seq, expected):
    assert read_position(lsn, seq) == expected


def test_text_and_integer_lsns_compare_as_numbers():
    assert older(read_position(9, 5), read_position("10", 0))
    assert older(read_position("16/0", 9), read_position(0x16 << 32, 10))
    assert not older(read_position(10, None), read_position(10, 3))  # order unknown: arrival order


def test_equal_positions_apply_in_arrival_order(tmp_path):
    db = tmp_path / "fast.duckdb"
    part = writer(db)
    part.write_batch([[hu("c", 100, None)]])
    part.write_batch([[hu("d", 100, None)]])  # positions that do not tell them apart: the later applies
    part.write_batch([[hu("u", 100, 0, id="Y"), hu("u", 100, 0, id="Y", status="SAME-POSITION")]])
    part.close()
    assert units(db) == [("Y", "A", "SAME-POSITION")]


def test_reserved_names_are_refused():
    with pytest.raises(ConnectorError, match="positions table"):
        DuckDBTablesSink("x.duckdb", {"t": TABLES["handling_unit"], "_positions_t": TABLES["handling_unit"]})
    with pytest.raises(ConnectorError, match="may not be called '_lsn'"):
        DuckDBTablesSink("x.duckdb", {"t": {"key": ["_lsn"], "columns": {"_lsn": "int"}}})


# Hypothesis: random changes to a few rows (some changing their key), distinct positions.
_ROW = st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["NEW", "LOADED", "GONE"]))
_CHANGE = st.tuples(st.sampled_from(["c", "u", "d", "move"]), st.sampled_from(["X", "Y", "Z"]),
                    st.sampled_from(["X", "Y", "Z"]), _ROW)


def _events(raw, lsns):
    events = []
    for (op, id, new_id, (order, status)), lsn in zip(raw, lsns):
        position = {"lsn": lsn // 3, "seq": lsn % 3}  # some share an lsn and differ by seq
        if op == "move":  # a key change in one update
            events.append({"table": "handling_unit", "op": "u", "before": {"id": id, "order_id": "A", "status": "NEW"},
                           "after": {"id": new_id, "order_id": order, "status": status}, **position})
        else:
            events.append({**hu(op, None, None, id=id, order=order, status=status), **position})
    return events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.lists(_CHANGE, min_size=1, max_size=12), data=st.data())
def test_any_order_and_batching_gives_the_state_of_position_order(tmp_path_factory, raw, data):
    lsns = data.draw(st.lists(st.integers(0, 300), min_size=len(raw), max_size=len(raw), unique=True))
    events = _events(raw, lsns)
    state = {}  # the source's history: every change applied in position order
    for event in sorted(events, key=lambda e: (e["lsn"], e["seq"])):
        if event["op"] == "d":
            state.pop(event["before"]["id"], None)
            continue
        if event["before"] is not None:
            state.pop(event["before"]["id"], None)
        after = event["after"]
        state[after["id"]] = (after["id"], after["order_id"], after["status"])
    shuffled = data.draw(st.permutations(events))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(events)), max_size=4)))
    batches, start = [], 0
    for cut in cuts + [len(events)]:
        batches.append(shuffled[start:cut])
        start = cut
    db = tmp_path_factory.mktemp("shuffled") / "fast.duckdb"
    part = writer(db)
    for batch in batches:
        chunks = data.draw(st.integers(1, 3))  # a write_batch call carries several chunks
        part.write_batch([batch[i::chunks] for i in range(chunks)])
    part.close()
    assert units(db) == sorted(state.values())
