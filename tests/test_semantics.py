"""The reference semantics (through the explicit engine) against the calibration table,
and the fine points of LANGUAGE.md one by one."""
from __future__ import annotations

import pytest

from conftest import EXAMPLES, expected_of, expected_rows, table_verdict
from modproof.explicit import prove_explicit
from modproof.result import Proved, Unknown, Violated
from modproof.spec import semantics as S
from modproof.spec.lower import load, load_text
from modproof.spec.model import GONE, UINT_MAX, UNLOADING
from modproof.witness import replay

ROWS = expected_rows()


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_calibration_table(row):
    p = load(str(EXAMPLES / row["file"]))
    r = prove_explicit(p)
    assert table_verdict(r) == expected_of(row)
    if isinstance(r, Proved):
        assert r.scope == "all-executions"
        # No reduction in this engine: it counts exactly the reachable states.
        assert r.stats.states == int(row["states"])
    if isinstance(r, Violated):
        assert replay(p, r.trace).length == int(row["shortest_witness_steps"])


def run(src: str):
    p = load_text(src, "t.mproof")
    return p, prove_explicit(p)


def test_blocked_step_in_freed_code_crashes_only_when_taken():
    # The waiter sits in module code while the module is unloaded; it crashes
    # when its wait is finally taken, not while it is blocked.
    p, r = run("""
module m refs 1
completion c
fn waiter_fn in m { wait(c) }
thread waiter { waiter_fn() }
thread admin { module_put(m); unload(m); complete(c) }
""")
    assert isinstance(r, Violated) and r.check == "code-after-unload"
    w = replay(p, r.trace)
    assert w.steps[-1].statement == "wait(c)"


def test_code_after_unload_is_checked_before_the_steps_own_check():
    p, r = run("""
module m refs 1
object o refs 0
fn f in m { put(o) }
thread t { f() }
thread admin { module_put(m); unload(m) }
""")
    # put(o) on a count of 0 in freed code: code-after-unload wins if m is gone first.
    assert isinstance(r, Violated)
    assert r.check in ("put-after-release",)  # shortest: t calls f and puts at once (2 steps)
    assert len(r.trace.steps) == 2
    s = S.initial(p)
    # Force the order: m gone, then the put.
    for t in (1, 1, 1, 0):
        (out,) = S.successors(p, s, t)
        s = out.state
    (out,) = S.successors(p, s, 0)
    assert out.violation == "code-after-unload"


def test_await_is_enabled_only_when_true_and_atomic_has_no_partial_effects():
    p = load_text("""
var flag = false
var x = 0
thread a { atomic { x = 1; await flag; x = 2 } }
thread b { flag = true }
""")
    s = S.initial(p)
    assert S.successors(p, s, 0) == []
    (out,) = S.successors(p, s, 1)
    (a_out,) = S.successors(p, out.state, 0)
    assert a_out.state.vars == (True, 2)


def test_complete_all_saturates_and_wait_does_not_consume():
    p = load_text("""
completion c
thread t { complete_all(c); wait(c); complete(c); wait(c) }
""")
    s = S.initial(p)
    seen = []
    while s.pcs[0] != -1:
        (out,) = S.successors(p, s, 0)
        s = out.state
        seen.append(s.done[0])
    assert seen[:4] == [UINT_MAX] * 4
    s2 = S.initial(p)
    p2 = load_text("completion c\nthread t { complete_all(c); reinit(c) }\n")
    s2 = S.initial(p2)
    for _ in range(2):
        (out,) = S.successors(p2, s2, 0)
        s2 = out.state
    assert s2.done == (0,)


def test_unload_phases_and_module_states():
    p = load_text("""
module m exit m_exit
var during = false
fn m_exit in m { during = loaded(m) }
thread admin { unload(m) }
""")
    s = S.initial(p)
    states = []
    while s.pcs[0] != -1:
        (out,) = S.successors(p, s, 0)
        s = out.state
        states.append(s.mstate[0])
    # unloading step, exit body, exit return, free, thread return
    assert states == [UNLOADING, UNLOADING, UNLOADING, GONE, GONE]
    assert s.vars == (True,)  # loaded() is true while unloading


def test_unload_of_unloading_or_gone_module_does_nothing_and_blocks_on_refs():
    p = load_text("module m refs 1\nthread a { unload(m) }\n")
    assert S.successors(p, S.initial(p), 0) == []
    assert S.deadlocked(p, S.initial(p))
    p, r = run("module m\nthread a { unload(m) }\nthread b { unload(m) }\ncover gone: not loaded(m)\n")
    assert isinstance(r, Proved) and r.covers[0].reached


def test_try_module_get_fails_once_unloading():
    p, r = run("""
module m
var got = false
thread admin { unload(m) }
thread user { await not loaded(m); if try_module_get(m) { got = true } }
invariant never: not got
""")
    assert isinstance(r, Proved)


def test_mutex_is_not_recursive_and_unlock_by_other_is_a_violation():
    p, r = run("mutex l\nthread t { lock(l); lock(l) }\n")
    assert isinstance(r, Violated) and r.check == "deadlock" and len(r.trace.steps) == 1
    p, r = run("mutex l\nthread t { unlock(l) }\n")
    assert isinstance(r, Violated) and r.check == "unlock-not-held"


