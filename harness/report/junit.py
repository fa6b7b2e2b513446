"""JUnit XML from a run's records, for CI systems that read it (pytest's own ``--junitxml``
works too; this one is written from ``results.jsonl``, so it also serves runs that came back
from another target, and carries the check messages and reproducers)."""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

from .html import make_output_dir, write_atomically
from .records import Run

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _names(test_id: str) -> tuple[str, str, str]:
    """("suite/test_listen.py::TestX::test_y[p]") -> (classname, name, file) as pytest names them."""
    parts = test_id.split("::")
    file = parts[0]
    module = file[:-3] if file.endswith(".py") else file
    classname = ".".join([module.replace("/", ".")] + parts[1:-1])
    return classname, parts[-1] if len(parts) > 1 else file, file


def junit_tree(run: Run) -> ET.ElementTree:
    failing: dict[str, list] = {}               # test id -> its failing checks, in run order
    for c in run.last_attempts():               # a flaky test's failed first attempt is in its record
        bucket = failing.setdefault(c["test_id"], [])
        if c["verdict"] == "fail":
            bucket.append(c)
    p = run.profile
    suite = ET.Element("testsuite", name=_text(f"sockspec {p.get('target', '?')} {p.get('kernel_release', '?')}"),
                       timestamp=_text((run.header or {}).get("started", "")),
                       hostname=_text(p.get("hostname", "")))
    props = ET.SubElement(suite, "properties")
    for key in ("run_id",):
        ET.SubElement(props, "property", name=key, value=_text(run.run_id))
    for key in ("target", "target_kind", "kernel_release", "arch", "backend", "euid"):
        if key in p:
            ET.SubElement(props, "property", name=key, value=_text(p[key]))
    ET.SubElement(props, "property", name="status", value=run.status)

    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    recorded = set()

    def case(test_id, duration):
        classname, name, file = _names(test_id)
        el = ET.SubElement(suite, "testcase", classname=_text(classname), name=_text(name),
                           file=_text(file), time=f"{float(duration or 0):.6f}")
        counts["tests"] += 1
        return el

    for t in run.tests:
        recorded.add(t["test_id"])
        total += float(t.get("duration") or 0)
        el = case(t["test_id"], t.get("duration"))
        checks = failing.get(t["test_id"], [])
        if t["outcome"] == "failed":
            counts["failures"] += 1
            messages = [c.get("message") or f"{c['call']}: not in the allowed set" for c in checks]
            first = messages[0] if messages else (t.get("reason") or "failed")
            f = ET.SubElement(el, "failure", message=_text(first.splitlines()[0] if first else "failed"),
                              type="check" if checks else "test")
            body = []
            for c, msg in zip(checks, messages):
                body.append(f"{c['call']}\n  {msg}")
                if c.get("reproducer"):
                    body.append("  reproducer:\n" + "\n".join("    " + l for l in c["reproducer"].splitlines()))
            if t.get("reason"):
                body.append(str(t["reason"]))
            f.text = _text("\n".join(body))
        elif t["outcome"] == "skipped":
            counts["skipped"] += 1
            ET.SubElement(el, "skipped", message=_text(t.get("reason") or "skipped"))
        elif t["outcome"] == "expected":       # as pytest's junitxml writes an xfail
            counts["skipped"] += 1
            ET.SubElement(el, "skipped", type="pytest.xfail",
                          message=_text(f"expected failure (known deviation): {t.get('reason') or ''}"))
        elif checks:                         # a passed test with failing checks: say so
            counts["failures"] += 1
            ET.SubElement(el, "failure", message=_text(checks[0].get("message") or "check failed"),
                          type="check").text = _text("\n".join(c.get("message") or c["call"] for c in checks))
    for test_id in failing:                  # checks without a test outcome: the run stopped there
        if test_id not in recorded:
            el = case(test_id, 0)
            counts["errors"] += 1
            ET.SubElement(el, "error", message="no test outcome recorded: the run was interrupted",
                          type="interrupted")
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("time", f"{total:.3f}")
    root = ET.Element("testsuites", name="sockspec", **{k: str(v) for k, v in counts.items()},
                      time=f"{total:.3f}")
    root.append(suite)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(run: Run, path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if os.path.dirname(path):
        make_output_dir(os.path.dirname(path))
    text = ET.tostring(junit_tree(run).getroot(), encoding="unicode", xml_declaration=False)
    write_atomically(path, '<?xml version="1.0" encoding="utf-8"?>\n' + text + "\n")
    return path
