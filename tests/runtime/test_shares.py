"""Shares (engine/shares.py): which flows may run as independent processes, how the partitions
divide, and the recovery stores that keep a deployment from changing its shares under its
snapshots."""

import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine import run_context
from engine.binding import validate_file, validate_text
from engine.errors import ConfigError
from engine.binding.shares import blockers
from engine.shares import MARK, Share, claim, holds_cluster_store, layout_problem

ROOT = pathlib.Path(__file__).parents[2]

STATELESS = """\
version: 1
name: s
sources:
  orders: {kafka: {brokers: "localhost:9092", topic: orders}}
steps:
  - id: typed
    cast: {fields: {kg: "decimal(10,2)"}}
  - id: active
    filter: "status != 'DRAFT'"
  - id: domain
    map: {fields: {id: id, kg: kg}, key: id}
sinks:
  out: {from: domain, kafka: {brokers: "localhost:9092", topic: out, delivery: exactly-once}}
  shown: {from: active, stdout: {}}
dead_letter: {kafka: {brokers: "localhost:9092", topic: dead}}
"""


def _bound(text):
    result = validate_text("s.yaml", text, env={})
    assert result.ok, [d.message for d in result.diagnostics]
    return result.topology


@pytest.mark.parametrize("text", ["0/1", "1/2", " 3 / 4 ", "0/1024"])
def test_a_share_reads_as_index_and_count(text):
    index, count = (int(x) for x in text.split("/"))
    share = Share.parse(text)
    assert (share.index, share.count, str(share)) == (index, count, f"{index}/{count}")
    assert share == Share(index, count) and share.directory == f"share-{index}-of-{count}"


@pytest.mark.parametrize("text", ["", "1", "1/", "/2", "2/2", "3/2", "0/0", "-1/2", "a/b", "1/2/3", "1.0/2"])
def test_a_share_that_is_not_one_is_refused_with_its_form(text):
    with pytest.raises(ConfigError, match="a share is I/N"):
        Share.parse(text)


_TOPICS = st.dictionaries(st.text(min_size=1, max_size=12).filter(lambda t: "#" not in t), st.integers(1, 24),
                          min_size=1, max_size=6)


def _parts(topics):
    return [f"{topic}#{p}" for topic, count in topics.items() for p in range(count)]


@given(_TOPICS, st.integers(1, 12))
def test_the_shares_take_each_partition_once_and_each_topic_evenly(topics, count):
    parts = _parts(topics)
    picked = [Share(i, count).pick(parts) for i in range(count)]
    assert sorted(p for share in picked for p in share) == sorted(parts)  # every partition, once
    for topic in topics:
        per_share = [sum(p.rpartition("#")[0] == topic for p in share) for share in picked]
        assert max(per_share) - min(per_share) <= 1
    assert all(share == [p for p in parts if p in share] for share in picked)  # in the brokers' order


@given(_TOPICS, _TOPICS, st.integers(1, 8), st.randoms())
def test_a_partition_stays_in_its_share_when_topics_or_partitions_are_added_or_reordered(before, added, count,
                                                                                          rng):
    grown = {**added, **{t: n + added.get(t, 0) for t, n in before.items()}}
    listed = _parts(grown)
    rng.shuffle(listed)  # another order of topics: ``topics:`` rewritten, or a pattern's new match
    for index in range(count):
        share = Share(index, count)
        assert set(share.pick(_parts(before))) == set(share.pick(listed)) & set(_parts(before))


def test_topics_of_one_partition_each_spread_over_the_shares():
    topics = [[f"table_{n}#0"] for n in range(12)]  # a source per topic, as a fan-in of tables
    taken = [sum(len(Share(i, 3).pick(parts)) for parts in topics) for i in range(3)]
    assert sum(taken) == 12 and min(taken) >= 2  # not all twelve on share 0


def test_a_flow_of_stateless_steps_on_kafka_can_run_as_shares():
    assert blockers(_bound(STATELESS)) == []


def test_what_keeps_a_flow_in_one_cluster_is_named():
    text = STATELESS.replace("dead_letter: {kafka: {brokers: \"localhost:9092\", topic: dead}}\n", "")
    text = text.replace("  shown: {from: active, stdout: {}}", "  table: {from: per-city, duckdb: {path: x.duckdb, "
                        "table: t, columns: {city: str, n: int}}}")
    text = text.replace("sinks:\n", "  - id: per-city\n    from: active\n    aggregate: {key: city, compute: "
                        "{n: count()}}\nsinks:\n")
    assert blockers(_bound(text)) == [
        "step 'per-city' (aggregate) keeps state across events",
        "sink 'table' (duckdb) is written by one process",
    ]  # the default dead letter (a file, dead-letter/<name>.jsonl) is not among them: a file per share


