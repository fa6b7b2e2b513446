"""The per-architecture tables against the installed kernel headers, and the constants
against Python's socket module where both define a name."""
import os
import re
import socket

import pytest

from harness.abi import ABIS, compat, get, linux as L, native

HEADERS = {
    "x86_64": ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"],
    "i386": ["/usr/include/x86_64-linux-gnu/asm/unistd_32.h", "/usr/include/asm/unistd_32.h",
             "/usr/include/i386-linux-gnu/asm/unistd_32.h"],
    "aarch64": ["/usr/include/asm-generic/unistd.h"],
}


def header_numbers(path: str) -> dict[str, int]:
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"#define\s+__NR(?:3264)?_(\w+)\s+(\d+)\s*$", line)
            if m:
                out[m.group(1)] = int(m.group(2))
    return out


@pytest.mark.parametrize("arch", sorted(ABIS))
def test_syscall_numbers_match_installed_headers(arch):
    path = next((p for p in HEADERS[arch] if os.path.exists(p)), None)
    if path is None:
        pytest.skip(f"no kernel headers for {arch} installed (linux-libc-dev)")
    numbers = header_numbers(path)
    table = get(arch).syscalls
    checked = [name for name in table if name in numbers]
    assert len(checked) >= len(table) - 2, f"{path} lacks most of the table: {set(table) - set(numbers)}"
    wrong = {name: (table[name], numbers[name]) for name in checked if table[name] != numbers[name]}
    assert not wrong, f"{arch} table differs from {path}: {wrong}"


def test_native_and_compat():
    assert native().name in ABIS
    if native().name == "x86_64":
        assert compat().name == "i386"


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(LookupError, match="unsupported architecture"):
        get("sparc")
    with pytest.raises(LookupError, match="not a syscall"):
        get("x86_64").nr("socketcall")


def test_struct_layouts():
    assert get("x86_64").msghdr.size == 56 and get("i386").msghdr.size == 28
    assert get("x86_64").mmsghdr.size == 64 and get("i386").mmsghdr.size == 32
    assert get("x86_64").iovec.size == 16 and get("i386").iovec.size == 8


def test_constants_agree_with_python_socket_module():
    names = [n for n in dir(L) if n.isupper() and hasattr(socket, n)
             and isinstance(getattr(L, n), int) and isinstance(getattr(socket, n), int)]
    assert len(names) > 40
    wrong = {n: (getattr(L, n), int(getattr(socket, n))) for n in names
             if getattr(L, n) != int(getattr(socket, n))}
    assert not wrong, wrong


def test_socketcall_table():
    assert len(L.SOCKETCALL_NARGS) == L.SYS_SENDMMSG + 1
    assert L.SOCKETCALL_NAMES[L.SYS_ACCEPT4] == "accept4"
    assert L.SOCKETCALL_NARGS[L.SYS_SENDTO] == 6 and L.SOCKETCALL_NARGS[L.SYS_LISTEN] == 2


def test_the_model_never_imports_the_kernel_side():
    """ARCHITECTURE.md: the model reads the profile and harness/abi, never harness/kernel.py,
    child.py or netns.py (shared types such as Result live in harness/abi)."""
    import ast
    import pathlib
    model = pathlib.Path(__file__).resolve().parents[1] / "model"
    banned = {"kernel", "child", "netns", "profile", "privilege", "markers", "check"}
    found = []
    for path in sorted(model.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if (node.level == 2 and parts[0] in banned) or \
                        (node.module.startswith("harness.") and parts[1] in banned):
                    found.append(f"{path.name}: from {'.' * node.level}{node.module}")
            elif isinstance(node, ast.Import):
                found += [f"{path.name}: import {a.name}" for a in node.names
                          if a.name.split(".")[:2] in (["harness", b] for b in banned)]
    assert not found, found
