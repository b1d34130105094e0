"""Find test files and run them: the results of ``velocity-flow test``.

``PATH`` may be a test file (``*.test.yaml``), a topology (its test file beside it:
``orders.yaml`` -> ``orders.test.yaml``) or a directory, searched recursively.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional

from engine.testing.execution import run_case
from engine.testing.expectations import Failure, check_case
from engine.testing.spec import TestFile, load_test_file
from engine.topology.diagnostics import Diagnostic, count_errors

SUFFIXES = (".test.yaml", ".test.yml")


class NoTests(Exception):
    """A PATH that names no test file: a usage error."""


def test_file_of(path: str) -> str:
    """The test file of ``path``: itself when it is one, else ``<stem>.test.yaml`` beside it."""
    if path.endswith(SUFFIXES):
        return path
    stem, _ext = os.path.splitext(path)
    for suffix in SUFFIXES:
        if os.path.isfile(stem + suffix):
            return stem + suffix
    return stem + SUFFIXES[0]


def find_test_files(paths: List[str]) -> List[str]:
    found: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            inside = sorted(os.path.join(folder, name) for folder, _dirs, names in os.walk(path, onerror=_unreadable)
                            for name in names if name.endswith(SUFFIXES))
            if not inside:
                raise NoTests(f"no test file (*.test.yaml) under '{path}'")
            found += inside
        elif not os.path.exists(path):
            raise NoTests(f"'{path}' does not exist")
        else:
            test = test_file_of(path)
            if not os.path.isfile(test):
                raise NoTests(f"'{path}' has no test file: expected '{test}'")
            found.append(test)
    return list(dict.fromkeys(os.path.normpath(p) for p in found))


def _unreadable(error: OSError) -> None:
    """A folder under PATH that cannot be read: its tests would not run, and the rest pass green."""
    raise NoTests(f"cannot read '{error.filename}': {error.strerror}")


@dataclass
class CaseResult:
    name: str
    line: int
    failures: List[Failure] = field(default_factory=list)
    error: Optional[str] = None  # the run itself failed (a sink refused its options, ...)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class FileResult:
    test: TestFile
    cases: List[CaseResult] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.test.path

    @property
    def problems(self) -> List[Diagnostic]:
        """What is wrong with the test file or its topology: nothing ran."""
        validation = self.test.validation
        errors = [d for d in validation.diagnostics if count_errors([d])] if validation is not None else []
        return list(self.test.problems) + errors

    @property
    def passed(self) -> bool:
        return not self.problems and all(c.passed for c in self.cases)


def run_file(path: str, only: Optional[str] = None) -> FileResult:
    """Load, check and run every case of one test file (``only``: the cases of that name)."""
    test = load_test_file(path)
    result = FileResult(test)
    if result.problems or test.topology is None:
        return result
    for case in test.cases:
        if only is not None and case.name != only:
            continue
        outcome = run_case(test.topology, case)
        failures = [] if outcome.error else check_case(case, outcome.seen, outcome.dead)
        result.cases.append(CaseResult(case.name, case.where[0], failures, outcome.error, outcome.seconds))
    return result
