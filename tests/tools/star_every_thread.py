"""Every thread of every .mproof file made `thread NAME[*]` in turn, against fixed sizes.

    python tests/tools/star_every_thread.py [PATH...] [--most K] [--budget S]

For each .mproof file under PATH (default proofs/ and tests/) and each of its
`thread` declarations, the file with that thread made `[*]` is answered for
every size (modproof/allsizes.py) and compared with the explicit engine on the
programs with 1 ... K copies (default 6): a proof for every size while some
K is violated is a disagreement, and so is a violation whose smallest size is
not the first K the explicit engine finds violated (or whose check differs
there).  One line per (file, thread); exits 1 on any disagreement.  Files that
do not load (the corpus of rejected inputs) and files that already have a
`[*]` group are skipped.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Line:
    file: str
    thread: str
    answer: str            # "proved", "violated with K", "unknown: ..."
    fixed: str             # what the explicit engine says for K = 1..most
    ok: bool
    seconds: float

    def __str__(self) -> str:
        mark = "ok " if self.ok else "BAD"
        return f"{mark} {self.file} {self.thread}[*]: {self.answer} | fixed: {self.fixed} ({self.seconds:.1f} s)"


def threads_of(text: str) -> list[str]:
    return re.findall(r"^thread (\w+)", text, re.M)


def starred(text: str, name: str) -> str:
    return re.sub(rf"^thread {name}(\[\d+\])?(?=[ {{])", f"thread {name}[*]", text, count=1,
                  flags=re.M)


def check_text(text: str, path: str, name: str, most: int = 6, budget: float = 30.0) -> Line:
    from modproof.allsizes import prove_all_sizes
    from modproof.explicit import prove_explicit
    from modproof.result import Proved, Unknown, Violated
    from modproof.spec.lower import load_text
    from modproof.spec.sizes import instantiate
    start = time.monotonic()
    p = load_text(starred(text, name), path)
    r = prove_all_sizes(p, timeout=budget, max_states=300_000)
    first: Optional[tuple[int, str]] = None
    undecided = None
    for k in range(1, most + 1):
        c = prove_explicit(instantiate(p, {name: k}), max_states=300_000, timeout=budget, reduce=True)
        if isinstance(c, Unknown):
            undecided = k
            break
        if isinstance(c, Violated):
            first = (k, c.check)
            break
    fixed = (f"K = {first[0]} violated {first[1]}" if first else
             f"undecided at K = {undecided}" if undecided else f"proved for K = 1..{most}")
    res = r.result
    ok = True
    if isinstance(res, Proved):
        answer = "proved for every K" + ("" if r.certified else " (not certified)")
        ok = first is None
    elif isinstance(res, Violated):
        k = r.sizes[name]
        answer = f"violated {res.check} with K = {k}" + ("" if r.smallest else " (smallest not established)")
        if first is not None and r.smallest:
            ok = k == first[0] and res.check == first[1]
        elif first is None and undecided is None:
            ok = k > most
    else:
        answer = f"unknown: {res.reason}"
    return Line(path, name, answer, fixed, ok, time.monotonic() - start)


def check_file(path: Path, most: int = 6, budget: float = 30.0) -> list[Line]:
    from modproof.spec.diagnostics import SpecError
    text = path.read_text(encoding="utf-8", errors="replace")
    if "[*]" in text:
        return []          # already every size (tests/test_allsizes.py pins those)
    try:
        rel = str(path.relative_to(ROOT))
    except ValueError:
        rel = str(path)
    out = []
    for name in threads_of(text):
        try:
            out.append(check_text(text, rel, name, most, budget))
        except SpecError:
            break
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", default=[str(ROOT / "proofs"), str(ROOT / "tests")])
    ap.add_argument("--most", type=int, default=6)
    ap.add_argument("--budget", type=float, default=30.0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    files = []
    for p in map(Path, args.paths):
        files += sorted(p.rglob("*.mproof")) if p.is_dir() else [p]
    bad = 0
    counts: dict = {}
    for f in files:
        for line in check_file(f, args.most, args.budget):
            print(line, flush=True)
            bad += not line.ok
            kind = line.answer.split(" ")[0].rstrip(":")
            counts[kind] = counts.get(kind, 0) + 1
    print(f"{sum(counts.values())} threads made [*]: "
          + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f"; {bad} disagreements")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
