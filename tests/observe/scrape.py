"""Reading a running flow's ``--http`` endpoint in tests: its address from the status file,
``/metrics`` parsed with Prometheus's own text parser, the JSON API checked against its schema."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Tuple

import jsonschema
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "cli" / "observe" / "api.schema.json").read_text())


def get(url: str, timeout: float = 10.0) -> Tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def api(base: str, path: str, definition: str):
    """``/api/v1/<path>`` as JSON, validated against the schema's ``$defs/<definition>``."""
    status, content_type, body = get(f"{base}/api/v1/{path}")
    assert content_type == "application/json", (path, status, content_type)
    document = json.loads(body)
    jsonschema.validate(document, {**SCHEMA, "$ref": f"#/$defs/{definition}"})
    return document


def metrics(base: str) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (sample name, sorted labels) -> value."""
    status, content_type, body = get(f"{base}/metrics")
    assert status == 200 and content_type.startswith("text/plain"), (status, content_type)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def sample(scraped: dict, name: str, **labels) -> float:
    return scraped[(name, tuple(sorted(labels.items())))]


def address(status_file: Path, timeout: float = 60.0) -> str:
    """The ``http`` address a run wrote in its status file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(status_file.read_text())["http"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise AssertionError(f"no http address in {status_file} after {timeout}s")
