"""Writes schemas/topology.schema.json, the JSON Schema of topology files, for editors.

The schema is derived from the component declarations in engine/catalog/; run
`python scripts/topology_schema.py` after changing one. A test checks that the committed
file equals what the declarations make.
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)  # run from a checkout, installed or not

from engine.catalog.topology_schema import topology_schema  # noqa: E402

schema = topology_schema()
OUT = os.path.join(ROOT, "schemas", "topology.schema.json")

if __name__ == "__main__":
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump(schema, handle, indent=2)
        handle.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")
