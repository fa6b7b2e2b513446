"""Did the run hurt the kernel? (issue 14 §5) The kernel's taint mask before and after the run,
and the kernel log written during it scanned for WARNING/BUG/KASAN/UBSAN reports.

At session start ``Watch.start()`` reads /proc/sys/kernel/tainted and opens /dev/kmsg at its
end (lseek SEEK_END: only what is logged from now on is read). At the end ``finish()`` reads the
mask again and every record logged since, without blocking. A taint bit that was not set before,
or a log line of a kernel report, fails the run with the text; where a source cannot be read
(no /dev/kmsg, kernel.dmesg_restrict without CAP_SYSLOG, a sandbox without the file) the report
says "unreadable: <why>" and that source fails nothing.

The kernel is shared: a report another process provoked during the run is counted too.
Sources are paths (and an opener), so the project's own tests feed fake ones."""
from __future__ import annotations

import errno
import os
import re

TAINTED = "/proc/sys/kernel/tainted"
KMSG = "/dev/kmsg"

# Documentation/admin-guide/tainted-kernels.rst: bit -> (letter, meaning)
TAINT_FLAGS = {
    0: ("P", "proprietary module loaded"), 1: ("F", "module force loaded"),
    2: ("S", "kernel running on an out of specification system"),
    3: ("R", "module force unloaded"), 4: ("M", "machine check exception"),
    5: ("B", "bad page referenced or unexpected page flags"), 6: ("U", "taint requested by user"),
    7: ("D", "kernel died recently (OOPS or BUG)"), 8: ("A", "ACPI table overridden"),
    9: ("W", "kernel issued a warning"), 10: ("C", "staging driver loaded"),
    11: ("I", "workaround for a platform firmware bug"), 12: ("O", "out-of-tree module loaded"),
    13: ("E", "unsigned module loaded"), 14: ("L", "soft lockup occurred"),
    15: ("K", "kernel live patched"), 16: ("X", "auxiliary taint"),
    17: ("T", "built with the struct randomization plugin"), 18: ("N", "an in-kernel test ran"),
    19: ("J", "userspace used a mutating debug operation in fwctl"),
}

# The first line of a kernel report: WARN() ("WARNING: CPU: 0 PID: 1 at net/..."), BUG()
# ("kernel BUG at ...", "BUG: unable to handle ...", "BUG: KASAN: ..."), UBSAN ("UBSAN:
# shift-out-of-bounds in ..."), KFENCE, an oops, a general protection fault, a panic, lockdep.
REPORT = re.compile(r"^\s*(WARNING:|BUG:|kernel BUG at|KASAN:|UBSAN:|KFENCE:|Oops|"
                    r"general protection fault|Kernel panic)")
_RECORD = re.compile(r"^(\d+),(\d+),(\d+),[^;]*;(.*)$")
MAX_RECORDS = 200_000              # a bound on the final read (the log is a ring buffer)
MAX_LINES = 20                     # report lines kept in the records


def flags_text(mask: int) -> str:
    """'W (kernel issued a warning), D (...)' for the bits of mask."""
    out = []
    for bit in range(max(mask.bit_length(), 1)):
        if mask >> bit & 1:
            letter, meaning = TAINT_FLAGS.get(bit, ("?", f"bit {bit}"))
            out.append(f"{letter} ({meaning}, bit {bit})")
    return ", ".join(out)


def read_tainted(path: str) -> tuple[int | None, str]:
    """(mask, "") or (None, "unreadable: why")."""
    try:
        with open(path) as f:
            return int(f.read().strip()), ""
    except OSError as exc:
        return None, f"unreadable: {path}: {exc.strerror or exc}"
    except ValueError as exc:
        return None, f"unreadable: {path}: not a number ({exc})"


def _dmesg_restrict() -> str:
    try:
        with open("/proc/sys/kernel/dmesg_restrict") as f:
            return f"kernel.dmesg_restrict = {f.read().strip()}"
    except OSError:
        return "kernel.dmesg_restrict unknown"


def message_of(line: str) -> str | None:
    """The text of one /dev/kmsg record line ("prio,seq,usec,flags;text"); None for the
    record's continuation lines (" KEY=value") and blank ones. Other lines are taken whole."""
    if not line.strip() or line.startswith(" "):
        return None
    m = _RECORD.match(line)
    return m.group(4) if m else line


