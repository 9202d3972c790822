"""The Z3 engines (BMC and k-induction) against the calibration table and against a
breadth-first search over the reference semantics, written here independently of
every engine."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Optional

import pytest
import z3

from conftest import EXAMPLES, expected_of, expected_rows, table_verdict
from modproof.encoder.bmc import prove_bmc
from modproof.encoder.encoding import ATOMIC_LIMIT, Encoding
from modproof.encoder.kinduction import prove_kinduction
from modproof.result import Proved, RawTrace, Unknown, Violated
from modproof.spec import semantics as S
from modproof.spec.lower import load, load_text
from modproof.spec.model import Program

ROWS = expected_rows()


# --------------------------------------------------------------------------- the oracle


@dataclass
class Oracle:
    """What BFS over `spec.semantics` says about a program."""

    violation: Optional[tuple[int, frozenset]]   # shortest length, checks of that length
    depth: dict                                  # reachable state -> fewest steps
    taken: dict = field(default_factory=dict)    # (thread, pc) -> fewest steps taking it
    cover_step: dict = field(default_factory=dict)
    longest: Optional[int] = None                # longest execution, None when some never end
    complete: bool = True                        # False: cut off at max_depth


def bfs(p: Program, max_depth: int = 60) -> Oracle:
    """Level by level, so the first level with a violation gives the shortest
    length.  A loop inside `atomic` that runs out of the reference's fuel counts
    as the pseudo-check ATOMIC_LIMIT (the engines answer Unknown for it).  States
    deeper than `max_depth` are not expanded (some models are infinite)."""
    n = len(p.threads)

    def bad(s):
        if S.invariant_violation(p, s) is not None:
            return "invariant"
        try:
            return "deadlock" if S.deadlocked(p, s) else None
        except S.AtomicLoopLimit:
            return ATOMIC_LIMIT

    def successors(s, t):
        try:
            return S.successors(p, s, t)
        except S.AtomicLoopLimit:
            return [S.Outcome(s, ATOMIC_LIMIT)]

    init = S.initial(p)
    depth = {init: 0}
    o = Oracle(None, depth)
    for c in S.covers_hit(p, init):
        o.cover_step.setdefault(c, 0)
    if bad(init):
        o.violation = (0, frozenset({bad(init)}))
        return o
    succ: dict = {}
    frontier, d = [init], 0
    while frontier:
        if d >= max_depth:
            o.complete = False
            return o
        found, nxt = set(), []
        for s in frontier:
            succ[s] = []
            for t in range(n):
                outs = successors(s, t)
                if outs:
                    o.taken.setdefault((t, s.pcs[t]), d + 1)
                for out in outs:
                    if out.violation is not None:
                        found.add(out.violation)
                        continue
                    s2 = out.state
                    succ[s].append(s2)
                    if s2 not in depth:
                        depth[s2] = d + 1
                        for c in S.covers_hit(p, s2):
                            o.cover_step.setdefault(c, d + 1)
                        if bad(s2):
                            found.add(bad(s2))
                        else:
                            nxt.append(s2)
        if found:
            o.violation = (d + 1, frozenset(found))
            return o
        frontier, d = nxt, d + 1
    o.longest = _longest(init, succ)
    return o


def _longest(init, succ) -> Optional[int]:
    """Length of the longest execution, None if the state graph has a cycle."""
    memo: dict = {}
    on_stack: set = set()

    def go(s):
        if s in memo:
            return memo[s]
        if s in on_stack:
            raise RecursionError
        on_stack.add(s)
        best = 0
        for s2 in succ.get(s, ()):
            best = max(best, 1 + go(s2))
        on_stack.discard(s)
        memo[s] = best
        return best

    try:
        return go(init)
    except RecursionError:
        return None


def replay(p: Program, trace: RawTrace) -> None:
    """Each decoded state is exactly one of the reference outcomes of its thread."""
    s = S.initial(p)
    for k, (t, after) in enumerate(trace.steps):
        outs = S.successors(p, s, t)
        if after is None:
            assert k == len(trace.steps) - 1, "only the violating step has no state"
            assert any(o.violation == trace.check for o in outs), (k, t, trace.check)
            return
        assert any(o.violation is None and o.state == after for o in outs), (k, t, after, outs)
        match = next(o.state for o in outs if o.violation is None and o.state == after)
        assert repr(match) == repr(after), "same values, same types (bool is not int)"
        s = after
    if trace.check == "invariant":
        assert S.invariant_violation(p, s) is not None
    elif trace.check == "deadlock":
        assert S.deadlocked(p, s)
    else:
        raise AssertionError(f"a step check {trace.check} needs a violating last step")


def unreached_by_oracle(p: Program, o: Oracle, bound: Optional[int]) -> set:
    """Source statements (line, col, text) none of whose steps is taken within `bound`."""
    hit: dict = {}
    for ti, th in enumerate(p.threads):
        for st in th.steps:
            if st.synthetic:
                continue
            key = (st.span.line, st.span.col, st.text)
            d = o.taken.get((ti, st.id))
            hit[key] = hit.get(key, False) or (d is not None and (bound is None or d <= bound))
    return {k for k, h in hit.items() if not h}


def agree(p: Program, r, o: Oracle, bound: int) -> None:
    """BMC result `r` (bound `bound`) says what the oracle says."""
    if o.violation is not None and o.violation[0] <= bound:
        if ATOMIC_LIMIT in o.violation[1] and isinstance(r, Unknown):
            assert "atomic" in r.reason
            return
        assert isinstance(r, Violated), r
        assert len(r.trace.steps) == o.violation[0]
        assert r.check in o.violation[1]
        replay(p, r.trace)
        return
    assert isinstance(r, Proved), r
    if o.violation is None and o.longest is not None and o.longest <= bound:
        assert r.scope == "all-executions" and r.bound == o.longest
        within = None
    else:
        assert r.scope == "bounded" and r.bound == bound
        within = bound
    got = {(u.line, u.col, u.text) for u in r.unreached}
    assert got == unreached_by_oracle(p, o, within)
    for k, c in enumerate(r.covers):
        step = o.cover_step.get(k)
        if step is not None and (within is None or step <= within):
            assert c.reached and c.step == step, c
        else:
            assert not c.reached, c


# --------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_calibration_table_bmc(row):
    p = load(str(EXAMPLES / row["file"]))
    r = prove_bmc(p, bound=30)
    assert table_verdict(r) == expected_of(row)
    if isinstance(r, Violated):
        replay(p, r.trace)


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_calibration_table_kinduction(row):
    p = load(str(EXAMPLES / row["file"]))
    r = prove_kinduction(p, max_k=40)
    assert table_verdict(r) == expected_of(row)
    if isinstance(r, Proved):
        assert r.scope == "all-executions"
        assert all(c.reached for c in r.covers)
    else:
        replay(p, r.trace)


def test_dm_builtin_and_dm_in_module():
    builtin = prove_bmc(load(str(EXAMPLES / "dm_builtin.mproof")), bound=40)
    assert isinstance(builtin, Proved) and builtin.scope == "all-executions"
    assert builtin.covers[0].reached and builtin.unreached == ()
    in_module = prove_bmc(load(str(EXAMPLES / "dm_in_module.mproof")), bound=40)
    assert isinstance(in_module, Violated) and in_module.check == "code-after-unload"
    assert len(in_module.trace.steps) == 14


# --------------------------------------------------------------------------- step kinds

STEP_KINDS = {
    "get_after_release": """
