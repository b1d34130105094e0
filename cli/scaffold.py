"""``velocity-flow init NAME [--dir D] [--force]``: a starting point that already works.

Writes a topology (``NAME.yaml``), a sample input with one bad line (``samples/NAME.jsonl``),
its unit tests (``NAME.test.yaml``, docs/testing.md) and a README snippet (``NAME.md``) into
``D``. Paths inside the topology are relative to ``D``, where the commands are run, as for every
topology. Nothing is overwritten unless ``--force``: an existing file is a usage error (exit 2),
and then no file at all is written; a file that cannot be written is exit 3.
"""

from __future__ import annotations

import os
import re
from typing import Dict

from rich.console import Console

from cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error_line

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")  # a topology name (catalog/fragments.ID) and a file name

TOPOLOGY = """\
# {name}: made by `velocity-flow init` (docs/topology.md). Run from this directory:
#   velocity-flow validate {name}.yaml && velocity-flow run {name}.yaml && velocity-flow test {name}.yaml
version: 1
name: {name}
description: events from a JSON Lines file, typed, checked, shaped, and totals per customer

sources:
  events:
    file: {{path: "${{VF_SAMPLES:-samples}}/{name}.jsonl"}}

steps:
  - id: parse                    # text to types; a value that does not cast is a dead letter
    cast: {{fields: {{id: int, amount: "decimal(10,2)", at: timestamp}}}}

  - id: valid
    filter: "amount > 0"

  - id: shaped
    map:
      key: "str(id)"
      fields: {{id: id, customer: upper(customer), amount: amount, large: amount >= 100, at: at}}

  - id: per-customer
    from: shaped
    aggregate: {{key: customer, compute: {{events: count(), total: sum(amount)}}, emit: final}}

sinks:
  events: {{from: shaped, file: {{path: "${{VF_OUT:-out}}/{name}/events.jsonl"}}}}
  totals: {{from: per-customer, file: {{path: "${{VF_OUT:-out}}/{name}/totals.jsonl"}}}}

dead_letter: {{file: {{path: "${{VF_OUT:-out}}/{name}/dead-letter.jsonl"}}}}
"""

SAMPLE = """\
{"id": "1", "customer": "acme", "amount": "120.50", "at": "2026-11-02T06:00:00Z"}
{"id": "2", "customer": "acme", "amount": "30", "at": "2026-11-02T06:05:00Z"}
{"id": "3", "customer": "globex", "amount": "0", "at": "2026-11-02T06:10:00Z"}
{"id": "4", "customer": "globex", "amount": "n/a", "at": "2026-11-02T06:15:00Z"}
{"id": "5", "customer": "globex", "amount": "99.99", "at": "2026-11-02T06:20:00Z"}
"""

TESTS = """\
# velocity-flow test {name}.yaml  (docs/testing.md)
topology: {name}.yaml
tests:
  - name: an event is typed and shaped
    inputs:
      events:
        - {{id: "1", customer: acme, amount: "120.50", at: "2026-11-02T06:00:00Z"}}
    expect:
      - at: shaped
        events: [{{id: 1, customer: ACME, amount: 120.50, large: true, at: "2026-11-02T06:00:00Z"}}]
      - at: sink:events
        count: 1
    dead_letters: []

  - name: an amount of zero is filtered out, one that is not a number is a dead letter
    inputs:
      events:
        - {{id: "1", customer: acme, amount: "0", at: "2026-11-02T06:00:00Z"}}
        - {{id: "2", customer: acme, amount: "n/a", at: "2026-11-02T06:00:00Z"}}
    expect:
      - at: shaped
        count: 0
    dead_letters:
      - {{step: parse, error: "cannot cast field 'amount'", count: 1}}

  - name: totals per customer
    inputs:
      events:
        - {{id: "1", customer: acme, amount: "120.50", at: "2026-11-02T06:00:00Z"}}
        - {{id: "2", customer: Acme, amount: "30", at: "2026-11-02T06:05:00Z"}}
    expect:
      - at: per-customer
        contains: [{{customer: ACME, events: 2, total: 150.50}}]
"""

README = """\
## {name}

`{name}.yaml` reads `samples/{name}.jsonl`, types and checks each event, and writes the
events and totals per customer to `out/{name}/` (bad events to `out/{name}/dead-letter.jsonl`).
From this directory:

```bash
velocity-flow validate {name}.yaml      # every problem at file:line:column
velocity-flow run {name}.yaml           # live view, then a summary (VF_SAMPLES, VF_OUT move the files)
velocity-flow test {name}.yaml          # the cases of {name}.test.yaml (docs/testing.md)
velocity-flow graph {name}.yaml         # the DAG as Mermaid
```
"""


def files(name: str) -> Dict[str, str]:
    """Relative path -> content of what ``init`` writes."""
    return {f"{name}.yaml": TOPOLOGY.format(name=name), os.path.join("samples", f"{name}.jsonl"): SAMPLE,
            f"{name}.test.yaml": TESTS.format(name=name), f"{name}.md": README.format(name=name)}


def init(args, out: Console, err: Console) -> int:
    if not NAME.match(args.name):
        err.print(error_line(f"{args.name!r} is not a topology name: a letter or '_', then letters, digits, "
                             "'_' or '-'", markup=True), highlight=False)
        return EXIT_USAGE
    directory = args.dir
    planned = {os.path.join(directory, path): text for path, text in files(args.name).items()}
    existing = [path for path in planned if os.path.lexists(path)]
    if existing and not args.force:
        err.print(error_line(f"{', '.join(existing)} already exist(s); nothing was written "
                             "(--force overwrites)", markup=True), highlight=False)
        return EXIT_USAGE
    for path, text in planned.items():
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "w", encoding="utf-8") as file:
                file.write(text)
        except OSError as exc:
            err.print(error_line(f"cannot write {path}: {exc.strerror or exc}", markup=True), highlight=False)
            return EXIT_FAILED
        out.print(f"wrote {path}", highlight=False, soft_wrap=True)
    where = "" if os.path.abspath(directory) == os.getcwd() else f"cd {directory} && "
    out.print(f"next: {where}velocity-flow validate {args.name}.yaml && velocity-flow run {args.name}.yaml "
              f"&& velocity-flow test {args.name}.yaml", highlight=False, soft_wrap=True)
    return EXIT_OK
