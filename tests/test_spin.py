"""Spin as an independent third opinion: every corpus and calibration file is
exported to Promela (modproof.exports.promela), verified with `spin -a` + `pan`,
and Spin's verdict and violated check are compared with the explicit engine's,
with the file's `expect` line and with expected.tsv.  Then one tiny program per
step kind pins down the translation itself.

Skipped (with the reason) when `spin` or a C compiler is absent, unless
MODPROOF_REQUIRE_TOOLS=1, as CI sets it (.ci/run installs both): then they
fail.  The pans are built and run in parallel, one temporary directory per
model.

A violation of the pseudo-check `atomic-loop-limit` is Spin's way to say
unknown (NOTE(atomic-loop-limit) in modproof/exports/promela/generate.py).
The export does not carry the liveness check `hang` (NOTE(hang) there): where
modproof's verdict is a hang, which it reports only when every safety check
holds, Spin must prove the model.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import EXAMPLES, expected_rows, proof_files
from modproof.explicit import prove_explicit
from modproof.exports.promela import (
    CARRIED, LOOP_LIMIT, PromelaUnsupported, check_of_line, emit, program_to_promela,
)
from modproof.result import Proved, Unknown, Violated
from modproof.spec import semantics as S
from modproof.spec.lower import load, load_text
from modproof.spec.model import CHECKS, UINT_MAX
from modproof.spec.vocabulary import ATOMIC_LIMIT_CHECK, LIVENESS_CHECKS

SPIN = shutil.which("spin")
CC = shutil.which("cc") or shutil.which("gcc")
MISSING = " and ".join(name for name, path in (("spin", SPIN), ("a C compiler (cc, gcc)", CC))
                       if path is None)
REQUIRE_TOOLS = os.environ.get("MODPROOF_REQUIRE_TOOLS", "") not in ("", "0")


def need_tools() -> None:
    """Skip the test that needs Spin and a C compiler when one is missing, or fail
    it when MODPROOF_REQUIRE_TOOLS=1 says they must be there (CI)."""
    if not MISSING:
        return
    if REQUIRE_TOOLS:
        pytest.fail(f"{MISSING} not found, and MODPROOF_REQUIRE_TOOLS=1 requires them",
                    pytrace=False)
    pytest.skip(f"{MISSING} not installed (with MODPROOF_REQUIRE_TOOLS=1 this fails)")


@pytest.fixture
def spin_tools():
    need_tools()


needs_spin = pytest.mark.usefixtures("spin_tools")

# -O0: these state spaces are tiny, and compiling pan.c dominates (about 0.4 s
# at -O0 against 1.5 s at -O2).  -DSAFETY: no cycle detection (there are no
# liveness checks), so non-progress cycles, e.g. a thread that loops for ever,
# are never errors; only assertions and invalid end states are.
CFLAGS = ["-O0", "-w", "-DSAFETY", "-DVECTORSZ=4096"]
# -m: search depth; -w: a 2^20-slot hash table (the default 2^24 costs 128 MB a run).
PAN_ARGS = ["-m1000000", "-w20"]
JOBS = max(2, min(16, os.cpu_count() or 2))


@dataclass
class SpinResult:
    verdict: str            # "proved", "violated" or "unknown" (the atomic loop limit)
    check: str | None       # the violated check
    detail: str             # pan's error line and the trail's last words
    seconds: float


def run_spin(model: str, only: str | None = None, workdir: str | None = None) -> SpinResult:
    """Verify Promela text `model` with Spin; the verdict and the violated check.
    `only`: the model was exported with only=CHECK (then pan skips invalid end
    states unless CHECK is deadlock)."""
    start = time.monotonic()
    own = workdir is None
    d = tempfile.mkdtemp(prefix="modproof-spin-") if own else workdir
    try:
        Path(d, "model.pml").write_text(model)

        def sh(*cmd, timeout=300):
            r = subprocess.run(cmd, cwd=d, capture_output=True, text=True, timeout=timeout)
            return r.returncode, r.stdout + r.stderr

        rc, out = sh(SPIN, "-a", "model.pml")
        assert rc == 0 and Path(d, "pan.c").exists(), f"spin -a failed:\n{out}"
        rc, out = sh(CC, *CFLAGS, "-o", "pan", "pan.c")
        assert rc == 0, f"cc failed:\n{out}"
        extra = ["-E"] if only not in (None, "deadlock") else []
        rc, out = sh("./pan", *PAN_ARGS, *extra)
        assert "max search depth too small" not in out, out
        assert "out of memory" not in out, out
        m = re.search(r"errors: (\d+)", out)
        assert m, f"pan said nothing about errors:\n{out}"
        if m.group(1) == "0":
            return SpinResult("proved", None, "", time.monotonic() - start)
        first = next((ln for ln in out.splitlines() if ln.startswith("pan:1:")), "")
        if "invalid end state" in first:
            return SpinResult("violated", "deadlock", first, time.monotonic() - start)
        assert "assertion violated" in first, f"unexpected pan error:\n{out}"
        rc, trail = sh(SPIN, "-t", "model.pml")
        lm = re.search(r"model\.pml:(\d+), Error: assertion violated", trail)
        assert lm, f"cannot find the failed assertion in the trail:\n{trail}"
        check = check_of_line(model, int(lm.group(1)))
        assert check, f"the assertion at line {lm.group(1)} names no check"
        if check == LOOP_LIMIT:
            return SpinResult("unknown", None, f"{first} (line {lm.group(1)})",
                              time.monotonic() - start)
        return SpinResult("violated", check, f"{first} (line {lm.group(1)})",
                          time.monotonic() - start)
    finally:
        if own:
            shutil.rmtree(d, ignore_errors=True)


def run_all(models: dict, only: dict | None = None) -> dict:
    """run_spin on every model of `models` in parallel; `only` maps keys to checks."""
    only = only or {}
    with ThreadPoolExecutor(JOBS) as pool:
        futures = {k: pool.submit(run_spin, m, only.get(k)) for k, m in models.items()}
        return {k: f.result() for k, f in futures.items()}


def first_violations(p) -> set[str]:
    """Every check that some execution violates first, by exhaustive search over the
    reference semantics (a violation ends its execution, so it is not expanded)."""
    init = S.initial(p)
    seen, queue, found = {init}, deque([init]), set()
    while queue:
        s = queue.popleft()
        if S.invariant_violation(p, s) is not None:
            found.add("invariant")
            continue
        if S.deadlocked(p, s):
            found.add("deadlock")
            continue
        for t in range(len(p.threads)):
            for out in S.successors(p, s, t):
                if out.violation is not None:
                    found.add(out.violation)
                elif out.state not in seen:
                    seen.add(out.state)
                    queue.append(out.state)
    return found


# --------------------------------------------------------------------------- the corpora

def corpus() -> list[Path]:
    """The files with one size: a `thread NAME[*]` file has no Promela model."""
    return sorted(p for p in set(proof_files()) | set(EXAMPLES.glob("*.mproof"))
                  if "[*]" not in p.read_text())


CORPUS = corpus()
ROWS = {r["file"]: r for r in expected_rows()}


def _key(path: Path) -> str:
    try:
        return str(path.relative_to(EXAMPLES.parent))
    except ValueError:
        return str(path)


@pytest.fixture(scope="session")
def corpus_verdicts():
    need_tools()
    start = time.monotonic()
    models = {p: program_to_promela(load(str(p))) for p in CORPUS}
    res = run_all(models)
    wall = time.monotonic() - start
    print(f"\nspin: {len(res)} models in {wall:.1f} s wall "
          f"({sum(r.seconds for r in res.values()):.1f} s summed, {JOBS} jobs)")
    return res


def _explicit(p):
    r = prove_explicit(p)
    if isinstance(r, Proved):
        return ("proved", None)
    if isinstance(r, Unknown):     # an atomic loop past the limit
        return ("unknown", None)
    assert isinstance(r, Violated), f"explicit engine: {r}"
    return ("violated", r.check)


def spin_expects(mine: tuple[str, str | None]) -> tuple[str, str | None]:
    """What Spin answers where modproof answers `mine`: the same, except that the
    export does not carry `hang` (NOTE(hang)), which modproof reports only when
    every safety check holds for all executions: Spin proves the model then."""
    if mine[0] == "violated" and mine[1] in LIVENESS_CHECKS:
        return ("proved", None)
    return mine


def agree(p, spin: SpinResult, rerun) -> tuple[str, str | None]:
    """Compare Spin's answer with the explicit engine's; the explicit verdict.
    Spin's depth-first search stops at some violation, the explicit engine's
    breadth-first search at a shortest one: when both exist they may differ.  Then
    Spin's check must be one that modproof's semantics can violate first, and
    Spin, asked for the explicit engine's check alone (`rerun`), must find it.
    A hang Spin does not see (spin_expects)."""
    mine = _explicit(p)
    want = spin_expects(mine)
    assert spin.verdict == want[0], \
        f"Spin: {spin.verdict} {spin.check} {spin.detail}; explicit: {mine}"
    if want != mine:
        return mine
    if spin.verdict == "violated" and spin.check != mine[1]:
        assert spin.check in first_violations(p), \
            f"Spin violates {spin.check} ({spin.detail}), which modproof cannot reach"
        again = rerun(mine[1])
        assert (again.verdict, again.check) == mine, \
            f"Spin cannot reach {mine[1]}: {again.verdict} {again.check} {again.detail}"
    return mine


@needs_spin
@pytest.mark.parametrize("path", CORPUS, ids=[_key(p) for p in CORPUS])
def test_spin_agrees(path, corpus_verdicts):
    p = load(str(path))
    got = agree(p, corpus_verdicts[path],
                lambda check: run_spin(program_to_promela(p, only=check), only=check))
    if p.expect is not None:
        assert got == (p.expect.verdict, p.expect.check)
    row = ROWS.get(path.name) if path.parent == EXAMPLES else None
    if row is not None:
        assert got == (row["verdict"], None if row["check"] == "-" else row["check"])


@pytest.mark.skipif(not os.environ.get("MODPROOF_SPIN_FULL"), reason="set MODPROOF_SPIN_FULL=1")
@needs_spin
def test_spin_every_check_on_corpus():
    """Slow (one pan per file and check): for every file and every check, Spin with
    only that check reported finds it exactly when modproof's semantics can
    violate it first."""
    models, only, want = {}, {}, {}
    for path in CORPUS:
        p = load(str(path))
        reach = first_violations(p)
        for c in CARRIED:
            models[(path, c)] = program_to_promela(p, only=c)
            only[(path, c)] = c
            want[(path, c)] = c in reach
    res = run_all(models, only)
    bad = [(str(k[0]), k[1], want[k], r.verdict, r.check) for k, r in res.items()
           if (r.verdict == "violated") != want[k] or (r.check not in (None, k[1]))]
    assert not bad


def test_corpus_is_there():
    assert len(CORPUS) >= 30


def test_every_corpus_file_translates():
    # Even without Spin: the translation must accept every file.
    for path in CORPUS:
        text = program_to_promela(load(str(path)))
        assert "proctype" in text and "init {" in text


# --------------------------------------------------------------------------- one program per step kind
# (source, verdict, check): each runs through Spin and, for the record, through
# the explicit engine, which must agree.

KINDS = {
    "get": ("object o\nthread a { get(o) }\ninvariant two: refs(o) == 1", "violated", "invariant"),
    "get_after_release": ("object o refs 0\nthread a { get(o) }", "violated", "get-after-release"),
    "put": ("object o refs 2\nthread a { put(o) }\ninvariant one: refs(o) >= 1", "proved", None),
    "put_after_release": ("object o refs 0\nthread a { put(o) }", "violated", "put-after-release"),
    "put_release": ("""var r = false