class Watch:
    """One run's watch over the kernel's taint mask and log."""

    def __init__(self, tainted: str | None = None, kmsg: str | None = None, opener=os.open):
        self.tainted_path = tainted or TAINTED          # (module defaults read at call time:
        self.kmsg_path = kmsg or KMSG                   # the project's tests replace them)
        self._open = opener
        self.before: int | None = None
        self.taint_status = ""
        self.kmsg_status = ""
        self._fd: int | None = None

    @classmethod
    def start(cls, **sources) -> "Watch":
        w = cls(**sources)
        w.before, w.taint_status = read_tainted(w.tainted_path)
        try:
            fd = w._open(w.kmsg_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            why = f"{w.kmsg_path}: {exc.strerror or exc}"
            if exc.errno in (errno.EPERM, errno.EACCES):
                why += f" ({_dmesg_restrict()}; reading it needs CAP_SYSLOG)"
            w.kmsg_status = f"unreadable: {why}"
            return w
        try:
            os.lseek(fd, 0, os.SEEK_END)
        except OSError as exc:
            os.close(fd)
            w.kmsg_status = f"unreadable: {w.kmsg_path}: lseek(SEEK_END): {exc.strerror}"
            return w
        w._fd = fd
        return w

    def start_record(self) -> dict:
        """What the run's header records: the mask at the start, and whether the log is read."""
        return {"tainted_before": self.before,
                "taint": self.taint_status or f"readable ({self.tainted_path})",
                "kmsg": self.kmsg_status or f"readable ({self.kmsg_path}, from the run's start)"}

    def _read_log(self) -> tuple[list[str], int, int, str]:
        """(report lines, records read, records lost, why it stopped reading if not at the
        end). Non-blocking: EAGAIN (or end of file, for a fake) is the end."""
        lines, records, lost, partial, stop = [], 0, 0, "", ""
        while records < MAX_RECORDS:
            try:
                data = os.read(self._fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:           # records overwritten before we read them
                    lost += 1
                    continue
                stop = f"read stopped: {exc.strerror}"
                break
            if not data:
                break
            text = partial + data.decode("utf-8", "replace")
            *complete, partial = text.split("\n")
            for line in complete:
                msg = message_of(line)
                if msg is None:
                    continue
                records += 1
                if REPORT.match(msg):
                    lines.append(msg.strip())
        last = message_of(partial)               # a fake source's last line, unterminated
        if last is not None:
            records += 1
            if REPORT.match(last):
                lines.append(last.strip())
        if records >= MAX_RECORDS:
            stop = f"read stopped after {MAX_RECORDS} records"
        return lines, records, lost, stop

    def finish(self) -> dict:
        """The end record's "taint": both readings, the new bits, the report lines, whether
        the run failed on them, and the text that says so."""
        after, after_status = read_tainted(self.tainted_path)
        taint_status = self.taint_status or after_status
        new = (after & ~self.before) if self.before is not None and after is not None else 0
        lines, records, lost, stop = [], 0, 0, ""
        kmsg_status = self.kmsg_status
        if self._fd is not None:
            try:
                lines, records, lost, stop = self._read_log()
            finally:
                os.close(self._fd)
                self._fd = None
            kmsg_status = f"read ({records} records logged during the run" + \
                (f", {lost} overwritten before they were read" if lost else "") + \
                (f"; {stop}" if stop else "") + ")"
        problems = []
        if new:
            problems.append(f"the kernel's taint mask gained {flags_text(new)} during the run "
                            f"(tainted {self.before} -> {after})")
        if lines:
            shown = lines[:MAX_LINES]
            problems.append(f"the kernel log written during the run has {len(lines)} report "
                            f"line{'s' if len(lines) != 1 else ''}: " + " | ".join(shown)
                            + (" | ..." if len(lines) > len(shown) else ""))
        return {
            "tainted_before": self.before, "tainted_after": after, "new_bits": new,
            "new_flags": flags_text(new) if new else "",
            "taint": taint_status or f"read ({self.tainted_path})",
            "kmsg": kmsg_status, "lines": lines[:MAX_LINES], "report_lines": len(lines),
            "failed": bool(problems),
            "text": "; ".join(problems) if problems else "no new taint, no kernel report in the log",
        }


def summary_lines(report: dict) -> list[str]:
    """The terminal summary's lines for a finish() report."""
    before, after = report.get("tainted_before"), report.get("tainted_after")
    taint = (f"kernel taint: {before} -> {after}" if before is not None and after is not None
             else f"kernel taint: {report.get('taint')}")
    out = [taint + (f" (new: {report['new_flags']})" if report.get("new_bits") else ""),
           f"kernel log: {report.get('kmsg')}"]
    if report.get("failed"):
        out.append(f"FAILED: {report.get('text')}")
    return out
