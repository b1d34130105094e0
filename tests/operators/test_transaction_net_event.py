"""transaction_net._event (one domain key's event from its rows' net changes) gives exactly what
its first version gave: the same event, or the same error (lsn values that cannot be compared),
whatever the rows' tables, ops and lsns (None, ints, floats, text)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.transaction_net import _event


def _reference(tx_id, key, nets, every=()):
    """The first version: ``nets`` as (net change, its row's last change); ``every``: all the changes."""
    last = nets[-1][1]
    changes = [net for net, _ in nets]
    ops = {}
    for change in changes:
        ops[change["table"]] = change["op"] if ops.get(change["table"], "u") == "u" else ops[change["table"]]
    return {"tx_id": tx_id, "key": key, "changes": changes, "ops": ops,
            "tables": sorted(ops),
            "lsn": max((c["lsn"] for _, c in nets if c.get("lsn") is not None), default=None),
            "ts_ms": last.get("ts_ms"),
            # (since the domain flows' review: the commit time, the highest of every change's, in any order)
            "source_ts_ms": max((c["source_ts_ms"] for c in every if c.get("source_ts_ms") is not None), default=None),
            "snapshot": False,
            "_key": key}


def _outcome(fn, *args):
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - the same error is part of the same behaviour
        return "error", type(exc), str(exc)


_LSN = st.one_of(st.none(), st.integers(0, 5), st.sampled_from([1.5, 2.0, "7"]))


@st.composite
def _rows(draw):
    """A row: its changes (the last one's lsn and ts_ms count) and its net change."""
    changes = [{"table": "t", "op": "u", "lsn": draw(_LSN), "ts_ms": draw(st.one_of(st.none(), st.integers(0, 9))),
                "source_ts_ms": draw(st.one_of(st.none(), st.integers(0, 9)))}
               for _ in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        del changes[-1]["ts_ms"]
    last = changes[-1]
    net = {"table": draw(st.sampled_from(["a", "b", "c"])), "op": draw(st.sampled_from("cud")),
           "before": None, "after": None, "changed": [], "lsn": last.get("lsn"), "merged": len(changes)}
    return net, changes


@settings(max_examples=500, deadline=None)
@given(st.lists(_rows(), min_size=1, max_size=5), st.one_of(st.none(), st.text(max_size=3)))
def test_an_event_is_what_the_first_version_made(rows, tx_id):
    old = _outcome(_reference, tx_id, "k", [(net, changes[-1]) for net, changes in rows],
                   [c for _, changes in rows for c in changes])
    assert _outcome(_event, tx_id, "k", rows) == old
