"""Debezium's transaction metadata records (``status`` BEGIN/END, ``id`` ``txId:LSN``,
``event_count``, ``data_collections``), as ``merge_transactions`` reads them: recognising
them, their transaction id, and what an END record announces, with a one-line reason for
whatever is malformed."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from engine.operators.dead import describe
from engine.records import DeadLetter

# the data collection Debezium's PostgreSQL connector names for the logical decoding messages of a
# transaction in its END record ("...LogicalDecodingMessageMonitor$LogicalDecodingMessageId@6cca960e")
MESSAGES = "io.debezium.connector.postgresql.LogicalDecodingMessageMonitor"


MARKERS = ("BEGIN", "END")  # the statuses of a metadata record


def entry(original: Any, step_id: str) -> Tuple[Any, Optional[DeadLetter]]:
    """(the event ``merge_transactions`` takes of ``original``, None), or (None, the dead letter of
    an event it cannot key): a metadata record with its Connect schema gives its payload."""
    event = original
    try:
        if "payload" in event and "schema" in event:
            event = unwrapped(event)
        marker = "op" not in event and event.get("status") in MARKERS and "id" in event  # is_marker, inline
        tx = marker_id(event) if marker else event.get("tx_id")
    except Exception as exc:  # noqa: BLE001 - this event, not the batch
        reason = describe(exc) if type(event) is dict else f"not an object: {type(event).__name__}"
        return None, DeadLetter(original, step_id, reason)
    if tx is None and (marker or "op" not in event):  # a change without one: loose
        return None, DeadLetter(original, step_id, no_id(event))
    return event, None


def is_marker(event: Any) -> bool:
    # "op" first: a change (most events) is told by one test, without the get
    return "op" not in event and event.get("status") in MARKERS and "id" in event


def marker_id(event: Any) -> Optional[str]:
    """Transaction ids in metadata look like ``txId:LSN``; change events carry the txId.
    None when the record has no usable id."""
    value = event.get("id")
    if type(value) is int:
        return str(value)
    if type(value) is not str:
        return None
    return value.split(":", 1)[0] or None


def unwrapped(event: Any) -> dict:
    """A metadata record with its Connect schema: the payload."""
    payload = event["payload"]
    if type(payload) is not dict:
        raise ValueError(f"'payload' of a record with a schema is not an object: {type(payload).__name__}")
    return payload


def no_id(event: Any) -> str:
    if is_marker(event):
        return f"transaction record without a usable id: {event.get('id')!r:.40}"
    return "no transaction id (tx_id) in the change event"


def announced(event: Any) -> Dict[str, int]:
    """What an END record announces: events per table (``{"*": total}`` when it names no
    table). ValueError saying what is malformed."""
    collections = event.get("data_collections")
    if collections is not None and type(collections) is not list:
        raise ValueError(f"data_collections is not a list: {type(collections).__name__} {collections!r:.40}")
    counts: Dict[str, int] = {}
    messages = 0  # pg_logical_emit_message records of the transaction: on the <prefix>.message topic, not a table's
    for index, entry in enumerate(collections or ()):
        if type(entry) is not dict:
            raise ValueError(f"data_collections[{index}] is not an object: {type(entry).__name__} {entry!r:.40}")
        name = entry.get("data_collection")
        if type(name) is not str or not name:
            raise ValueError(f"data_collections[{index}].data_collection is not a table name: {name!r:.40}")
        table = name.rsplit(".", 1)[-1]  # one table name in two schemas: the change events cannot tell them apart
        count: Any = entry.get("event_count")
        if type(count) is not int or count < 0:  # (_count's test inline: an END names several tables)
            _count(count, index)  # raises
        if name.startswith(MESSAGES):
            messages += count
            continue
        counts[table] = counts.get(table, 0) + count
    total = event.get("event_count")
    if total is not None or not counts:
        checked = _count(total)
        if not counts:
            return {"*": max(checked - messages, 0)}
    return counts


def _count(value: Any, index: Optional[int] = None) -> int:
    if type(value) is not int or value < 0:
        name = "event_count" if index is None else f"data_collections[{index}].event_count"
        raise ValueError(f"{name} is not a count of events: {value!r:.40}")
    return value