object o refs 1
thread a { put(o) }
thread b { get(o) }
""",
    "put_release_in_core": """
object o refs 2 release rel
completion c
fn rel in core { complete(c) }
thread a { put(o) }
thread b { put(o); wait(c) }
cover released: done(c) == 1
""",
    "put_release_in_module": """
module m refs 1
object o refs 1 release rel
completion c
fn rel in m { complete(c) }
thread a { put(o) }
thread admin { wait(c); module_put(m); unload(m) }
""",
    "complete_reinit_wait": """
completion c
thread w { wait(c); wait(c) }
thread s { complete(c); reinit(c); complete(c) }
""",
    "complete_all_saturates": """
completion c
thread w[2] { wait(c); wait(c) }
thread s { complete(c); complete_all(c); complete(c) }
invariant sat: done(c) <= 1 or done(c) == 4294967295
cover all: done(c) == 4294967295
""",
    "reinit_after_complete_all": """
completion c
thread s { complete_all(c); reinit(c) }
thread w { wait(c) }
""",
    "mutex_protects": """
mutex mx
var x = 0
thread a[2] {
    local seen = 0
    lock(mx); seen = x; x = seen + 1; unlock(mx)
}
invariant no_lost_update: x <= 2
cover both: x == 2
""",
    "mutex_lost_update": """
var x = 0
thread a[2] {
    local seen = 0
    seen = x; x = seen + 1
}
thread checker { await x > 0; assert x == 2 }
""",
    "lock_twice_deadlocks": """
mutex mx
thread a { lock(mx); lock(mx) }
""",
    "unlock_free": """
mutex mx
thread a { unlock(mx) }
""",
    "unlock_own_is_fine": """
mutex mx
thread a { lock(mx); unlock(mx) }
thread b { lock(mx); unlock(mx) }
cover held: locked(mx)
""",
    "module_refcount_underflow": """
module m
thread a { module_put(m) }
""",
    "module_get_after_unload": """
module m
thread a { module_get(m); module_put(m) }
thread b { unload(m) }
""",
    "module_get_while_unloading": """
