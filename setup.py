"""Builds the cffi raw-syscall module at install time; all metadata lives in pyproject.toml."""
from setuptools import setup

setup(cffi_modules=["harness/_build_raw.py:ffibuilder"])
