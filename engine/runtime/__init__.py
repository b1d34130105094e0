"""Running compiled dataflows: options, execution, and clean failure reports."""