def test_put_and_exit_helpers_end_the_thread_at_once():
    p, r = run("""
module m refs 1
completion c
fn body in m { complete_and_exit(c) }
thread k in m { body() }
thread admin { wait(c); module_put(m); unload(m) }
""")
    assert isinstance(r, Proved)


def test_release_runs_in_the_putting_thread_and_returns_before_the_caller_continues():
    p = load_text("""
object o refs 1 release rel
var order = 0
var after = 0
fn rel in core { order = order + 1 }
thread t { put(o); after = order }
""")
    s = S.initial(p)
    kinds = []
    while s.pcs[0] != -1:
        st = S.current_step(p, s, 0)
        kinds.append(st.kind.value)
        (out,) = S.successors(p, s, 0)
        s = out.state
    assert kinds == ["put", "assign", "return", "assign", "return"]
    assert s.vars == (1, 1)


def test_locals_are_per_thread_copy():
    p, r = run("""
var total = 0
thread w[3] { local mine = 0; mine = mine + 1; total = total + mine }
invariant at_most: total <= 3
cover all: total == 3
""")
    assert isinstance(r, Proved) and r.covers[0].reached


def test_infinite_state_model_is_unknown_with_a_state_budget():
    p = load_text("var x = 0\nthread t { while true { x = x + 1 } }\ninvariant pos: x >= 0\n")
    r = prove_explicit(p, max_states=50)
    assert isinstance(r, Unknown)
    assert "state budget" in r.reason


def test_a_looping_thread_is_never_a_deadlock():
    # It spins for ever on a flag nobody sets: no deadlock (it can always move), but
    # a hang (it could end, so it must finish: NOTE(hang)).  As a service loop, or
    # with the flag set by someone, it is fine.
    p, r = run("var x = false\nthread t { while not x { } }\n")
    assert isinstance(r, Violated) and r.check == "hang"
    p, r = run("var x = false\nthread t service { while not x { } }\n")
    assert isinstance(r, Proved)
    p, r = run("var x = false\nthread t { while not x { } }\nthread u { x = true }\n")
    assert isinstance(r, Proved)


def test_deadlock_in_the_initial_state_has_an_empty_witness():
    p, r = run("completion c\nthread t { wait(c) }\n")
    assert isinstance(r, Violated) and r.check == "deadlock" and r.trace.steps == ()
    assert replay(p, r.trace).message.startswith("deadlock: t waits in wait(c)")


def test_invariant_false_initially():
    p, r = run("var x = 1\nthread t { return }\ninvariant zero: x == 0\n")
    assert isinstance(r, Violated) and r.check == "invariant" and r.trace.steps == ()


def test_atomic_loop_without_end_is_unknown():
    p, r = run("var x = 0\nthread t { atomic { while x >= 0 { x = x + 1 } } }\n")
    assert isinstance(r, Unknown) and "atomic" in r.reason


# --------------------------------------------------------------------------- choices where
# LANGUAGE.md is silent (docs/language.md marks each **Choice**)


def _both_engines(src: str):
    """The explicit engine's and Z3's answers, which must name the same check and length."""
    from modproof.encoder.bmc import prove_bmc
    p = load_text(src, "t.mproof")
    explicit, z3 = prove_explicit(p, reduce=True), prove_bmc(p, bound=12)
    assert (explicit.check, len(explicit.trace.steps)) == (z3.check, len(z3.trace.steps))
    return p, explicit


@pytest.mark.parametrize("first, second", [("a", "b"), ("b", "a")])
def test_of_equally_short_violations_the_first_check_of_the_table_is_reported(first, second):
    bodies = {"a": "thread a { unlock(lk) }", "b": "thread b { get(o) }"}
    src = f"object o refs 0\nmutex lk\n{bodies[first]}\n{bodies[second]}\n"
    p, r = _both_engines(src + "expect violated unlock-not-held\n")
    assert (r.check, len(r.trace.steps)) == ("get-after-release", 1)   # above unlock-not-held
    from modproof.prove import expectation_met
    assert expectation_met(p, r) is False


def test_a_steps_own_check_comes_before_the_invariant_of_the_state_it_would_reach():
    _, r = _both_engines("var x = 0\ninvariant zero: x == 0\n"
                         "thread t { atomic { x = 1; assert false } }\n")
    assert (r.check, len(r.trace.steps)) == ("assertion", 1)
    _, r = _both_engines("var x = 0\ninvariant zero: x == 0\nthread t { x = 1 }\n")
    assert (r.check, len(r.trace.steps)) == ("invariant", 1)


def test_a_violation_inside_atomic_ends_the_block_before_a_later_await():
    _, r = _both_engines("thread t { atomic { assert false; await false } }\n")
    assert (r.check, len(r.trace.steps)) == ("assertion", 1)


def test_a_try_query_may_stand_in_parentheses():
    _, r = run("object o\nthread t { if (try_get(o)) { put(o) }; put(o); put(o) }\n")
    assert isinstance(r, Violated) and r.check == "put-after-release" and len(r.trace.steps) == 4


def test_a_thread_ending_in_the_exit_function_leaves_the_module_unloading():
    p, r = run("module m exit bye\ncompletion c\nfn bye in m { complete_and_exit(c) }\n"
               "var got = false\n"
               "thread admin { unload(m) }\n"
               "thread user { await done(c) == 1; if try_module_get(m) { got = true } }\n"
               "invariant never_gone: loaded(m)\ninvariant never_got: not got\n")
    assert isinstance(r, Proved)
