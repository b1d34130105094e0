"""The catalog: every source, sink and operator, declared once (see component.py)."""

from engine.catalog.component import NO_DEFAULT, Component, Option
from engine.catalog.operators import OPERATORS
from engine.catalog.registry import PluginError, component, components, generation, import_plugins, register, unregister
from engine.catalog.sinks import SINKS
from engine.catalog.sources import SOURCES

register(*SOURCES, *SINKS, *OPERATORS)

__all__ = ["NO_DEFAULT", "Component", "Option", "PluginError", "component", "components", "generation",
           "import_plugins", "register", "unregister"]
