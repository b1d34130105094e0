"""Test results for machines: JUnit XML (what CI systems read) and JSON.

JUnit: one ``<testsuite>`` per test file, one ``<testcase>`` per case; a failed expectation is
a ``<failure>`` (its message the first failure's line, its text every failure), a case whose
run failed an ``<error>``; a test file or topology that does not load is one ``<testcase>``
with an ``<error>`` listing its problems, so CI shows it instead of an empty suite.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import List

from engine.testing.suite import CaseResult, FileResult


def failure_lines(path: str, case: CaseResult) -> List[str]:
    """``file:line:col: test 'name': expectation at 'place': message`` per failure."""
    return [f"{path}:{f.where[0]}:{f.where[1]}: test '{case.name}': expectation at '{f.at}': {f.message}"
            for f in case.failures]


def to_junit(results: List[FileResult]) -> str:
    root = ET.Element("testsuites", name="velocity-flow test")
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for result in results:
        suite = ET.SubElement(root, "testsuite", name=result.path)
        counts = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
        if result.problems:
            case = ET.SubElement(suite, "testcase", name="load", classname=result.path, time="0")
            text = "\n".join(f"{p.location}: {p.severity}: {p.message}" for p in result.problems)
            ET.SubElement(case, "error", message=text.splitlines()[0], type="invalid").text = text
            counts["tests"], counts["errors"] = 1, 1
        for outcome in result.cases:
            case = ET.SubElement(suite, "testcase", name=outcome.name, classname=result.path,
                                 time=f"{outcome.seconds:.3f}")
            counts["tests"] += 1
            counts["time"] += outcome.seconds
            if outcome.error is not None:
                ET.SubElement(case, "error", message=outcome.error, type="run").text = outcome.error
                counts["errors"] += 1
            elif outcome.failures:
                lines = failure_lines(result.path, outcome)
                ET.SubElement(case, "failure", message=lines[0].splitlines()[0], type="expectation").text = \
                    "\n".join(lines)
                counts["failures"] += 1
        for key, value in counts.items():
            suite.set(key, f"{value:.3f}" if key == "time" else str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def to_json(results: List[FileResult]) -> str:
    return json.dumps([{
        "file": r.path,
        "passed": r.passed,
        "problems": [p.to_dict() for p in r.problems],
        "tests": [{"name": c.name, "line": c.line, "passed": c.passed, "error": c.error,
                   "seconds": round(c.seconds, 3), "failures": [f.to_dict() for f in c.failures]} for c in r.cases],
    } for r in results], indent=2)
