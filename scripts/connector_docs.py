"""Refills the option tables of docs/connectors.md from the declarations in engine/catalog/.

Run `python scripts/connector_docs.py` after changing a source or sink; a test checks that
the committed page equals what the declarations make.
"""
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)  # run from a checkout, installed or not

from engine.catalog.docs import connector_docs  # noqa: E402

PAGE = os.path.join(ROOT, "docs", "connectors.md")

if __name__ == "__main__":
    with open(PAGE, encoding="utf-8") as handle:
        text = handle.read()
    with open(PAGE, "w", encoding="utf-8") as handle:
        handle.write(connector_docs(text))
    print(f"wrote {os.path.normpath(PAGE)}")
