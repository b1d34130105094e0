"""Shares: a deployment as N independent processes, each running the whole flow on its share of
the Kafka sources' partitions, instead of one Bytewax cluster.

A cluster's processes exchange events by key and agree on the end of every epoch. Keyed state
needs that; a flow without any still pays for it: ``deploy -p 2`` cost 1.08-1.15x the CPU per
event of two unrelated processes (docs/performance.md, "Scale-out"), part of it Bytewax's main
thread waking every millisecond in each process. A flow whose every component declares
``shares`` (engine/catalog/component.py; engine/binding/shares.py) needs none of it: process
``i`` of ``N`` reads its partitions of each source (``Share.takes``) and runs the whole flow on
them with a recovery store of its own, as Kafka Streams' instances of one application do through
their group; here the assignment is static.

Static because a store's snapshots hold the offsets of its own partitions: a partition's share
depends only on its topic and number and on N, never on what else is read; N may not change
while stores have progress, so each store records the share that wrote it (``claim``) and a
deployment's root how many there are (``layout_problem``).
"""

from __future__ import annotations

import fcntl
import os
import re
import zlib
from typing import List, Optional, Sequence

from engine.errors import ConfigError
from engine.notices import notice

MARK = ".velocity-flow-share"  # in a share's store: "I/N", written before the store's files
# ASCII digits only: int() reads '０/２' or '١/٢' too, and no share writes such a name
_SHARE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*", re.ASCII)
_SHARE_DIRECTORY = re.compile(r"share-(\d+)-of-(\d+)", re.ASCII)
_SHARE_FILE = re.compile(r"\.share-(\d+)-of-(\d+)(?:\.[^.]*)?\Z", re.ASCII)  # (\Z: '$' passes a last newline)


