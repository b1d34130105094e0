"""Test results for machines: JUnit XML (what CI systems read) and JSON.

JUnit: one ``<testsuite>`` per test file, one ``<testcase>`` per case; a failed expectation is
a ``<failure>`` (its message the first failure's line, its text every failure), a case whose
run failed an ``<error>``; a test file or topology that does not load is one ``<testcase>``
with an ``<error>`` listing its problems, so CI shows it instead of an empty suite.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import List

from engine.testing.suite import CaseResult, FileResult

# what XML 1.0 cannot hold, even as a character reference: C0 controls but tab and line ends,
# surrogates (a file name's undecodable bytes), U+FFFE and U+FFFF. ElementTree writes them as they
# are, and a CI tool then rejects the whole report
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _element(parent: ET.Element, tag: str, text: str = "", **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {key: _xml(value) for key, value in attributes.items()})
    if text:
        element.text = _xml(text)
    return element


def failure_lines(path: str, case: CaseResult) -> List[str]:
    """``file:line:col: test 'name': expectation at 'place': message`` per failure."""
    return [f"{path}:{f.where[0]}:{f.where[1]}: test '{case.name}': expectation at '{f.at}': {f.message}"
            for f in case.failures]


def to_junit(results: List[FileResult]) -> str:
    root = ET.Element("testsuites", name="velocity-flow test")
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    for result in results:
        suite = _element(root, "testsuite", name=result.path)
        counts = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
        if result.problems:
            case = _element(suite, "testcase", name="load", classname=result.path, time="0")
            text = "\n".join(f"{p.location}: {p.severity}: {p.message}" for p in result.problems)
            _element(case, "error", text, message=text.splitlines()[0], type="invalid")
            counts["tests"], counts["errors"] = 1, 1
        for outcome in result.cases:
            case = _element(suite, "testcase", name=outcome.name, classname=result.path, time=f"{outcome.seconds:.3f}")
            counts["tests"] += 1
            counts["time"] += outcome.seconds
            if outcome.error is not None:
                _element(case, "error", outcome.error, message=outcome.error, type="run")
                counts["errors"] += 1
            elif outcome.failures:
                lines = failure_lines(result.path, outcome)
                _element(case, "failure", "\n".join(lines), message=lines[0].splitlines()[0], type="expectation")
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