fn rel in core { r = true }
object o refs 1 release rel
thread a { put(o); assert r }""", "proved", None),
    "put_release_not_at_zero": ("""var r = false
fn rel in core { r = true }
object o refs 2 release rel
thread a { put(o); assert r }""", "violated", "assertion"),
    "complete_wait": ("completion c\nthread a { wait(c) }\nthread b { complete(c) }", "proved", None),
    "wait_blocks": ("completion c\nthread a { wait(c) }", "violated", "deadlock"),
    "wait_consumes": ("completion c\nthread a[2] { wait(c) }\nthread b { complete(c) }",
                      "violated", "deadlock"),
    "complete_all": ("""completion c
thread w[2] { wait(c) }
thread b { complete_all(c); complete(c) }
invariant sat: done(c) == 0 or done(c) == 4294967295
invariant big: done(c) < 4294967296 and done(c) + 0 >= 0""", "proved", None),
    "complete_all_compare_vars": ("""completion c
var n = 5
thread b { complete_all(c); assert done(c) > n; assert done(c) != 4294967295 }""",
                                  "violated", "assertion"),
    "reinit": ("completion c done 3\nthread a { reinit(c); wait(c) }", "violated", "deadlock"),
    "reinit_after_all": ("completion c\nthread a { complete_all(c); reinit(c); assert done(c) == 0 }",
                         "proved", None),
    "initial_uint_max": ("completion c done 4294967295\nthread a[3] { wait(c) }", "proved", None),
    "lock_unlock": ("mutex m\nvar x = 0\nthread a[2] { lock(m); x = x + 1; assert x == 1; "
                    "x = x - 1; unlock(m) }", "proved", None),
    "lock_not_recursive": ("mutex m\nthread a { lock(m); lock(m) }", "violated", "deadlock"),
    "unlock_free": ("mutex m\nthread a { unlock(m) }", "violated", "unlock-not-held"),
    "unlock_other": ("mutex m\nvar l = false\nthread a { lock(m); l = true }\n"
                     "thread b { await l; unlock(m) }", "violated", "unlock-not-held"),
    "module_get": ("module m\nthread a { module_get(m); module_put(m) }\n"
                   "invariant z: module_refs(m) <= 1", "proved", None),
    "module_get_gone": ("module m\nthread a { unload(m); module_get(m) }", "violated",
                        "module-get-after-unload"),
    "module_get_unloading": ("""module m exit ex