@pytest.mark.parametrize("name", ["transport_order_domain", "pickup_domain", "trip_domain"])
def test_velocitys_domain_flows_merge_transactions_so_they_run_as_a_cluster(name):
    result = validate_file(str(ROOT / "topologies" / "velocity" / f"{name}.yaml"))
    assert result.ok
    assert any("(merge_transactions) keeps state across events" in b for b in blockers(result.topology))


def test_a_file_source_is_not_divided():
    text = STATELESS.replace('orders: {kafka: {brokers: "localhost:9092", topic: orders}}',
                             'orders: {file: {path: in.jsonl}}')
    assert blockers(_bound(text)) == ["source 'orders' (file) is not divided among processes"]


def test_the_kafka_source_lists_only_its_shares_partitions(monkeypatch):
    from engine.connectors import kafka

    every = [f"t#{p}" for p in range(5)] + ["u#0"]
    monkeypatch.setattr(kafka, "list_partitions", lambda *args: list(every))
    source = kafka.KafkaSource("localhost:9092", topic="t")
    assert source.list_parts() == every  # outside a run: all of them
    run_context.begin(None, 1.0, Share(1, 2))
    try:
        mine = source.list_parts()
        run_context.begin(None, 1.0, Share(0, 2))
        theirs = source.list_parts()
        assert sorted(mine + theirs) == sorted(every) and {len(mine), len(theirs)} <= {2, 3, 4}
        assert [p for p in mine if p.startswith("t#")] in (every[0:5:2], every[1:5:2])
    finally:
        run_context.end()
    assert run_context.share() is None


def test_a_share_without_a_partition_of_a_source_says_so(monkeypatch):
    from engine import notices
    from engine.connectors import kafka

    said = []
    monkeypatch.setattr(kafka, "list_partitions", lambda *args: ["t#0"])
    before = notices.set_writer(said.append)
    source = kafka.KafkaSource("localhost:9092", topic="t")
    try:
        for index in range(3):
            run_context.begin(None, 1.0, Share(index, 3))
            source.list_parts()
    finally:
        run_context.end()
        notices.set_writer(before)
    assert len(said) == 2 and all("has none of its 1 partition(s)" in line for line in said)


def test_a_share_marks_its_new_store_before_anything_is_in_it(tmp_path):
    store = tmp_path / "store"
    claim(str(store), Share(1, 3))
    assert (store / MARK).read_text() == "1/3\n" and sorted(p.name for p in store.iterdir()) == [MARK]
    (store / "part-0.sqlite3").write_text("")
    claim(str(store), Share(1, 3))  # the same share again: its own store


def test_a_store_is_opened_only_by_the_share_that_wrote_it(tmp_path):
    store = tmp_path / "store"
    claim(str(store), Share(0, 2))
    with pytest.raises(ConfigError, match=r"holds share 0/2, not 1/2.*run --share 0/2"):
        claim(str(store), Share(1, 2))
    with pytest.raises(ConfigError, match=r"holds share 0/2 of a deployment in shares: run it with --share 0/2"):
        claim(str(store), None)


def test_a_store_written_without_a_share_is_not_taken_by_one(tmp_path):
    (tmp_path / "part-0.sqlite3").write_text("")
    with pytest.raises(ConfigError, match="is not empty and holds no store of a share"):
        claim(str(tmp_path), Share(0, 2))
    assert not (tmp_path / MARK).exists()
    claim(str(tmp_path), None)  # as it was


def test_a_deployments_root_keeps_its_number_of_shares(tmp_path):
    root = str(tmp_path / "root")
    assert layout_problem(root, 2) is None and layout_problem(root, None) is None  # nothing there yet
    (tmp_path / "root" / "share-0-of-2").mkdir(parents=True)
    (tmp_path / "root" / "share-1-of-2").mkdir()
    assert layout_problem(root, 2) is None
    assert "holds the stores of 2 shares, not 3" in layout_problem(root, 3)
    assert "holds the stores of 2 shares: deploy it as 2 shares (-p 2, without --cluster)" in layout_problem(root, None)
    assert "is the recovery store of share" not in (layout_problem(root, 2) or "")
    claim(str(tmp_path / "root" / "share-0-of-2"), Share(0, 2))
    (tmp_path / "root" / "share-0-of-2" / "part-0.sqlite3").write_text("")
    inner = str(tmp_path / "root" / "share-0-of-2")  # a share's own store given as the root
    assert not holds_cluster_store(inner)
    assert "is the recovery store of share 0/2, not a deployment's recovery directory" in layout_problem(inner, 2)


def test_a_clusters_store_is_not_taken_for_shares(tmp_path):
    assert not holds_cluster_store(str(tmp_path)) and not holds_cluster_store(str(tmp_path / "absent"))
    (tmp_path / "part-0.sqlite3").write_text("")
    assert holds_cluster_store(str(tmp_path))
    assert "holds the store of one process or a cluster: deploy it without --share" in layout_problem(str(tmp_path), 2)
    assert layout_problem(str(tmp_path), None) is None


