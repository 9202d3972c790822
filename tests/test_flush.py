"""Flushing, draining and delayed work as the kernel does them (issue 15, part 2).

Every model here is small and finite, and its verdict, check and shortest
witness were derived by hand (the derivation is in the comment above each
expected length); the explicit engine, the Z3 engine and the default portfolio
must all give them.  The kernel behaviour each test pins is named in
docs/language.md ("Work items, flushes and drains"), with its reference in
kernel/workqueue.c.
"""
from __future__ import annotations

import pytest

from modproof.explicit import prove_explicit
from modproof.grammar.parser import parse
from modproof.prove import Options, prove
from modproof.result import Proved, Violated
from modproof.spec.diagnostics import SpecError
from modproof.spec.lower import load_text
from modproof.spec.printer import to_source
from modproof.witness import replay

ENGINES = ("explicit", "bmc", "auto")


def on_every_engine(src: str) -> dict:
    """The result of each engine; they agree on verdict, check and witness length."""
    p = load_text(src, "flush.mproof")
    results = {e: prove(p, Options(engine=e, timeout=300)) for e in ENGINES}
    first = results["explicit"]
    for e, r in results.items():
        assert r.verdict == first.verdict, (e, r)
        if isinstance(r, Violated):
            assert (r.check, r.witness.length) == (first.check, first.witness.length), e
            assert replay(p, r.trace).length == r.witness.length
        else:
            assert isinstance(r, Proved) and r.scope == "all-executions", (e, r)
            assert [c.reached for c in r.covers] == [c.reached for c in first.covers], e
    return results


def violated(src: str, check: str, length: int) -> Violated:
    r = on_every_engine(src)["explicit"]
    assert isinstance(r, Violated), r
    assert (r.check, r.witness.length) == (check, length)
    return r


def proved(src: str, **covers: int) -> Proved:
    """Proved on every engine, each cover reached (at the given step, by the explicit engine)."""
    r = on_every_engine(src)["explicit"]
    assert isinstance(r, Proved), r
    assert all(c.reached for c in r.covers), r.covers
    steps = {c.name: c.step for c in r.covers}
    for name, step in covers.items():
        assert steps[name] == step, (name, steps)
    return r


# --------------------------------------------------------------------------- a work item that re-queues itself

# The handler re-queues itself once while `stopping` is false (at most twice in
# all, so that every execution ends); module exit sets `stopping` and then does
# {stop}.
REQUEUE = """
module m refs 1 exit m_exit
workqueue wq
work w runs handler on wq
var stopping = false
var runs = 0
fn handler in m {{
    runs = runs + 1
    if not stopping and runs < 2 {{ queue_work(w) }}
}}
fn m_exit in m {{
    stopping = true
    {stop}
}}
thread probe {{ queue_work(w); module_put(m) }}
thread admin {{ unload(m) }}
cover ran: runs == 1
cover unloaded: not loaded(m)
"""


@pytest.mark.parametrize("stop", ["flush_workqueue(wq)", "flush_work(w)"])
def test_a_flush_does_not_wait_for_the_instance_queued_after_it(stop):
    # probe: queue (1), module_put (2); kworker: take (3), call (4), runs = 1 (5),
    # the test passes (6); admin: unload (7), stopping = true (8), the flush notes
    # the running instance (9); kworker: re-queues (10), returns (11), finishes
    # (12); admin: the flush returns (13), return from m_exit (14), the module is
    # freed (15); kworker: takes the re-queued instance (16), calls (17), and
    # runs handler code in freed memory (18).
    r = violated(REQUEUE.format(stop=stop), "code-after-unload", 18)
    assert r.witness.message == ("kworker(w) executes 'runs = runs + 1' in module m, "
                                 "which was unloaded at step 15")


@pytest.mark.parametrize("stop", ["cancel_work_sync(w)", "drain_workqueue(wq)",
                                  "destroy_workqueue(wq)"])
def test_cancel_drain_and_destroy_stop_a_work_item_that_requeues_itself(stop):
    proved(REQUEUE.format(stop=stop))


