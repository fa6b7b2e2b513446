"""A standalone C reproducer for a sequence of checked calls: raw ``syscall(SYS_..., ...)``,
no sockspec needed, ``cc repro.c && ./a.out``. It prints each call's result next to the
outcomes the model allowed and exits 1 when an answer is outside them (0 otherwise).

The input is a structured list of calls (``structured()`` makes it from a Scenario's history,
JSON-safe so a failing check record can carry it as ``calls``)::

    {"name": "bind", "args": {"fd": {"fd": 3}, "addr": {"sockaddr": "0200...", "len": 16}, ...},
     "result": {"ret": -1, "errno": "EINVAL"},
     "allowed": [{"rule": "bind.x", "errno": "EINVAL"}, {"rule": "...", "ret": [0, 0]}] | null}

An argument is ``{"int": N}``, ``{"fd": N}`` (a descriptor: the C program uses the variable of
the call that returned N, since its own fd numbers may differ), ``{"sockaddr": HEX}`` (the bytes
mem.Sockaddr*.encode() gives), ``{"sockname_of": N}`` (the address fd N is bound to, read with
getsockname() in the C program: an ephemeral port differs between runs), ``{"bytes": HEX}``,
``{"null": true}``, ``{"ptr": ADDR}`` (an inaccessible address, passed as is), ``{"out": true}``
(a buffer the wrapper provides), ``{"absent": true}``. A return ``ret`` is ``[lo, hi]``
(inclusive) or null (any value); an fd-returning call's value is compared as "a descriptor"
(``>= 0``) since the numbers differ. Only the answer (return value, errno) is compared in C;
state differences (what getsockname or poll shows after a call) are named in a comment.
"""
from __future__ import annotations

import errno as _errno
import inspect

from . import mem
from .abi import linux as L
from .mem import Ptr

# the calls the C program can make: name -> the Kernel method's parameters after self
TRANSLATED = ("socket", "socketpair", "bind", "connect", "listen", "accept", "accept4",
              "getsockname", "getpeername", "shutdown", "sendto", "send", "recvfrom", "recv",
              "setsockopt", "getsockopt", "close", "dup")
FD_RETURNING = {"socket", "accept", "accept4", "dup"}
FD_PARAMS = {"fd", "oldfd"}


def _params(name: str) -> list[inspect.Parameter] | None:
    from .kernel import Kernel
    fn = getattr(Kernel, name, None)
    if fn is None:
        return None
    fn = inspect.unwrap(fn)
    return list(inspect.signature(fn).parameters.values())[1:]


def _arg(value, param: str, fd_origin: dict) -> dict:
    if param in FD_PARAMS and isinstance(value, int):
        return {"fd": value}
    if value is None:
        return {"null": True}
    if value is True:
        return {"out": True}
    if value is False:
        return {"null": True}
    if isinstance(value, bool):
        return {"int": int(value)}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, Ptr):
        return {"ptr": value.addr, "label": repr(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value).hex()}
    if hasattr(value, "encode") and not isinstance(value, str):
        return {"sockaddr": value.encode().hex(), "text": str(value)}
    return {"unsupported": repr(value)}


def _ret_range(constraint):
    from .model.rules import Exact, OneOf, Range
    if isinstance(constraint, Exact) and isinstance(constraint.value, int):
        return [constraint.value, constraint.value]
    if isinstance(constraint, Range):
        return [constraint.lo, constraint.hi]
    if isinstance(constraint, OneOf) and all(isinstance(v, int) for v in constraint.values):
        return [min(constraint.values), max(constraint.values)] if len(constraint.values) == 1 \
            else None
    return None


def allowed_json(outcomes) -> list[dict]:
    out = []
    for o in outcomes:
        entry = {"rule": o.rule.name, "describe": o.describe()}
        if o.errno:
            entry["errno"] = _errno.errorcode.get(o.errno, str(o.errno))
        else:
            entry["ret"] = _ret_range(o.ret)
        out.append(entry)
    return out


def structured(history, allowed: dict[int, list] | None = None,
               origins: dict[int, dict] | None = None) -> list[dict]:
    """The calls of ``history`` ([(Call, Result)]) as the JSON list described above.
    ``allowed``: history index -> allowed_json() of that call; ``origins``: history index ->
    {parameter: {"sockname_of": fd}} for an address taken from an fd's bound name."""
    allowed = allowed or {}
    origins = origins or {}
    calls = []
    for n, (c, r) in enumerate(history):
        entry = {"name": c.name, "via": c.via, "text": str(c),
                 "result": {"ret": r.ret, "errno": _errno.errorcode.get(r.errno) if r.errno else None},
                 "allowed": allowed.get(n)}
        if r.ok and c.name == "socketpair" and "fds" in r.out:
            entry["result"]["fds"] = list(r.out["fds"])
        params = _params(c.name) if c.via == "native" else None
        if params is None or c.name not in TRANSLATED:
            entry["untranslated"] = str(c)
            calls.append(entry)
            continue
        try:
            bound = inspect.Signature(params).bind(*c.args, **c.kwargs)
        except TypeError:
            entry["untranslated"] = str(c)
            calls.append(entry)
            continue
        bound.apply_defaults()
        args = {}
        for p, v in bound.arguments.items():
            args[p] = _arg(v, p, {})
        for p, origin in origins.get(n, {}).items():
            args[p] = origin
        entry["args"] = args
        calls.append(entry)
    return calls


