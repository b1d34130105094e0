"""A cast to timestamp or date reads ISO 8601, whose date and time a 'T' (or a space) separates:
Python's fromisoformat takes any character there, so a 20-digit id became 1111-11-11T11:11:11.11111
and '2026-11-02X06:00' a time. The fused loop and the converter agree on every text."""

from datetime import datetime, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.operators.cast import Cast
from engine.values import converter

_SEPARATED = st.builds(lambda t, sep, zone: t.isoformat(sep=sep) + zone,
                       st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
                       st.sampled_from(["T", "t", " "]), st.sampled_from(["", "Z", "+00:00", "+02:00"]))
_OTHER = st.builds(lambda t, sep, zone: t.isoformat(sep=sep) + zone,
                   st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
                   st.sampled_from(list("0123456789Xx_-/:.")), st.sampled_from(["", "Z", "+00:00"]))


@pytest.mark.parametrize("text", ["11111111111111111111", " 11111111111111111111 ", "2026110206000000000",
                                  "2026-11-02X06:00:00", "2026-11-02106:00:00Z", "20261102106Z"])
@pytest.mark.parametrize("type_name", ["timestamp", "date"])
def test_a_date_and_time_joined_by_another_character_is_no_timestamp(text, type_name):
    with pytest.raises(ValueError, match="ISO-8601"):
        converter(type_name)(text)
    step = Cast("c", {"fields": {"v": type_name}}, None)
    events, deads = step.process([{"v": text}, {"v": "2026-11-02T06:00:00Z"}])
    assert [d.event for d in deads] == [{"v": text}] and len(events) == 1  # the flow goes on


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(_SEPARATED, _OTHER, st.text(alphabet="0123456789TtZ:+- ", min_size=8, max_size=26)))
@example(text="20261102T06Z")
@example(text="2026-W45-1T06:00:00Z")
def test_the_fused_cast_reads_a_text_as_the_converter(text):
    to_timestamp = converter("timestamp")
    try:
        expected = ("ok", to_timestamp(text))
    except ValueError:
        expected = ("dead", None)
    events, deads = Cast("c", {"fields": {"v": "timestamp"}}, None).process([{"v": text}])
    got = ("ok", events[0]["v"]) if events else ("dead", None)
    assert got == expected
    if got[0] == "ok" and text.strip()[10:11] not in ("T", "t", " ", ""):
        assert text.strip()[8:9] in ("T", "t", " ")  # a basic date (YYYYMMDD) and then its separator
    if got[0] == "ok":
        assert got[1].tzinfo is timezone.utc