# One flush_work that returns while the instance its handler re-queued is still
# pending, and one flush that cancel_work_sync releases.
FLUSH_ONE_INSTANCE = """
work w runs h
var runs = 0
var requeued = false
var flushed = false
fn h in core {
    runs = runs + 1
    if not requeued { requeued = true; queue_work(w) }
}
thread t { queue_work(w); flush_work(w); flushed = true }
invariant waited_for_the_first: not flushed or runs >= 1
cover returned_before_the_requeued_instance: flushed and requeued and runs == 1
"""


def test_flush_work_waits_for_the_instance_it_saw_only():
    # t: queue (1), the flush notes the pending instance (2); kworker: take (3),
    # call (4), runs = 1 (5), test (6), requeued = true (7), re-queue (8), return
    # (9), finish (10); t: the flush returns (11), flushed = true (12): the
    # re-queued instance has not run.
    proved(FLUSH_ONE_INSTANCE, returned_before_the_requeued_instance=12)


def test_a_flush_waiting_for_a_pending_instance_returns_when_it_is_cancelled():
    # The barrier the kernel queued behind the cancelled instance still runs.
    # f: queue (1), note the pending instance (2); c: cancel_work_sync takes it
    # (3); f: the flush returns (4), flushed = true (5).  Without the release f
    # would wait for ever: a deadlock.
    proved("""
work w runs h
var ran = false
var flushed = false
fn h in core { ran = true }
thread f { queue_work(w); flush_work(w); flushed = true }
thread c { cancel_work_sync(w) }
cover released_without_running: flushed and not ran
""", released_without_running=5)


# --------------------------------------------------------------------------- draining

# d drains wq while `blocker` (on wq) holds the drain until q has queued w.
DRAIN = """
workqueue wq
work w runs h on wq
work blocker runs b on wq
completion go
var started = false
var ran = false
var drained = false
var late = false
fn h in core {{ ran = true; if drained {{ late = true }} }}
fn b in core {{ started = true; wait(go){chain} }}
thread d {{ queue_work(blocker); drain_workqueue(wq); drained = true }}
thread q {{ await started;{queue} complete(go) }}
invariant never_after_the_drain: not late
"""


def test_queueing_from_outside_a_draining_queue_is_ignored():
    src = DRAIN.format(chain="", queue=" queue_work(w);")
    # The handler of a work queued while the queue drained never runs (the
    # invariant), and the drain returns without it (the first cover):
    # d: queue blocker (1); kworker(blocker): take (2), call (3), started (4);
    # d: drain marks the queue (5); q: await (6), queue_work ignored (7),
    # complete (8); kworker(blocker): wait (9), return (10), finish (11); d: the
    # drain returns (12), drained = true (13).  Queued before the mark, w runs
    # first (six steps more: take, call, ran, test, return, finish).
    proved(src + "cover ignored: drained and not ran\ncover accepted: drained and ran\n",
           ignored=13, accepted=19)
    # So the drain can return before w ever ran: the same 13 steps.
    violated(src + "invariant drain_waits_for_w: not drained or ran\n", "invariant", 13)


def test_chained_queueing_is_accepted_while_the_queue_drains():
    # Queued by the worker of an item on the same queue, w is waited for.
    proved(DRAIN.format(chain="; queue_work(w)", queue="")
           + "invariant drain_waits_for_w: not drained or ran\ncover finished: drained\n")


LEAK = """
workqueue wq
work w runs h on wq
work blocker runs b on wq
completion go
var started = false
fn h in core { }
fn b in core { started = true; wait(go) }
thread d { queue_work(blocker); drain_workqueue(wq) }
thread q { await started; queue_work(w); complete(go); cancel_work_sync(w) }
"""


def test_a_rejected_queueing_may_leak_the_pending_bit_as_before_linux_7_1():
    # Before commit a7488f089bdf the rejected item stays PENDING on no queue, and
    # cancel_work_sync() spins for ever.  d: queue blocker (1); kworker(blocker):
    # take (2), call (3), started (4); d: mark (5); q: await (6), queue_work
    # rejected, PENDING leaked (7), complete (8); kworker(blocker): wait (9),
    # return (10), finish (11); d: the drain returns (12), d ends (13): q is stuck
    # in cancel_work_sync and the workers are idle.
    r = violated(LEAK, "deadlock", 13)
    assert "q waits in cancel_work_sync(w)" in r.witness.message