fn ex in m { module_get(m) }
thread a { unload(m) }
invariant r: module_refs(m) == 0""", "violated", "invariant"),
    "module_put_underflow": ("module m\nthread a { module_put(m) }", "violated",
                             "module-refcount-underflow"),
    "unload_waits": ("module m refs 1\nthread a { unload(m) }", "violated", "deadlock"),
    "unload_twice": ("module m\nthread a { unload(m); unload(m); assert not loaded(m) }",
                     "proved", None),
    "unload_exit_runs": ("""module m exit ex
var x = 0
fn ex in m { local k = 1; x = x + k }
thread a { unload(m); assert x == 1 }
invariant order: loaded(m) or x == 1""", "proved", None),
    "unload_skip_while_unloading": ("""module m exit ex
var entered = false
var c = false
fn ex in m { entered = true; await c }
thread a { unload(m) }
thread b { await entered; unload(m); c = true }""", "proved", None),
    "code_after_unload_blocked_then_taken": ("""module m refs 1
completion c
fn w in m { wait(c) }
thread a { w() }
thread b { module_put(m); unload(m); complete(c) }""", "violated", "code-after-unload"),
    "code_after_unload_first": ("""module m refs 1
object o refs 0
fn f in m { get(o) }
var go = false
thread a { await go; f() }
thread b { module_put(m); unload(m); go = true }""", "violated", "code-after-unload"),
    "module_put_and_exit": ("module m refs 1\nthread w in m { module_put_and_exit(m) }\n"
                            "thread a { unload(m) }", "proved", None),
    "module_put_and_exit_underflow": ("module m\nthread w { module_put_and_exit(m) }",
                                      "violated", "module-refcount-underflow"),
    "complete_and_exit": ("""module m
completion c
mutex lk
thread w in m { lock(lk); complete_and_exit(c) }
thread a { wait(c); unload(m); assert locked(lk) }""", "proved", None),
    "assign_local": ("var x = 0\nthread a[2] { local t = 0; t = x; x = t + 1 }\n"
                     "thread c { await x == 1; assert false }", "violated", "assertion"),
    "assert_ok": ("var x = 1\nthread a { assert x == 1 and not (x > 1) }", "proved", None),
    "await": ("var f = false\nthread a { await f }\nthread b { f = true }", "proved", None),
    "await_never": ("var f = false\nthread a { await f }", "violated", "deadlock"),
    "await_try_get": ("object o refs 0\nthread a { await try_get(o) }", "violated", "deadlock"),
    "await_try_module_get": ("""module m
thread a { await try_module_get(m); module_put(m) }
thread b { unload(m) }""", "violated", "deadlock"),
    "branch": ("var x = 0\nthread a { if x == 0 { x = 1 } else { x = 2 } }\n"
               "invariant inv: x < 2", "proved", None),
    "branch_try_get": ("""object o refs 1
var got = false
thread a { if try_get(o) { got = true } }
thread b { put(o) }
invariant inv: not got or refs(o) >= 1""", "proved", None),
    "try_module_get_unloading": ("""module m exit ex
var got = false
fn ex in m { assert not got }
thread a { if try_module_get(m) { got = true; module_put(m) } }
thread b { unload(m) }""", "violated", "assertion"),
    "while_forever_is_no_deadlock": ("var x = 0\nthread a { while true { x = 1 - x } }",
                                     "proved", None),
    "while_then_block": ("var x = 0\nthread a { while x < 3 { x = x + 1 }; await x == 4 }",
                         "violated", "deadlock"),
    "choose": ("var x = 0\nthread a { choose { x = 1 } or { x = 2 } }\ninvariant inv: x != 2",
               "violated", "invariant"),
    "call_locals_fresh": ("""var n = 0
