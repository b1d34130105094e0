"""Binding: definitions (engine/topology) + operators and schemas -> the bound topology the
compiler runs. ``validate_file`` / ``validate_text`` do the whole way from a file."""

from engine.binding.model import SinkSpec, SourceSpec, StepSpec, Topology
from engine.binding.validation import Validation, validate_every_environment, validate_file, validate_text

__all__ = ["SinkSpec", "SourceSpec", "StepSpec", "Topology", "Validation", "validate_every_environment",
           "validate_file", "validate_text"]