# --------------------------------------------------------------------------- C

_HEAD = r"""/* sockspec reproducer: %(title)s
 * Standalone: cc repro.c -o repro && ./repro
 * Each call is a raw syscall; its answer is printed next to what sockspec's model allows.
 * Exit status 1: an answer outside the model's allowed set (the divergence); 0: none.
 * Descriptors are variables (this process's fd numbers may differ from the original run's);
 * an fd-returning call is compared as "a descriptor". Only answers are compared here.
%(notes)s */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int diverged;

static const char *ename(int e)
{
	switch (e) {
%(errnames)s
	default: return "?";
	}
}

/* report one call: its answer and whether it is among the allowed ones */
static void report(const char *call, long r, int e, const char *allowed, int ok)
{
	if (r == -1)
		printf("%%s = -1 %%s (%%d); model allows: %%s%%s\n", call, ename(e), e, allowed,
		       ok ? "" : "  <-- DIVERGENCE");
	else
		printf("%%s = %%ld; model allows: %%s%%s\n", call, r, allowed, ok ? "" : "  <-- DIVERGENCE");
	if (!ok)
		diverged = 1;
}

int main(void)
{
	long r;
	int e;
	setvbuf(stdout, NULL, _IONBF, 0);
"""


def _c_bytes(hexdata: str) -> str:
    data = bytes.fromhex(hexdata)
    return "{" + ", ".join(str(b) for b in data) + "}" if data else "{0}"


def _c_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