module m exit e
completion c
fn e in m { wait(c) }
thread admin { unload(m) }
thread late { await module_refs(m) == 0 and not loaded(m) == false; module_get(m); complete(c); module_put(m) }
""",
    "try_module_get_branch": """
module m
var got = false
thread u { if try_module_get(m) { got = true; module_put(m) } }
thread admin { unload(m) }
invariant not_both: not (got and not loaded(m))
""",
    "try_get_await": """
object o refs 1
thread a { await try_get(o); put(o); put(o) }
thread b { put(o) }
""",
    "try_get_while": """
object o refs 1
var n = 0
thread a { while try_get(o) { n = n + 1; put(o); put(o) } }
thread b { get(o) }
invariant small: n < 3
""",
    "module_put_and_exit": """
module m refs 1
thread k in m { module_put_and_exit(m) }
thread admin { unload(m) }
cover gone: not loaded(m)
""",
    "kthread_returns_into_freed_code": """
module m refs 1
fn body in m { module_put(m) }
thread k in m { body() }
thread admin { unload(m) }
""",
    "complete_and_exit": """
module m
completion c
thread k in m { complete_and_exit(c) }
thread admin { wait(c); unload(m) }
cover gone: not loaded(m)
""",
    "blocked_in_freed_code": """
module m refs 1
completion c
fn waiter_fn in m { wait(c) }
thread waiter { waiter_fn() }
thread admin { module_put(m); unload(m); complete(c) }
""",
    "unload_while_unloading": """
module m exit e
completion c
fn e in m { wait(c) }
thread a { unload(m) }
thread b { unload(m); complete(c) }
cover gone: not loaded(m)
""",
    "exit_function_runs": """
module m exit e
var cleaned = false
fn e in m { cleaned = true }
thread a { unload(m) }
thread b { await not loaded(m); assert cleaned }
""",
    "choose_in_loop": """
var x = 0
thread t { while x < 3 { choose { x = x + 1 } or { x = x + 2 } } }
invariant not_four: x != 4
""",
    "atomic_choose_assert": """
var x = 0
thread t { atomic { choose { x = 1 } or { x = 2 }; assert x == 1 } }
""",
    "atomic_await_if_try": """
object o refs 1
var flag = false
thread a { atomic { await flag; if try_get(o) { flag = false } }; put(o) }
thread b { flag = true; put(o) }
""",
    "atomic_while": """
var n = 0
thread t { atomic { while n < 5 { n = n + 1 } } }
invariant all_or_nothing: n == 0 or n == 5
cover finished: n == 5
""",
    "atomic_choose_then_await_blocked_both_ways": """
var x = 0
thread a { atomic { choose { x = 1 } or { x = 2 }; await x == 3 } }
thread b { x = 5 }
""",
    "atomic_choose_then_await_one_way": """
var x = 0
var y = 0
thread a { atomic { while y < 2 { y = y + 1; choose { x = 1 } or { x = 2 } }; await x == 2 } }
cover two: x == 2
""",
    "storage_used_after_free": """
module m
completion c in m
thread user { complete(c) }
thread admin { unload(m) }
""",
    "atomic_get_after_release": """
object o refs 1
thread a { put(o) }
thread b { atomic { get(o); put(o) } }
""",
    "atomic_module_ops": """
module m refs 1
var ok = false
thread a { atomic { module_get(m); module_put(m); module_put(m); ok = true } }
thread b { await ok; unload(m) }
cover gone: not loaded(m)
""",
    "atomic_unlock_not_held": """
mutex mx
thread a { lock(mx) }
thread b { atomic { if locked(mx) { unlock(mx) } } }
""",
    "return_early_leaves_dead_code": """
var calls = 0
fn f in core {
    local first = true
    if first { calls = calls + 1; return }
    assert false
}
thread t { f(); f() }
invariant at_most_two: calls <= 2
""",
    "locals_per_copy": """
var total = 0
thread w[3] {
    local mine = 0
    mine = mine + 1
    total = total + mine
}
invariant bounded: total <= 3
cover all_three: total == 3
""",
    "deadlock_in_initial_state": """
completion c
thread w { wait(c) }
""",
    "invariant_false_initially": """
var x = 1
thread t { x = 0 }
invariant zero: x == 0
""",
    "assert_bool_local": """
var go = false
thread a { local mine = true; await go; mine = false; assert mine }
thread b { go = true }
""",
    "await_never": """
var go = false
thread a { await go }
thread b { choose { go = true } or { go = false } }
""",
    "spinning_is_no_deadlock": """