fn f in core { local k = 0; k = k + 1; n = n + k }
thread a { f(); f(); assert n == 2 }""", "proved", None),
    "return_early": ("""var x = 0
fn f in core { x = 1; return; x = 2 }
thread a { f(); assert x == 1 }""", "proved", None),
    "return_into_module": ("module m refs 1\nthread w in m { module_put(m) }\n"
                           "thread a { unload(m) }", "violated", "code-after-unload"),
    "atomic_plain": ("""object o
var x = 0
thread a { atomic { get(o); x = refs(o); put(o) } }
invariant one: refs(o) == 1 and x != 1""", "proved", None),
    "atomic_choose_while": ("""var x = 0
thread a { local i = 0; atomic { while i < 3 { choose { x = x + 1 } or { x = x + 2 }; i = i + 1 } } }
invariant inv: x != 5""", "violated", "invariant"),
    "atomic_violation_inside": ("object o refs 0\nvar x = 0\nthread a { atomic { x = 1; get(o) } }",
                                "violated", "get-after-release"),
    "atomic_await_no_partial": ("""var f = false
var x = 0
thread a { atomic { x = 1; await f } }
thread b { assert x == 0 }""", "violated", "deadlock"),
    "atomic_await_enabled_later": ("""var f = false
var x = 0
thread a { atomic { x = 1; await f; x = 2 } }
thread b { assert x == 0; f = true }
invariant inv: x != 1""", "proved", None),
    "atomic_await_path": ("""var f = false
var x = 0
thread a { atomic { choose { await f; x = 1 } or { x = 2 } } }
invariant inv: x != 1""", "proved", None),
    "atomic_await_sees_own_effect": ("""object o refs 1
var x = 0
thread a { atomic { get(o); await refs(o) == 2; x = refs(o) } }
invariant inv: x == 0 or x == 2""", "proved", None),
    "atomic_await_try": ("""object o refs 1
var x = 0
thread a { atomic { await try_get(o); await try_get(o); x = refs(o) } }
invariant inv: x != 3""", "violated", "invariant"),
    "atomic_await_violation_before_await": ("""object o refs 0
var f = false
thread a { atomic { get(o); await f } }""", "violated", "get-after-release"),
    "atomic_await_violation_after_await": ("""object o refs 0
var f = false
thread a { atomic { await f; get(o) } }""", "violated", "deadlock"),
    "atomic_await_assert": ("""var x = 0
thread a { atomic { x = x + 1; await x > 0; assert x == 2 } }""", "violated", "assertion"),
    "atomic_await_complete_all": ("""completion c
var seen = false
thread a { atomic { complete(c); complete_all(c); complete(c); await done(c) == 4294967295; seen = true } }
thread b { await seen; assert done(c) > 100 }""", "proved", None),
    "atomic_await_unlock": ("""mutex m
thread a { lock(m); atomic { unlock(m); await not locked(m) } }""", "proved", None),
    "atomic_await_unlock_not_held": ("""mutex m
var f = true
thread a { atomic { await f; unlock(m) } }""", "violated", "unlock-not-held"),
    "atomic_await_module_ops": ("""module m
thread a { atomic { module_get(m); await module_refs(m) == 1; module_put(m); module_put(m) } }""",
                                "violated", "module-refcount-underflow"),
    "atomic_await_loop_known_count": ("""var x = 0
thread a { local i = 0; atomic { i = 0; while i < 3 { i = i + 1 }; await i == 3; x = 1 } }
invariant inv: x == 0""", "violated", "invariant"),
    # NOTE(atomic-loop-limit): past 10,000 iterations in one atomic step, unknown.
    "atomic_loop_forever": ("var x = 0\nthread a { atomic { while true { x = 1 - x } } }",
                            "unknown", None),
    "atomic_loop_at_limit": ("""thread a { local i = 0; local j = 0
    atomic { while i < 4000 { i = i + 1 }; while j < 6000 { j = j + 1 } }
    assert i + j == 10000 }""", "proved", None),
    "atomic_loop_past_limit": ("""thread a { local i = 0; local j = 0
    atomic { while i < 4000 { i = i + 1 }; while j < 6001 { j = j + 1 } } }""", "unknown", None),
    # The limit counts per path: 2^14 paths of 14 iterations each are within it.
    "atomic_loop_per_path_many_paths": ("""var x = 0
thread a { local i = 0; atomic { while i < 14 { choose { x = 1 } or { x = 2 }; i = i + 1 } } }""",
                                        "proved", None),
    # Every path passes the limit (the first one the reference runs, too).
    "atomic_loop_per_path_choose_inside_past": ("""var x = 0
thread a { local i = 0; atomic { while i < 10001 { choose { x = 1 } or { x = 2 }; i = i + 1 } } }""",
                                                "unknown", None),
    # Two branches of 6,000 each: 6,000 on each path (no longer counted twice).
    "atomic_loop_per_path_balanced_branches": ("""thread a { local i = 0; local j = 0
    atomic { choose { while i < 6000 { i = i + 1 } } or { while j < 6000 { j = j + 1 } } } }""",
                                               "proved", None),
    # A branch counts on from the count where it starts: 6,000 + 4,000 is the limit...
    "atomic_loop_per_path_branch_inherits_at_limit": ("""thread a { local i = 0; local j = 0
    atomic { while i < 6000 { i = i + 1 }; choose { } or { while j < 4000 { j = j + 1 } } } }""",
                                                      "proved", None),
    # ... and 6,000 + 4,001 passes it, on the second branch only.
    "atomic_loop_per_path_branch_inherits_past": ("""thread a { local i = 0; local j = 0
    atomic { while i < 6000 { i = i + 1 }; choose { } or { while j < 4001 { j = j + 1 } } } }""",
                                                  "unknown", None),
    "invariant_initial": ("var x = 1\ninvariant inv: x == 0\nthread a { x = 0 }",
                          "violated", "invariant"),
    "deadlock_mutual": ("""mutex a
