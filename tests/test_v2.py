"""Language v2: work items, RCU, timers, storage in modules, timed waits, deferred release.

Each construct is pinned by a small model whose verdict both engines must give,
with the same check and witness length, and whose witness replays."""
from __future__ import annotations

import pytest

from modproof.explicit import prove_explicit
from modproof.grammar.parser import parse
from modproof.prove import Options, prove
from modproof.result import Proved, Violated
from modproof.spec.diagnostics import SpecError
from modproof.spec.lower import load_text
from modproof.spec.printer import to_source

WORK = """
module m refs 1 {exit}
work w runs handler
var ran = false
fn handler in m {{ ran = true }}
{exit_fn}
thread probe {{
    queue_work(w)
    module_put(m)
}}
thread admin {{ unload(m) }}
cover handled: ran
"""

RCU = """
module m
var hits = 0
fn cb in m {{ hits = hits + 1 }}
thread user {{
    call_rcu(cb)
    {wait}
    unload(m)
}}
cover called: hits == 1
"""

TIMER = """
module m refs 1 exit m_exit
timer t runs t_fn
work w runs w_fn
fn t_fn in m {{ queue_work(w) }}
fn w_fn in m {{ mod_timer(t) }}
fn m_exit in m {{
    {stop}
    cancel_work_sync(w)
    {stop}
}}
thread probe {{ mod_timer(t); module_put(m) }}
thread admin {{ unload(m) }}
cover gone: not loaded(m)
"""


def both(src: str, **kw):
    p = load_text(src, "v2.mproof", **kw)
    ex = prove(p, Options(engine="explicit", reduce=False))
    # k-induction does not close on a timer/work re-arm cycle: then the Z3 engine
    # gives a bounded proof; keep the bound (and the test) short.
    bm = prove(p, Options(engine="bmc", bound=30, timeout=120))
    if isinstance(ex, Violated):
        assert isinstance(bm, Violated), bm
        assert (bm.check, bm.witness.length) == (ex.check, ex.witness.length)
    else:
        # These models are small and finite: the explicit engine decides each (an
        # unknown from both engines would otherwise pass as agreement).
        assert isinstance(ex, Proved) and ex.scope == "all-executions", ex
        assert isinstance(bm, Proved), bm
    return ex


def test_work_item_in_module_not_cancelled_crashes():
    r = both(WORK.format(exit="", exit_fn=""))
    assert isinstance(r, Violated) and r.check == "code-after-unload"
    assert r.witness.steps[-1].thread == "kworker(w)"
    assert "kworker(w) executes 'ran = true' in module m, which was unloaded" in r.witness.message


@pytest.mark.parametrize("fix", ["cancel_work_sync(w)", "flush_work(w)"])
def test_work_item_cancelled_or_flushed_at_exit_is_safe(fix):
    r = both(WORK.format(exit="exit m_exit", exit_fn=f"fn m_exit in m {{ {fix} }}"))
    assert isinstance(r, Proved) and r.scope == "all-executions"
    assert all(c.reached for c in r.covers)


def test_flush_workqueue_waits_for_every_work_on_it():
    src = WORK.replace("work w runs handler", "workqueue wq\nwork w runs handler on wq")
    r = both(src.format(exit="exit m_exit", exit_fn="fn m_exit in m { destroy_workqueue(wq) }"))
    assert isinstance(r, Proved)


def test_queueing_a_pending_work_is_a_no_op():
    r = both("""
work w runs h
var runs = 0
fn h in core { runs = runs + 1 }
thread a { queue_work(w); queue_work(w); flush_work(w) }
invariant at_most_twice: runs <= 2
cover twice: runs == 2
""")
    assert isinstance(r, Proved) and r.covers[0].reached


def test_synchronize_rcu_does_not_wait_for_callbacks_but_rcu_barrier_does():
    bad = both(RCU.format(wait="synchronize_rcu()"))
    assert isinstance(bad, Violated) and bad.check == "code-after-unload"
    good = both(RCU.format(wait="rcu_barrier()"))
    assert isinstance(good, Proved) and good.covers[0].reached


def test_synchronize_rcu_waits_for_readers_that_began_before_it():
    r = both("""
var gp = false
var stale = false
thread reader { rcu_read_lock(); stale = gp; rcu_read_unlock() }
thread updater { synchronize_rcu(); gp = true }
invariant ok: true
""")
    assert isinstance(r, Proved)
    r = both("""
var in_section = false
var freed = false
thread reader { rcu_read_lock(); in_section = true; assert not freed; in_section = false; rcu_read_unlock() }
thread updater { synchronize_rcu(); freed = true }
""")
    # A reader that started after the grace period began may still see... nothing freed
    # before it started; one that started before is waited for.
    assert isinstance(r, Violated) and r.check == "assertion"


NESTED = """
object o refs 1
var published = true
thread reader {{
    local s = false
    rcu_read_lock()
    s = published
    rcu_read_lock()
    rcu_read_unlock()
    {inner_end}
    if s {{ assert refs(o) > 0 }}
    {outer_end}
}}
thread updater {{ published = false; synchronize_rcu(); put(o) }}
"""