class _Emitter:
    def __init__(self):
        self.lines: list[str] = []
        self.decls: list[str] = []
        self.fdvars: dict[int, str] = {}
        self.n = 0
        self.errnames: set[str] = set()

    def fd(self, a: dict) -> str:
        fd = a["fd"]
        return self.fdvars.get(fd, str(fd))

    def var(self, kind: str) -> str:
        self.n += 1
        return f"{kind}{self.n}"

    def sockaddr_in(self, a: dict, length_arg: dict | None) -> tuple[str, str]:
        """(pointer expr, length expr) for an input address."""
        if "null" in a:
            n = length_arg.get("int", 0) if length_arg and "int" in length_arg else 0
            return "NULL", str(n)
        if "ptr" in a:
            n = length_arg.get("int", 128) if length_arg and "int" in length_arg else 128
            return f"(void *){a['ptr']:#x}UL", str(n)
        if "sockname_of" in a:
            v = self.var("name")
            lv = self.var("namelen")
            src = self.fdvars.get(a["sockname_of"], str(a["sockname_of"]))
            self.lines.append(f"\tunsigned char {v}[128] = {{0}}; socklen_t {lv} = sizeof {v};")
            self.lines.append(f"\tsyscall(SYS_getsockname, {src}, {v}, &{lv});"
                              f"  /* the address fd {a['sockname_of']} is bound to */")
            n = length_arg["int"] if length_arg and "int" in length_arg else None
            return v, str(n) if n is not None else lv
        data = bytes.fromhex(a.get("sockaddr") or a.get("bytes") or "")
        v = self.var("addr")
        size = max(len(data), 128)
        n = length_arg["int"] if length_arg and "int" in length_arg else len(data)
        comment = f"  /* {a['text']} */" if "text" in a else ""
        self.lines.append(f"\tunsigned char {v}[{size}] = {_c_bytes(data.hex())};{comment}")
        return v, str(n)

    def addr_out(self, a: dict, length_arg: dict) -> tuple[str, str]:
        if "null" in a:
            return "NULL", "NULL"
        n = length_arg.get("int", 128) if "int" in length_arg else 128
        if "ptr" in a:
            lv = self.var("len")
            self.lines.append(f"\tsocklen_t {lv} = {n};")
            return f"(void *){a['ptr']:#x}UL", f"&{lv}"
        v, lv = self.var("out"), self.var("len")
        self.lines.append(f"\tunsigned char {v}[{max(n, 128) if n > 0 else 128}] = {{0}}; "
                          f"socklen_t {lv} = {n};")
        if "ptr" in length_arg:
            return v, f"(void *){length_arg['ptr']:#x}UL"
        return v, f"&{lv}"

    def data_in(self, a: dict, length: dict) -> tuple[str, str]:
        if "ptr" in a or "null" in a:
            n = length.get("int", 0) if length and "int" in length else 0
            return ("NULL" if "null" in a else f"(void *){a['ptr']:#x}UL"), str(n)
        data = bytes.fromhex(a.get("bytes", ""))
        n = length["int"] if length and "int" in length else len(data)
        v = self.var("data")
        self.lines.append(f"\tunsigned char {v}[{max(len(data), 1)}] = {_c_bytes(data.hex())};")
        return v, str(n)

    def int_(self, a: dict) -> str:
        if "int" in a:
            return str(a["int"])
        if "fd" in a:
            return self.fd(a)
        if "null" in a:
            return "0"
        if "ptr" in a:
            return f"{a['ptr']:#x}UL"
        return "0"

    def args(self, call: dict) -> tuple[str, list[str]] | None:
        name, a = call["name"], call["args"]
        I = self.int_
        if name == "socket":
            return "SYS_socket", [I(a["family"]), I(a["type"]), I(a["protocol"])]
        if name == "socketpair":
            v = self.var("sv")
            call["_sv"] = v
            self.lines.append(f"\tint {v}[2] = {{-1, -1}};")
            sv = v if "null" in a["sv"] and a["sv"] == {"null": True} else v
            if "ptr" in a["sv"]:
                sv = f"(void *){a['sv']['ptr']:#x}UL"
            return "SYS_socketpair", [I(a["family"]), I(a["type"]), I(a["protocol"]), sv]
        if name in ("bind", "connect"):
            p, n = self.sockaddr_in(a["addr"], a.get("addrlen"))
            return f"SYS_{name}", [self.fd(a["fd"]), p, n]
        if name == "listen":
            return "SYS_listen", [self.fd(a["fd"]), I(a["backlog"])]
        if name in ("accept", "getsockname", "getpeername"):
            p, lp = self.addr_out(a["addr"], a.get("addrlen") or {"null": True})
            return f"SYS_{name}", [self.fd(a["fd"]), p, lp]
        if name == "accept4":
            p, lp = self.addr_out(a["addr"], a.get("addrlen") or {"null": True})
            return "SYS_accept4", [self.fd(a["fd"]), p, lp, I(a["flags"])]
        if name == "shutdown":
            return "SYS_shutdown", [self.fd(a["fd"]), I(a["how"])]
        if name in ("sendto", "send"):
            d, n = self.data_in(a["data"], a.get("length"))
            if name == "send":
                return "SYS_sendto", [self.fd(a["fd"]), d, n, I(a["flags"]), "NULL", "0"]
            p, alen = self.sockaddr_in(a["addr"], a.get("addrlen"))
            return "SYS_sendto", [self.fd(a["fd"]), d, n, I(a["flags"]), p, alen]
        if name in ("recvfrom", "recv"):
            size = a["size"].get("int", 0)
            v = self.var("buf")
            self.lines.append(f"\tunsigned char {v}[{max(size, 1)}];")
            if name == "recv":
                return "SYS_recvfrom", [self.fd(a["fd"]), v, str(size), I(a["flags"]), "NULL", "NULL"]
            p, lp = self.addr_out(a["addr"], a.get("addrlen") or {"null": True})
            return "SYS_recvfrom", [self.fd(a["fd"]), v, str(size), I(a["flags"]), p, lp]
        if name == "setsockopt":
            val, optlen = a["value"], a.get("optlen")
            if "int" in val:
                v = self.var("opt")
                self.lines.append(f"\tint {v} = {val['int']};")
                p, n = f"&{v}", "4"
            elif "bytes" in val:
                p, n = self.data_in(val, None)
            elif "null" in val:
                p, n = "NULL", "0"
            else:
                p, n = f"(void *){val['ptr']:#x}UL", "4"
            if optlen and "int" in optlen:
                n = str(optlen["int"])
                if p.startswith("&"):     # a longer optlen reads past the int: give it room
                    v = self.var("optbuf")
                    self.lines.append(f"\tunsigned char {v}[{max(optlen['int'], 4)}] = {{0}}; "
                                      f"memcpy({v}, {p}, 4);")
                    p = v
            return "SYS_setsockopt", [self.fd(a["fd"]), I(a["level"]), I(a["name"]), p, n]
        if name == "getsockopt":
            ol = a["optlen"]
            size = ol.get("int", 4)
            v, lv = self.var("optval"), self.var("optlen")
            self.lines.append(f"\tunsigned char {v}[{max(size, 4)}] = {{0}}; socklen_t {lv} = {size};")
            lp = f"(void *){ol['ptr']:#x}UL" if "ptr" in ol else f"&{lv}"
            ov = f"(void *){a['optval']['ptr']:#x}UL" if "ptr" in a.get("optval", {}) else v
            return "SYS_getsockopt", [self.fd(a["fd"]), I(a["level"]), I(a["name"]), ov, lp]
        if name == "close":
            return "SYS_close", [self.fd(a["fd"])]
        if name == "dup":
            return "SYS_dup", [self.fd(a["fd"])]
        return None

    def condition(self, call: dict) -> tuple[str, str]:
        """(C condition that the answer is allowed, the allowed set as text)."""
        allowed = call.get("allowed")
        if allowed is None:
            # no check of its own (an earlier call of a failing suite test is recorded with its
            # allowed set only when it was checked): compare with the original run's answer
            res = call["result"]
            if res["errno"]:
                self.errnames.add(res["errno"])
                return f"(r == -1 && e == {res['errno']})", f"as in the original run: -1 {res['errno']}"
            if call["name"] in FD_RETURNING:
                return "(r >= 0)", "as in the original run: a descriptor"
            return f"(r == {res['ret']})", f"as in the original run: {res['ret']}"
        conds, texts = [], []
        for o in allowed:
            if o.get("errno"):
                self.errnames.add(o["errno"])
                conds.append(f"(r == -1 && e == {o['errno']})")
                texts.append(f"-1 {o['errno']} [{o['rule']}]")
            elif call["name"] in FD_RETURNING:
                conds.append("(r >= 0)")
                texts.append(f"a descriptor [{o['rule']}]")
            elif o.get("ret") is None:
                conds.append("(r >= 0)")
                texts.append(f"{o.get('describe', 'success')} [{o['rule']}]")
            else:
                lo, hi = o["ret"]
                conds.append(f"(r == {lo})" if lo == hi else f"(r >= {lo} && r <= {hi})")
                texts.append(f"{o.get('describe', lo)} [{o['rule']}]")
        return " || ".join(conds) or "0", " or ".join(texts) or "(nothing)"