var stop = false
thread spin { while not stop { stop = stop } }
thread never { await false }
""",
}


@pytest.mark.parametrize("name", sorted(STEP_KINDS))
@pytest.mark.parametrize("por", [True, False], ids=["por", "nopor"])
def test_step_kinds_agree_with_bfs(name, por):
    p = load_text(STEP_KINDS[name], f"{name}.mproof")
    o = bfs(p)
    bound = 14
    agree(p, prove_bmc(p, bound=bound, por=por), o, bound)


@pytest.mark.parametrize("name", sorted(STEP_KINDS))
def test_step_kinds_kinduction_agrees_with_bfs(name):
    p = load_text(STEP_KINDS[name], f"{name}.mproof")
    o = bfs(p)
    r = prove_kinduction(p, max_k=30)
    if o.violation is not None and ATOMIC_LIMIT in o.violation[1] and isinstance(r, Unknown):
        assert "atomic" in r.reason, r.reason
        return
    if o.violation is not None:
        assert isinstance(r, Violated) and len(r.trace.steps) == o.violation[0]
        assert r.check in o.violation[1]
        replay(p, r.trace)
        return
    if isinstance(r, Violated) and r.check == "hang":
        # Safety holds (the oracle's BFS) but a thread that must finish never does:
        # the explicit engine must find the hang too, and the lasso must replay.
        from modproof.explicit import prove_explicit
        ex = prove_explicit(p, reduce=True)
        assert isinstance(ex, Violated) and ex.check == "hang", ex
        from modproof.witness import replay as replay_witness
        assert replay_witness(p, r.trace).loop == r.trace.loop
        return
    assert isinstance(r, Proved) and r.scope == "all-executions", r
    if dict(r.stats.extra).get("targets_complete", True):
        assert {(u.line, u.col, u.text) for u in r.unreached} == unreached_by_oracle(p, o, None)
        assert [c.step for c in r.covers] == [o.cover_step.get(k) for k in range(len(p.covers))]


# --------------------------------------------------------------------------- random programs

DECLS = """module m refs 1
object o refs 2
completion c
mutex mx
var x = 0
var f = false
"""
SIMPLE = [
    "get(o)", "put(o)", "complete(c)", "complete_all(c)", "wait(c)", "reinit(c)",
    "lock(mx)", "unlock(mx)", "module_get(m)", "module_put(m)", "unload(m)",
    "x = x + 1", "x = x - 1", "f = not f", "f = x > 0", "assert x < 3", "assert refs(o) > 0",
    "await f", "await x > 0", "await try_get(o)", "await try_module_get(m)",
]
CONDS = ["f", "x > 0", "try_get(o)", "try_module_get(m)", "refs(o) == 1", "loaded(m)",
         "done(c) > 0", "locked(mx)"]
ATOMIC_OK = [s for s in SIMPLE if not s.startswith(("wait", "lock", "unload"))]


def _stmt(rng: random.Random, depth: int, in_atomic: bool = False, calls: bool = True) -> str:
    pool = ATOMIC_OK if in_atomic else SIMPLE
    r = rng.random()
    if depth > 0 and r < 0.12:
        body = "; ".join(_stmt(rng, depth - 1, in_atomic) for _ in range(rng.randint(1, 2)))
        other = "; ".join(_stmt(rng, depth - 1, in_atomic) for _ in range(rng.randint(1, 2)))
        return f"if {rng.choice(CONDS)} {{ {body} }} else {{ {other} }}"
    if depth > 0 and r < 0.2:
        branches = " or ".join("{ " + _stmt(rng, depth - 1, in_atomic) + " }" for _ in range(2))
        return f"choose {branches}"
    if depth > 0 and r < 0.28 and not in_atomic:
        body = "; ".join(_stmt(rng, depth - 1, True) for _ in range(rng.randint(1, 3)))
        return f"atomic {{ {body} }}"
    if depth > 0 and r < 0.32:
        return f"while x < 2 {{ x = x + 1; {_stmt(rng, 0, in_atomic)} }}"
    if calls and not in_atomic and r < 0.36:
        return "helper()"
    return rng.choice(pool)


def random_program(seed: int) -> str:
    rng = random.Random(seed)
    out = [DECLS]
    owner = rng.choice(["core", "m"])
    out.append(f"fn helper in {owner} {{ {_stmt(rng, 0, calls=False)}; {_stmt(rng, 0, calls=False)} }}")
    for t in range(rng.randint(2, 3)):
        body = "; ".join(_stmt(rng, 2) for _ in range(rng.randint(1, 3)))
        where = " in m" if rng.random() < 0.25 else ""
        out.append(f"thread t{t}{where} {{ {body} }}")
    if rng.random() < 0.5:
        out.append(rng.choice(["invariant i: x < 3", "invariant i: refs(o) + done(c) < 4",
                               "invariant i: not (f and not loaded(m))"]))
    out.append(rng.choice(["cover k: x == 2", "cover k: not loaded(m)", "cover k: f"]))
    return "\n".join(out) + "\n"


def random_program_with_calls(seed: int) -> str:
    """Release and exit functions, thread copies, locals, kthreads that exit,
    chooses and awaits inside atomic blocks."""
    rng = random.Random(seed)
    rel_owner, exit_owner = rng.choice(["core", "m"]), rng.choice(["core", "m"])
    out = [f"""module m refs {rng.randint(0, 2)} exit m_exit
