"""Fine points of LANGUAGE.md, each a small model whose verdict, check and shortest
witness length were worked out by hand from the contract, run through the library
entry point (modproof.prove.prove) with every engine: explicit with and without
reductions, and Z3 (BMC closed by k-induction).  Step counts are LANGUAGE.md's:
a call and a return are a step each, a put that drops the count to zero is the
call of the release function, the unloading step calls the exit function, and
the free step is one more.
"""
from __future__ import annotations

import pytest

from modproof.prove import Options, prove
from modproof.result import Proved, Violated
from modproof.spec.lower import load_text

ENGINES = {
    "explicit": Options(engine="explicit", reduce=True),
    "explicit-plain": Options(engine="explicit", reduce=False),
    "bmc": Options(engine="bmc", bound=20),
}

# name: (model, verdict, check, steps)
CASES = {
    # Return steps: a thread body's is owned by the thread's owner; `return` is it, early.
    "thread_return_early_in_module": ("""
module m refs 1
var x = 0
thread w in m { module_put(m); return; x = 1 }
thread a { unload(m) }
""", "violated", "code-after-unload", 4),
    # call (core) + module_put (m) + unloading + free + the return from f (m).
    "fn_return_step_in_module": ("""
module m refs 1
fn f in m { module_put(m) }
thread w { f() }
thread a { unload(m) }
""", "violated", "code-after-unload", 5),
    # The put is the call; the release function's return step is its owner's.
    "release_return_step": ("""
module m refs 1
object o release r
fn r in m { module_put(m) }
thread t { put(o) }
thread a { unload(m) }
""", "violated", "code-after-unload", 5),
    # A call from module code to core: the call step is m's, so it crashes.
    "call_step_owned_by_caller": ("""
module m refs 1
var x = 0
fn g in core { x = 1 }
fn f in m { module_put(m); g() }
thread t { f() }
thread a { unload(m) }
""", "violated", "code-after-unload", 5),
    # g returns (core), then f's return step (m) crashes.
    "nested_returns_across_owners": ("""
module m refs 1
fn g in core { module_put(m) }
fn f in m { g() }
thread t { f() }
thread a { unload(m) }
""", "violated", "code-after-unload", 7),
    # While the exit function runs the module is unloading: loaded, code still there.
    "exit_function_runs_while_unloading": ("""
module m exit e
var x = 0
fn e in m { x = 1 }
thread a { unload(m) }
thread b { await x == 1; assert loaded(m) }
""", "violated", "assertion", 6),
    "try_module_get_fails_while_unloading": ("""
module m exit e
var x = 0
var got = false
fn e in m { x = 1 }
thread a { unload(m) }
thread b { await x == 1; if try_module_get(m) { got = true } }
invariant never: not got
""", "proved", None, None),
    # module_get on an unloading module succeeds; on a gone one it is the violation.
    "module_get_gone_not_unloading": ("""
module m exit e
var x = 0
fn e in m { x = 1 }
thread a { unload(m) }
thread b { await x == 1; module_get(m) }
""", "violated", "module-get-after-unload", 6),
    "unload_of_unloading_module_does_nothing": ("""
module m exit e
var x = 0
fn e in m { x = 1 }
thread a { unload(m) }
thread b { await x == 1; unload(m); assert false }
""", "violated", "assertion", 5),
    "self_unload_then_return": ("""
module m
thread t in m { unload(m) }
""", "violated", "code-after-unload", 3),
    # module_put_and_exit: no return step; the mutex stays held.
    "module_put_and_exit_keeps_mutex": ("""
module m refs 1
mutex l
fn f in m { lock(l); module_put_and_exit(m) }
thread w { f() }
thread a { unload(m); lock(l) }
""", "violated", "deadlock", 5),
    "module_put_and_exit_in_module_thread": ("""
module m refs 1
thread w in m { module_put_and_exit(m) }
thread a { unload(m) }
cover gone: not loaded(m)
""", "proved", None, None),
    "complete_and_exit_vs_complete": ("""
module m
completion c
thread w in m { complete(c) }
thread a { wait(c); unload(m) }
""", "violated", "code-after-unload", 5),
    # A thread that ends inside the exit function: the module stays unloading.
    "complete_and_exit_in_exit_function": ("""
module m exit e
completion c
fn e in core { complete_and_exit(c) }
thread a { unload(m) }
thread b { await not loaded(m) }
""", "violated", "deadlock", 2),
    "complete_all_saturates": ("""
completion c
var x = 0
thread a { complete_all(c); complete(c); wait(c); wait(c); x = 1; assert done(c) == 4294967295 }
invariant sat: done(c) == 0 or done(c) == 4294967295
""", "proved", None, None),
    "complete_up_to_uint_max_saturates": ("""
completion c done 4294967294
thread a { complete(c); complete(c); assert done(c) == 4294967295; wait(c); assert done(c) == 4294967295 }
""", "proved", None, None),
    "reinit_after_complete_all": ("""
completion c
thread a { complete_all(c); reinit(c); wait(c) }
""", "violated", "deadlock", 2),
    "atomic_has_no_partial_effects": ("""
var f = false
var y = 0
thread a { atomic { y = 1; await f } }
thread b { assert y == 0 }
""", "violated", "deadlock", 2),
    "if_else_test_steps": ("""
var x = 0
var y = 0
thread a { if x == 0 { y = 1 } else { y = 2 }; x = 9 }
invariant i: x != 9
""", "violated", "invariant", 3),
    "while_test_steps": ("""
var x = 0
thread a { while x < 3 { x = x + 1 } }
invariant i: x < 3
""", "violated", "invariant", 6),
    "return_inside_while_inside_fn": ("""
var x = 0
fn f in core { while true { x = x + 1; if x == 2 { return } } }
thread t { f(); assert x == 3 }
""", "violated", "assertion", 9),
    "fn_locals_reset_by_each_call": ("""
var x = 0
fn f in core { local k = 5; k = k + 1; x = k }
thread t { f(); f(); assert x == 7 }
""", "violated", "assertion", 9),
    "locals_per_copy": ("""
var x = 0
thread t[2] { local c = 0; c = c + 1; x = x + c }
invariant i: x <= 2
cover two: x == 2
""", "proved", None, None),
    "lock_by_holder_blocks_forever": ("""
mutex l
thread a { lock(l); lock(l) }
""", "violated", "deadlock", 1),
    "blocked_in_freed_code_is_a_deadlock": ("""
module m
var go = false
fn f in m { await go; module_put(m) }
thread t { f() }
thread a { unload(m) }
""", "violated", "deadlock", 4),
    "freed_code_crashes_when_the_step_is_taken": ("""
module m
var go = false
fn f in m { await go; module_put(m) }
thread t { f() }
thread a { unload(m); go = true }
""", "violated", "code-after-unload", 5),
    "code_after_unload_before_assertion": ("""
module m
fn f in m { assert false }
thread a { unload(m); f() }
""", "violated", "code-after-unload", 4),
    "unload_blocked_by_initial_refs": ("""
module m refs 1
thread a { unload(m) }
""", "violated", "deadlock", 0),
    "integers_have_no_bounds": ("""
var x = 4294967295
thread a { x = x + 4294967295; x = x + 1; x = 0 - x; assert x > 0 }
""", "violated", "assertion", 4),
    "tie_assertion_before_invariant": ("""
var x = 0
thread a { x = 1 }
thread b { assert false }
invariant i: x == 0
""", "violated", "assertion", 1),
    # NOTE(atomic-limit-order): an atomic loop that never ends, met by the reductions
    # (which run b's local steps ahead) deeper than a's one-step violation.
    "endless_atomic_loop_deeper_than_a_violation": ("""
var v = 0
thread a { v = 1 }
thread b { local k = 0; k = 1; k = 2; atomic { while true { } } }
invariant i: v == 0
""", "violated", "invariant", 1),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
@pytest.mark.parametrize("name", sorted(CASES))
def test_fine_point(name, engine):
    src, verdict, check, steps = CASES[name]
    p = load_text(src, f"{name}.mproof")
    r = prove(p, ENGINES[engine])
    assert r.verdict == verdict, (name, engine, r)
    if verdict == "violated":
        assert isinstance(r, Violated)
        assert (r.check, len(r.trace.steps)) == (check, steps)
        assert r.witness.length == steps
    else:
        assert isinstance(r, Proved)
        assert all(c.reached for c in r.covers)
