"""The value types of the command line's options, and the checks of options that go together.

A value that comes from an environment variable (``BYTEWAX_WORKERS_PER_PROCESS=abc``) is
refused naming the variable, since that is what to change; an empty variable counts as unset.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import List, Optional


class _FromEnvironment(str):
    """An option's default read from an environment variable (the text, and which variable)."""

    variable = ""


class EnvDefault(argparse.Action):
    """An option whose default comes from an environment variable, as in ``bytewax.run``."""

    def __init__(self, envvar: str, default=None, **kwargs) -> None:
        if os.environ.get(envvar):
            default = _FromEnvironment(os.environ[envvar])
            default.variable = envvar
        kwargs["help"] = kwargs.get("help", "") + f" [env: {envvar}]"
        if kwargs.get("type") is not None:
            kwargs["type"] = _naming_the_variable(kwargs["type"])
        super().__init__(default=default, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)


def _naming_the_variable(kind):
    """``kind``, whose refusal of a value from the environment names the variable."""

    def typed(text: str):
        try:
            return kind(text)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            if not isinstance(text, _FromEnvironment):
                raise
            reason = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"invalid value: {text!r}"
            raise argparse.ArgumentTypeError(f"{reason} (from the environment variable {text.variable}: "
                                             f"unset it or give a valid value)") from None

    typed.__name__ = getattr(kind, "__name__", "value")
    return typed


def _whole(text: str, least: int, most: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < least or value > most:
        raise argparse.ArgumentTypeError(f"must be between {least} and {most}, not {text!r}")
    return value


def positive_int(text: str, most: int = 10 ** 9) -> int:
    return _whole(text, 1, most)


def natural(text: str) -> int:
    """A whole number from 0 (a count that may be none, an index)."""
    return _whole(text, 0, 10 ** 9)


def workers(text: str) -> int:
    """Threads or processes: beyond 1024 a typo, not a plan (each one costs memory at start)."""
    return positive_int(text, 1024)


MAX_INTERVAL = 7 * 24 * 3600.0


def interval(text: str) -> float:
    """Seconds between snapshots: a finite number above 0, at most a week."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_INTERVAL:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0 and at most {MAX_INTERVAL:.0f}, "
                                         f"not {text!r}")
    return value


def rate(text: str) -> float:
    """Events or transactions per second: a finite number from 0 (0: as fast as possible)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number per second: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number per second from 0 (0: as fast as possible), not {text!r}")
    return value


def share(text: str):
    """``I/N``: this process's share of the Kafka sources' partitions (engine/shares.py)."""
    from engine.errors import ConfigError
    from engine.shares import Share

    try:
        return Share.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cluster_problem(args: argparse.Namespace) -> Optional[str]:
    """What is wrong with ``run``'s ``--process-id`` and ``--addresses`` together, or None.

    Bytewax waits forever for a process that cannot exist (an index past the addresses, an
    address list without this process's index), so these are refused before it starts."""
    process_id, addresses = getattr(args, "process_id", None), getattr(args, "addresses", None)
    if process_id is None and not addresses:
        return None
    if not addresses:
        return ("-i/--process-id (BYTEWAX_PROCESS_ID) needs -a/--addresses (BYTEWAX_ADDRESSES): "
                "every process's host:port")
    if process_id is None:
        return ("-a/--addresses (BYTEWAX_ADDRESSES) needs -i/--process-id (BYTEWAX_PROCESS_ID): this process's index "
                "in the addresses, from 0")
    listed: List[str] = addresses.split(";")
    for address in listed:
        host, colon, port = address.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            return (f"-a/--addresses (BYTEWAX_ADDRESSES): {address!r} is not host:port (a port from 1 to 65535); "
                    "give every process's host:port, separated by ';'")
    if not 0 <= process_id < len(listed):
        return (f"-i/--process-id (BYTEWAX_PROCESS_ID) {process_id} is not an index of the {len(listed)} address(es) "
                f"of -a/--addresses: from 0 to {len(listed) - 1}")
    return None