object o refs {rng.randint(1, 2)} release o_release
object p refs 1
completion c
completion gone
mutex mx
var x = 0
var f = false
fn o_release in {rel_owner} {{ complete(gone); {rng.choice(["x = x + 1", "f = true", "complete(c)"])} }}
fn m_exit in {exit_owner} {{ {rng.choice(["f = false", "wait(c)", "complete(c)", "x = 0"])} }}
"""]
    simple = ["get(p)", "put(p)", "put(o)", "get(o)", "complete(c)", "wait(c)", "wait(gone)",
              "module_get(m)", "module_put(m)", "unload(m)", "lock(mx)", "unlock(mx)",
              "x = x + 1", "mine = mine + 1", "assert mine < 3", "f = not f", "await f",
              "await try_module_get(m)", "await try_get(p)", "assert refs(p) > 0"]
    atomic = ["x = x + 1", "get(p)", "put(p)", "mine = mine + 1", "complete(c)", "f = x > 1",
              "await x > 0", "await not f", "assert x < 4", "module_put(m)", "unlock(mx)"]

    def atomic_stmt(depth):
        r = rng.random()
        if depth and r < 0.2:
            return ("choose { " + "; ".join(atomic_stmt(depth - 1) for _ in range(2)) + " } or { "
                    + atomic_stmt(depth - 1) + " }")
        if depth and r < 0.35:
            return f"if {rng.choice(['f', 'x > 0', 'try_get(p)', 'loaded(m)'])} {{ {atomic_stmt(depth - 1)} }}"
        if depth and r < 0.45:
            return f"while mine < 2 {{ mine = mine + 1; {atomic_stmt(depth - 1)} }}"
        return rng.choice(atomic)

    def body():
        stmts = []
        for _ in range(rng.randint(1, 3)):
            r = rng.random()
            if r < 0.25:
                stmts.append("atomic { " + "; ".join(atomic_stmt(2) for _ in range(rng.randint(1, 3))) + " }")
            elif r < 0.35:
                stmts.append(f"if {rng.choice(['try_get(p)', 'f', 'x > 0'])} {{ {rng.choice(simple)} }}")
            elif r < 0.42:
                stmts.append("choose { " + rng.choice(simple) + " } or { " + rng.choice(simple) + " }")
            else:
                stmts.append(rng.choice(simple))
        return stmts

    for t in range(rng.randint(2, 3)):
        copies = "[2]" if rng.random() < 0.2 else ""
        where = " in m" if rng.random() < 0.3 else ""
        stmts = body()
        if where and rng.random() < 0.5:
            stmts.append(rng.choice(["module_put_and_exit(m)", "complete_and_exit(c)"]))
        out.append(f"thread t{t}{copies}{where} {{\n    local mine = 0\n    " + "; ".join(stmts) + "\n}")
    out.append(rng.choice(["invariant i: x < 4", "invariant i: refs(p) + done(c) < 5",
                           "invariant i: not (f and not loaded(m))", ""]))
    out.append(rng.choice(["cover k: not loaded(m)", "cover k: done(gone) > 0", "cover k: f"]))
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_with_calls_agree_with_bfs(seed):
    p = load_text(random_program_with_calls(seed), f"calls{seed}.mproof")
    bound = 9
    o = bfs(p, max_depth=bound + 1)
    agree(p, prove_bmc(p, bound=bound), o, bound)
    agree(p, prove_bmc(p, bound=bound, por=False), o, bound)


@pytest.mark.parametrize("seed", range(60))
def test_random_programs_agree_with_bfs(seed):
    src = random_program(seed)
    p = load_text(src, f"random{seed}.mproof")
    bound = 8
    o = bfs(p, max_depth=bound + 1)
    agree(p, prove_bmc(p, bound=bound), o, bound)
    agree(p, prove_bmc(p, bound=bound, por=False), o, bound)


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_random_programs_kinduction(seed):
    p = load_text(random_program(seed), f"random{seed}.mproof")
    o = bfs(p)
    r = prove_kinduction(p, max_k=25, timeout=60)
    if o.violation is not None and ATOMIC_LIMIT in o.violation[1] and isinstance(r, Unknown):
        assert "atomic" in r.reason, r.reason
        return
    if o.violation is None and not o.complete:
        assert not isinstance(r, Violated) or len(r.trace.steps) > 60
        return
    if o.violation is not None:
        assert isinstance(r, Violated) and len(r.trace.steps) == o.violation[0]
        assert r.check in o.violation[1]
        replay(p, r.trace)
    else:
        # Finite state, no violation.  Every safe seed here ends all its executions
        # within 11 steps (o.longest), well inside max_k: k-induction proves it by
        # then, so Unknown would be a missed proof (and Violated a wrong one).
        assert o.longest is not None and o.longest <= 25, o.longest
        assert isinstance(r, Proved) and r.scope == "all-executions", r


# --------------------------------------------------------------------------- k-induction

WHILE_LOOP = """
object o refs 1
var stop = false
thread worker {
    while not stop {
        get(o)
        put(o)
    }
}
thread stopper {
    stop = true
}
invariant alive: refs(o) >= 1
"""


def test_kinduction_proves_endless_loop_for_all_executions():
    p = load_text(WHILE_LOOP)
    bounded = prove_bmc(p, bound=20)
    assert isinstance(bounded, Proved) and bounded.scope == "bounded"
    r = prove_kinduction(p, max_k=20)
    assert isinstance(r, Proved) and r.scope == "all-executions"
    assert "k-induction" in r.stats.method
    k = dict(r.stats.extra)["k"]
    assert f"k={k}" in r.stats.method and r.unreached == ()


def test_kinduction_finds_the_dropped_reference():
    p = load_text(WHILE_LOOP + "thread dropper { put(o) }\n")
    r = prove_kinduction(p, max_k=20)
    assert isinstance(r, Violated)
    o = bfs(p)
    assert len(r.trace.steps) == o.violation[0] and r.check in o.violation[1]
    replay(p, r.trace)


INFINITE_SAFE = """
var x = 0
thread t { while true { x = x + 2 } }
invariant never_one: x != 1
"""


@pytest.mark.parametrize("max_k", [0, 1, 3, 8])
def test_kinduction_is_unknown_on_an_infinite_state_model(max_k):
    # x is always even, but x = 1 - 2k starts a k-step path of good states into x = 1:
    # no k closes the induction, and the honest answer is unknown.
    r = prove_kinduction(load_text(INFINITE_SAFE), max_k=max_k)
    assert isinstance(r, Unknown), r
    assert r.bound == max_k


def test_kinduction_is_unknown_for_a_cover_it_cannot_settle():
    # Safety is k-inductive here (nobody writes y), but "x == 1" is never reached and
    # not k-inductively unreachable (x = 1 - 2k starts a path into it): the cover
    # stays not reached and the proof says it could not settle it.
    r = prove_kinduction(load_text("""
