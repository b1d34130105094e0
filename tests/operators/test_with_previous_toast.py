"""``with_previous`` and Debezium's placeholder of an unchanged TOAST value (engine/unavailable.py):
a top-level field holding it is the key's previous event's value of that field, in the emitted
event and in what is remembered; with nothing remembered for the field it stays as sent."""

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expressions import compile_expression
from engine.operators.with_previous import WithPrevious
from engine.unavailable import UNAVAILABLE
from tests.joins.restart_driver import Driver

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
PLACEHOLDERS = [UNAVAILABLE, [UNAVAILABLE], list(UNAVAILABLE.encode())]  # text/json, text[], int[]/date[]
NOTES, TAGS, CODES = "x" * 3000, ["big", "list"], [7, 8, 9]


def run(config, events):
    step = WithPrevious("p", config, None)
    logics, out = {}, []
    for event in events:
        groups, deads = step.group([event])
        assert deads == []
        for key, pairs in groups:
            out += logics.setdefault(key, step.logic()).add(pairs, NOW)[0]
    return out


def row(status, notes=NOTES, tags=TAGS, codes=CODES):
    return {"id": 1, "status": status, "notes": notes, "tags": tags, "codes": codes}


def test_an_update_leaving_large_values_unchanged_carries_them_as_the_previous_event_had_them():
    """As Debezium sends them (flattened by a map): the text, the text array and the int array forms."""
    unchanged = row("DEPARTED", *PLACEHOLDERS)
    out = run({"key": "id"}, [row("NEW"), unchanged, row("ARRIVED", *PLACEHOLDERS), row("CLOSED", notes="short")])
    assert out[1] == {**row("DEPARTED"), "previous": row("NEW")}
    assert out[2] == {**row("ARRIVED"), "previous": row("DEPARTED")}
    assert out[3] == {**row("CLOSED", notes="short"), "previous": row("ARRIVED")}
    assert unchanged == row("DEPARTED", *PLACEHOLDERS)  # the input event is left as it came
    changed = compile_expression("previous.notes != notes or previous.tags != tags or previous.codes != codes")
    assert [changed.function(e) for e in out[1:]] == [False, False, True]


def test_with_nothing_remembered_for_a_field_its_placeholder_stays_as_sent():
    first = row("NEW", *PLACEHOLDERS)  # the first event of its key: its values are unknown
    assert run({"key": "id"}, [first, row("DEPARTED", *PLACEHOLDERS)]) == [
        {**first, "previous": None}, {**row("DEPARTED", *PLACEHOLDERS), "previous": first}]
    out = run({"key": "id", "fields": ["status", "tags"]}, [row("NEW"), row("DEPARTED", *PLACEHOLDERS)])
    assert out[1] == {**row("DEPARTED", UNAVAILABLE, TAGS, PLACEHOLDERS[2]),
                      "previous": {"status": "NEW", "tags": TAGS}}


def test_a_placeholder_of_another_key_or_nested_deeper_is_not_filled():
    out = run({"key": "id"}, [row("NEW"), {**row("NEW", *PLACEHOLDERS), "id": 2},
                              {**row("DEPARTED"), "after": {"notes": UNAVAILABLE}}])
    assert out[1] == {**row("NEW", *PLACEHOLDERS), "id": 2, "previous": None}
    assert out[2]["after"] == {"notes": UNAVAILABLE}  # only top-level fields, as carries() tells


values = st.one_of(st.none(), st.text(max_size=3), st.lists(st.integers(0, 3), max_size=2),
                   st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 2), max_size=1))
plain = st.fixed_dictionaries({"k": st.sampled_from(["a", "b", 1])},
                              optional={"a": values, "b": values, "c": values})
hidden = st.lists(st.sampled_from([None, *PLACEHOLDERS]), min_size=3, max_size=3)  # per field: kept, or replaced
plans = st.lists(st.one_of(st.lists(st.tuples(plain, hidden), min_size=1, max_size=4), st.just("snapshot"),
                           st.just("crash")), max_size=20)


def driven(config, plan):
    with Driver(WithPrevious("p", config, None), NOW) as driver:
        driver.play(plan, list)
    assert driver.failures == [] and driver.dead == []
    return sorted(driver.out, key=lambda e: e["n"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(plans, st.sampled_from([{}, {"fields": ["a", "b", "c", "k", "n"]}]), st.sampled_from(["previous", "v"]))
def test_placeholders_for_unchanged_values_change_no_output(plan, fields, alias):
    """Debezium's sequence (a field left unchanged since the key's previous event may come as the
    placeholder) gives what the sequence with every value gives, across snapshots and crashes."""
    last, n = {}, 0
    with_values, with_placeholders = [], []
    for item in plan:
        if isinstance(item, str):
            with_values.append(item)
            with_placeholders.append(item)
            continue
        batch, sent = [], []
        for event, hide in item:
            event = {**event, "n": n}
            n += 1
            before = last.get(repr(event["k"]))
            shown = dict(event)
            for name, placeholder in zip("abc", hide, strict=True):
                if placeholder is not None and before is not None and name in before and name in event \
                        and repr(before[name]) == repr(event[name]):
                    shown[name] = placeholder
            last[repr(event["k"])] = event
            batch.append(event)
            sent.append(shown)
        with_values.append(batch)
        with_placeholders.append(sent)
    config = {"key": "k", "as": alias, **fields}
    assert driven(config, with_placeholders) == driven(config, with_values)


def test_a_field_the_remembered_event_lacked_leaves_a_later_placeholder_as_sent():
    """``fields`` names a field the first event did not have: nothing is known of its value, so the
    next event's placeholder is not replaced with null (it was: the field was remembered as null)."""
    first = {"id": 1, "status": "NEW"}
    out = run({"key": "id", "fields": ["status", "notes"]}, [first, row("DEPARTED", notes=UNAVAILABLE)])
    assert out[1]["notes"] == UNAVAILABLE
    assert out[1]["previous"] == {"status": "NEW"}
    out = run({"key": "id", "fields": ["status", "notes"]}, [{**first, "notes": None}, row("DEPARTED", UNAVAILABLE)])
    assert out[1]["notes"] is None  # a null the event had is a value: it fills the placeholder
