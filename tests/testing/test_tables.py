"""``tables`` in a test case: the rows a ``lookup`` step finds instead of its database
(docs/testing.md, Lookups)."""

import textwrap

import duckdb

from tests.testing.test_command import cli

FLOW = """\
version: 1
name: enriched
sources:
  orders: {file: {path: in.jsonl}}
steps:
  - id: with-customer
    lookup: {duckdb: ref.duckdb, table: customer, key: id, on: customer_id, fields: {customer: name}, ttl: 1h}
sinks:
  out: {from: with-customer, file: {path: out.jsonl}}
"""


def run(tmp_path, tests):
    (tmp_path / "flow.yaml").write_text(FLOW)
    path = tmp_path / "flow.test.yaml"
    path.write_text("topology: flow.yaml\ntests:\n" + textwrap.dedent(tests))
    return cli("test", str(path))


def test_given_rows_replace_the_table_and_each_case_starts_with_an_empty_cache(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the lookup's duckdb path is relative to the working directory
    with duckdb.connect(str(tmp_path / "ref.duckdb")) as con:
        con.execute("create table customer (id varchar, name varchar)")
        con.execute("insert into customer values ('C1', 'from the database')")
    code, out, err = run(tmp_path, """\
      - name: given rows
        tables:
          with-customer: [{id: C1, name: ACME}, {id: C2}]
        inputs:
          orders: [{customer_id: C1}, {customer_id: C2}, {customer_id: C3}]
        expect:
          - at: sink:out
            events: [{customer_id: C1, customer: ACME}, {customer_id: C2, customer: null},
                     {customer_id: C3, customer: null}]
      - name: the real table, not the rows an earlier case cached (ttl 1h)
        inputs:
          orders: [{customer_id: C1}]
        expect:
          - at: sink:out
            events: [{customer_id: C1, customer: from the database}]
    """)
    assert code == 0, out + err
    assert "2 passed, 0 failed" in out


def test_rows_are_checked_against_the_lookup(tmp_path):
    code, out, err = run(tmp_path, """\
      - name: bad
        tables:
          with-customer: [{name: ACME}, {id: C1, nme: ACME}]
          nope: []
        inputs:
          orders: [{customer_id: C1}]
        expect: [{at: sink:out, count: 1}]
    """)
    assert code == 1
    assert "flow.test.yaml:5:21: error: a row of 'with-customer' needs its key column 'id'" in err, err
    assert "flow.test.yaml:5:44: error: unknown key 'nme' in a row of 'with-customer'" in err, err
    assert "flow.test.yaml:6:5: error: unknown key 'nope' in 'tables'" in err and "with-customer" in err, err


def test_a_row_whose_key_is_a_mapping_or_a_list_is_a_located_problem_not_a_crash(tmp_path):
    code, out, err = run(tmp_path, """\
      - name: bad keys
        tables:
          with-customer: [{id: {a: 1}, name: ACME}, {id: [C1], name: B}]
        inputs:
          orders: [{customer_id: C1}]
        expect: [{at: sink:out, count: 1}]
    """)
    assert code == 1, out + err  # (was exit 4: unhashable type: 'dict')
    assert "flow.test.yaml:5:26: error: the key 'id' of a row of 'with-customer' is a dict" in err, err
    assert "the key 'id' of a row of 'with-customer' is a list" in err and "Traceback" not in err, err
