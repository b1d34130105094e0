"""quick_shape remembers what it found valid only while ``unchanged_data()`` lasts (validate of
a file's base and environments, which share the base's unchanged parts): inside, a mapping or
list valid against a schema is not walked again; outside, nothing is remembered."""

from engine.topology import quick_shape

ROOT = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}


def test_outside_nothing_is_remembered():
    data = {"a": [1, 2]}
    assert quick_shape.conforms(data, ROOT)
    data["a"].append("x")  # changed after a check: found again
    assert not quick_shape.conforms(data, ROOT)
    assert quick_shape._valid_before is None


def test_inside_a_valid_part_is_not_walked_again(monkeypatch):
    shared = [1, 2]
    walked = []
    checked = quick_shape._checked
    monkeypatch.setattr(quick_shape, "_checked", lambda v, s, r: walked.append(id(v)) or checked(v, s, r))
    with quick_shape.unchanged_data():
        assert quick_shape.conforms({"a": shared}, ROOT)
        assert quick_shape.conforms({"a": shared}, ROOT)  # another environment, the same list
        assert not quick_shape.conforms({"a": [1, "x"]}, ROOT)
        assert not quick_shape.conforms({"a": [1, "x"]}, ROOT)  # invalid: judged again each time
    assert walked.count(id(shared)) == 1
    assert quick_shape._valid_before is None
