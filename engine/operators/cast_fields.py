"""The ``fields`` option of ``cast``: shared by plain casts and Debezium decoding; and the key
cells of generated loops that read fields (``cast``, a fused filter and map)."""

from __future__ import annotations

from typing import Callable, Dict, Tuple

from engine.errors import ConfigError
from engine.values import field_type


def parse_casts(fields: dict, make_converter) -> Tuple[list, dict]:
    """``(path, type name, converter)`` per cast field, and the engine types of the top-level ones."""
    casts, top_level = [], {}
    for name, type_name in fields.items():
        try:
            convert = make_converter(type_name)
        except ValueError as exc:
            raise ConfigError(str(exc), ("fields", name)) from None
        path = tuple(name.split("."))
        casts.append((path, type_name, convert))
        if len(path) == 1:
            top_level[name] = field_type(type_name)
    return casts, top_level


def shown(value, width: int = 80) -> str:
    """``value`` in a failure's reason: its repr cut to ``width`` characters (a long text is
    cut before its repr is made; an integer too long for a repr is described instead)."""
    if type(value) in (str, bytes) and len(value) > width:
        value = value[:width]
    elif type(value) is int and value.bit_length() > 1024:
        return f"<an integer of {value.bit_length()} bits>"
    try:
        return f"{value!r:.{width}}"
    except Exception:  # noqa: BLE001 - a repr that fails must not hide the reason
        return f"<{type(value).__name__}>"


def key_cells(function: Callable, names: Dict[str, str]) -> Dict[str, object]:
    """``{field name: cell}`` of a generated ``function`` reading each field ``e[<name>]``
    through a free variable ``names[field]`` (the cells are in the order Python sorts the
    names: k10 before k2)."""
    cells = dict(zip(function.__code__.co_freevars, function.__closure__ or (), strict=True))
    return {field: cells[name] for field, name in names.items()}


def adopt_keys(cells: dict, event) -> None:
    """Let a generated loop read and set each field with the very key object of ``event``
    (a batch's first): a source's JSON reader (orjson) gives every event the same object for
    the same key, and a dict finds a key that *is* its own without comparing text (~45
    instructions per read or write). Any equal text finds the same field: only the speed
    depends on it. Exact ``str`` keys only (a subclass may have its own == and hash)."""
    if type(event) is dict:
        for key in event:
            cell = cells.get(key) if type(key) is str else None
            if cell is not None and cell.cell_contents is not key:
                cell.cell_contents = key