def test_run_share_on_a_flow_with_keyed_state_is_a_usage_error_naming_the_step(tmp_path, capsys):
    from cli.main import main

    path = ROOT / "topologies" / "velocity" / "transport_order_domain.yaml"
    assert main(["run", "-q", "--share", "0/2", str(path)]) == 2
    err = capsys.readouterr().err
    assert "share 0/2 (--share or VELOCITY_FLOW_SHARE): step" in err
    assert "(merge_transactions) keeps state across events" in err
    assert "Traceback" not in err


def test_a_share_and_a_cluster_address_are_one_or_the_other(tmp_path, capsys):
    from cli.main import main

    path = tmp_path / "s.yaml"
    path.write_text(STATELESS)
    assert main(["run", "-q", "--share", "1/2", "-i", "0", "-a", "127.0.0.1:1;127.0.0.1:2", str(path)]) == 2
    assert "or a process of a cluster (--addresses, BYTEWAX_ADDRESSES), not both" in capsys.readouterr().err
    assert main(["deploy", "-q", "-p", "2", "--share", "1/2", str(path)]) == 2
    assert "deploy -p N makes its own shares" in capsys.readouterr().err


def test_deploys_processes_take_their_place_from_their_command_lines_not_the_environment(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from cli import deploy, processes

    seen = []
    monkeypatch.setattr(processes, "supervise", lambda commands, out, err, env=None: seen.append((commands, env)) or 0)
    for name, value in (("BYTEWAX_ADDRESSES", "10.0.0.1:2101;10.0.0.2:2101"), ("BYTEWAX_PROCESS_ID", "1"),
                        ("VELOCITY_FLOW_SHARE", "0/2"), ("KAFKA_BOOTSTRAP", "kept:9092")):
        monkeypatch.setenv(name, value)
    args = SimpleNamespace(processes=2, path="flow.yaml", workers=1, snapshot_interval=None, status_file=None,
                           environment=None)
    quiet = SimpleNamespace(print=lambda *a, **k: None)
    assert deploy.run_processes(args, str(tmp_path / "root"), quiet, quiet, shares=2) == 0
    commands, env = seen[0]
    assert [c[c.index("--share") + 1] for c in commands] == ["0/2", "1/2"]
    assert env["KAFKA_BOOTSTRAP"] == "kept:9092"
    assert not {"BYTEWAX_ADDRESSES", "BYTEWAX_PROCESS_ID", "VELOCITY_FLOW_SHARE"} & set(env)


@pytest.mark.parametrize("path, share, expected", [
    ("dead-letter/flow.jsonl", Share(0, 2), "dead-letter/flow.share-0-of-2.jsonl"),
    ("/data/out.v1.jsonl", Share(2, 3), "/data/out.v1.share-2-of-3.jsonl"),
    ("out", Share(1, 2), "out.share-1-of-2"),
    (".hidden", Share(1, 2), ".hidden.share-1-of-2"),
    ("x.jsonl", Share(0, 1), "x.jsonl"),  # one share: the whole flow, its own file
])
def test_a_file_sink_in_shares_writes_a_file_per_share(path, share, expected):
    assert share.file(path) == expected
    assert Share.of_file(expected) == (share if share.count > 1 else None)  # replay finds the share again


def test_the_file_sink_of_a_share_writes_its_own_file_and_resumes_it(tmp_path):
    from engine.connectors.files import JsonlSink

    sink = JsonlSink(str(tmp_path / "out.jsonl"), mode="append")
    run_context.begin(None, 1.0, Share(1, 2))
    try:
        writer = sink.build_part("out", sink.list_parts()[0], None)
        writer.write_batch([[b'{"a":1}\n', b'{"a":2}\n']])
        state = writer.snapshot()
        writer.write_batch([[b'{"a":3}\n']])  # after the snapshot: gone at the resume
        writer.close()
        sink.build_part("out", sink.list_parts()[0], state).close()
    finally:
        run_context.end()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.share-1-of-2.jsonl"]
    assert (tmp_path / "out.share-1-of-2.jsonl").read_bytes() == b'{"a":1}\n{"a":2}\n'


def test_two_shares_claiming_one_new_directory_at_once_leave_one_owner(tmp_path):
    import threading

    outcomes = []

    def start(index):
        try:
            claim(str(tmp_path / "new"), Share(index, 2))
            outcomes.append(("owner", index))
        except ConfigError as exc:
            outcomes.append(("refused", str(exc)))

    for _ in range(20):
        outcomes.clear()
        (tmp_path / "new").mkdir(exist_ok=True)
        threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(kind for kind, _ in outcomes) == ["owner", "refused"], outcomes
        for name in list((tmp_path / "new").iterdir()):
            name.unlink()


def test_an_empty_mark_left_by_a_crash_is_claimed_again(tmp_path):
    (tmp_path / MARK).write_text("")
    claim(str(tmp_path), Share(1, 2))
    assert (tmp_path / MARK).read_text() == "1/2\n"