class Share:
    """Share ``index`` (0-based, as Bytewax's process ids) of ``count``."""

    __slots__ = ("index", "count")

    def __init__(self, index: int, count: int) -> None:
        if count < 1 or not 0 <= index < count:
            raise ConfigError(f"a share is I/N with 0 <= I < N, not {index}/{count}")
        self.index, self.count = index, count

    @classmethod
    def parse(cls, text: str) -> "Share":
        found = _SHARE.fullmatch(text)
        try:
            numbers = None if found is None else (int(found.group(1)), int(found.group(2)))
        except ValueError:  # beyond Python's 4300 digits of a str -> int conversion
            numbers = None
        if numbers is None:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise ConfigError(f"a share is I/N (this process's index from 0, then the number of processes), "
                              f"not '{shown}'")
        return cls(*numbers)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Share) and (self.index, self.count) == (other.index, other.count)

    def __hash__(self) -> int:
        return hash((self.index, self.count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def directory(self) -> str:
        """Its store's directory under a deployment's recovery root."""
        return f"share-{self.index}-of-{self.count}"

    def file(self, path: str) -> str:
        """The file a sink of one file writes in this share (Flink's part files, one per
        writer): ``out.jsonl`` -> ``out.share-0-of-2.jsonl``; the path itself for a share of 1."""
        if self.count == 1:
            return path
        head, tail = os.path.split(path)
        stem, dot, suffix = tail.rpartition(".")
        name = f"{stem}.{self.directory}.{suffix}" if dot and stem else f"{tail}.{self.directory}"
        return os.path.join(head, name)

    @classmethod
    def of_file(cls, path: str) -> Optional["Share"]:
        """The share whose file sink wrote ``path`` (``out.share-1-of-2.jsonl``), or None (also for
        a name no share writes: ``share-5-of-2``, ``share-0-of-0``)."""
        found = _SHARE_FILE.search(os.path.basename(path))
        if found is None:
            return None
        index, count = int(found.group(1)), int(found.group(2))
        return cls(index, count) if 0 <= index < count else None

    def takes(self, topic: str, partition: int) -> bool:
        """Whether this share reads ``topic``'s ``partition``: partitions of a topic go round the
        shares, from a start that depends on the topic's name (so that topics of one partition
        each spread over the shares). A partition's share depends on nothing else: adding
        partitions or topics, reordering ``topics:`` or matching a new topic with ``pattern``
        leaves every partition where its snapshots are."""
        return (zlib.crc32(topic.encode("utf-8", "surrogatepass")) + partition) % self.count == self.index

    def pick(self, parts: Sequence[str], source: str = "") -> List[str]:
        """This share's partitions of a source, each named ``topic#partition``. With none of
        them, a line says so (naming ``source``): an idle share would puzzle whoever sees it."""
        picked = []
        for part in parts:
            topic, _, partition = part.rpartition("#")
            if self.takes(topic, int(partition)):
                picked.append(part)
        if parts and not picked and source:
            notice(f"{source}: share {self} has none of its {len(parts)} partition(s); more processes than "
                   "partitions leave some with nothing to read")
        return picked


def claim(directory: str, share: Optional[Share]) -> None:
    """Before a run's store is made or opened: the share that writes ``directory`` is the one
    that made it. Raises ``ConfigError`` (with what to do) when it is not; marks a new share's
    store first, so a crash in its very first start still leaves it marked. Two processes
    claiming one new directory at once: the directory's lock lets one mark it, the other then
    finds that mark. A run without a share is refused a share's store and a deployment's root
    (its ``share-I-of-N`` stores): a store made there would read every partition again beside them."""
    try:
        if share is None:
            _unclaimed(directory)
            return
        os.makedirs(directory, exist_ok=True)
        fd = os.open(directory, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            _claim(directory, share)
        finally:
            os.close(fd)  # releases the lock
    except OSError as exc:  # a file, a directory it may not read or write: one line, not a traceback
        raise ConfigError(f"recovery directory {directory}: {_why_unusable(directory, exc)}") from None


def _why_unusable(directory: str, exc: OSError) -> str:
    if os.path.exists(directory) and not os.path.isdir(directory):
        return "not a directory"
    return exc.strerror or str(exc)


def _unclaimed(directory: str) -> None:
    recorded = _read(os.path.join(directory, MARK))
    if recorded is not None:
        raise ConfigError(f"recovery store {directory} holds share {recorded} of a deployment in shares: run it "
                          f"with --share {recorded}, or give another recovery directory")
    counts = _share_counts(directory)
    if counts:
        n = counts[-1]
        raise ConfigError(f"recovery directory {directory} holds the stores of a deployment in {n} shares "
                          f"(share-I-of-{n}): deploy it with {_deploy_as(n)}, run one share with --share I/{n} "
                          f"-r {os.path.join(directory, f'share-I-of-{n}')}, or give another recovery directory")


def _deploy_as(count: int) -> str:
    """The deploy option that runs ``count`` shares (``-p 1`` runs one process, no share)."""
    return f"-p {count}" if count > 1 else "--share 0/1"


def _share_counts(root: str) -> List[int]:
    """The numbers of shares whose stores ``root`` holds (``share-I-of-N``), in order; [] for none
    or no directory."""
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted({int(m.group(2)) for m in map(_SHARE_DIRECTORY.fullmatch, names) if m is not None})


def _claim(directory: str, share: Share) -> None:
    mark = os.path.join(directory, MARK)
    recorded = _read(mark)
    if recorded:  # (empty: a crash between its creation and its text, before any store file)
        if recorded != str(share):
            raise ConfigError(f"recovery store {directory} holds share {recorded}, not {share}: its snapshots hold "
                              f"the offsets of that share's partitions (run --share {recorded}, or give another "
                              "recovery directory)")
        return
    if set(os.listdir(directory)) - {MARK, MARK + ".tmp"}:
        raise ConfigError(f"recovery directory {directory} is not empty and holds no store of a share (a store of "
                          "a run without --share, or other files): give an empty or new directory, or run as before")
    with open(mark + ".tmp", "w", encoding="utf-8") as out:
        out.write(f"{share}\n")
    os.replace(mark + ".tmp", mark)


def _read(mark: str) -> Optional[str]:
    try:
        with open(mark, encoding="utf-8") as text:
            return text.read().strip()
    except FileNotFoundError:
        return None


def holds_cluster_store(root: str) -> bool:
    """Whether ``root`` is the store of one process or of a cluster (Bytewax's part files), not
    of a share."""
    try:
        names = os.listdir(root)
    except OSError:  # none there, or no directory (layout_problem says so)
        return False
    return MARK not in names and any(n.endswith(".sqlite3") for n in names)  # part-<i>.sqlite3


def layout_problem(root: str, count: Optional[int]) -> Optional[str]:
    """What stands in the way of deploying into recovery root ``root`` as ``count`` shares
    (``None``: as one process or a cluster, whose store is ``root`` itself); None if nothing."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"recovery directory {root}: {_why_unusable(root, exc)}"
    if MARK in names:
        return (f"{root} is the recovery store of share {_read(os.path.join(root, MARK))}, not a deployment's "
                "recovery directory: give its parent directory")
    counts = _share_counts(root)
    if len(counts) > 1 or (counts and holds_cluster_store(root)):  # (stores started by hand, or a run without
        # --share into a root before claim refused it): no deploy resumes them all
        stores = [f"the stores of {n} shares" for n in counts] + ["the store of one process or a cluster"] * \
            holds_cluster_store(root)
        return (f"recovery directory {root} holds {' and '.join(stores)}: each holds the offsets of its own "
                "partitions; keep the stores of one deployment there, or give another recovery directory")
    if count is None and counts:
        return (f"recovery directory {root} holds the stores of {counts[-1]} shares: deploy it as {counts[-1]} shares "
                f"({_deploy_as(counts[-1])}, without --cluster), or give another recovery directory")
    if count is not None and counts and counts != [count]:
        return (f"recovery directory {root} holds the stores of {counts[-1]} shares, not {count}: each holds the "
                f"offsets of its own partitions; deploy with {_deploy_as(counts[-1])}, or give another recovery "
                "directory")
    if count is not None and holds_cluster_store(root):
        return (f"recovery directory {root} holds the store of one process or a cluster: deploy it without "
                "--share, or give another recovery directory")
    return None
