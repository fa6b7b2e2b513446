"""Kernel versions as the rules compare them: (major, minor, patch)."""
from __future__ import annotations

import re


def parse_version(release: str) -> tuple[int, int, int]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        return (0, 0, 0)
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
