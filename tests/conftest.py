import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# shared fixtures live in plugin modules, one concept each (as Quix Streams does for its factories)
pytest_plugins = ["tests.services.kafka", "tests.services.postgres", "tests.fixtures.flows"]
