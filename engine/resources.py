"""Where the bundled files are: ``schemas/`` and ``topologies/`` from a source checkout, or the
copies packed into ``engine/_bundled`` by ``pip install .``."""

from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _bundled_dir(name: str) -> str:
    packed = os.path.join(_HERE, "_bundled", name)
    if os.path.isdir(packed):
        return packed
    return os.path.join(os.path.dirname(_HERE), name)


def schema_path(relative: str) -> str:
    """Absolute path of a bundled JSON Schema, e.g. ``topology.schema.json``."""
    return os.path.join(_bundled_dir("schemas"), relative)


def topologies_dir() -> str:
    return _bundled_dir("topologies")
