"""What a running flow lets through to standard error: Rust panic banners and the Python
tracebacks Bytewax prints for an error the runner reports in one line are dropped; every other
line (librdkafka logs, warnings) passes unchanged."""

import os
import threading

from engine.runtime.runner import _forward

BYTEWAX_NOISE = b"""before
Traceback (most recent call last):
  File "/x/wiring.py", line 80, in build_part
    return _NamedStateful(self.name, _call(...))
           ^^^^^^^^^^^^^
engine.connectors.errors.ConnectorError: sink 'out': file sink: cannot open '/secret/out.jsonl'

The above exception was the direct cause of the following exception:

bytewax.errors.BytewaxRuntimeError: (src/outputs.rs:323:54): error init StatefulSink
thread '<unnamed>' panicked at src/outputs.rs:323:54:
error init StatefulSink
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
%3|1796|FAIL|rdkafka#producer-1| broker down
after
"""


def _filtered(data: bytes) -> bytes:
    read_end, write_end = os.pipe()
    out_read, out_write = os.pipe()
    forwarder = threading.Thread(target=_forward, args=(read_end, out_write))
    forwarder.start()
    os.write(write_end, data)
    os.close(write_end)
    forwarder.join(timeout=5)
    os.close(out_write)
    with os.fdopen(out_read, "rb") as result:
        return result.read()


def test_tracebacks_and_panic_banners_are_dropped_other_lines_pass():
    assert _filtered(BYTEWAX_NOISE) == b"before\n%3|1796|FAIL|rdkafka#producer-1| broker down\nafter\n"


def test_lines_that_merely_mention_a_traceback_pass():
    text = b"a Traceback word in a sentence\n  indented line\nwarning: x\n"
    assert _filtered(text) == text