var x = 0
var y = 0
thread t { while true { x = x + 2 } }
invariant untouched: y == 0
cover odd: x == 1
"""), max_k=6)
    assert isinstance(r, Proved) and r.scope == "all-executions"
    assert not r.covers[0].reached
    assert dict(r.stats.extra)["targets_complete"] is False


# --------------------------------------------------------------------------- budgets and limits


def test_timeout_is_unknown():
    p = load(str(EXAMPLES / "dm_builtin.mproof"))
    for r in (prove_bmc(p, bound=40, timeout=1e-9), prove_kinduction(p, max_k=40, timeout=1e-9)):
        assert isinstance(r, Unknown) and "timeout" in r.reason


def test_rlimit_is_unknown_and_reproducible():
    p = load(str(EXAMPLES / "dm_builtin.mproof"))
    a = prove_bmc(p, bound=40, rlimit=20000)
    b = prove_bmc(p, bound=40, rlimit=20000)
    assert isinstance(a, Unknown) and "resource limit" in a.reason
    assert (a.bound, a.stats.depth) == (b.bound, b.stats.depth)


def test_atomic_loop_beyond_the_unrolling_is_unknown():
    src = """
var n = 0
thread t { atomic { while n < 20 { n = n + 1 } } }
invariant all_or_nothing: n == 0 or n == 20
"""
    r = prove_bmc(load_text(src), bound=10, atomic_unroll=8)
    assert isinstance(r, Unknown) and "atomic" in r.reason
    r = prove_kinduction(load_text(src), max_k=10, atomic_unroll=8)
    assert isinstance(r, Unknown)
    r = prove_bmc(load_text(src), bound=10, atomic_unroll=32)
    assert isinstance(r, Proved) and r.scope == "all-executions"


def test_same_witness_in_other_processes():
    """No dependence on Python's hash seed (set order) or on earlier Z3 work."""
    import subprocess
    import sys
    src = STEP_KINDS["atomic_await_if_try"] + STEP_KINDS["choose_in_loop"].replace("var x", "var y").replace(
        "x", "y").replace("thread t", "thread u")
    code = ("import sys; from modproof.spec.lower import load_text; "
            "from modproof.encoder.bmc import prove_bmc; "
            "print(prove_bmc(load_text(sys.stdin.read()), bound=12).trace)")
    runs = {subprocess.run([sys.executable, "-c", code], input=src, capture_output=True, text=True,
                           env={"PYTHONHASHSEED": seed}, check=True).stdout for seed in ("1", "2", "3")}
    assert len(runs) == 1 and "RawTrace" in runs.pop()


