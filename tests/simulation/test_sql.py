"""The SQL replay of the simulated workload matches the simulated changes."""

from engine.simulation.sql import sql_transactions, statement
from engine.simulation.tms import transactions


def test_statements_per_operation():
    row = {"id": 7, "order_id": "o", "trip_id": None, "kind": "driver", "author": "a", "body": "b", "created_at": None}
    insert, params = statement("note", "c", None, row)
    assert insert.startswith('INSERT INTO "note" ("id", "order_id",') and params[0] == 7
    update, params = statement("note", "u", row, {**row, "body": "c"})
    assert update.endswith('WHERE "id" = %s') and params[-1] == 7 and "c" in params
    delete, params = statement("note", "d", row, None)
    assert delete == 'DELETE FROM "note" WHERE "id" = %s' and params == [7]
    link, params = statement("order_stop", "d", {"order_id": "o", "stop_id": "s", "kind": "pickup"}, None)
    assert link.endswith('"order_id" = %s AND "stop_id" = %s AND "kind" = %s') and params == ["o", "s", "pickup"]


def test_one_sql_transaction_per_simulated_transaction_with_the_same_changes():
    simulated = transactions(10, 4)
    replay = list(sql_transactions(10, 4))
    assert len(replay) == len(simulated)
    assert [len(t) for t in replay] == [len(changes) for _, changes in simulated]
    kinds = {sql.split()[0] for t in replay for sql, _ in t}
    assert kinds == {"INSERT", "UPDATE", "DELETE"}