def test_queueing_on_a_destroyed_workqueue_is_a_use_after_free():
    # d: destroy marks (1) and waits for an empty queue (2); q: queue_work (3).
    r = violated("""
workqueue wq
work w runs h on wq
fn h in core { }
thread d { destroy_workqueue(wq) }
thread q { queue_work(w) }
""", "assertion", 3)
    assert r.witness.message == ("q: queue_work(w) on workqueue wq after destroy_workqueue(wq) "
                                 "returned: the workqueue is freed")


# --------------------------------------------------------------------------- delayed work

FLUSH_DELAYED = """
delayed_work dw runs h
var ran = false
fn h in core {{ ran = true }}
thread t {{ queue_delayed_work(dw); {flush}(dw); assert ran }}
"""


def test_flush_delayed_work_queues_an_armed_timer_now_and_waits():
    proved(FLUSH_DELAYED.format(flush="flush_delayed_work"))


def test_flush_work_of_a_delayed_work_does_not_wait_for_its_timer():
    # t: arm (1), the flush notes nothing to wait for (2), returns (3), assert (4).
    violated(FLUSH_DELAYED.format(flush="flush_work"), "assertion", 4)


REARM = """
module m refs 1 exit m_exit
delayed_work dw runs h
var runs = 0
fn h in m {{ runs = runs + 1; if runs < 2 {{ queue_delayed_work(dw) }} }}
fn m_exit in m {{ {cancel}(dw) }}
thread probe {{ queue_delayed_work(dw); module_put(m) }}
thread admin {{ unload(m) }}
"""


def test_cancel_delayed_work_sync_stops_a_delayed_work_that_rearms_itself():
    # The second run, before rmmod: arm (1), fire (2), take (3), call (4), runs = 1
    # (5), test (6), re-arm (7), return (8), finish (9), fire (10), take (11), call
    # (12), runs = 2 (13).
    proved(REARM.format(cancel="cancel_delayed_work_sync") + "cover ran_twice: runs == 2\n",
           ran_twice=13)


def test_cancel_delayed_work_does_not_wait_for_a_running_handler():
    # probe: arm (1), module_put (2); admin: unload (3); the timer fires (4); the
    # kworker takes the work (5); exit: cancel_delayed_work finds nothing to take
    # back (6), returns (7), the module is freed (8); kworker: calls h (9) and runs
    # its first statement in freed code (10).
    violated(REARM.format(cancel="cancel_delayed_work"), "code-after-unload", 10)


def test_mod_delayed_work_takes_back_a_queued_instance():
    # a: arm (1), flush_delayed_work queues it now and notes it (2); b:
    # mod_delayed_work takes it back and re-arms (3); a: the flush returns (4),
    # flushed = true (5), though h has not run.
    proved("""
delayed_work dw runs h
var ran = false
var flushed = false
fn h in core { ran = true }
thread a { queue_delayed_work(dw); flush_delayed_work(dw); flushed = true }
thread b { mod_delayed_work(dw) }
cover taken_back: flushed and not ran
""", taken_back=5)


def test_a_timer_that_fires_while_the_queue_drains_is_rejected():
    # The timer's callback is not a worker of the queue: its queueing is refused
    # (NOTE(drain)), and the item is neither queued nor armed any more.
    # d: queue blocker (1); kworker(blocker): take (2), call (3), started (4); d:
    # the drain marks the queue (5); q: await (6), arm (7), complete (8); the timer
    # fires and is refused (9); kworker(blocker): wait (10), return (11), finish
    # (12); d: the drain returns (13), flush_delayed_work finds nothing to queue or
    # wait for (14, 15), drained = true (16).
    violated("""
workqueue wq
delayed_work dw runs h on wq
work blocker runs b on wq
completion go
var started = false
var ran = false
var drained = false
fn h in core { ran = true }
fn b in core { started = true; wait(go) }
thread d { queue_work(blocker); drain_workqueue(wq); flush_delayed_work(dw); drained = true }
thread q { await started; queue_delayed_work(dw); complete(go) }
invariant flushed_means_ran: not drained or ran
""", "invariant", 16)


def test_flush_scheduled_work_flushes_the_items_without_a_queue():
    proved("""
workqueue wq
work sys runs h
work own runs h on wq
var runs = 0
fn h in core { runs = runs + 1 }
thread t { queue_work(sys); flush_scheduled_work(); assert runs >= 1 }
""")