mutex b
thread t1 { lock(a); lock(b); unlock(b); unlock(a) }
thread t2 { lock(b); lock(a); unlock(a); unlock(b) }""", "violated", "deadlock"),
}

# NOTE(touch): use-after-unload where the touch happens (spec/semantics.py:
# first_touch, _storage_touched, _touch_in), in plain steps, in atomic blocks
# written statement by statement, and on the paths of atomic blocks with await.
TOUCH_HEAD = "module m\nobject o in m\ncompletion c done 1 in m\nvar v = false\nvar k = 0\n"
TOUCH_TRUE = TOUCH_HEAD.replace("var v = false", "var v = true")
TOUCH = {
    # plain steps: C's short circuit
    "touch_and_left_false": (TOUCH_HEAD + "thread a { unload(m); if v and refs(o) == 0 { v = true } }",
                             "proved", None),
    "touch_and_left_true": (TOUCH_TRUE + "thread a { unload(m); if v and refs(o) == 0 { v = true } }",
                            "violated", "use-after-unload"),
    "touch_or_left_true": (TOUCH_HEAD + "thread a { unload(m); assert not v or done(c) > 0 }",
                           "proved", None),
    "touch_or_left_false": (TOUCH_HEAD + "thread a { unload(m); assert v or done(c) > 0 }",
                            "violated", "use-after-unload"),
    "touch_nested_short_circuit": (TOUCH_HEAD + "thread a { unload(m); "
                                   "assert (v and refs(o) == 1) or (k == 0 or done(c) == 1) }",
                                   "proved", None),
    "touch_nested_reached": (TOUCH_HEAD + "thread a { unload(m); "
                             "assert (v and refs(o) == 1) or (k == 1 or done(c) == 1) }",
                             "violated", "use-after-unload"),
    "touch_before_assertion": (TOUCH_HEAD + "thread a { unload(m); assert refs(o) == 5 }",
                               "violated", "use-after-unload"),
    "touch_assign": (TOUCH_HEAD + "thread a { unload(m); k = refs(o) }", "violated", "use-after-unload"),
    "touch_assign_short": (TOUCH_HEAD + "thread a { unload(m); v = v and done(c) == 1 }",
                           "proved", None),
    # plain steps: only a step that is taken
    "touch_await_false": (TOUCH_HEAD + "thread a { unload(m); await refs(o) > 5 }",
                          "violated", "deadlock"),
    "touch_await_true": (TOUCH_HEAD + "thread a { unload(m); await refs(o) > 0 }",
                         "violated", "use-after-unload"),
    "touch_await_short": (TOUCH_HEAD + "thread a { unload(m); await not v or refs(o) == 1 }",
                          "proved", None),
    "touch_wait_blocked": (TOUCH_HEAD.replace("done 1", "done 0") + "thread a { unload(m); wait(c) }",
                           "violated", "deadlock"),
    "touch_wait_taken": (TOUCH_HEAD + "thread a { unload(m); wait(c) }", "violated", "use-after-unload"),
    "touch_await_try_get_fails": ("module m\nobject o refs 0 in m\n"
                                  "thread a { unload(m); await try_get(o) }", "violated", "deadlock"),
    "touch_await_try_get_taken": ("module m\nobject o in m\nthread a { unload(m); await try_get(o) }",
                                  "violated", "use-after-unload"),
    "touch_branch_try_get_fails": ("module m\nobject o refs 0 in m\n"
                                   "thread a { unload(m); if try_get(o) { } }",
                                   "violated", "use-after-unload"),
    # the order of the checks
    "touch_after_code_after_unload": (TOUCH_HEAD + "thread a { unload(m) }\nthread b in m { get(o) }",
                                      "violated", "code-after-unload"),
    "touch_before_own_check": ("module m\nobject o refs 0 in m\nthread a { unload(m); put(o) }",
                               "violated", "use-after-unload"),
    "touch_while_unloading_is_fine": ("module m exit ex\nobject o in m\nfn ex in m { get(o); put(o) }\n"
                                      "thread a { unload(m) }", "proved", None),
    "touch_race": (TOUCH_HEAD + "thread a { get(o); put(o) }\nthread b { unload(m) }",
                   "violated", "use-after-unload"),
    # atomic, statement by statement
    "touch_atomic_branch_not_taken": (TOUCH_HEAD + "thread a { unload(m); atomic { if false { get(o) } } }",
                                      "proved", None),
    "touch_atomic_assertion_first": (TOUCH_HEAD + "thread a { unload(m); atomic { assert false; get(o) } }",
                                     "violated", "assertion"),
    "touch_atomic_after_assertion": (TOUCH_HEAD + "thread a { unload(m); "
                                     "atomic { assert true; get(o); assert false } }",
                                     "violated", "use-after-unload"),
    "touch_atomic_short_circuit": (TOUCH_HEAD + "thread a { unload(m); "
                                   "atomic { if v and refs(o) == 1 { v = true }; v = true } }",
                                   "proved", None),
    "touch_atomic_choose": (TOUCH_HEAD + "thread a { unload(m); atomic { choose { v = true } or { get(o) } } }",
                            "violated", "use-after-unload"),
    # The loop's test reaches refs(o) only once k is 2: at its third evaluation.
    "touch_atomic_loop_test_later": (TOUCH_HEAD + "thread a { unload(m); "
                                     "atomic { while k < 2 or refs(o) == 5 { k = k + 1 } } }",
                                     "violated", "use-after-unload"),
    "touch_atomic_loop_test_never": (TOUCH_HEAD + "thread a { unload(m); "
                                     "atomic { while k < 2 or v and refs(o) == 5 { k = k + 1 } } }",
                                     "proved", None),
    "touch_atomic_loop_body": (TOUCH_HEAD + "thread a { unload(m); "
                               "atomic { while k < 3 { if k == 2 { get(o) }; k = k + 1 } } }",
                               "violated", "use-after-unload"),
    "touch_atomic_own_check_after": ("module m\nobject o refs 0 in m\nobject p refs 0\n"
                                     "thread a { unload(m); atomic { get(p); get(o) } }",
                                     "violated", "get-after-release"),
    # atomic with await: the paths
    "touch_paths_before_blocking_await": (TOUCH_HEAD + "thread a { unload(m); atomic { get(o); await false } }",
                                          "violated", "use-after-unload"),
    "touch_paths_false_await": (TOUCH_HEAD + "thread a { unload(m); atomic { await done(c) > 5; get(o) } }",
                                "violated", "deadlock"),
    "touch_paths_true_await": (TOUCH_HEAD + "thread a { unload(m); atomic { await done(c) > 0; v = true } }",
                               "violated", "use-after-unload"),
    "touch_paths_await_short": (TOUCH_HEAD + "thread a { unload(m); atomic { await not v or refs(o) == 1 } }",
                                "proved", None),
    "touch_paths_await_reached": (TOUCH_TRUE + "thread a { unload(m); atomic { await not v or refs(o) == 1 } }",
                                  "violated", "use-after-unload"),
    "touch_paths_assertion_first": (TOUCH_HEAD + "thread a { unload(m); "
                                    "atomic { await true; assert false; get(o) } }",
                                    "violated", "assertion"),
    "touch_paths_try_get_fails": ("module m\nobject o refs 0 in m\n"
                                  "thread a { unload(m); atomic { await try_get(o) } }",
                                  "violated", "deadlock"),
    "touch_paths_try_get_taken": ("module m\nobject o in m\n"
                                  "thread a { unload(m); atomic { await try_get(o) } }",
                                  "violated", "use-after-unload"),
    "touch_paths_branch_blocks": (TOUCH_HEAD + "thread a { unload(m); "
                                  "atomic { choose { await v; get(o) } or { k = 1 } } }",
                                  "proved", None),
    "touch_paths_loop_test_later": (TOUCH_HEAD + "thread a { unload(m); "
                                    "atomic { k = 0; while k < 2 or refs(o) == 5 and k < 4 { k = k + 1 }; await true } }",
                                    "violated", "use-after-unload"),
    "touch_paths_race": (TOUCH_HEAD + "thread a { atomic { await true; get(o); put(o) } }\n"
                         "thread b { unload(m) }", "violated", "use-after-unload"),
    "touch_paths_two_modules": ("module m\nmodule n\nobject o in m\ncompletion c done 1 in n\n"
                                "var v = false\nthread a { unload(n); "
                                "atomic { await v or done(c) == 1; get(o) } }\nthread b { unload(m) }",
                                "violated", "use-after-unload"),
    # wait_timeout (v2) is atomic { choose { await done(c) > 0; wait(c) } or { } }: only
    # the way that takes the completion touches it.
    "touch_wait_timeout_times_out": (TOUCH_HEAD.replace("done 1", "done 0")
                                     + "thread a { unload(m); wait_timeout(c) }", "proved", None),
    "touch_wait_timeout_takes": (TOUCH_HEAD + "thread a { unload(m); wait_timeout(c) }",
                                 "violated", "use-after-unload"),
}

# `service` threads (never part of a deadlock) and the hang check, which the
# export does not carry: where modproof says hang, Spin proves (spin_expects).
POLL = "var tick = 0\nthread poller service { while true { tick = 1 - tick } }\n"
LIFECYCLE = {
    "service_blocked_is_no_deadlock": ("completion ev\nthread kthreadd service { while true { wait(ev) } }\n"
                                       "thread a { }", "proved", None),
    "service_blocked_at_its_first_step": ("completion ev\nthread k service { wait(ev) }\nthread a { }",
                                          "proved", None),
    "service_beside_a_deadlock": ("completion ev\ncompletion ev2\nthread k service { wait(ev) }\n"
                                  "thread a { wait(ev2) }", "violated", "deadlock"),
    "service_in_module": ("module m refs 1\ncompletion ev\nthread k in m service { while true { wait(ev) } }\n"
                          "thread a { module_put(m); unload(m); complete(ev) }",
                          "violated", "code-after-unload"),
    "hang_lock_cycle_beside_a_poller": ("mutex rtnl\nvar flag = false\n"
                                        "thread admin { lock(rtnl); await flag; unlock(rtnl) }\n"
                                        "thread worker { lock(rtnl); flag = true; unlock(rtnl) }\n" + POLL,
                                        "violated", "hang"),
    "hang_spinning_on_a_flag": ("var flag = false\nthread spin { while not flag { } }", "violated", "hang"),
    "hang_not_under_strong_fairness": ("thread admin { await tick == 1 }\n" + POLL, "proved", None),
    "hang_after_a_safety_violation": ("var flag = false\nobject o refs 0\n"
                                      "thread spin { get(o); while not flag { } }",
                                      "violated", "get-after-release"),
}
KINDS.update(TOUCH)
KINDS.update(LIFECYCLE)


@pytest.fixture(scope="session")
def kind_verdicts():
    need_tools()
    return run_all({k: program_to_promela(load_text(src, f"{k}.mproof"))
                    for k, (src, _, _) in KINDS.items()})


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_explicit(name):
    src, verdict, check = KINDS[name]
    assert _explicit(load_text(src, f"{name}.mproof")) == (verdict, check)


@needs_spin
@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_spin(name, kind_verdicts):
    src, verdict, check = KINDS[name]
    p = load_text(src, f"{name}.mproof")
    assert agree(p, kind_verdicts[name],
                 lambda c: run_spin(program_to_promela(p, only=c), only=c)) == (verdict, check)


@needs_spin
def test_touch_only_where_the_semantics_reaches_it():
    # With only use-after-unload reported, Spin finds it exactly where modproof's
    # semantics can violate it first (spec/semantics.py, NOTE(touch)).
    c = "use-after-unload"
    progs = {k: load_text(src, f"{k}.mproof") for k, (src, _, _) in TOUCH.items()}
    res = run_all({k: program_to_promela(p, only=c) for k, p in progs.items()},
                  {k: c for k in progs})
    bad = [(k, r.verdict, r.check) for k, r in res.items()
           if (r.verdict == "violated") != (c in first_violations(progs[k]))]
    assert not bad


@needs_spin
def test_a_service_thread_is_at_a_valid_end_everywhere_with_only_too():
    # The first step of a thread sits outside the `unless` block of only=: its end
    # label must still mark it.
    for name in ("service_blocked_is_no_deadlock", "service_blocked_at_its_first_step"):
        p = load_text(LIFECYCLE[name][0], f"{name}.mproof")
        for only in (None, "deadlock"):
            r = run_spin(program_to_promela(p, only=only), only=only)
            assert (r.verdict, r.check) == ("proved", None), (name, only, r.detail)


# --------------------------------------------------------------------------- deferred release
# With --deferred-release a release runs on a worker thread release(O), which
# takes an extra step back to idle (issue 19): the export follows the lowering.

DEFERRED = {
    # put (1) queues the release; the worker takes it (2), calls h (3), h returns
    # (4) and marks itself idle (5): then t is blocked for ever, a deadlock.
    "deferred_idle_step_then_deadlock": ("object o release h\nfn h in core { }\n"
                                         "thread t { put(o); await false }", "violated", "deadlock"),
    "deferred_idle_before_and_after": ("object o release h\nvar n = 0\nfn h in core { n = n + 1 }\n"
                                       "thread t { put(o) }\ninvariant once: n < 2", "proved", None),
    "deferred_release_in_module": ("module m\nobject o release h\nfn h in m { }\n"
                                   "thread t { put(o); unload(m) }", "violated", "code-after-unload"),
}
DEFERRED_CORPUS = [p for p in CORPUS if re.search(r"^object .*\brelease\b", p.read_text(), re.M)]


def test_the_release_worker_has_its_idle_step():
    p = load_text(DEFERRED["deferred_idle_step_then_deadlock"][0], "d.mproof", deferred_release=True)
    worker = next(th for th in p.threads if th.name.startswith("release("))
    text = program_to_promela(p)
    idle = [st for st in worker.steps if st.idle]
    assert idle and all(f"\nend_S{st.id}:" in text for st in idle)


@needs_spin
def test_deferred_release_agrees():
    progs = {k: load_text(src, f"{k}.mproof", deferred_release=True)
             for k, (src, _, _) in DEFERRED.items()}
    progs.update({_key(path): load(str(path), deferred_release=True) for path in DEFERRED_CORPUS})
    res = run_all({k: program_to_promela(p) for k, p in progs.items()})
    for k, p in progs.items():
        got = agree(p, res[k], lambda c, p=p: run_spin(program_to_promela(p, only=c), only=c))
        if k in DEFERRED:
            assert got == DEFERRED[k][1:], k


# --------------------------------------------------------------------------- the text itself

def promela(src: str) -> str:
    return program_to_promela(load_text(src, "t.mproof"))


def test_one_labelled_atomic_per_step():
    p = load_text("object o\nthread a { get(o); put(o) }\nthread b[2] { choose { } or { } }")
    text = program_to_promela(p)
    for t, th in enumerate(p.threads):
        body = text.split(f"proctype T{t}_")[1].split("\n}\n")[0]
        for st in th.steps:
            assert f"\nS{st.id}:" in body
        assert body.count("atomic {") == len(th.steps)
    assert "proctype T1_b_0()" in text and "proctype T2_b_1()" in text


def test_code_after_unload_is_the_first_check():
    text = promela("module m\nobject o\nfn f in m { get(o) }\nthread a { f() }")
    step = text.split("get 'get(o)'")[1]
    assert step.index("code-after-unload") < step.index("get-after-release")


def test_guards_come_first():
    text = promela("module m\ncompletion c\nmutex k\nvar f = false\n"
                   "thread a in m { wait(c); lock(k); await f; unload(m) }")
    for guard in ("done_c != 0 ->", "holder_k == -1 ->", "v_f ->",
                  "(mstate_m != LOADED || mrefs_m == 0) ->"):
        after = text.split(guard)[1]
        assert after.lstrip().startswith("assert(mstate_m != GONE);"), guard


def test_every_assert_names_its_check():
    text = promela("""module m refs 1
