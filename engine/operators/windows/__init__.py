"""The window kinds of ``aggregate``, one module each (as Quix Streams' ``dataframe/windows``).

``base`` holds what every kind shares (the parsed options, the per-key base class), ``bounds``
the time arithmetic of window bounds and ``timed`` the event-time watermark of the time-based
kinds. Each kind is a :class:`~engine.operators.keyed.KeyLogic` with its own state type:
``running`` (no window), ``count``, ``tumbling``, ``sliding`` and ``session``;
``engine/operators/aggregate.py`` parses the config and picks the class.
"""
