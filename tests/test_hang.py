"""The hang check (NOTE(hang) in modproof/explicit/hang.py), on models worked out by hand.

A hang is a fair infinite execution along which a thread that must finish
never does.  Fair: every thread enabled infinitely often moves infinitely
often (strong fairness).  Threads that must finish: user threads that can end
and are not declared `service`; never a worker.
"""
from __future__ import annotations

import pytest

from modproof.explicit import prove_explicit
from modproof.prove import Options, prove
from modproof.result import Proved, Violated
from modproof.spec.lower import load_text
from modproof.witness import replay

POLL = "var tick = 0\nthread poller service { while true { tick = 1 - tick } }\n"


def explicit(src: str):
    p = load_text(src, "hang.mproof")
    return p, prove_explicit(p, reduce=True)


def verdict(r):
    return (r.verdict, r.check if isinstance(r, Violated) else None)


def test_a_lock_cycle_beside_a_poller_is_a_hang_not_a_deadlock():
    # admin holds rtnl and waits for `flag`; the worker sets it only under rtnl.
    # The poller can always move, so no state is a deadlock; admin and worker
    # are stuck for good: the hang.  Stem: admin locks (1); loop: the poller's
    # test (2) and assignment (3), twice round (tick back to 0): 5 steps.
    src = ("mutex rtnl\nvar flag = false\n"
           "thread admin { lock(rtnl); await flag; unlock(rtnl) }\n"
           "thread worker { lock(rtnl); flag = true; unlock(rtnl) }\n" + POLL)
    p, r = explicit(src)
    assert verdict(r) == ("violated", "hang")
    assert r.trace.loop == 1 and len(r.trace.steps) == 5
    w = replay(p, r.trace)
    assert w.loop == 1
    assert "admin waits in await flag" in w.message and "worker waits in lock(rtnl)" in w.message
    assert "poller keeps running" in w.message


def test_without_the_poller_it_is_a_deadlock():
    src = ("mutex rtnl\nvar flag = false\n"
           "thread admin { lock(rtnl); await flag; unlock(rtnl) }\n"
           "thread worker { lock(rtnl); flag = true; unlock(rtnl) }\n")
    for engine in ("explicit", "bmc", "auto"):
        r = prove(load_text(src, "d.mproof"), Options(engine=engine))
        assert verdict(r) == ("violated", "deadlock") and len(r.trace.steps) == 1, engine


def test_a_thread_spinning_on_a_flag_nobody_sets_hangs():
    # `spin` can end (the test is not a constant), so it must finish; it loops for ever.
    src = "var flag = false\nthread spin { while not flag { } }\n"
    p, r = explicit(src)
    assert verdict(r) == ("violated", "hang")
    w = replay(p, r.trace)
    assert "spin loops for ever without finishing" in w.message


def test_a_while_true_loop_is_a_service_loop_and_never_hangs():
    p, r = explicit(POLL.replace(" service", ""))
    assert isinstance(r, Proved)
    assert not p.threads[0].must_finish


def test_a_service_thread_that_could_end_is_not_required_to():
    src = "var flag = false\nthread spin service { while not flag { } }\n"
    assert isinstance(explicit(src)[1], Proved)


def test_strong_fairness_a_waiter_enabled_again_and_again_moves():
    # admin's await holds whenever tick is 1, which the poller makes true again and
    # again: under strong fairness admin eventually moves and finishes.  (Under
    # weak fairness the poller could starve it; the kernel wakes a waiter whose
    # condition is met.)
    src = "thread admin { await tick == 1 }\n" + POLL
    assert isinstance(explicit(src)[1], Proved)


def test_taking_turns_on_a_mutex_is_not_a_hang():
    src = ("mutex l\nvar n = 0\n"
           "thread a { lock(l); n = n + 1; unlock(l) }\n"
           "thread b { lock(l); n = n + 1; unlock(l) }\n" + POLL)
    assert isinstance(explicit(src)[1], Proved)


def test_an_idle_worker_and_a_rearming_timer_do_not_hang_anyone():
    # The timer re-arms itself for ever (an infinite execution), but admin can
    # always move and finishes: no hang.  Workers never have to finish.
    src = ("timer t runs tick_fn\nvar n = 0\nfn tick_fn in core { n = 1 - n; mod_timer(t) }\n"
           "thread admin { mod_timer(t); n = 0 }\n")
    assert isinstance(explicit(src)[1], Proved)


def test_waiting_for_a_timer_that_never_stops_is_a_hang():
    # admin waits for the timer to be shut down... by itself, after its wait: it never is.
    src = ("timer t runs tick_fn\nvar n = 0\nvar stop = false\n"
           "fn tick_fn in core { n = 1 - n; mod_timer(t) }\n"
           "thread admin { mod_timer(t); await stop; timer_shutdown_sync(t) }\n")
    p, r = explicit(src)
    assert verdict(r) == ("violated", "hang")
    assert "admin waits in await stop" in replay(p, r.trace).message


def test_a_blocked_service_thread_is_no_deadlock():
    src = "completion ev\nthread kthreadd service { while true { wait(ev) } }\nthread a { }\n"
    for engine in ("explicit", "bmc"):
        r = prove(load_text(src, "s.mproof"), Options(engine=engine))
        assert isinstance(r, Proved), engine


def test_a_witness_whose_loop_is_not_fair_does_not_replay():
    from modproof.result import RawTrace
    from modproof.spec import semantics as S
    from modproof.witness import ReplayError
    # The poller goes round twice (tick 0 -> 1 -> 0) back to the initial state;
    # admin is enabled when tick is 1 but never moves: not a fair execution.
    p = load_text("thread admin { await tick == 1 }\n" + POLL, "unfair.mproof")
    poller = 1
    s, steps = S.initial(p), []
    for _ in range(4):
        s = S.successors(p, s, poller)[0].state
        steps.append((poller, s))
    assert s == S.initial(p)
    with pytest.raises(ReplayError, match="not fair: admin can move"):
        replay(p, RawTrace(tuple(steps), "hang", loop=0))
    # With admin's step in the loop it would be fair, but admin then finishes.
    assert isinstance(prove_explicit(p, reduce=True), Proved)
