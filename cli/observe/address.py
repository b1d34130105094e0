"""The ``--http HOST:PORT`` address: loopback unless ``--http-public`` says otherwise."""

from __future__ import annotations

import argparse
from typing import Tuple

from engine.frozen import Frozen, set_fields

LOOPBACK_NAMES = ("localhost",)


class HttpOptions(Frozen):  # a frozen record (engine/frozen.py): no dataclass made at import
    """Where to serve; ``linger``: seconds to keep serving the final state after the flow ends."""

    __slots__ = ("host", "port", "public", "linger")
    host: str
    port: int
    public: bool
    linger: float

    def __init__(self, host: str, port: int, public: bool = False, linger: float = 0.0) -> None:
        set_fields(self, host, port, public, linger)


class NotLoopback(ValueError):
    """An address other machines could reach, without ``--http-public``."""


def parse_address(text: str) -> Tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT`` or ``:PORT`` / ``PORT`` (loopback); port 0: any free port."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be between 0 and 65535, not {port!r}")
    return host, number


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    import ipaddress  # here: ~1.5 ms at start for the many runs that serve nothing

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only 'localhost' is known to stay on this machine
        return False


def checked(host: str, port: int, public: bool, linger: float = 0.0) -> HttpOptions:
    if not public and not is_loopback(host):
        raise NotLoopback(f"--http {host}:{port} is reachable from other machines and the page and API show the "
                          "flow's data: add --http-public to serve there, or use 127.0.0.1")
    return HttpOptions(host, port, public, linger)


def add_http_options(command: argparse.ArgumentParser) -> None:
    """``--http``, ``--http-public`` and ``--http-linger`` of ``run`` and ``deploy``."""
    command.add_argument("--http", metavar="HOST:PORT", type=parse_address, default=None,
                         help="serve Prometheus /metrics, the JSON API /api/v1 and a web page of the running flow "
                              "(e.g. 127.0.0.1:9464; port 0: any free one, printed and in --status-file); loopback "
                              "only unless --http-public (docs/operations.md)")
    command.add_argument("--http-public", action="store_true",
                         help="allow --http on an address other machines reach (the page shows the flow's data)")
    command.add_argument("--http-linger", metavar="SECONDS", type=float, default=0.0,
                         help="with --http: keep serving the final state this long after the flow ends")


def from_args(args) -> "HttpOptions | None":
    """The ``--http`` options of parsed ``args``, or None; raises NotLoopback."""
    address = getattr(args, "http", None)
    if address is None:
        return None
    return checked(address[0], address[1], bool(args.http_public), max(0.0, float(args.http_linger or 0.0)))
