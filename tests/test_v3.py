"""Version 3, part A (issue 17): each construct's meaning, one small program per
case with its verdict written out by hand from docs/language.md ("Version 3"),
and the engines agreeing on it: the explicit engine (the reference semantics),
Z3's BMC and k-induction, and Spin on the exported Promela (skipped without
Spin, as in test_spin.py).  Then the witnesses of the cases whose story
matters (an init that fails, a kref_put_mutex release under the lock)."""
from __future__ import annotations

import pytest

from modproof.explicit import prove_explicit
from modproof.result import Proved, Violated
from modproof.spec.lower import load_text
from modproof.spec.model import COMING, LOADED, StepKind
from modproof.witness import replay
from engine_cases import engines_agree, spin_agrees, spin_runs
from test_spin import needs_spin, spin_tools  # noqa: F401 (a fixture)

# name: (source, verdict, check)
CASES = {
    # ---------------------------------------------------------------- break, continue
    "break_continue": ("""var n = 0
thread a {
    local i = 0
    while true {
        i = i + 1
        if i == 2 { continue }
        if i > 3 { break }
        n = n + 1
    }
    assert n == 2
}""", "proved", None),
    "break_leaves_only_the_inner_loop": ("""var n = 0
thread a {
    local i = 0
    while i < 2 {
        i = i + 1
        while true { break }
        n = n + 1
    }
    assert n == 1
}""", "violated", "assertion"),
    "continue_goes_to_the_test": ("""var n = 0
thread a {
    while n < 3 { n = n + 1; continue; n = 10 }
    assert n == 3
}""", "proved", None),
    # ---------------------------------------------------------------- unary minus, locals
    "unary_minus": ("""var x = -5
thread a { x = -x - -1; assert x == 6; x = -(x + 1); assert x == -7 }""", "proved", None),
    "local_from_expression": ("""var v = 3
thread a { local x = v + 1; local y = -x; assert y == -4 }""", "proved", None),
    "function_local_at_the_call": ("""var v = 0
fn f in core { local x = v; assert x == 0 }
thread a { f() }
thread b { v = 1 }""", "violated", "assertion"),
    # ---------------------------------------------------------------- THIS_MODULE
    "this_module_is_the_owner": ("""module m refs 1
fn drop in m { module_put(THIS_MODULE) }
thread t { drop() }
thread admin { unload(m) }""", "violated", "code-after-unload"),
    "this_module_pinned": ("""module m
fn work in m { }
thread t in m { if try_module_get(THIS_MODULE) { work(); module_put(THIS_MODULE) } }
thread admin { unload(m) }""", "violated", "code-after-unload"),
    # ---------------------------------------------------------------- results
    "dec_and_test_once": ("""object o refs 2
var freed = 0
thread a[2] { if refcount_dec_and_test(o) { freed = freed + 1 } }
invariant once: freed <= 1""", "proved", None),
    "dec_and_test_underflow": ("""object o refs 1
thread a[2] { if not atomic_dec_and_test(o) { } }""", "violated", "put-after-release"),
    "dec_not_one": ("""object o refs 2
var b = false
thread a { b = refcount_dec_not_one(o); assert b; b = refcount_dec_not_one(o); assert not b
           assert refs(o) == 1 }""", "proved", None),
    "dec_and_test_calls_no_release": ("""var r = false
fn rel in core { r = true }
object o refs 1 release rel
thread a { if refcount_dec_and_test(o) { assert not r } }""", "proved", None),
    "not_try_get": ("""object o refs 0
var n = 0
thread a { if not try_get(o) { n = 1 } }
thread b { await n == 1 }""", "proved", None),
    "try_get_stored": ("""object o
var got = false
thread a { local ok = false; ok = try_get(o); got = ok; if ok { put(o) } }
thread b { put(o) }
cover took: got""", "proved", None),
    "kref_put_result": ("""var n = 0
fn rel in core { n = n + 1 }
object o refs 2 release rel
thread a[2] { local r = false; r = kref_put(o); if r { assert n == 1 } else { assert n == 0 } }""",
                        "violated", "assertion"),
    "kref_put_result_is_whether_it_released": ("""var n = 0
fn rel in core { n = n + 1 }
object o refs 2 release rel
thread a[2] { local r = false; r = kref_put(o); if r { assert n == 1 } }""", "proved", None),
    "kref_put_as_a_condition": ("""var seen = 0
object o refs 2
thread a[2] { if kref_put(o) { seen = seen + 1 } }
thread w { await seen == 1 }""", "proved", None),
    "kref_put_mutex_release_holds_the_lock": ("""mutex lk
var listed = true
fn rel in core { assert locked(lk); listed = false; unlock(lk) }
object o refs 2 release rel
thread a[2] { kref_put_mutex(o, lk) }
cover gone: not listed""", "proved", None),
    "kref_put_mutex_lookup": ("""mutex lk
var listed = true
fn rel in core { listed = false; unlock(lk) }
object o refs 1 release rel
thread lookup {
    local found = false
    lock(lk)
    if listed { get(o); found = true }
    unlock(lk)
    if found { kref_put_lock(o, lk) }
}
thread owner { kref_put_mutex(o, lk) }""", "proved", None),
    "plain_put_races_the_lookup": ("""mutex lk
var listed = true
fn rel in core { lock(lk); listed = false; unlock(lk) }
object o refs 1 release rel
thread lookup { lock(lk); if listed { get(o) }; unlock(lk) }
thread owner { put(o) }""", "violated", "get-after-release"),
    "kref_put_mutex_raised_meanwhile_unlocks": ("""mutex lk
var listed = true
fn rel in core { listed = false; unlock(lk) }
object o refs 1 release rel
thread lookup { lock(lk); if listed { get(o) }; unlock(lk) }
thread owner { local released = false; released = kref_put_mutex(o, lk); assert released }""",
                                                 "violated", "assertion"),
    "kref_put_mutex_raised_meanwhile_is_safe": ("""mutex lk
var listed = true
fn rel in core { listed = false; unlock(lk) }
object o refs 1 release rel
thread lookup { lock(lk); if listed { get(o) }; unlock(lk) }
thread owner { kref_put_mutex(o, lk) }
cover kept: refs(o) == 1 and not locked(lk) and listed""", "proved", None),
    # ---------------------------------------------------------------- module init and depends
    "init_success": ("""module m init i exit e
var up = false
fn i in m { up = true; return 0 }
fn e in m { up = false }
thread a { await up; assert loaded(m) }""", "proved", None),
    "init_failure_never_runs_exit": ("""module m init i exit e
var exited = false
fn i in m { return -12 }
fn e in m { exited = true }
thread a { await not loaded(m); assert not exited }""", "proved", None),
    "init_failure_frees_code_under_a_user": ("""module m init i exit e
var registered = false
fn i in m { registered = true; choose { return 0 } or { registered = false; return -19 } }
fn e in m { registered = false }
fn handler in m { }
thread user { if registered { handler() } }""", "violated", "code-after-unload"),
    # try_module_get() pins a coming module, and a failed init frees it all the same
    "a_pin_does_not_outlive_a_failed_init": ("""module m init i exit e
fn i in m { choose { return 0 } or { return -19 } }
fn e in m { }
fn handler in m { }
thread user { if try_module_get(m) { handler(); module_put(m) } }""",
                                             "violated", "code-after-unload"),
    "unload_of_a_coming_module_does_nothing": ("""module m init i exit e
var tried = false
fn i in m { await tried; return 0 }
fn e in m { }
thread admin { unload(m); tried = true }
cover still_there: tried and loaded(m)""", "proved", None),
    "depends_pins": ("""module lib
module drv depends lib
fn use in lib { }
thread t in drv { use() }
thread admin { unload(lib) }""", "violated", "deadlock"),
    "depends_unloaded_in_order": ("""module lib
module drv depends lib
fn use in lib { }
thread t in drv { use() }
thread admin { unload(drv); unload(lib) }""", "violated", "code-after-unload"),
    "depends_in_order_safe": ("""module lib
module drv depends lib
thread admin { unload(drv); assert module_refs(lib) == 0; unload(lib) }
cover both_gone: not loaded(drv) and not loaded(lib)""", "proved", None),
    "loader_waits_for_a_coming_dependency": ("""module lib init li exit le
module drv init di exit de depends lib
var order = 0
fn li in lib { order = 1 }
fn le in lib { }
fn di in drv { assert order == 1; order = 2 }
fn de in drv { }
thread a { await order == 2; assert module_refs(lib) == 1 }""", "proved", None),
    "a_failed_dependency_fails_the_load": ("""module lib init li exit le
module drv init di exit de depends lib
var ran = false
fn li in lib { return -12 }
fn le in lib { }
fn di in drv { ran = true }
fn de in drv { }
thread a { await not loaded(drv); assert not ran }""", "proved", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_explicit_and_z3_agree_with_the_case(name):
    engines_agree(name, CASES[name])


@pytest.fixture(scope="module")
def spin_verdicts():
    return spin_runs(CASES, CASES)


@needs_spin
@pytest.mark.parametrize("name", sorted(CASES))
def test_spin_agrees_with_the_case(name, spin_verdicts):
    spin_agrees(name, CASES[name], spin_verdicts)


# --------------------------------------------------------------------------- the stories

def _witness(src: str):
    p = load_text(src, "w.mproof")
    r = prove_explicit(p)
    assert isinstance(r, Violated)
    return p, replay(p, r.trace)


def test_a_failed_init_goes_away_without_its_exit_function():
    p, w = _witness(CASES["init_failure_frees_code_under_a_user"][0])
    (m,) = p.modules
    assert m.start == COMING and m.init == "i"
    loader = [s for s in w.steps if s.thread == "insmod(m)"]
    kinds = [s.kind for s in loader]
    assert kinds[0] == "call" and "module_going" in kinds and kinds[-1] == "unload_free"
    assert "module_live" not in kinds
    assert not any(s.frame and s.frame[-1] == "e" for s in w.steps)    # exit never runs
    going = next(s for s in loader if s.kind == "module_going")
    assert ("state(m)", "coming", "unloading") in going.changes
    last = w.steps[-1]
    assert (last.thread, last.owner, last.owner_state) == ("user", "m", "gone")


def test_the_loader_is_a_core_thread_that_must_finish():
    p = load_text(CASES["init_success"][0], "i.mproof")
    loader = next(t for t in p.threads if t.name == "insmod(m)")
    assert loader.owner == -1 and loader.must_finish
    assert {s.kind for s in loader.steps} >= {StepKind.CALL, StepKind.MODULE_LIVE}


def test_depends_pins_from_the_start_and_unpins_when_freed():
    p = load_text(CASES["depends_in_order_safe"][0], "d.mproof")
    lib, drv = p.modules
    assert (lib.refs, lib.start, drv.refs, drv.start) == (1, LOADED, 0, LOADED)
    r = prove_explicit(p)
    assert isinstance(r, Proved)
    p2 = load_text(CASES["depends_pins"][0], "d.mproof")
    r2 = prove_explicit(p2)
    assert isinstance(r2, Violated) and "admin waits in unload(lib)" in replay(p2, r2.trace).message


def test_kref_put_mutex_is_a_test_a_lock_a_put_and_an_unlock():
    src = CASES["kref_put_mutex_raised_meanwhile_unlocks"][0]
    p, w = _witness(src)
    # shortest: the lookup raised the count first, and the test decremented it
    assert [s.statement for s in w.steps if s.thread == "owner"] == [
        "released = kref_put_mutex(o, lk)", "assert released"]
    (owner,) = [t for t in p.threads if t.name == "owner"]
    steps = {s.text: s for s in owner.steps}
    test = steps["released = kref_put_mutex(o, lk)"]
    lock = steps["kref_put_mutex(o, lk): mutex_lock(lk)"]
    put = steps["kref_put_mutex(o, lk): put(o) under lk"]
    unlock = steps["kref_put_mutex(o, lk): mutex_unlock(lk)"]
    assert test.kind is StepKind.BRANCH and test.next == lock.id
    assert lock.kind is StepKind.LOCK and lock.next == put.id
    # at zero the put calls the release function (which unlocks), else it unlocks
    assert put.kind is StepKind.PUT and put.fn == "rel" and put.next == unlock.id
    assert unlock.kind is StepKind.UNLOCK
