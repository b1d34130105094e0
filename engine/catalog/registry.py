"""Every declared component, by role and YAML name.

The built-ins register when :mod:`engine.catalog` is imported; a plugin module registers its
own with :func:`register` before the topology is validated. Derived views (the topology
JSON Schema, the shape validator) are cached per :func:`generation`, so a registration after
first use is still seen.
"""

from __future__ import annotations

import importlib
from typing import Dict

from engine.catalog.component import ROLES, Component

_COMPONENTS: Dict[str, Dict[str, Component]] = {role: {} for role in ROLES}
_generation = 0


def register(*components: Component, replace: bool = False) -> None:
    """Declare components; a second one with the same role and name is refused unless ``replace``."""
    global _generation
    for component in components:
        known = _COMPONENTS[component.role]
        if component.name in known and not replace and known[component.name] != component:
            raise ValueError(f"a {component.role} named {component.name!r} is already declared")
        known[component.name] = component
    _generation += 1


def unregister(role: str, name: str) -> None:
    global _generation
    _COMPONENTS[role].pop(name, None)
    _generation += 1


def generation() -> int:
    """Changes whenever a component is (un)registered: the key of every derived cache."""
    return _generation


def components(role: str) -> Dict[str, Component]:
    """The declared components of ``role`` (``source``, ``sink``, ``operator``), in declaration order."""
    return dict(_COMPONENTS[role])


def component(role: str, name: str) -> Component:
    try:
        return _COMPONENTS[role][name]
    except KeyError:
        raise KeyError(f"no {role} named {name!r} (known: {', '.join(_COMPONENTS[role])})") from None


class PluginError(Exception):
    """A plugin module named in VELOCITY_FLOW_PLUGINS could not be imported."""


def import_plugins(modules: str) -> None:
    """Import each module of a comma-separated list; importing one registers its components."""
    for name in (m.strip() for m in modules.split(",")):
        if not name:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure of someone else's module: one line
            raise PluginError(f"cannot import plugin '{name}' (VELOCITY_FLOW_PLUGINS): "
                              f"{type(exc).__name__}: {exc}") from None
