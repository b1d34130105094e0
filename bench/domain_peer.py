"""A hand-written confluent-kafka + orjson peer of topologies/velocity/transport_order_domain.yaml.

    python bench/domain_peer.py BOOTSTRAP TOPIC_PREFIX OUT_TOPIC [--sliced]

What an expert writes when the job is only this flow: one Consumer assigned to the five table
topics and the transaction topic from the beginning (``consume(num_messages=1000)`` batches,
stopping at the end of every partition, as the topology's ``tail: false``), orjson; the Connect
schema of each topic read once into per-column converters (Decimal, Date, ZonedTimestamp,
MicroTimestamp, Json: the logical types these tables have, anything else refused); the
transaction merge of engine/operators/merge_transactions.py with ``markers: true`` (a
transaction goes when its END has come and every table of ours has delivered the count END
announces, in END order; the row nets of engine/operators/transaction_net.py); the domain event
of the topology's ``map``; a Producer with the Kafka sink's settings
(engine/connectors/kafka_defaults.py: acks=all, idempotent, linger.ms 100). Decimals are
written with their digits, timestamps as orjson writes aware datetimes, as the engine's sinks do.

Every message carries its table's Connect schema inline (~7 KB of its ~8 KB): parsed with each
message by default, as ``orjson.loads(value)["payload"]`` does; with ``--sliced`` only the
payload is parsed once the schema's text is known (``envelope_reader``), as the engine's
decoder does.

Left out, because this workload has none of them and an expert would not write them for it: dead
letters, snapshot reads and changes outside a transaction, the idle timeout, the JSON-schema
validation of the domain event, recovery. ``python bench/domain_peer_checked.py`` (the same
arguments) runs its ``CheckedPeer`` instead, which makes the checks the topology makes on what
Debezium and others also send (redeliveries, exact big numbers, dead letters, TOAST
placeholders, the domain schema; payloads only, as ``--sliced``). Prints one JSON line: messages
read, events written, dead letters.
"""

from __future__ import annotations

import binascii
import hashlib
import sys
import uuid
from collections import deque
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Optional

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from engine.connectors.kafka_defaults import PRODUCER  # (no imports of its own)

TABLES = ("transport_order", "note", "handling_unit", "order_stop", "leg_order")
UTC = timezone.utc
EPOCH, EPOCH_DATE = datetime(1970, 1, 1, tzinfo=UTC), date(1970, 1, 1)
URL_NAMESPACE = uuid.NAMESPACE_URL.bytes
TYPES = {"c": "TransportOrderCreated", "d": "TransportOrderDeleted"}


# -- decode --------------------------------------------------------------------------------------
def _decimal(scale: int):
    return lambda text: Decimal(f"{int.from_bytes(binascii.a2b_base64(text), 'big', signed=True)}E{-scale}")