# --------------------------------------------------------------------------- the language

def test_flush_state_belongs_to_threads_so_symmetry_is_off():
    # NOTE(keyed-vars): flush_wait(T,W) moves with its thread.
    src = ("work w runs h\nvar n = 0\nfn h in core { n = n + 1 }\n"
           "thread f[2] { queue_work(w); flush_work(w); assert n >= 1 }\n")
    p = load_text(src)
    assert p.keyed_by_thread
    assert [v.name for v in p.vars if v.name.startswith("flush_wait")] == [
        "flush_wait(f[0],w)", "flush_wait(f[1],w)", "flush_wait(kworker(w),w)"]
    for reduce in (False, True):
        assert isinstance(prove_explicit(p, reduce=reduce), Proved)


def test_files_without_flushes_or_drains_get_no_new_state():
    p = load_text("workqueue wq\nwork w runs h on wq\nfn h in core { }\n"
                  "thread t { queue_work(w); cancel_work_sync(w) }\n")
    assert [v.name for v in p.vars] == ["pending(w)", "running(w)", "canceling(w)"]
    assert not p.keyed_by_thread
    finish = p.threads[1].steps[-1]
    assert (finish.text, finish.kind.value) == ("kworker(w): h finished", "assign")


def test_delayed_work_declarations_round_trip_and_are_checked():
    src = ("workqueue wq\ndelayed_work dw runs f on wq\ndelayed_work d2 runs f\nfn f in core { }\n"
           "thread a { queue_delayed_work(dw); mod_delayed_work(d2); flush_work(dw) }\n")
    spec = parse(src)
    assert parse(to_source(spec)) == spec
    p = load_text(src)
    assert [t.name for t in p.threads] == ["a", "kworker(dw)", "dtimer(dw)", "kworker(d2)",
                                           "dtimer(d2)"]
    bad = ("work w runs f\ndelayed_work dw runs w on nowhere\nfn f in core { }\n"
           "thread a { queue_work(dw); cancel_delayed_work(w); flush_work(f); drain_workqueue(w) }\n")
    with pytest.raises(SpecError) as info:
        load_text(bad, "bad.mproof")
    got = [(d.span.line, d.span.col, d.message) for d in info.value.diagnostics]
    assert got == [
        (2, 22, "the function of delayed work item 'dw': 'w' is a work item, not a function"),
        (2, 27, "the workqueue of delayed work item 'dw': 'nowhere' is not declared"),
        (4, 12, "'queue_work' needs a work item: 'dw' is a delayed work item; "
                "for it, write queue_delayed_work(dw)"),
        # v3: the hint lists the statements that take what the argument is
        (4, 28, "'cancel_delayed_work' needs a delayed work item: 'w' is a work item "
                "(the statements that take a work item are queue_work, flush_work, "
                "cancel_work_sync)"),
        (4, 52, "'flush_work' needs a work item or a delayed work item: 'f' is a function "
                "(the statements that take a function are call_rcu)"),
        (4, 67, "'drain_workqueue' needs a workqueue: 'w' is a work item (the statements "
                "that take a work item are queue_work, flush_work, cancel_work_sync)"),
    ]


def test_v2_words_stay_names():
    src = ("var delayed_work = 1\nfn drain_workqueue in core { delayed_work = 2 }\n"
           "thread t { drain_workqueue(); assert delayed_work == 2 }\n")
    assert isinstance(prove_explicit(load_text(src)), Proved)


def test_rcu_barrier_waits_for_the_callbacks_queued_before_it_only():
    # Documentation/RCU/rcubarrier.rst: a callback that reposts itself must be
    # stopped first; rcu_barrier() does not wait for the reposted one.  user:
    # call_rcu (1); rcu(cb): take (2), call (3), test (4); user: stopping (5), the
    # barrier counts the running callback (6); rcu(cb): reposts (7), call_rcu (8),
    # return (9), finish (10); user: the barrier returns (11), unload (12), free
    # (13); rcu(cb): take (14), call (15), and its test runs in freed code (16).
    violated("""
module m
var reposts = 0
var stopping = false
fn cb in m { if not stopping and reposts < 1 { reposts = reposts + 1; call_rcu(cb) } }
thread user { call_rcu(cb); stopping = true; rcu_barrier(); unload(m) }
""", "code-after-unload", 16)
