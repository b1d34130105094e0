"""table_sql.last_per_key: what an upsert batch writes when events repeat a key."""

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.table_sql import last_per_key

KEYS = st.one_of(st.integers(0, 5), st.sampled_from([1.0, True, "a", "b", None]), st.lists(st.integers(0, 2), max_size=2))


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.tuples(KEYS, st.integers(0, 3)), max_size=12), two=st.booleans())
def test_one_row_per_key_the_last_one(keys, two):
    positions = [0, 2] if two else [0]
    rows = [(k, n, i if two else "x", i) for i, (k, n) in enumerate(keys)]  # the last column: the row's place
    got = last_per_key(rows, positions)
    expected = {}  # by hand: the key's JSON-like identity when unhashable, as equal keys compare
    for row in rows:
        ident = repr([row[p] for p in positions]) if any(isinstance(row[p], list) for p in positions) else \
            tuple(row[p] for p in positions)
        expected.pop(ident, None)
        expected[ident] = row
    assert sorted(r[3] for r in got) == sorted(r[3] for r in expected.values())
    if len({tuple(map(repr, (r[p] for p in positions))) for r in rows}) == len(rows) and len(got) == len(rows):
        assert got == rows  # nothing repeats: the batch as it came
