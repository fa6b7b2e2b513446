"""``sockspec rules``: the model's rules, with how many exist per syscall."""
from __future__ import annotations

import json
from collections import Counter


def main(args) -> int:
    from . import REGISTRY
    from ..abi.version import parse_version
    rules = sorted(REGISTRY.values(), key=lambda r: r.name)
    if args.kernel:
        version = parse_version(args.kernel)
        if version == (0, 0, 0):
            raise ValueError(f"cannot read a kernel version from {args.kernel!r}")
        rules = [r for r in rules if r.holds(version)]
    per_syscall = Counter(r.syscall for r in rules)
    if args.json:
        print(json.dumps({"rules": [r.to_json() for r in rules], "per_syscall": dict(sorted(per_syscall.items())),
                          "total": len(rules)}, indent=2))
        return 0
    current = None
    for r in rules:
        if r.syscall != current:
            current = r.syscall
            print(f"\n{current} ({per_syscall[current]} rules)")
        versions = ""
        if r.since or r.until:
            versions = f"  [{'.'.join(map(str, r.since)) if r.since else ''}..{'.'.join(map(str, r.until)) if r.until else ''})"
        if r.backports:
            versions += f"  stable: {', '.join('.'.join(map(str, b)) for b in r.backports)}"
        if r.when:
            versions += f"  marker: {', '.join(str(t) for t in r.when)}"
        print(f"  {r.name:44} {r.result}{versions}")
        print(f"  {'':44} {r.citation}")
    print(f"\n{len(rules)} rules")
    return 0


def add_parser(sub) -> None:
    ap = sub.add_parser("rules", help="list the model's rules")
    ap.add_argument("--json", action="store_true", help="print JSON")
    ap.add_argument("--kernel", metavar="RELEASE",
                    help="only the rules that hold for this kernel release (by release range: "
                         "markers are read from a running kernel, see sockspec profile)")
    ap.set_defaults(func=main)
