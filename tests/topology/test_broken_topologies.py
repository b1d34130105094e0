"""Broken topology files: each must be reported at the exact line:column with the exact message."""

import textwrap

import pytest

from engine.binding import validate_text

HEAD = """\
version: 1
name: t
sources:
  orders: {file: {path: in.jsonl}}
"""
SINK = """\
sinks:
  out: {from: last, stdout: {}}
"""


def diagnostics(text, env=None):
    result = validate_text("t.yaml", textwrap.dedent(text), env=env if env is not None else {})
    return [(d.line, d.column, d.message, d.hint) for d in result.diagnostics if d.severity == "error"]


CASES = [
    ("misspelt operator", HEAD + "steps:\n  - id: last\n    fliter: \"a > 1\"\n" + SINK,
     [(7, 5, "unknown operator 'fliter'", "did you mean 'filter'?")]),
    ("two operators in one step", HEAD + "steps:\n  - id: last\n    filter: \"a > 1\"\n    key: a\n" + SINK,
     [(8, 5, "step 'last' has more than one operator (filter, key)", "a step takes exactly one; split it")]),
    ("step without operator", HEAD + "steps:\n  - id: last\n    from: orders\n" + SINK,
     [(6, 5, "step 'last' has no operator",
       "add one of: cast, debezium, filter, map, key, validate, route, branch, union, aggregate, merge_transactions, unnest, micro_batch, with_previous, sequence, resequence, join, lookup, interval_join")]),
    ("unknown from", HEAD + "steps:\n  - id: last\n    from: ordrs\n    filter: \"a > 1\"\n" + SINK,
     [(7, 11, "unknown reference 'ordrs'", "did you mean 'orders'?")]),
    ("duplicate step id", HEAD + "steps:\n  - id: last\n    filter: \"a > 1\"\n  - id: last\n    filter: \"b > 1\"\n" + SINK,
     [(8, 9, "duplicate id 'last' (first defined at line 6)", "give every source and step its own name")]),
    ("step id equal to a source name", HEAD + "steps:\n  - id: orders\n    filter: \"a > 1\"\n" + SINK,
     [(6, 9, "duplicate id 'orders' (first defined at line 4)", "give every source and step its own name"),
      (9, 15, "unknown reference 'last'", "known names: orders")]),
    ("cycle", HEAD + "steps:\n  - id: a\n    from: last\n    filter: \"x > 1\"\n  - id: last\n    from: a\n    filter: \"x > 2\"\n" + SINK,
     [(6, 9, "cycle: a -> last -> a", "steps must form a DAG; one of these must read from something else")]),
    ("self reference", HEAD + "steps:\n  - id: last\n    from: last\n    filter: \"x > 1\"\n" + SINK,
     [(7, 11, "step 'last' reads from itself", "a step can read only sources and other steps")]),
    ("unknown function", HEAD + "steps:\n  - id: last\n    map: {fields: {s: \"uper(status)\"}}\n" + SINK,
     [(7, 24, "unknown function 'uper'", "did you mean 'upper'?")]),
    ("expression syntax error", HEAD + "steps:\n  - id: last\n    filter: \"a >\"\n" + SINK,
     [(7, 17, "expected a value, found the end of the expression", None)]),
    ("unknown field when fields are known", HEAD + "steps:\n  - id: c\n    cast: {fields: {weight: float}}\n"
     "  - id: m\n    map: {fields: {w: weight}}\n  - id: last\n    filter: \"wieght > 1\"\n" + SINK,
     [(11, 14, "unknown field 'wieght'", "fields here: w")]),
    ("type error in expression", HEAD + "steps:\n  - id: m\n    map: {fields: {n: \"int(x)\"}}\n"
     "  - id: last\n    filter: \"n > 'x'\"\n" + SINK,
     [(9, 14, "cannot compare int with str", "convert with str(x), or the text with int(...), timestamp(...), ...")]),
    ("unknown cast type", HEAD + "steps:\n  - id: last\n    cast: {fields: {n: integer}}\n" + SINK,
     [(7, 24, "unknown type 'integer'", "did you mean 'int'?")]),
    ("decimal scale above precision", HEAD + "steps:\n  - id: last\n    cast: {fields: {n: \"decimal(2,5)\"}}\n" + SINK,
     [(7, 24, "decimal(2,5): the scale must be at most the precision, which must be positive", None)]),
    ("unknown source option", "version: 1\nname: t\nsources:\n  orders: {file: {pth: in.jsonl}}\n"
     "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(4, 19, "unknown option 'pth'", "did you mean 'path'?")]),  # not also "missing required option 'path'"
    ("misspelt step id", HEAD + "steps:\n  - idd: last\n    filter: \"a > 1\"\n" + SINK,
     [(6, 5, "unknown option 'idd'", "did you mean 'id'?")]),  # not also a missing id, nor 'last' unknown
    ("misspelt from", HEAD + "steps:\n  - id: last\n    form: orders\n    filter: \"a > 1\"\n" + SINK,
     [(7, 5, "unknown option 'form'", "did you mean 'from'?")]),
    ("unknown connector", "version: 1\nname: t\nsources:\n  orders: {fil: {path: in.jsonl}}\n"
     "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(4, 12, "unknown connector or option 'fil'", "did you mean 'file'?")]),
    ("sink from nothing", HEAD + "steps:\n  - id: last\n    filter: \"a > 1\"\nsinks:\n  out: {from: lats, stdout: {}}\n",
     [(9, 15, "unknown reference 'lats'", "did you mean 'last'?")]),
    ("sink without from", HEAD + "steps:\n  - id: last\n    filter: \"a > 1\"\nsinks:\n  out: {stdout: {}}\n",
     [(9, 3, "sink 'out' is missing required option 'from'", None)]),
    ("wrong version", HEAD.replace("version: 1", "version: 2") + "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(1, 10, "'version' must be one of 1, not 2", None)]),
    ("missing name", HEAD.replace("name: t\n", "") + "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(1, 1, "the topology is missing required option 'name'", None)]),
    ("bad step id", HEAD + "steps:\n  - id: my.step\n    filter: \"a > 1\"\nsinks:\n  out: {from: orders, stdout: {}}\n",
     [(6, 9, "invalid name 'my.step'", "names start with a letter or '_' and hold letters, digits, '_' and '-'")]),
    ("upsert without key", HEAD + "steps:\n  - id: last\n    cast: {fields: {id: int}}\nsinks:\n"
     "  out: {from: last, duckdb: {path: o.duckdb, table: t, mode: upsert, columns: {id: int}}}\n",
     [(9, 62, "mode 'upsert' needs 'key'", "add key: [<column>, ...]")]),
    ("duckdb columns not inferable", HEAD + "steps:\n  - id: last\n    filter: \"a > 1\"\nsinks:\n"
     "  out: {from: last, duckdb: {path: o.duckdb, table: t}}\n",
     [(9, 29, "cannot infer the columns: the fields of 'last' are not known",
       "declare them: columns: {name: type, ...}")]),
    ("unknown aggregation", HEAD + "steps:\n  - id: last\n    aggregate: {key: a, compute: {n: summ(x)}}\n" + SINK,
     [(7, 38, "unknown aggregation 'summ'", "did you mean 'sum'?")]),
    ("bad duration", HEAD + "steps:\n  - id: last\n    aggregate:\n      compute: {n: count()}\n"
     "      window: {tumbling: 5 sec}\n" + SINK,
     [(9, 26, "invalid duration '5 sec'", "write a number and a unit: 500ms, 5s, 2m, 1h or 1d")]),
    ("route output unknown", HEAD + "steps:\n  - id: r\n    route: {when: {big: \"a > 1\"}}\n"
     "sinks:\n  out: {from: r.small, stdout: {}}\n",
     [(9, 15, "'r' has no output 'small'", "outputs: big")]),
    ("route read without output", HEAD + "steps:\n  - id: r\n    route: {when: {big: \"a > 1\"}}\n"
     "sinks:\n  out: {from: r, stdout: {}}\n",
     [(9, 15, "'r' is a routing step; read one of its outputs", "write one of: r.big")]),
    ("step after a route without from", HEAD + "steps:\n  - id: r\n    route: {when: {big: \"a > 1\"}}\n"
     "  - id: last\n    filter: \"a > 2\"\n" + SINK,
     [(8, 5, "step 'last' follows a route step 'r'; say which output it reads", "add 'from: r.<output>'")]),
    ("union with from", HEAD + "steps:\n  - id: last\n    from: orders\n    union: [orders, orders]\n" + SINK,
     [(7, 5, "a union step takes its inputs from 'union', not 'from'", "remove 'from' and list every input under 'union'")]),
    ("unset environment variable", HEAD.replace("in.jsonl", '"${IN_FILE}"') + "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(4, 26, "environment variable 'IN_FILE' is not set", "export IN_FILE=..., or give a default: ${IN_FILE:-value}")]),
    ("unreadable schema file", HEAD + "steps:\n  - id: last\n    validate: {schema: no/such.json}\n" + SINK,
     [(7, 24, "cannot read schema file 'no/such.json': No such file or directory",
       "check the path; it is relative to the working directory")]),
    ("invalid YAML", HEAD + "steps:\n  - id: last\n    filter: [a\n" + SINK,
     [(8, 6, "invalid YAML: expected ',' or ']', but got ':'",
       "while parsing a flow sequence that starts at line 7, column 13")]),
    ("variable unquoted in a flow mapping", HEAD.replace("in.jsonl", "${IN_FILE}") + "steps:\n  - id: last\n"
     "    filter: \"a > 1\"\n" + SINK,
     [(4, 26, "invalid YAML: expected ',' or '}', but got '{'",
       'inside { } or [ ], quote a value that contains ${...}: "${VAR}" (quoted it is text; for a number or '
       "true/false write that mapping in block style, unquoted: 'batch_size: ${BATCH:-500}')")]),
    ("keep of an unknown field", HEAD + "steps:\n  - id: c\n    map: {fields: {n: \"1\"}}\n"
     "  - id: last\n    map: {keep: [n, m]}\n" + SINK,
     [(9, 21, "unknown field 'm'", "fields here: n")]),
    ("first step needs from with several sources", HEAD + "  more: {file: {path: b.jsonl}}\n"
     "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(7, 5, "step 'last' needs 'from': the topology has several sources",
       "add 'from: <source name>' (one of: orders, more)")]),
    ("wrong type for batch_size", "version: 1\nname: t\nsources:\n  orders: {file: {path: a, batch_size: many}}\n"
     "steps:\n  - id: last\n    filter: \"a > 1\"\n" + SINK,
     [(4, 40, "'batch_size' must be an integer, not a string", None)]),
]


@pytest.mark.parametrize("text,expected", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_broken_topology_is_reported_exactly(text, expected):
    assert diagnostics(text) == expected


def test_there_are_at_least_25_broken_topologies():
    assert len(CASES) >= 25
