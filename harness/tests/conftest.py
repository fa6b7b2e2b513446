"""Fixtures for the project's own tests: one kernel per backend, so both pass the same tests."""
import pytest

from harness.kernel import BackendError, Kernel, load_backend


@pytest.fixture(params=["cffi", "ctypes"])
def kernel(request) -> Kernel:
    try:
        return Kernel(load_backend(request.param))
    except BackendError as exc:
        pytest.skip(str(exc))
