"""Bytes of memory per explored state of the explicit engine, on the corpus and the bench models.

Each model is explored in a fresh child process (forked after the parse), so the
child's peak resident memory less its size before the search is what the search
took; divided by the states it explored, that is the cost of a state.  The
default state budget (`modproof.options`) is set from the largest of these.

    .venv/bin/python bench/state_bytes.py [--max-states N] [--no-reduce] [FILE...]

Prints one row per model (states, MB, bytes per state) and the largest and
median bytes per state over the models that explored at least --min-states.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def models(files):
    from dm_family import dm_model
    if files:
        for f in files:
            yield f, pathlib.Path(f).read_text()
        return
    for f in sorted((ROOT / "proofs").rglob("*.mproof")):
        yield str(f.relative_to(ROOT)), f.read_text()
    for f in sorted((ROOT / "bench" / "models").glob("*.mproof")):
        yield str(f.relative_to(ROOT)), f.read_text()
    for k in (6, 8, 10):   # the dm family without reduction grows quickly: many states to divide by
        yield f"dm_model({k}, safe)", dm_model(k, True)
    yield "counter[12]", "var x = 0\nthread t[12] { x = x + 1; x = x + 1 }\n"
    yield "locals[7]", ("var x = 0\nthread t[7] { local a = 0\n a = a + 1; x = x + a; a = a + 1 }\n")
    # Distinct threads on shared variables: neither symmetry nor partial order shrinks these.
    yield "distinct[8]", "var x = 0\nvar y = 0\n" + "".join(
        f"thread t{i} {{ x = x + {i}; y = y + x; x = x - y }}\n" for i in range(8))
    yield "distinct[8] 64 vars", "".join(f"var v{j} = 0\n" for j in range(64)) + "var x = 0\nvar y = 0\n" + "".join(
        f"thread t{i} {{ x = x + {i}; y = y + x; v{i} = x; x = x - y }}\n" for i in range(8))


def measure(name: str, text: str, max_states: int, reduce: bool):
    from modproof.explicit import prove_explicit
    from modproof.spec.lower import load_text
    program = load_text(text, name)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: explore, send states and the growth of the peak
        os.close(r)
        before = _rss()
        res = prove_explicit(program, max_states=max_states, reduce=reduce)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        os.write(w, f"{res.stats.states or 0} {peak - before} {res.verdict}".encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 200).decode().split()
    os.close(r)
    os.waitpid(pid, 0)
    return int(data[0]), int(data[1]), data[2]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*")
    ap.add_argument("--max-states", type=int, default=300_000)
    ap.add_argument("--min-states", type=int, default=20_000)
    ap.add_argument("--no-reduce", action="store_true")
    args = ap.parse_args()
    per = []
    for name, text in models(args.files):
        states, grown, verdict = measure(name, text, args.max_states, not args.no_reduce)
        bps = grown / states if states else 0.0
        print(f"{name:<55} {states:>9} states {grown / 2**20:>8.1f} MB {bps:>8.0f} B/state {verdict}")
        if states >= args.min_states:
            per.append(bps)
    if per:
        print(f"over {len(per)} models of {args.min_states}+ states: largest {max(per):.0f} B/state, "
              f"median {statistics.median(per):.0f} B/state")


if __name__ == "__main__":
    main()
