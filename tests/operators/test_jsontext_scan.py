"""decode's one scan of a batch's text for numbers a double or 64 bits may not hold
(engine/jsontext.py ``_BIG_OR_LONG_MEMBER``) finds one exactly when either of the two
searches it replaced does (written out here as the reference)."""

import re2
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.jsontext import _BIG_OR_LONG_MEMBER, _SIXTEEN_DIGITS_WITH_A_POINT

BIG_MEMBER = re2.compile(rb":[ \t\n\r]*(?:-[0-9]{19}|[0-9]{20})")
LONG_MEMBER = re2.compile(rb":[ \t\n\r]*-?[0-9]*(?:" + _SIXTEEN_DIGITS_WITH_A_POINT + rb"|[0-9.]*[eE][-+]?[0-9]{3})")

_pieces = st.sampled_from([b":", b": ", b"\n", b"-", b".", b"e", b"E", b"+", b"1", b"0", b"9", b"12345678",
                           b"1234567890123456789", b'"x"', b",", b"{", b"}", b"[", b"e-308", b"\t"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(_pieces, max_size=30).map(b"".join))
@example(b'{"a":-1234567890123456789}')
@example(b'{"a":12345678901234567890}')
@example(b'{"a":1.234567890123456}')
@example(b'{"a":1e308}')
@example(b'{"a":123456789012345678}')
def test_one_scan_finds_what_the_two_searches_found(text):
    expected = BIG_MEMBER.search(text) is not None or LONG_MEMBER.search(text) is not None
    assert (_BIG_OR_LONG_MEMBER.search(text) is not None) == expected


def test_re2_is_imported_at_the_first_search_not_with_the_module():
    import subprocess
    import sys

    code = ("import sys, engine.jsontext as j; assert 're2' not in sys.modules; "
            "assert j._BIG_OR_LONG_MEMBER.search(b'{\"a\":12345678901234567890}'); assert 're2' in sys.modules; "
            "assert j._BIG_OR_LONG_MEMBER.search(b'{\"a\":1}') is None")
    subprocess.run([sys.executable, "-c", code], check=True)
