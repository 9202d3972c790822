"""Mutation check of the semantics' tables: remove any one entry, and some test must fail.

    python tests/tools/mutate_tables.py [--list] [--only SUBSTRING] [--from N] [--numbers N,M] [--out REPORT]

For every entry of every table the tools know about (the vocabulary's
primitives, queries, built-ins, operators, checks, declarations and keywords,
and the hand-written tables left in the semantics, the footprint, the checker
and the exports), one mutant removes that entry: an element of a tuple, set,
frozenset or dict literal, a `True` flag turned `False`, or a string field
(`check=`, `not_in_atomic=`, `calls=`, ...) turned `None`.  Each mutant is
written into a scratch copy of the checkout and the fast tests run there
(`-x`: the first failure kills it).  A mutant that survives is a table entry
no test depends on: a gap in the tests, reported at the end.

The scratch copy lives in a temporary folder with its own virtual
environment; the checkout itself is never written.
"""
from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# file -> the module-level names whose literals are tables (None: every assignment)
TABLES = {
    "spec/vocabulary.py": None,
    "spec/semantics.py": ("_FIELD", "_JUDGE"),
    "encoder/footprint.py": ("_PRIVATE",),
    "spec/check.py": ("KIND_OF", "_TABLE_OF"),
    "spec/model.py": None,
}
# Fields whose string value is a fact about an entry (dropping it must be noticed).
STRING_FIELDS = {"check", "not_in_atomic", "calls", "message", "absorbing"}
TESTS = [
    "tests/test_vocabulary.py", "tests/test_semantics.py", "tests/test_audit_semantics.py",
    "tests/test_lowering.py", "tests/test_encoder.py", "tests/test_v2.py",
    "tests/test_check_errors.py", "tests/test_parser.py", "tests/test_proofs.py",
    "tests/test_differential.py", "tests/test_spin.py", "tests/test_exports.py",
]


@dataclass(frozen=True)
class Mutant:
    file: str
    what: str
    start: int      # character offsets of the text replaced
    end: int
    by: str


def _offsets(text: str) -> list[int]:
    out, n = [0], 0
    for line in text.splitlines(keepends=True):
        n += len(line)
        out.append(n)
    return out


def _pos(lines: list[int], node: ast.AST, end: bool = False) -> int:
    if end:
        return lines[node.end_lineno - 1] + node.end_col_offset
    return lines[node.lineno - 1] + node.col_offset


def _removals(text: str, lines: list[int], items: list[ast.AST], label: str, file: str,
              is_tuple: bool = False):
    """Remove each of `items` (elements of one literal) with its separating comma.  A
    tuple left with one element keeps its comma: `("a", "b")` less "b" is `("a",)`,
    not the string `("a")` (in which `"a" in` would test for a substring)."""
    for k, item in enumerate(items):
        start, end = _pos(lines, item), _pos(lines, item, end=True)
        by = ""
        if k + 1 < len(items):
            end = _pos(lines, items[k + 1])
            if is_tuple and len(items) == 2:   # ("a", "b") -> ("b",)
                end = _pos(lines, items[k + 1], end=True)
                by = (ast.get_source_segment(text, items[k + 1]) or "") + ","
        elif k > 0:
            start = _pos(lines, items[k - 1], end=True)
            if is_tuple and len(items) == 2:   # ("a", "b") -> ("a",)
                by = ","
        elif is_tuple:                         # ("a",) -> (): its comma goes too
            end = text.index(",", end) + 1
        desc = ast.get_source_segment(text, item) or "?"
        yield Mutant(file, f"{label}: drop {' '.join(desc.split())[:70]}", start, end, by)


