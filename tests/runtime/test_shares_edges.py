"""Shares (engine/shares.py) on inputs off the beaten path: odd ``I/N`` texts, file names of
every shape, recovery directories that are files or a deployment's root, roots holding the
stores of several numbers of shares."""

import os
import re
import tempfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.errors import ConfigError
from engine.shares import MARK, Share, claim, holds_cluster_store, layout_problem

_SHARES = st.integers(2, 64).flatmap(lambda n: st.builds(Share, st.integers(0, n - 1), st.just(n)))


# -- I/N ---------------------------------------------------------------------------------------

@given(st.text(max_size=30))
@example("０/２")  # fullwidth digits: int() reads them
@example("١/٢")  # Arabic-Indic digits
@example("0/" + "9" * 5000)  # beyond Python's digits of a str -> int conversion
@example("+1/2")
@example("1/2/3")
def test_any_text_is_a_share_in_ascii_digits_or_a_config_error(text):
    try:
        share = Share.parse(text)
    except ConfigError as exc:
        assert "a share is I/N" in str(exc) and len(str(exc)) < 200  # the form, not a 5000-digit echo
        return
    index, count = (int(part) for part in text.strip().split("/"))
    assert re.fullmatch(r"\s*[0-9]+\s*/\s*[0-9]+\s*", text)
    assert (share.index, share.count) == (index, count) and Share.parse(str(share)) == share


@given(_SHARES, st.sampled_from(["", " ", "  ", "\t"]), st.sampled_from(["", "0", "00"]))
def test_a_share_reads_back_from_its_text_with_spaces_and_leading_zeros(share, space, zeros):
    text = f"{space}{zeros}{share.index}{space}/{space}{zeros}{share.count}{space}"
    assert Share.parse(text) == share and Share.parse(str(share)) == share


# -- a file per share ---------------------------------------------------------------------------

_SEGMENT = st.text(st.sampled_from("ab-_0.x"), min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
_NAME = st.one_of(_SEGMENT, st.builds(lambda stem, share: f"{stem}.{share.directory}.jsonl", _SEGMENT, _SHARES))
_PATHS = st.builds(lambda dirs, name, absolute: ("/" if absolute else "") + os.path.join(*dirs, name),
                   st.lists(_SEGMENT, max_size=3), _NAME, st.booleans())


@given(_PATHS, _SHARES)
@example("out.share-0-of-2.jsonl", Share(1, 2))  # a name that is a share's already
@example("dir.d/out", Share(0, 3))
@example(".out", Share(2, 3))
@example("out.", Share(1, 2))
@example("out.tar.gz", Share(1, 2))
def test_a_shares_file_is_beside_the_sinks_and_names_that_share(path, share):
    written = share.file(path)
    assert os.path.dirname(written) == os.path.dirname(path)  # same directory, whatever dots it has
    assert Share.of_file(written) == share  # replay finds the share again
    others = {Share(i, share.count).file(path) for i in range(share.count)}
    assert len(others) == share.count and path not in others  # one file each, none the sink's own
    assert Share(0, 1).file(path) == path


@given(st.text(max_size=40))
@example("x.share-5-of-2.jsonl")  # no share of 2 is number 5
@example("x.share-0-of-0.jsonl")
@example("x.share-1-of-2.jsonl\n")
@example("x.share-١-of-٢.jsonl")
def test_any_file_name_is_a_shares_or_none_never_an_error(name):
    share = Share.of_file(name)
    if share is not None:
        assert 0 <= share.index < share.count and share.file("x") == f"x.{share.directory}"
        assert re.search(rf"\.{share.directory}(\.[^./]*)?\Z", name)


# -- recovery directories -------------------------------------------------------------------------

@pytest.mark.parametrize("share", [None, Share(1, 2)])
def test_a_recovery_directory_that_is_a_file_is_a_config_error(tmp_path, share):
    path = tmp_path / "afile"
    path.write_text("x")
    with pytest.raises(ConfigError, match=r"recovery directory .*afile: not a directory"):
        claim(str(path), share)
    assert path.read_text() == "x"
    assert not holds_cluster_store(str(path))
    assert "not a directory" in layout_problem(str(path), 2) and "not a directory" in layout_problem(str(path), None)


def _advised(problem):
    """The numbers of shares a refusal advises deploying with (``-p N``, ``--share 0/1``)."""
    return [int(n) for n in re.findall(r"-p (\d+)", problem)] + [1] * problem.count("--share 0/1")


def _root(directory, counts):
    for count in counts:
        for index in range(count):
            store = os.path.join(directory, Share(index, count).directory)
            claim(store, Share(index, count))
    return directory


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3, unique=True))
def test_a_run_without_a_share_is_refused_a_deployments_root_and_its_advice_holds(counts):
    with tempfile.TemporaryDirectory() as directory:
        before = sorted(os.listdir(_root(directory, counts)))
        with pytest.raises(ConfigError, match="holds the stores of a deployment in") as refused:
            claim(directory, None)
        assert sorted(os.listdir(directory)) == before  # nothing made beside the shares' stores
        advised = _advised(str(refused.value))
        assert advised and set(advised) <= set(counts)
        assert all((layout_problem(directory, n) is None) == (len(counts) == 1) for n in advised)


@given(st.lists(st.integers(1, 5), max_size=3, unique=True), st.one_of(st.none(), st.integers(1, 6)),
       st.booleans())
def test_what_a_deployments_root_advises_is_accepted(counts, count, cluster_store):
    """Every ``-p K`` a refusal advises is one that root takes; a root no -p takes says so."""
    with tempfile.TemporaryDirectory() as directory:
        _root(directory, counts)
        if cluster_store:
            open(os.path.join(directory, "part-0.sqlite3"), "w").close()
        problem = layout_problem(directory, count)
        if problem is None:
            return
        for advised in _advised(problem):
            assert layout_problem(directory, advised) is None, problem
        if len(counts) > 1 or (counts and cluster_store):  # no deploy takes such a root: none advised
            assert all(layout_problem(directory, n) is not None for n in [None, *counts])
            assert not _advised(problem) and all(f"{n} shares" in problem for n in counts)


def test_a_store_marked_by_another_share_is_refused_whatever_the_text(tmp_path):
    for recorded, share in (("0/2", Share(0, 3)), ("1/2", Share(0, 2)), ("01/2", Share(1, 2))):
        (tmp_path / MARK).write_text(recorded + "\n")
        with pytest.raises(ConfigError, match=f"holds share {recorded}, not {share}"):
            claim(str(tmp_path), share)