object o
mutex k
var x = 0
fn f in m { get(o); put(o); module_get(m); module_put(m); lock(k); unlock(k); assert x == 0 }
thread a { f() }
invariant inv: x == 0""")
    lines = [i + 1 for i, ln in enumerate(text.splitlines()) if "assert(" in ln]
    checks = {check_of_line(text, n) for n in lines}
    assert checks == {"code-after-unload", "get-after-release", "put-after-release",
                      "module-get-after-unload", "module-refcount-underflow",
                      "unlock-not-held", "assertion", "invariant"}


def test_touch_is_asserted_where_it_happens():
    # NOTE(touch): a query on the right of `and` is reached only when the left holds.
    text = promela("module m\nobject o in m\nvar v = false\n"
                   "thread a { if v and refs(o) == 0 { v = true } }")
    assert "assert(!(v_v && mstate_m == GONE)); /* use-after-unload: a uses object o" in text
    # A query that evaluation never reaches is not judged at all.
    text = promela("module m\nobject o in m\nthread a { assert false and refs(o) == 0 }")
    assert "use-after-unload" not in text.split("*/", 1)[1]
    # code-after-unload first, then the touch, then the step's own check.
    text = promela("module n\nmodule m\nobject o refs 0 in m\nfn f in n { put(o) }\n"
                   "thread a { f() }")
    step = text.split("put 'put(o)'")[1].split("\n}\n")[0]
    assert step.index("code-after-unload") < step.index("use-after-unload") \
        < step.index("put-after-release")


def test_touch_inside_atomic_before_each_statement_and_loop_test():
    text = promela("module m\nobject o in m\nvar k = 0\n"
                   "thread a { atomic { k = 1; while k < 3 or refs(o) == 5 { k = k + 1 } } }")
    body = text.split("atomic 'atomic {")[1].split("\n}\n")[0]
    touch = "assert(!((v_k >= 3) && mstate_m == GONE)); /* use-after-unload: a uses object o"
    assert body.count(touch) == 2      # before the loop, and after each iteration
    assert body.index("v_k = 1;") < body.index(touch) < body.index("do")


def test_hang_is_not_carried():
    assert "hang" not in CARRIED and set(CARRIED) | set(LIVENESS_CHECKS) == set(CHECKS)
    with pytest.raises(ValueError, match="does not carry hang"):
        program_to_promela(load_text("thread a { }", "t.mproof"), only="hang")
    assert "Not carried: hang" in promela("thread a { }")


def test_header_names_source():
    p = load_text("thread a { }", "/some/where/x.mproof")
    assert "/some/where/x.mproof" in program_to_promela(p).splitlines()[0]


def test_uint_max_is_a_sentinel():
    text = promela("completion c\nthread a { complete_all(c); assert done(c) == 4294967295 }")
    body = text.split("proctype T0_a")[1]
    assert "4294967295" not in re.sub(r"/\*.*?\*/", "", body)
    assert "done_c = -1 /* UINT_MAX */;" in body
    assert "assert((done_c == -1));" in body


def test_unsaturable_done_is_plain():
    text = promela("completion c\nthread a { complete(c); assert done(c) == 1 }")
    assert "-1" not in text.split("proctype T0_a")[1]
    assert "(done_c == 1)" in text


def test_too_big_constants_are_refused():
    with pytest.raises(PromelaUnsupported):
        promela("var x = 0\nthread a { x = 4294967296 }")
    with pytest.raises(PromelaUnsupported):
        promela("completion c\nvar x = 0\nthread a { complete_all(c); x = done(c) }")


def test_terms():
    big = ("c", UINT_MAX)
    d = ("v", "done_c", "done")
    assert emit(("cmp", "==", d, big)) == "(done_c == -1)"
    assert emit(("cmp", "<", ("v", "x", "int"), big)) == "true"
    assert emit(("cmp", ">", d, ("v", "x", "int"))) == "((done_c == -1) -> true : (done_c > x))"
    assert emit(("and", ("c", True), ("v", "b", "bool"))) == "b"


def test_implied_comparisons_are_dropped():
    x = ("v", "x", "int")
    gt, ne = ("cmp", ">", x, ("c", 0)), ("cmp", "!=", x, ("c", 0))
    assert emit(("and", gt, ne)) == emit(("and", ne, gt)) == "(x > 0)"
    assert emit(("or", gt, ne)) == "(x != 0)"
    assert emit(("and", ("cmp", ">=", x, ("c", 0)), ne)) == "((x >= 0) && (x != 0))"


# --------------------------------------------------------------------------- the atomic loop limit
# NOTE(atomic-loop-limit): where modproof gives up, Spin must not answer.

def test_atomic_loops_count_their_iterations_and_only_never_silences_it():
    src = "var x = 0\nthread a { local i = 0; atomic { while i < 3 { x = x + 1; i = i + 1 } } }"
    for only in (None, "assertion"):
        text = program_to_promela(load_text(src, "t.mproof"), only=only)
        lines = text.splitlines()
        limit = [n + 1 for n, ln in enumerate(lines) if "atomic_iters <= 10000)" in ln]
        assert len(limit) == 1 and check_of_line(text, limit[0]) == LOOP_LIMIT
        assert lines[limit[0] - 1].lstrip().startswith("assert(")
        assert "atomic_iters = 0;" in text and "atomic_weight" not in text


def test_atomic_blocks_without_loops_count_nothing():
    text = promela("var x = 0\nthread a { atomic { choose { x = 1 } or { x = 2 } } }")
    assert "atomic_iters" not in text and "atomic_weight" not in text


def test_paths_count_per_path():
    # 2^8 paths through the chooses, each running the loop 60 times: 15,360
    # iterations over all of them, 60 on each path: within the limit.
    src = ("thread a { local i = 0\n    atomic { "
           + "choose { } or { }; " * 8 + "i = 0; while i < 60 { i = i + 1 }; await true } }")
    p = load_text(src, "t.mproof")
    assert _explicit(p) == ("proved", None)
    assert "256 path(s)" in program_to_promela(p)


def test_paths_past_the_limit_are_refused():
    # One path of 160 loops of 63 iterations: 10,080 in one step (each loop within
    # the enumerator's unrolling; the walk is iterative, so no recursion limit).
    src = ("thread a { local i = 0\n    atomic { "
           + "i = 0; while i < 63 { i = i + 1 }; " * 160 + "await true } }")
    p = load_text(src, "t.mproof")
    assert _explicit(p) == ("unknown", None)
    with pytest.raises(PromelaUnsupported, match="more than 10000 times"):
        program_to_promela(p)


@needs_spin
def test_the_count_is_per_path_and_needs_no_weight():
    # One Spin execution follows one path through the block, as the limit counts:
    # no weighing by the branches of a choose.
    text = promela("var x = 0\nthread a { local i = 0; atomic { while i < 3 { "
                   "choose { x = 1 } or { x = 2 }; i = i + 1 } } }")
    assert "atomic_iters = atomic_iters + 1;" in text and "atomic_weight" not in text


def test_the_pseudo_check_is_named_once():
    assert LOOP_LIMIT == ATOMIC_LIMIT_CHECK == "atomic-loop-limit"
    assert LOOP_LIMIT not in CHECKS


def test_every_primitive_and_try_query_is_written(monkeypatch):
    from modproof.exports.promela import state
    state._check_tables()
    monkeypatch.delitem(state.WRITING, "get")
    with pytest.raises(AssertionError, match="get"):
        state._check_tables()


def test_missing_tools_fail_when_required(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "MISSING", "spin")
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE_TOOLS", True)
    with pytest.raises(pytest.fail.Exception, match="MODPROOF_REQUIRE_TOOLS=1"):
        need_tools()
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE_TOOLS", False)
    with pytest.raises(pytest.skip.Exception, match="spin not installed"):
        need_tools()