def mutants_of(file: str, names, root: Path = ROOT) -> list[Mutant]:
    text = (root / file).read_text()
    tree = ast.parse(text)
    lines = _offsets(text)
    out: list[Mutant] = []

    def visit(node: ast.AST, label: str) -> None:
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            out.extend(_removals(text, lines, list(node.elts), label, file,
                                 isinstance(node, ast.Tuple)))
            for e in node.elts:
                visit(e, label)
        elif isinstance(node, ast.Dict):
            pairs = [ast.Tuple(elts=[k, v]) for k, v in zip(node.keys, node.values)]
            for k, (key, val) in enumerate(zip(node.keys, node.values)):
                if key is None:
                    continue
                start = _pos(lines, key)
                end = (_pos(lines, node.keys[k + 1]) if k + 1 < len(node.keys)
                       else _pos(lines, val, end=True))
                if k + 1 == len(node.keys) and k > 0:
                    start = _pos(lines, node.values[k - 1], end=True)
                desc = ast.get_source_segment(text, key) or "?"
                out.append(Mutant(file, f"{label}: drop key {desc[:60]}", start, end, ""))
                visit(val, label)
            del pairs
        elif isinstance(node, ast.Call):
            fname = getattr(node.func, "id", getattr(node.func, "attr", ""))
            here = label
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                here = f"{label} {fname}({node.args[0].value!r})"
            for k, a in enumerate(node.args):
                visit(a, f"{here}.arg{k}")
            for kw in node.keywords:
                v = kw.value
                if isinstance(v, ast.Constant) and v.value is True:
                    out.append(Mutant(file, f"{here}: {kw.arg}=False", _pos(lines, v),
                                      _pos(lines, v, end=True), "False"))
                elif (isinstance(v, ast.Constant) and kw.arg in STRING_FIELDS
                      and v.value not in (None, False)):
                    out.append(Mutant(file, f"{here}: {kw.arg}=None", _pos(lines, v),
                                      _pos(lines, v, end=True), "None"))
                else:
                    visit(v, f"{here}.{kw.arg}")

    for stmt in tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            tnames = [t.id for t in targets if isinstance(t, ast.Name)]
            if not tnames or (names is not None and not set(tnames) & set(names)):
                continue
            if stmt.value is not None:
                visit(stmt.value, tnames[0])
    return out


def all_mutants(root: Path = ROOT) -> list[Mutant]:
    """The mutants of the checkout at `root` (their offsets are into its files)."""
    out = []
    for file, names in TABLES.items():
        if (root / file).exists():
            out += mutants_of(file, names, root)
    return out


def _scratch() -> Path:
    """A copy of the checkout with its own virtual environment."""
    base = Path(tempfile.mkdtemp(prefix="modproof-mutants-"))
    work = base / "src"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__",
                                                              "*.egg-info", ".hypothesis"))
    subprocess.run([sys.executable, "-m", "venv", str(base / "venv")], check=True)
    subprocess.run([str(base / "venv/bin/pip"), "install", "-q", "-e", ".[test]"], cwd=work,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return base


def run_mutant(base: Path, m: Mutant, timeout: float) -> tuple[str, float]:
    work = base / "src"
    target = work / m.file
    original = target.read_text()   # the scratch copy's own: the checkout may change meanwhile
    mutated = original[:m.start] + m.by + original[m.end:]
    try:
        ast.parse(mutated)   # a mutant that does not parse would be "killed" by any test
    except SyntaxError:
        return "invalid", 0.0
    target.write_text(mutated)
    env = dict(os.environ, MODPROOF_EXAMPLES="60", MODPROOF_CACHE_DIR="",
               PYTHONDONTWRITEBYTECODE="1")
    t0 = time.monotonic()
    try:
        r = subprocess.run([str(base / "venv/bin/pytest"), "-x", "-q", "-p", "no:cacheprovider",
                            *TESTS], cwd=work, env=env, capture_output=True, text=True,
                           timeout=timeout)
        verdict = "survived" if r.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        verdict = "timeout"
    finally:
        target.write_text(original)
    return verdict, time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--from", dest="first", type=int, default=1,
                    help="start at the mutant of this number (to resume a run)")
    ap.add_argument("--numbers", default="",
                    help="only the mutants of these numbers (as --list counts them), e.g. 3,17")
    a = ap.parse_args()
    if a.list:
        ms = [m for m in all_mutants() if a.only in f"{m.file} {m.what}"][a.first - 1:]
        for m in ms:
            print(f"{m.file}: {m.what}")
        print(f"{len(ms)} mutants")
        return
    base = _scratch()
    # Mutants of the scratch copy, not of the checkout: work on the checkout during a
    # run (an hour) must not shift the offsets of the mutants still to run.
    ms = [m for m in all_mutants(base / "src") if a.only in f"{m.file} {m.what}"][a.first - 1:]
    if a.numbers:
        ms = [ms[int(n) - a.first] for n in a.numbers.split(",")]
    report = []
    try:
        for i, m in enumerate(ms, 1):
            verdict, secs = run_mutant(base, m, a.timeout)
            line = f"{verdict:8s} {secs:6.1f}s  {m.file}: {m.what}"
            report.append(line)
            print(f"[{i + a.first - 1}/{len(ms) + a.first - 1}] {line}", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    survived = [r for r in report if not r.startswith("killed")]
    summary = f"{len(ms) - len(survived)} of {len(ms)} mutants killed; {len(survived)} not:"
    print(summary)
    for r in survived:
        print("  " + r)
    if a.out:
        Path(a.out).write_text("\n".join(report + [summary] + survived) + "\n")
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
