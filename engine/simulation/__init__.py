"""Simulators of the systems around Velocity (pure Python, no Bytewax).

``engine.simulation.tms.generate`` writes the Debezium technical topics of a simulated TMS
database plus the ground truth a pipeline must reproduce (docs/tms.md).
"""

from engine.simulation.tms import Summary, generate

__all__ = ["Summary", "generate"]
