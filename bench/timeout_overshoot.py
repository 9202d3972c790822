"""How far past its `--timeout` a proof returns, for every engine, over the corpus.

    .venv/bin/python bench/timeout_overshoot.py [--limits 0.5,1,2] [--engines auto,bmc,explicit]
                                                [--jobs 1] [FILE...]

Each model (default: every file of proofs/ and bench/models/, and three models
made to be slow in each phase: 3,000 threads, whose formulas take long to build;
a 100,001-digit literal; the dm family with 64 readers) is proved by `modproof
prove --engine E --timeout T` as a separate process, and the time from the start
of proving (the process's wall-clock time less that of `modproof check` on the
same file, which reads, parses and lowers it the same way) to its exit is
compared with T.  A run that answers before its limit has no overshoot.  Prints
one row per run past its limit and the largest overshoot of each engine; exits 1
when some run returned more than 1 s after its limit.
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
MODPROOF = [sys.executable, "-m", "modproof"]
PROMISE = 1.0   # seconds a run may take past its limit


def slow_models(folder: pathlib.Path) -> list[pathlib.Path]:
    from dm_family import dm_model
    n = "9" * 100_001
    made = {
        "threads_3000.mproof": "var x = 0\nthread t[3000] { x = x + 1 }\n",
        "literal_100001.mproof": (f"var x = {n}\nvar y = 0\n"
                                  f"thread t {{ x = x + {n}; x = x + x; y = y + 1; assert x < {n} }}\n"
                                  "thread u { x = x - 1; x = x + 3; y = y + x }\n"
                                  f"invariant i: x > {n}\n"),
        "dm_safe_k64.mproof": dm_model(64, True),
    }
    out = []
    for name, text in made.items():
        f = folder / name
        f.write_text(text)
        out.append(f)
    return out


def wall(args: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--limits", default="0.5,1,2")
    ap.add_argument("--engines", default="auto,bmc,explicit")
    args = ap.parse_args()
    limits = [float(x) for x in args.limits.split(",")]
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory() as d:
        if args.files:
            files = [pathlib.Path(f) for f in args.files]
        else:
            files = sorted((ROOT / "proofs").rglob("*.mproof"))
            files += sorted((ROOT / "bench" / "models").glob("*.mproof"))
            files += slow_models(pathlib.Path(d))
        worst = {e: 0.0 for e in engines}
        past = {e: 0 for e in engines}
        runs = 0
        for f in files:
            # Reading, parsing and lowering are not under the clock (--timeout's help).
            front = statistics.median(wall([*MODPROOF, "check", str(f)]) for _ in range(3))
            for engine in engines:
                for limit in limits:
                    took = wall([*MODPROOF, "prove", "--engine", engine, "--timeout", str(limit),
                                 str(f)]) - front
                    runs += 1
                    over = took - limit
                    if over > 0:
                        past[engine] += 1
                        worst[engine] = max(worst[engine], over)
                        name = (f.resolve().relative_to(ROOT) if f.resolve().is_relative_to(ROOT)
                                else f.name)
                        print(f"{str(name):<55} {engine:<8} --timeout {limit:<4g} "
                              f"returned {over:+.2f} s after it", flush=True)
    print(f"{runs} runs over {len(files)} models and limits {args.limits}")
    for e in engines:
        print(f"  {e:<8} {past[e]} runs reached their limit; largest overshoot {worst[e]:.2f} s")
    return 1 if max(worst.values()) > PROMISE else 0


if __name__ == "__main__":
    sys.exit(main())
