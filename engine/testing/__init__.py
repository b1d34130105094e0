"""``velocity-flow test``: YAML unit tests for topologies, run on the real compiled dataflow
with in-memory sources and sinks (docs/testing.md)."""

from engine.testing.suite import CaseResult, FileResult, NoTests, find_test_files, run_file

__all__ = ["CaseResult", "FileResult", "NoTests", "find_test_files", "run_file"]
