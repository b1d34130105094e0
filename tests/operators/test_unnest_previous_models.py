"""``unnest`` and ``with_previous`` against plain models of docs/topology.md on adversarial input (nulls,
missing fields, wrong types, keys equal across types, unicode, empty and long lists); ``with_previous``
driven as the compiled flow drives it, with snapshots pickled and restored after crashes."""

from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.map import key_text
from engine.operators.unnest import Unnest
from engine.operators.with_previous import WithPrevious
from tests.joins.restart_driver import Driver

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.just(10 ** 25), st.text(max_size=3),
                    st.sampled_from([float("nan"), -0.0, float("inf"), Decimal("NaN"), 1.0, "1", "ü"]))
items = st.one_of(scalars, st.dictionaries(st.sampled_from(["a", "k", "ü", "items"]), scalars, max_size=3),
                  st.lists(scalars, max_size=2))
lists = st.one_of(st.lists(items, max_size=6), st.just([]), st.just([{"a": 1}] * 300), scalars,
                  st.dictionaries(st.text(max_size=2), scalars, max_size=2))
events = st.fixed_dictionaries({}, optional={"items": lists, "k": scalars, "a": scalars})


def unnest_model(config, batch):
    field, keep = config["field"], config.get("keep") or []
    alias = config.get("as", field)
    out, dead = [], []
    for event in batch:
        values = event.get(field)
        if values is None:
            continue
        if not isinstance(values, list):
            dead.append(event)
            continue
        base = {name: event.get(name) for name in keep}
        for item in values:
            if alias is not None:
                out.append({**base, alias: item})
            elif isinstance(item, dict):
                out.append({**base, **item})
        if alias is None and any(not isinstance(item, dict) for item in values):
            dead.append(event)  # once, however many items are not objects
    return out, dead


@PROPERTY
@given(st.lists(events, max_size=8), st.sampled_from([{}, {"as": "item"}, {"as": None}, {"as": "k"}]),
       st.sampled_from([[], ["k"], ["k", "a", "missing"]]))
def test_unnest_gives_what_the_model_says(batch, alias, keep):
    config = {"field": "items", "keep": keep, **alias}
    out, deads = Unnest("u", config, None).process(batch)
    expected, dead = unnest_model(config, batch)
    assert out == expected
    assert [d.event for d in deads] == dead


def previous_model(fed, alias, fields):
    last, out, dead = {}, [], 0
    for event in fed:
        key = event.get("k")
        if key is None:
            dead += 1
            continue
        text = key_text(key)
        out.append({**event, alias: last.get(text)})
        kept = {name: value for name, value in event.items() if name != alias}
        last[text] = kept if fields is None else {name: kept[name] for name in fields if name in kept}
    return out, dead


keys = st.one_of(st.just("a"), st.sampled_from([1, "1", 1.0, True, "True", "ü", None, Decimal("1"), -0.0, 0]))
plans = st.lists(st.one_of(st.lists(st.tuples(keys, scalars), min_size=1, max_size=3), st.just("snapshot"),
                           st.just("crash")), max_size=25)


@PROPERTY
@given(plans, st.sampled_from(["previous", "v"]), st.sampled_from([None, ["v", "n"]]))
def test_with_previous_attaches_the_previous_event_of_its_key_across_crashes(plan, alias, fields):
    config = {"key": "k", "as": alias, **({"fields": fields} if fields else {})}
    fed: list = []

    def batch_of(item):
        batch = [{"k": key, "v": value, "n": len(fed) + number} for number, (key, value) in enumerate(item)]
        fed.extend(batch)
        return batch

    with Driver(WithPrevious("p", config, None), NOW) as driver:
        driver.play(plan, batch_of)
    expected, dead = previous_model(fed, alias, fields)
    assert driver.failures == []
    assert repr(sorted(driver.out, key=lambda e: e["n"])) == repr(expected)  # NaN is no NaN after a pickle
    assert len(driver.dead) == dead
