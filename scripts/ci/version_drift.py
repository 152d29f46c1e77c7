"""Name the packages whose installed version differs from the CI lock.

Run after `pip install -e ".[test]"` without the lock (the nightly `latest` job): when the suite
then fails, this table says which upstream releases moved since the lock was written, so the
failure is named ("pytest 9.2.0 -> 9.3.0") before a user meets it.

    python scripts/ci/version_drift.py requirements/ci-py311.txt [--markdown]

Exit status 0 always (a report, not a gate); the test run that follows is the gate.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import pathlib
import re

_PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)")


def _normal(name: str) -> str:
    """PEP 503 normalized project name (case and -_. runs folded)."""
    return re.sub(r"[-_.]+", "-", name.split("[", 1)[0]).lower()


def read_lock(path: pathlib.Path) -> dict[str, str]:
    """{normalized name: pinned version} of a pip requirements lock (`name==version` lines)."""
    pins = {}
    for line in path.read_text().splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins[_normal(m.group(1))] = m.group(2)
    return pins


def installed() -> dict[str, str]:
    """{normalized name: version} of every distribution in the running environment."""
    return {_normal(d.metadata["Name"]): d.version for d in md.distributions()
            if d.metadata["Name"]}


def drift(lock: dict[str, str], env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, locked, installed) for every locked package installed at another version or
    missing ('-'), and every installed package the lock does not name (locked '-'), sorted."""
    rows = [(n, v, env.get(n, "-")) for n, v in lock.items() if env.get(n) != v]
    rows += [(n, "-", v) for n, v in env.items() if n not in lock and n != "ptycho-parity"
             and n not in ("pip", "setuptools", "wheel")]
    return sorted(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lock", type=pathlib.Path, help="pip lock file (name==version lines)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table (job summary)")
    args = ap.parse_args(argv)
    rows = drift(read_lock(args.lock), installed())
    if not rows:
        print(f"no drift: every package is at the version {args.lock} pins")
        return 0
    if args.markdown:
        print(f"### {len(rows)} packages differ from `{args.lock}`\n")
        print("| package | lock | installed |\n|---|---|---|")
        for n, a, b in rows:
            print(f"| {n} | {a} | {b} |")
    else:
        print(f"{len(rows)} packages differ from {args.lock}:")
        for n, a, b in rows:
            print(f"  {n:<32} {a:>14} -> {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
