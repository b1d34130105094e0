"""Where the bundled files are: ``schemas/``, ``topologies/`` and the service scripts
(``scripts/kafka``, ``postgres``, ``debezium`` and ``scripts/services/``) from a source checkout,
or the copies packed into ``engine/_bundled`` by ``pip install .``."""

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


def scripts_dir() -> str:
    """The directory of the service scripts (``kafka``, ``postgres``, ``debezium``)."""
    return _bundled_dir("scripts")


def is_packed(path: str) -> bool:
    """Whether ``path`` is inside the installed package (so nothing should be written beside it)."""
    packed = os.path.join(_HERE, "_bundled")
    return os.path.commonpath([os.path.abspath(path), packed]) == packed


def find_schema_file(path: str) -> str:
    """``path`` as given when it exists (relative to the working directory); otherwise a
    ``schemas/...`` path of a shipped topology, found in the bundled schemas (so shipped
    topologies work after ``pip install .`` from any directory)."""
    if os.path.exists(path) or os.path.isabs(path):
        return path
    parts = os.path.normpath(path).split(os.sep)
    if parts[0] == "schemas":
        bundled = os.path.join(_bundled_dir("schemas"), *parts[1:])
        if os.path.exists(bundled):
            return bundled
    return path
