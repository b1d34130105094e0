"""The error a connector raises when it cannot open what the topology points at."""


class ConnectorError(Exception):
    """A one-line message for users, raised when a connector is built or opened, never per event.

    Example: ``file source: no file matches 'samples/*.jsonl'``.
    """
