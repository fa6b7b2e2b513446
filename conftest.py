"""pytest glue for sockspec: options, the session profile, fixtures, result recording.

The glue is harness/pytest_plugin.py, a pytest plugin that an install registers through its
``pytest11`` entry point (so ``sockspec run``, pytest-xdist workers and a checkout all load the
same code, early enough for its options). In a checkout that was never installed, load it here.
"""
from importlib.metadata import entry_points

_installed = any(ep.value == "harness.pytest_plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _installed else ["harness.pytest_plugin"]