def emit(calls: list[dict], title: str = "", notes: list[str] = ()) -> str:
    """The C program for ``calls`` (structured())."""
    em = _Emitter()
    for i, call in enumerate(calls):
        shown = call.get("text") or call.get("untranslated") or call["name"]
        em.lines.append(f"\n\t/* {i + 1}: {shown.replace('*/', '* /')} */")
        if "untranslated" in call or "args" not in call:
            em.lines.append(f"\tprintf(\"%s\\n\", {_c_str('not translated to C: ' + shown)});")
            continue
        try:
            made = em.args(call)
        except (KeyError, TypeError):
            made = None
        if made is None:
            em.lines.append(f"\tprintf(\"%s\\n\", {_c_str('not translated to C: ' + shown)});")
            continue
        nr, argv = made
        em.lines.append("\terrno = 0;")
        em.lines.append(f"\tr = syscall({', '.join([nr, *argv])});")
        em.lines.append("\te = errno;")
        cond, text = em.condition(call)
        em.lines.append(f"\treport({_c_str(shown)}, r, e, {_c_str(text)}, {cond});")
        res = call["result"]
        if call["name"] in FD_RETURNING and res["errno"] is None and res["ret"] >= 0:
            v = f"fd_{len(em.fdvars)}"
            em.fdvars[res["ret"]] = v
            em.decls.append(f"\tint {v} __attribute__((unused)) = -1;")
            em.lines.append(f"\t{v} = (int)r;")
        if call["name"] == "socketpair" and res.get("fds"):
            sv = call.get("_sv")
            for k, fd in enumerate(res["fds"]):
                v = f"fd_{len(em.fdvars)}"
                em.fdvars[fd] = v
                em.decls.append(f"\tint {v} __attribute__((unused)) = -1;")
                em.lines.append(f"\t{v} = {sv}[{k}];")
    names = sorted(em.errnames | {"EINVAL", "EBADF", "ENOTSOCK", "EAGAIN"})
    errnames = "\n".join(f"\tcase {n}: return \"{n}\";" for n in names
                         if n != "EWOULDBLOCK" and n != "EDEADLOCK" and n != "ENOTSUP")
    note_text = "".join(f" * {n}\n" for n in notes)
    out = _HEAD % {"title": title.replace("*/", "* /"), "notes": note_text.replace("*/", "* /"),
                   "errnames": errnames}
    out += "\n".join(em.decls) + "\n" + "\n".join(em.lines)
    out += ("\n\n\tif (diverged)\n\t\tprintf(\"divergence: an answer is outside the model's "
            "allowed set\\n\");\n\treturn diverged;\n}\n")
    return out

