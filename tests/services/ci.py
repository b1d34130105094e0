"""Whether the tests run under CI, and what a missing service does there: under CI every test
runs (a service that cannot start fails its tests); elsewhere a tool that is not installed skips
them."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(what: str, reason: str, missing_tool: bool):
    """Fail (under CI, or when the reason is not a missing tool) or skip, with the reason."""
    if in_ci() or not missing_tool:
        pytest.fail(f"{what} unavailable: {reason}", pytrace=False)
    pytest.skip(f"{what}: {reason}")