def _zoned(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


LOGICAL = {
    "io.debezium.time.Date": lambda days: EPOCH_DATE + timedelta(days=days),
    "io.debezium.time.ZonedTimestamp": _zoned,
    "io.debezium.time.MicroTimestamp": lambda micros: EPOCH + timedelta(microseconds=micros),
    "io.debezium.data.Json": orjson.loads,
    "io.debezium.data.Uuid": None, "io.debezium.data.Enum": None,
}


def converters(schema: dict) -> list:
    """(column, converter) of the row columns that need one, from an envelope's Connect schema."""
    row = next(f for f in schema["fields"] if f["field"] == "after")
    out = []
    for column in row["fields"]:
        name = column.get("name")
        if name == "org.apache.kafka.connect.data.Decimal":
            out.append((column["field"], _decimal(int(column["parameters"]["scale"]))))
        elif name is not None:
            if name not in LOGICAL:
                raise SystemExit(f"no converter for {name}")
            if LOGICAL[name] is not None:
                out.append((column["field"], LOGICAL[name]))
    return out


def decode_rows(before, after, convs: list) -> None:
    """Convert both images in place; an unchanged column of an update is converted once."""
    for column, convert in convs:
        old = None if before is None else before.get(column)
        if old is not None:
            before[column] = value = convert(old)
            if after is not None:
                new = after.get(column)
                if new is not None:
                    after[column] = value if new == old else convert(new)
        elif after is not None:
            new = after.get(column)
            if new is not None:
                after[column] = convert(new)


# -- merge ---------------------------------------------------------------------------------------
def row_of(table: str, row: dict):
    if table == "order_stop":
        return table, row["order_id"], row["stop_id"], row["kind"]
    if table == "leg_order":
        return table, row["leg_id"], row["order_id"]
    return table, row["id"]


def changed_columns(before, after) -> list:
    if not before or not after:
        return sorted([k for k, v in (after or before).items() if v is not None])
    return sorted([k for k, v in before.items() if after[k] != v])


def net(changes: list):
    """transaction_net.net_change of one row's changes (table, op, before, after, lsn, ts_ms)."""
    first, last = changes[0], changes[-1]
    existed, exists = first[1] in "ud", last[1] in "cur"
    before = first[2] if existed else None
    after = last[3] if exists else None
    if not existed and not exists:
        return None
    if existed and exists:
        if before == after:
            return None
        op = "u"
    else:
        op = "c" if exists else "d"
    return {"table": last[0], "op": op, "before": before, "after": after, "changed": changed_columns(before, after),
            "lsn": last[4], "merged": len(changes)}


def uuid5(text: str) -> str:
    digest = bytearray(hashlib.sha1(URL_NAMESPACE + text.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def domain_events(tx_id: str, changes: list, net=net, moment=lambda when: when, moved=None) -> list:
    """The topology's domain events of one complete transaction, as (key, event) (``net``: of a
    row's changes; ``moment``: ``occurred_at`` of its datetime; ``moved(change, changes, key,
    groups)``: told of each row's net change: bench/domain_peer_checked.py's)."""
    rows: dict = {}
    seqs: dict = {}
    for seq, change in enumerate(changes):
        row = row_of(change[0], change[3] if change[3] is not None else change[2])
        rows.setdefault(row, []).append(change)
        seqs[row] = seq
    groups: dict = {}
    for row, its in rows.items():
        change = net(its)
        if change is None:
            continue
        change["seq"], change["snapshot"] = seqs[row], False
        last = its[-1]
        image = last[3] if last[3] is not None else last[2]
        key = image["id"] if last[0] == "transport_order" else image["order_id"]
        key = None if key is None else str(key)
        groups.setdefault(key, []).append((change, its))
        if moved is not None:
            moved(change, its, key, groups)
    out = []
    for key, nets in groups.items():
        ops: dict = {}
        for change, _ in nets:
            table = change["table"]
            ops[table] = change["op"] if ops.get(table, "u") == "u" else ops[table]
        lsn = max((its[-1][4] for _, its in nets if its[-1][4] is not None), default=None)
        out.append((key, {
            "event_id": uuid5(f"transport_order\x1f{tx_id}\x1f{key or ''}\x1f{'' if lsn is None else lsn}"),
            "type": TYPES.get(ops.get("transport_order"), "TransportOrderUpdated"),
            "domain": "transport_order", "key": key,
            "occurred_at": moment(EPOCH + timedelta(milliseconds=max(c[5] for _, its in nets for c in its))),  # commit
            "tx_id": tx_id, "position": lsn, "changed_tables": sorted(ops),
            "changes": [change for change, _ in nets]}))
    return out


def _exact(value):
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(type(value).__name__)


_PAYLOAD = b',"payload":'


def envelope_reader(loads):
    """``(topic, raw) -> (schema, payload)`` parsing only the payload of a message whose inline
    schema is the text its topic's last fully parsed message had (Connect's JsonConverter writes
    the same schema text into every message of a table): the ``--sliced`` peer. A message that
    starts otherwise is parsed whole and its schema remembered. (This flow's schemas name no
    field ``payload``, so the first ``,"payload":`` ends the schema.)"""
    known: dict = {}  # topic -> (the text up to the payload, the schema)

    def read(topic: str, raw: bytes):
        entry = known.get(topic)
        if entry is not None and raw.startswith(entry[0]) and raw.endswith(b"}"):
            return entry[1], loads(memoryview(raw)[len(entry[0]):-1])
        record = loads(raw)
        end = raw.find(_PAYLOAD)
        if end > 0:
            known[topic] = (raw[:end + len(_PAYLOAD)], record["schema"])
        return record["schema"], record["payload"]
    return read


class DomainPeer:
    """The flow's work on messages as they come: ``take`` each (topic, value), then ``released``
    gives the (key, value) of the domain events of the transactions complete so far, in commit
    order. ``main`` feeds it from Kafka; bench/domain_replay.py from memory."""

    reads_batches = False  # True: ``main`` gives it a topic's messages of one poll at once (take_all)

    def __init__(self, marker_topic: str, sliced: bool = False) -> None:
        self.marker_topic = marker_topic
        self.ours = {f"public.{t}": t for t in TABLES}
        self.convs: dict = {}
        self.open_txs: dict = {}  # tx id -> [changes, per-table counts]
        self.expected: dict = {}  # tx id -> per-table counts END announced
        self.ended: deque = deque()  # END order = commit order
        self.read = envelope_reader(orjson.loads) if sliced else None
        self.dumps = orjson.dumps  # (bench/domain_replay.py's --until events: one that writes nothing)
        self.take = self._taker()

    def _taker(self):
        """``take(topic, raw)``: a closure over the state, its names bound once (as the loop of
        one function would have them), so that the peer pays no method dispatch per message."""
        marker_topic, convs, open_txs, ends = self.marker_topic, self.convs, self.open_txs, self.ends
        read, loads = self.read, orjson.loads

        def take(topic: str, raw: bytes) -> None:
            if read is None:
                record = loads(raw)
                schema, payload = record["schema"], record["payload"]
            else:
                schema, payload = read(topic, raw)
            if topic == marker_topic:
                if payload["status"] == "END":
                    ends(payload["id"].split(":", 1)[0], payload)
                return
            table = topic.rsplit(".", 1)[1]
            if topic not in convs:
                convs[topic] = converters(schema)
            before, after, source = payload["before"], payload["after"], payload["source"]
            decode_rows(before, after, convs[topic])
            tx = str(source["txId"])
            state = open_txs.get(tx)
            if state is None:
                state = open_txs[tx] = [[], dict.fromkeys(TABLES, 0)]
            state[0].append((table, payload["op"], before, after, source["lsn"], source["ts_ms"]))
            state[1][table] += 1

        return take

    def take_all(self, topic: str, raws: list) -> None:
        """``take`` of each of a topic's batch (CheckedPeer reads a batch at once)."""
        take = self.take
        for raw in raws:
            take(topic, raw)

    def completed(self) -> list:
        """(tx id, changes) of the transactions complete now, in commit order, taken out of the state."""
        out = []
        ended, open_txs, expected = self.ended, self.open_txs, self.expected
        while ended:
            tx = ended[0]
            state = open_txs.get(tx)
            counts = expected[tx]
            if state is not None and any(state[1][t] < n for t, n in counts.items()):
                break
            if state is None and counts:
                break
            ended.popleft()
            del expected[tx]
            if state is not None:
                del open_txs[tx]
                out.append((tx, state[0]))
        return out

    def ends(self, tx: str, end: dict) -> None:
        """Transaction ``tx``'s END (payload ``end``): its counts of our tables expected, in commit order."""
        ours = self.ours
        counts = {ours[c["data_collection"]]: c["event_count"] for c in end["data_collections"]
                  if c["data_collection"] in ours}
        if counts or tx in self.open_txs:
            if tx not in self.expected:  # a second END keeps the first one's place (as the engine's merge)
                self.ended.append(tx)
            self.expected[tx] = counts

    def released(self) -> list:
        """(key bytes or None, value bytes) of the transactions complete now, in commit order."""
        out = []
        dumps = self.dumps
        for tx, changes in self.completed():
            for key, event in domain_events(tx, changes):
                out.append((None if key is None else key.encode(), dumps(event, default=_exact)))
        return out


def main(bootstrap: str, prefix: str, out: str, sliced: bool = False,
         make: Optional[Callable[[str], DomainPeer]] = None) -> None:
    """Drain the topics into ``out``; ``make``: the peer of a metadata topic, in place of DomainPeer."""
    topics = [f"{prefix}.public.{t}" for t in TABLES] + [f"{prefix}.transaction"]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"peer-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics])
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})  # configured as the Kafka sink's
    peer = make(topics[-1]) if make is not None else DomainPeer(topics[-1], sliced)
    ended_partitions: set = set()  # (topic, partition) at their end
    messages, events = 0, 0
    produce, take = producer.produce, peer.take
    per_topic: dict = {}
    if peer.reads_batches:  # its messages gathered per topic, in order
        take = lambda topic, raw: per_topic.setdefault(topic, []).append(raw)  # noqa: E731
    while len(ended_partitions) < len(topics):
        for message in consumer.consume(num_messages=1000, timeout=1.0):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    ended_partitions.add((message.topic(), message.partition()))
                    continue
                raise SystemExit(str(error))
            raw = message.value()
            if raw is None:
                continue
            messages += 1
            take(message.topic(), raw)
        for topic, raws in per_topic.items():
            peer.take_all(topic, raws)
        per_topic.clear()
        for key, value in peer.released():  # complete transactions, in commit order
            produce(out, value, key)
            events += 1
        producer.poll(0)
    if peer.open_txs or peer.ended:
        raise SystemExit(f"{len(peer.open_txs)} transaction(s) still open at the end of the topics")
    producer.flush(60)
    consumer.close()
    print(orjson.dumps({"messages": messages, "events": events, "dead": len(getattr(peer, "dead", ()))}).decode())


if __name__ == "__main__":
    main(*sys.argv[1:4], sliced="--sliced" in sys.argv[4:])
