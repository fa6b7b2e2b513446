"""pytest glue for sockspec (options, the session profile, fixtures, result recording).

The glue lives in harness/pytest_plugin.py so that the installed ``sockspec run`` command and a
run from this checkout load the very same code.
"""
pytest_plugins = ["harness.pytest_plugin"]