def test_same_input_same_witness():
    p = load(str(EXAMPLES / "dm_in_module.mproof"))
    first = prove_bmc(p, bound=30)
    prove_bmc(load(str(EXAMPLES / "dm_builtin.mproof")), bound=30)   # other work in between
    assert prove_bmc(p, bound=30).trace == first.trace


# --------------------------------------------------------------------------- the encoding itself


def test_names_come_from_one_helper():
    p = load(str(EXAMPLES / "dm_builtin.mproof"))
    enc = Encoding(p)
    assert str(enc.at(("refs", 0), 3)) == "refs(md_kobj)@3"
    assert str(enc.moved(1, 3)) == "moved(admin)@3"
    assert str(enc.pc_is(0, 2, 3)) == "pc(reader)=2@3"
    assert str(enc.at(("loc", 0, 0), 0)) == "reader.found@0"
    assert enc.name("published", 7) == "published@7"


TRANS_PROGRAMS = {
    "dm_in_module": (EXAMPLES / "dm_in_module.mproof").read_text(),
    "atomic_split_worlds": """
var x = 0
var y = 0
thread a { atomic { choose { x = 1 } or { x = 2 } or { x = 3 }; await x != y; y = x } }
thread b { atomic { while y < 2 { choose { y = y + 1 } or { assert y > 5 } } } }
""",
    "atomic_merged_choose_and_try": """
object o refs 1
module m refs 0
mutex mx
var x = 0
thread a { atomic { if try_get(o) { choose { x = 1 } or { put(o); put(o) } } else { x = 5 } } }
thread b { atomic { await try_module_get(m); choose { module_put(m) } or { x = x + 1 } } }
thread c { lock(mx); atomic { if locked(mx) { unlock(mx) } else { unlock(mx) } }; put(o) }
""",
}
TRANS_PROGRAMS.update({k: STEP_KINDS[k] for k in ("complete_all_saturates", "put_release_in_module",
                                                    "try_get_while", "mutex_protects")})


@pytest.mark.parametrize("name", sorted(TRANS_PROGRAMS))
@pytest.mark.parametrize("t0", [0, 2])
def test_trans_is_the_step_function(name, t0):
    """From reachable states, `trans(t0)` admits exactly the reference successors of
    the moving thread, and `step_violation(t0)` holds exactly when a violating
    outcome exists (t0 = 2 checks formulas moved in time by substitution)."""
    p = load_text(TRANS_PROGRAMS[name], f"{name}.mproof")
    o = bfs(p)
    enc = Encoding(p, por=False)
    solver = z3.Solver(ctx=enc.ctx)
    solver.add(enc.trans(t0))

    def pin(s: S.State, t: int) -> list:
        e = enc
        out = []
        for i, th in enumerate(p.threads):
            out += [e.pc_is(i, pc, t) == (pc == s.pcs[i])
                    for pc in (-1,) + tuple(st.id for st in th.steps)]
            out += [e.at(("loc", i, j), t) == e.val(v) for j, v in enumerate(s.locs[i])]
        out += [e.at(("refs", k), t) == v for k, v in enumerate(s.refs)]
        out += [e.at(("done", k), t) == v for k, v in enumerate(s.done)]
        out += [e.at(("mrefs", k), t) == v for k, v in enumerate(s.mrefs)]
        out += [e.at(("mstate", k), t) == v for k, v in enumerate(s.mstate)]
        out += [e.at(("holder", k), t) == v for k, v in enumerate(s.holders)]
        out += [e.at(("var", k), t) == e.val(v) for k, v in enumerate(s.vars)]
        return out

    for s in sorted(o.depth, key=o.depth.get)[:60]:
        for t in range(len(p.threads)):
            outs = S.successors(p, s, t)
            ref = {out.state for out in outs if out.violation is None}
            viol = {out.violation for out in outs if out.violation is not None}
            solver.push()
            solver.add(pin(s, t0))
            solver.add(enc.moved(t, t0), z3.Not(enc.step_violation(t0)))
            got = set()
            while solver.check() == z3.sat:
                nxt = enc.decode_state(solver.model(), t0 + 1)
                got.add(nxt)
                solver.add(z3.Not(z3.And(pin(nxt, t0 + 1))))
            solver.pop()
            assert got == ref, (s, t)
            per = enc.step_violations(t0)
            for check, f in per.items():
                solver.push()
                solver.add(pin(s, t0))
                assert (solver.check(enc.moved(t, t0), f) == z3.sat) == (check in viol), (s, t, check)
                solver.pop()
            solver.push()
            solver.add(pin(s, t0))
            enabled = solver.check(enc.thread_enabled(t, t0)) == z3.sat
            solver.pop()
            assert enabled == bool(outs), (s, t)
        solver.push()
        solver.add(pin(s, t0))
        assert (solver.check(enc.deadlock(t0)) == z3.sat) == S.deadlocked(p, s), s
        assert (solver.check(enc.invariant_false(t0)) == z3.sat) == (
            S.invariant_violation(p, s) is not None), s
        solver.pop()