def test_read_side_sections_nest():
    # The inner unlock does not end the outer section: synchronize_rcu still waits.
    r = both(NESTED.format(inner_end="", outer_end="rcu_read_unlock()"))
    assert isinstance(r, Proved)
    # Leaving the outer section too before the use: the put may come first.
    r = both(NESTED.format(inner_end="rcu_read_unlock()", outer_end=""))
    assert isinstance(r, Violated) and r.check == "assertion" and r.witness.length == 11
    # An unlock with no section open does nothing (it does not end a later section).
    r = both("var x = 0\nthread r { rcu_read_unlock(); rcu_read_lock(); x = 1; rcu_read_unlock() }\n"
             "thread u { synchronize_rcu(); assert x != 1 }\n")
    assert isinstance(r, Violated) and r.check == "assertion"


GRACE = """
var published = true
var freed = false
fn free_elem in core {{ freed = true }}
thread reader {{
    local seen = false
    {lock}
    seen = published
    if seen {{ assert not freed }}
    {unlock}
}}
thread updater {{ published = false; call_rcu(free_elem) }}
cover reclaimed: freed
"""


def test_call_rcu_callbacks_wait_for_readers_that_began_before_them():
    r = both(GRACE.format(lock="rcu_read_lock()", unlock="rcu_read_unlock()"))
    assert isinstance(r, Proved) and r.covers[0].reached
    # Without a read-side section nothing holds the callback back.
    r = both(GRACE.format(lock="", unlock="") + "thread other { rcu_read_lock(); rcu_read_unlock() }\n")
    assert isinstance(r, Violated) and r.check == "assertion"


def test_a_callback_queued_inside_a_read_side_section_waits_for_it():
    r = both("""
var freed = false
fn free_elem in core { freed = true }
thread t { rcu_read_lock(); call_rcu(free_elem); assert not freed; rcu_read_unlock() }
cover reclaimed: freed
""")
    assert isinstance(r, Proved) and r.covers[0].reached


def test_del_timer_sync_cannot_stop_a_timer_rearmed_by_its_work():
    r = both(TIMER.format(stop="del_timer_sync(t)"))
    assert isinstance(r, Violated) and r.check == "code-after-unload"


def test_timer_shutdown_sync_makes_rearming_a_no_op():
    r = both(TIMER.format(stop="timer_shutdown_sync(t)"))
    assert isinstance(r, Proved) and r.covers[0].reached


def test_wait_timeout_may_return_without_the_completion_and_storage_in_a_module():
    r = both("""
module frame
completion done_c in frame
thread waiter { wait_timeout(done_c); unload(frame) }
thread worker { complete(done_c) }
""")
    assert isinstance(r, Violated) and r.check == "use-after-unload"
    assert "lived in module frame's memory, which was unloaded at step" in r.witness.message
    r = both("""
module frame
completion done_c in frame
thread waiter { wait(done_c); unload(frame) }
thread worker { complete(done_c) }
cover gone: not loaded(frame)
""")
    assert isinstance(r, Proved)


def test_wait_timeout_consumes_when_it_gets_the_completion():
    p = load_text("completion c done 1\nvar got = 0\nthread t { wait_timeout(c); got = done(c) }\n"
                  "cover took: got == 0\ncover timed_out: got == 1\n")
    r = prove_explicit(p)
    assert isinstance(r, Proved) and all(c.reached for c in r.covers)


def test_idle_workers_are_not_a_deadlock():
    r = both("work w runs h\nfn h in core { }\nthread t { return }\n")
    assert isinstance(r, Proved)


def test_deferred_release_runs_the_release_on_a_worker():
    src = """
object o refs 1 release rel
var freed = false
fn rel in core { freed = true }
thread t { put(o); assert freed }
"""
    assert isinstance(both(src), Proved)
    r = both(src, deferred_release=True)
    assert isinstance(r, Violated) and r.check == "assertion"
    p = load_text(src, deferred_release=True)
    assert [t.name for t in p.threads] == ["t", "release(o)"]


def test_v1_names_stay_valid():
    src = """
var work = 1
var timer = 2
fn queue_work in core { work = 3 }
thread t { queue_work() }
invariant fine: work != 0 and timer == 2
"""
    p = load_text(src)
    assert isinstance(prove_explicit(p), Proved)


def test_v2_declarations_round_trip_and_are_checked():
    src = ("module m\nworkqueue wq\nwork w runs f on wq\ntimer t runs f\n"
           "object o refs 2 release f in m\ncompletion c done 1 in m\nfn f in m { }\n"
           "thread a { queue_work(w); mod_timer(t); call_rcu(f); rcu_barrier() }\n")
    spec = parse(src)
    assert parse(to_source(spec)) == spec
    load_text(src)
    bad = ("object o in nowhere\nwork w runs o\nthread a { queue_work(o); rcu_barrier(o); "
           "atomic { mod_timer(w) } }\n")
    with pytest.raises(SpecError) as info:
        load_text(bad, "bad.mproof")
    msgs = [d.message for d in info.value.diagnostics]
    assert "the storage of object 'o': 'nowhere' is not declared" in msgs
    assert "the function of work item 'w': 'o' is an object, not a function" in msgs
    assert ("'queue_work' needs a work item: 'o' is an object (the statements that take an "
            "object are get, put, kref_put, kref_put_mutex, kref_put_lock)") in msgs
    assert "'rcu_barrier' takes no argument" in msgs
    assert "'mod_timer' is not allowed inside 'atomic'" in msgs
