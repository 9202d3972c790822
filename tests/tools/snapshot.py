"""Behaviour snapshot: what modproof says about every model, to compare across a change.

    python tests/tools/snapshot.py OUT.json [--random N] [--bmc-timeout S]
    python tests/tools/snapshot.py --compare BEFORE.json AFTER.json

For every `.mproof` file in proofs/, tests/ and bench/models it records the
output and exit code of `check`, `show`, `prove --json` with each engine (and
with `--deferred-release`), `prove` as text and `export --format promela`; for N
random programs of tests/strategies.py (derandomized, so the same N programs
every time) the explicit and bmc engines' JSON.  Times are blanked.  A BMC run
that times out is recorded as such and not compared (its witness is not
deterministic then).  A refactoring that keeps behaviour gives identical
snapshots.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODPROOF = [sys.executable, "-m", "modproof"]
_TIME = re.compile(r"\b\d+(\.\d+)?\s?(s|ms)\b")


def _blank(obj):
    if isinstance(obj, dict):
        return {k: (None if k in ("seconds",) else _blank(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_blank(v) for v in obj]
    if isinstance(obj, str):
        return _TIME.sub("T", obj)
    return obj


def run(args: list[str], stdin: str | None = None, timeout: float = 600) -> dict:
    env = dict(os.environ, MODPROOF_CACHE_DIR=os.environ.get("MODPROOF_CACHE_DIR", "/tmp/modproof-snap-cache"))
    try:
        p = subprocess.run(MODPROOF + args, input=stdin, capture_output=True, text=True,
                           timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"rc": "hung"}
    out = p.stdout
    try:
        out = _blank(json.loads(out))
    except ValueError:
        out = _TIME.sub("T", out)
    return {"rc": p.returncode, "out": out, "err": _TIME.sub("T", p.stderr)}


def file_jobs(bmc_timeout: float) -> list[tuple[str, list[str]]]:
    files = sorted(str(p.relative_to(ROOT)) for d in ("proofs", "tests", "bench/models")
                   for p in (ROOT / d).rglob("*.mproof"))
    jobs = []
    for f in files:
        jobs += [
            (f"check {f}", ["check", f]),
            (f"show {f}", ["show", f]),
            (f"explicit {f}", ["prove", "--json", "--engine", "explicit", f]),
            (f"explicit-deferred {f}", ["prove", "--json", "--engine", "explicit",
                                        "--deferred-release", f]),
            (f"noreduce {f}", ["prove", "--json", "--engine", "explicit", "--no-reduce",
                               "--max-states", "300000", f]),
            (f"bmc {f}", ["prove", "--json", "--engine", "bmc", "--timeout", str(bmc_timeout), f]),
            (f"text {f}", ["prove", f]),
            (f"promela {f}", ["export", "--format", "promela", f]),
        ]
    return jobs


def random_programs(n: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from hypothesis import HealthCheck, given, settings
    from strategies import programs
    out: list[str] = []

    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(src):
        out.append(src)

    collect()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?")
    ap.add_argument("--random", type=int, default=150)
    ap.add_argument("--bmc-timeout", type=float, default=60)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--compare", nargs=2)
    a = ap.parse_args()
    if a.compare:
        before, after = (json.loads(Path(x).read_text()) for x in a.compare)
        diff = 0
        for k in sorted(set(before) | set(after)):
            b, c = before.get(k), after.get(k)
            if b == c:
                continue
            if "bmc" in k.split() and "timeout" in json.dumps([b, c]):
                continue
            diff += 1
            print(f"--- {k}\n  before: {json.dumps(b)[:1500]}\n  after:  {json.dumps(c)[:1500]}")
        print(f"{diff} of {len(set(before) | set(after))} entries differ")
        sys.exit(1 if diff else 0)
    jobs = [(k, args, None) for k, args in file_jobs(a.bmc_timeout)]
    for i, src in enumerate(random_programs(a.random)):
        jobs.append((f"random{i} explicit", ["prove", "--json", "--engine", "explicit", "-"], src))
        jobs.append((f"random{i} bmc", ["prove", "--json", "--engine", "bmc", "--timeout",
                                        str(a.bmc_timeout), "-"], src))
        jobs.append((f"random{i} show", ["show", "-"], src))
    with ThreadPoolExecutor(a.j) as ex:
        results = list(ex.map(lambda j: (j[0], run(j[1], j[2])), jobs))
    Path(a.out).write_text(json.dumps(dict(results), indent=1, sort_keys=True))
    print(f"{len(results)} entries written to {a.out}")


if __name__ == "__main__":
    main()
