"""``velocity-flow test --format junit`` against the JUnit schema CI tools use: the rules of the
Jenkins xUnit plugin's ``junit-10.xsd`` (which GitLab, GitHub actions and Surefire readers
accept), written out here as a table since the suite has no XSD validator: each element's
attributes (required and allowed), its children, and the form of ``time``."""

import re
import xml.etree.ElementTree as ET

from tests.testing.test_command import FAILING, PASSING, ROOT, case, cli, write

# element -> (required attributes, other allowed attributes, allowed children); text: mixed content
RULES = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}, {"testsuite"}),
    "testsuite": ({"name", "tests", "failures", "errors"},
                  {"group", "time", "skipped", "timestamp", "hostname", "id", "package", "file", "log", "url"},
                  {"testsuite", "properties", "testcase", "system-out", "system-err"}),
    "testcase": ({"name"}, {"time", "classname", "group"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "failure": (set(), {"type", "message"}, set()),
    "error": (set(), {"type", "message"}, set()),
}
TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")  # the schema's SUREFIRE_TIME


def problems(element, path=""):
    where = f"{path}/{element.tag}"
    if element.tag not in RULES:
        return [f"{where}: not an element of the schema"]
    required, optional, children = RULES[element.tag]
    found = [f"{where}: '{a}' is required" for a in sorted(required - set(element.attrib))]
    found += [f"{where}: '{a}' is not an attribute of it" for a in sorted(set(element.attrib) - required - optional)]
    if element.tag in ("testsuites", "testsuite") and "time" in element.attrib \
            and not TIME.fullmatch(element.get("time")):
        found.append(f"{where}: time {element.get('time')!r} is not the schema's time")
    for child in element:
        if child.tag not in children:
            found.append(f"{where}: <{child.tag}> may not be in it")
        found += problems(child, where)
    if element.tag in ("testsuites", "testsuite", "testcase") and (element.text or "").strip():
        found.append(f"{where}: text is not allowed")
    return found


def junit(*argv):
    code, out, _ = cli("test", *argv, "--format", "junit")
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    return code, ET.fromstring(out)


def test_the_shipped_topologies(monkeypatch):
    monkeypatch.chdir(ROOT)
    code, root = junit("topologies/")
    assert code == 0 and problems(root) == []
    assert int(root.get("tests")) >= 20


def test_failures_run_errors_and_files_that_do_not_load(tmp_path):
    path = write(tmp_path, case("holds", PASSING["count"]) + case("broken", FAILING["events"]))
    code, root = junit(path)
    assert code == 1 and problems(root) == []
    assert root.find("testsuite/testcase/failure") is not None
    (tmp_path / "flow.yaml").write_text((tmp_path / "flow.yaml").read_text().replace("cast:", "cats:"))
    code, root = junit(path)
    assert code == 1 and problems(root) == []
    assert root.find("testsuite/testcase/error").get("type") == "invalid"


def test_the_rules_catch_what_the_schema_refuses():
    bad = ET.fromstring('<testsuites><testsuite name="a" tests="1"><testcase classname="x"><oops/></testcase>'
                        '</testsuite></testsuites>')
    assert problems(bad) == ["/testsuites/testsuite: 'errors' is required",
                             "/testsuites/testsuite: 'failures' is required",
                             "/testsuites/testsuite/testcase: 'name' is required",
                             "/testsuites/testsuite/testcase: <oops> may not be in it",
                             "/testsuites/testsuite/testcase/oops: not an element of the schema"]
