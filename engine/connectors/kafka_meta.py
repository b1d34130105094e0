"""A Kafka message's metadata as a source's ``metadata: true`` adds it to the event (``_meta``)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional

_EPOCH, _YEAR_2100 = datetime(1970, 1, 1, tzinfo=timezone.utc), 4_102_444_800_000


def message_meta(message) -> dict:
    key = message.key()
    kind, stamp = message.timestamp()
    return {
        "topic": message.topic(), "partition": message.partition(), "offset": message.offset(),
        "key": key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
        "timestamp": (datetime.fromtimestamp(stamp / 1000, timezone.utc) if 0 <= stamp < _YEAR_2100
                      else time_of(stamp)) if kind else None,  # time_of's usual case, inlined
        "headers": {k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
                    for k, v in (message.headers() or [])},
    }


def time_of(stamp: int) -> Optional[datetime]:
    """A Kafka timestamp (ms) as a time; None for -1 (Kafka's "no timestamp") and for one no
    ``datetime`` holds: any 64-bit number is a timestamp to Kafka (a producer's clock or bug:
    year 10000 and later), and raising here stopped the flow at that message after each restart."""
    if 0 <= stamp < _YEAR_2100:  # a double holds every millisecond: fromtimestamp, twice as fast
        return datetime.fromtimestamp(stamp / 1000, timezone.utc)
    try:
        return None if stamp == -1 else _EPOCH + timedelta(milliseconds=stamp)
    except OverflowError:
        return None
