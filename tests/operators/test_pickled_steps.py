"""A ``-p N`` cluster pickles what crosses its processes, and a decoded batch carries its decode
step (engine/lineage.py: a later dead letter's source event is found through it). Read back, the
batch traces its events as the original does, and the step decodes as it did. Compiled with mypyc
(tests/test_compiled_core.py runs these tests on that build), a native class cannot be unpickled
field by field (its ``__new__`` runs ``__init__``): a -p 2 deploy died of it before the step had
its ``__reduce__``."""

import pickle

from engine import lineage
from engine.operators.decode import Decode
from engine.records import RawBatch


def _read_back(events):
    return pickle.loads(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))


def test_a_decoded_batch_read_back_traces_its_events_to_their_offsets():
    raw = RawBatch([b'{"id": 1}', b'{"id": 2, "big": 123456789012345678901}'], "orders", offsets=[7, 9])
    events, deads = Decode("orders").process(raw)
    back = _read_back(events)
    assert deads == [] and back == events and type(back) is lineage.Batch
    assert [lineage.trace(back, i) for i in range(2)] == [lineage.trace(events, i) for i in range(2)]
    assert lineage.trace(back, 1) == ({"id": 2, "big": 123456789012345678901}, "orders@9")


def test_a_decode_step_read_back_decodes_as_the_original():
    raw = RawBatch([b'{"order_id": 7}', b'{"order_id": 1e999}', b"[1]", b"nope"], "orders.jsonl", first_offset=3)
    for step in (Decode("orders"), Decode("orders", format="string")):
        events, deads = step.process(raw)
        copy = _read_back(step)
        again, again_deads = copy.process(raw)
        assert again == events and [(d.error, d.origin) for d in again_deads] == [(d.error, d.origin) for d in deads]
        assert [lineage.trace(again, i) for i in range(len(again))] == [lineage.trace(events, i)
                                                                       for i in range(len(events))]
    assert [d.origin for d in Decode("orders").process(raw)[1]] == [f"orders.jsonl:{n}" for n in (4, 5, 6)]