# --------------------------------------------------------------------------- symmetry breaking

SYMMETRIC = {
    # Only the copy that goes second can finish: the constraint must not lose it.
    "second_copy_completes": """
completion c
var n = 0
thread t[2] { n = n + 1; if n == 2 { complete(c) } else { wait(c) } }
cover both: n == 2
""",
    "mutex_holders": """
mutex l
var inside = 0
thread t[3] { lock(l); inside = inside + 1; assert inside == 1; inside = inside - 1; unlock(l) }
""",
    "mutex_race": """
mutex l
var inside = 0
thread t[3] { lock(l); inside = inside + 1; unlock(l); assert inside < 3 }
""",
    "copies_and_a_single_thread": """
module m refs 1
object o refs 2 release rel
completion done_c
fn rel in m { complete(done_c) }
thread r[2] { put(o) }
thread admin { wait(done_c); module_put(m); unload(m) }
""",
    "deadlock_among_copies": """
completion c
thread w[3] { wait(c) }
thread s { complete(c); complete(c) }
""",
}


@pytest.mark.parametrize("name", sorted(SYMMETRIC))
def test_symmetry_breaking_keeps_verdicts_checks_and_lengths(name):
    p = load_text(SYMMETRIC[name], f"{name}.mproof")
    o = bfs(p, max_depth=25)
    with_sym = prove_bmc(p, bound=24)
    without = prove_bmc(p, bound=24, symmetry=False)
    agree(p, with_sym, o, 24)
    agree(p, without, o, 24)
    assert with_sym.verdict == without.verdict
    if isinstance(with_sym, Violated):
        assert (with_sym.check, len(with_sym.trace.steps)) == (without.check, len(without.trace.steps))
    else:
        assert with_sym.scope == without.scope
        assert with_sym.covers == without.covers
    k = prove_kinduction(p, max_k=25)
    assert k.verdict == with_sym.verdict


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("safe", [True, False])
def test_symmetry_breaking_on_the_dm_family(k, safe):
    import sys as _sys
    from conftest import ROOT
    _sys.path.insert(0, str(ROOT / "bench"))
    from dm_family import dm_model
    p = load_text(dm_model(k, safe), f"dm{k}.mproof")
    a, b = prove_bmc(p, bound=16), prove_bmc(p, bound=16, symmetry=False)
    assert a.verdict == b.verdict == ("proved" if safe else "violated")
    if not safe:
        assert (a.check, len(a.trace.steps)) == (b.check, len(b.trace.steps)) == ("code-after-unload", 14)
        replay(p, a.trace)


def test_a_capped_query_gives_up_and_leaves_the_solver_uncapped():
    from modproof.encoder.bmc import Budget
    ctx = z3.Context()
    xs = [z3.Bool(f"x{i}", ctx) for i in range(60)]
    budget = Budget(None, None)
    s = budget.new_solver(ctx)
    # A pigeonhole-like instance: hard enough that 10 resource units cannot decide it.
    pigeons, holes = 7, 6
    v = [[z3.Bool(f"p{i}h{j}", ctx) for j in range(holes)] for i in range(pigeons)]
    for i in range(pigeons):
        s.add(z3.Or(v[i]))
    for j in range(holes):
        for a in range(pigeons):
            for b in range(a + 1, pigeons):
                s.add(z3.Not(z3.And(v[a][j], v[b][j])))
    assert budget.check_capped(s, 10) is None
    assert budget.check(s) is False          # later queries are not capped
    assert budget.check_capped(z3.Solver(ctx=ctx), 1_000_000, xs[0]) is True


def test_kinduction_with_capped_attempts_is_reproducible_under_an_rlimit():
    p = load(str(EXAMPLES / "dm_builtin.mproof"))
    a = prove_kinduction(p, max_k=40, rlimit=300_000)
    b = prove_kinduction(p, max_k=40, rlimit=300_000)
    assert isinstance(a, Unknown) and "resource limit" in a.reason
    assert (a.bound, a.stats.depth, a.reason) == (b.bound, b.stats.depth, b.reason)
    full = prove_kinduction(p, max_k=40)
    assert isinstance(full, Proved) and full.scope == "all-executions"
