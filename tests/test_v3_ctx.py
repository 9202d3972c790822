"""Version 3, contexts and locks (issue 17, part 4; spec/v3_ctx.py): spinlocks,
rw_semaphores, irq handlers, preemption and interrupts, and the check
sleep-in-atomic.  One small program per case with its verdict written out by
hand from docs/language.md ("Contexts and locks"), and the engines agreeing on
it: the explicit engine (the reference semantics), Z3's BMC, and Spin on the
exported Promela (skipped without Spin, as in test_spin.py).  Then the
vocabulary's `sleeps` entries one by one, the witnesses in the user's words,
the proof gap of NOTE(irq-cpu), the devm order, and the error messages."""
from __future__ import annotations

import pytest

from modproof.encoder.bmc import prove_bmc
from modproof.explicit import prove_explicit
from modproof.prove import Options, prove
from modproof.result import Proved, Unknown, Violated
from modproof.spec import vocabulary as V
from modproof.spec.diagnostics import SpecError
from modproof.spec.lower import load, load_text
from modproof.spec.model import StepKind
from modproof.witness import replay
from engine_cases import engines_agree, spin_agrees, spin_runs, verdict_of as _verdict
from test_spin import needs_spin, spin_tools  # noqa: F401 (a fixture)

HANDLER = "irq i runs h\n"

# name: (source, verdict, check)
CASES = {
    # ---------------------------------------------------------------- spinlocks
    "spinlock_excludes": ("""spinlock s
var n = 0
thread a[2] { spin_lock(s); n = n + 1; assert n == 1; n = n - 1; spin_unlock(s) }""",
                          "proved", None),
    "spin_unlock_not_held": ("""spinlock s
thread a { spin_lock(s); spin_unlock(s); spin_unlock_irqrestore(s) }""",
                             "violated", "unlock-not-held"),
    "wait_under_spinlock": ("""spinlock s
completion c
thread a { spin_lock_bh(s); wait(c); spin_unlock_bh(s) }
thread b { complete(c) }""", "violated", "sleep-in-atomic"),
    "wait_after_unlock": ("""spinlock s
completion c
mutex m
thread a { spin_lock_irq(s); spin_unlock_irq(s); lock(m); wait(c); unlock(m) }
thread b { complete(c) }""", "proved", None),
    # ---------------------------------------------------------------- preemption, irqs
    "preempt_disable_is_atomic": ("""thread a { preempt_disable(); might_sleep(); preempt_enable() }""",
                                  "violated", "sleep-in-atomic"),
    "preempt_enable_underflows": ("""thread a { preempt_disable(); preempt_enable(); preempt_enable() }""",
                                  "violated", "assertion"),
    "irq_save_nests": ("""thread a {
    local_irq_save(); local_irq_save(); local_irq_restore(); might_sleep(); local_irq_restore() }""",
                       "violated", "sleep-in-atomic"),
    "irq_enable_whatever_the_depth": ("""mutex m
thread a { local_irq_disable(); local_bh_disable(); local_bh_enable(); local_irq_disable()
           local_irq_enable(); lock(m); unlock(m); local_irq_save(); local_irq_restore(); might_sleep() }""",
                                      "proved", None),
    # ---------------------------------------------------------------- irq handlers
    "handler_sleeps": ("""mutex m
fn h in core { lock(m); unlock(m) }
""" + HANDLER + "thread a { request_irq(i) }", "violated", "sleep-in-atomic"),
    "handler_runs_only_when_requested": ("""var bad = false
fn h in core { bad = true }
""" + HANDLER + "thread a { }\ninvariant never: not bad", "proved", None),
    "free_irq_waits_for_the_handler": ("""var gone = false
fn h in core { assert not gone }
""" + HANDLER + "thread a { request_irq(i); free_irq(i); gone = true }", "proved", None),
    "synchronize_irq_does_not_stop_it": ("""var gone = false
fn h in core { assert not gone }
""" + HANDLER + "thread a { request_irq(i); synchronize_irq(i); gone = true }",
                                         "violated", "assertion"),
    "disable_irq_waits_and_holds_off": ("""var gone = false
fn h in core { assert not gone }
""" + HANDLER + "thread a { request_irq(i); disable_irq(i); gone = true; gone = false; enable_irq(i) }",
                                        "proved", None),
    "free_irq_twice": ("""fn h in core { }
""" + HANDLER + "thread a { request_irq(i); free_irq(i); free_irq(i) }", "violated", "double-free"),
    "devres_frees_again_after_free_irq": ("""fn h in core { }
""" + HANDLER + "thread a { devm_request_irq(i); free_irq(i) }", "violated", "double-free"),
    "devm_free_irq_then_the_end": ("""var gone = false
fn h in core { assert not gone }
""" + HANDLER + "thread a { devm_request_irq(i); devm_free_irq(i); gone = true }", "proved", None),
    "devm_irq_runs_until_the_thread_ends": ("""var gone = false
fn h in core { assert not gone }
""" + HANDLER + "thread a { devm_request_irq(i); gone = true }", "violated", "assertion"),
    "enable_irq_unbalanced": ("""fn h in core { }
""" + HANDLER + "thread a { disable_irq_nosync(i); enable_irq(i); enable_irq(i) }",
                              "violated", "assertion"),
    # ---------------------------------------------------------------- rw_semaphores
    "rwsem_writer_excludes_readers": ("""rwsem s
var w = false
thread r[2] { down_read(s); assert not w; up_read(s) }
thread wr { down_write(s); w = true; w = false; up_write(s) }""", "proved", None),
    "up_read_without_a_hold": ("""rwsem s
thread r { down_read(s); up_read(s); up_read(s) }""", "violated", "unlock-not-held"),
    "recursive_read_behind_a_waiting_writer": ("""rwsem s
thread r { down_read(s); down_read(s); up_read(s); up_read(s) }
thread wr { down_write(s); up_write(s) }""", "violated", "deadlock"),
    # ---------------------------------------------------------------- RCU, softirq callbacks
    "preempt_section_is_an_rcu_reader": ("""var published = true
var freed = false
fn free_it in core { freed = true }
thread reader { preempt_disable(); if published { assert not freed }; preempt_enable() }
thread updater { published = false; call_rcu(free_it) }""", "proved", None),
    "timer_callback_sleeps": ("""mutex m
fn f in core { lock(m); unlock(m) }
timer t runs f
thread a { mod_timer(t) }""", "violated", "sleep-in-atomic"),
    "rcu_callback_sleeps": ("""fn f in core { synchronize_rcu() }
thread a { call_rcu(f) }""", "violated", "sleep-in-atomic"),
    "work_item_may_sleep": ("""spinlock s
mutex m
fn f in core { lock(m); unlock(m) }
work w runs f
thread a { spin_lock(s); queue_work(w); spin_unlock(s) }""", "proved", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_explicit_and_z3_agree_with_the_case(name):
    engines_agree(name, CASES[name], plain=False, bmc_cap=24)


@pytest.fixture(scope="module")
def spin_verdicts():
    return spin_runs(CASES, CASES)


@needs_spin
@pytest.mark.parametrize("name", sorted(CASES))
def test_spin_agrees_with_the_case(name, spin_verdicts):
    spin_agrees(name, CASES[name], spin_verdicts)


# --------------------------------------------------------------------------- sleeps (NOTE(sleeps))

# Every word that may sleep, with a use of it; the set must be the vocabulary's.
SLEEPERS = {
    "wait": "wait(c)", "lock": "lock(m)", "unload": "unload(mod)",
    "kref_put_mutex": "get(o); kref_put_mutex(o, m)", "wait_timeout": "wait_timeout(c)",
    "flush_work": "flush_work(w)", "flush_delayed_work": "flush_delayed_work(dw)",
    "cancel_work_sync": "cancel_work_sync(w)", "cancel_delayed_work_sync": "cancel_delayed_work_sync(dw)",
    "flush_workqueue": "flush_workqueue(wq)", "flush_scheduled_work": "flush_scheduled_work()",
    "drain_workqueue": "drain_workqueue(wq)", "destroy_workqueue": "destroy_workqueue(wq)",
    "synchronize_rcu": "synchronize_rcu()", "rcu_barrier": "rcu_barrier()",
    "down_read": "down_read(sem)", "down_write": "down_write(sem)", "request_irq": "request_irq(i)",
    "devm_request_irq": "devm_request_irq(i)", "free_irq": "free_irq(i)",
    "devm_free_irq": "devm_free_irq(i)", "synchronize_irq": "synchronize_irq(i)",
    "disable_irq": "disable_irq(i)", "might_sleep": "might_sleep()",
    # kthreads: kthread_create waits for kthreadd, kthread_stop for the thread's exit
    "kthread_create": "kthread_create(k)", "kthread_run": "kthread_run(k)",
    "kthread_stop": "kthread_stop(k)", "kthread_stop_put": "kthread_stop_put(k)",
}
SETTING = """module mod
spinlock s
rwsem sem
mutex m
completion c done 1
object o
workqueue wq
work w runs f on wq
delayed_work dw runs f on wq
fn f in core { }
fn h in core { }
irq i runs h
"""


def test_the_sleeping_words_are_the_vocabularys():
    assert V.SLEEPING_WORDS == frozenset(SLEEPERS)


@pytest.mark.parametrize("word", sorted(SLEEPERS))
def test_each_sleeping_word_is_checked_under_a_spinlock(word):
    # removing `sleeps` from the word's entry makes this fail: the step would run
    p = load_text(SETTING + f"thread a {{ spin_lock(s); {SLEEPERS[word]}; spin_unlock(s) }}\n"
                  "kthread k { }")
    r = prove_explicit(p)
    assert _verdict(r) == ("violated", "sleep-in-atomic")
    w = replay(p, r.trace)
    last = SLEEPERS[word].split("; ")[-1]
    assert w.steps[0].statement == "spin_lock(s)"
    step = last if word == "might_sleep" else f"{last}: might_sleep()"
    assert w.steps[-1].statement == step and w.steps[-1].thread == "a"
    assert w.message.startswith(f"a: {last} may sleep, in atomic context")


def test_a_word_that_does_not_sleep_runs_under_a_spinlock():
    p = load_text(SETTING + "timer t runs f\nthread a { spin_lock(s); complete(c); queue_work(w); "
                  "mod_timer(t); del_timer_sync(t); call_rcu(f); rcu_read_lock(); "
                  "rcu_read_unlock(); spin_unlock(s) }")
    assert isinstance(prove_explicit(p), Proved)


def test_a_file_without_contexts_keeps_its_steps():
    # NOTE(sleeps): no might_sleep() step in process threads of a v1/v2 file
    src = "mutex m\ncompletion c\nthread a { lock(m); wait(c); unlock(m) }\nthread b { complete(c) }"
    p = load_text(src)
    assert [s.text for s in p.threads[0].steps] == ["lock(m)", "wait(c)", "unlock(m)",
                                                    "end of thread a"]
    with_ctx = load_text("spinlock s\n" + src)
    assert [s.text for s in with_ctx.threads[0].steps][:2] == ["lock(m): might_sleep()", "lock(m)"]


# --------------------------------------------------------------------------- witnesses and stories


def test_the_irq_remove_witness_in_the_users_words():
    p = load("proofs/kernel/25_irq_remove_bug.mproof")
    r = prove_explicit(p)
    w = replay(p, r.trace)
    assert (w.check, len(w.steps)) == ("assertion", 13)
    irq = [s for s in w.steps if s.thread == "irq(foo_irq)"]
    assert [s.statement for s in irq] == ["irq(foo_irq): the interrupt fires", "foo_isr()",
                                          "spin_lock(priv_lock)", "assert regs_mapped"]
    dev = [s.statement for s in w.steps if s.thread == "foo_device"]
    assert "devm_request_irq(foo_irq)" in dev and dev[-1] == "spin_unlock_irqrestore(priv_lock)"
    assert dev.index("regs_mapped = false") > dev.index("devm_request_irq(foo_irq)")


def test_unlock_not_held_in_the_words_of_the_lock():
    for src, msg in [(CASES["spin_unlock_not_held"][0],
                      "a: spin_unlock_irqrestore(s), but s is not held"),
                     ("rwsem s\nthread a { down_write(s); up_write(s); up_write(s) }",
                      "a: up_write(s), but s is not held"),
                     ("spinlock s\nvar x = false\nthread a { spin_lock(s); x = true }\n"
                      "thread b { await x; spin_unlock(s) }",
                      "b: unlock(s) by b, but the mutex is held by a")]:
        p = load_text(src)
        r = prove_explicit(p)
        assert replay(p, r.trace).message == msg


def test_devm_irqs_are_freed_newest_first_when_the_body_ends():
    p = load_text("fn h in core { }\nirq i runs h\nirq j runs h\n"
                  "thread a { devm_request_irq(i); devm_request_irq(j); return }")
    free_i, free_j = "devres: free_irq(i) after a ends", "devres: free_irq(j) after a ends"
    assert [s.text for s in p.threads[0].steps] == [
        "devm_request_irq(i)", "devm_request_irq(j)", "return", free_j, free_j, free_i, free_i,
        "end of thread a"]     # (the end of the body, after the return, is never reached)
    assert [t.name for t in p.threads] == ["a", "irq(i)", "irq(j)"]


def test_spinlocks_keep_the_copies_interchangeable():
    p = load_text("spinlock s\nvar n = 0\n"
                  "thread a[*] { spin_lock(s); n = n + 1; spin_unlock(s); spin_lock(s); "
                  "n = n - 1; spin_unlock(s) }\ninvariant sane: n >= 0")
    r = prove(p, Options())
    assert isinstance(r, Proved) and r.scope == "all-sizes" and r.certified


def test_an_interrupt_on_the_holders_cpu_is_a_proof_gap():
    # NOTE(irq-cpu): the handler spinning on the lock its own CPU's thread holds
    src = "spinlock s\nfn h in core { spin_lock(s); spin_unlock(s) }\nirq i runs h\n"
    gap = load_text(src + "thread a { request_irq(i); spin_lock(s); spin_unlock(s) }")
    assert gap.proof_gaps == ("spinlock s is taken in hardirq code and with spin_lock(s) in "
                              "thread a: an interrupt on that CPU while it holds s (a deadlock) "
                              "is not modelled",)
    r = prove(gap, Options(engine="explicit"))
    assert isinstance(r, Unknown) and r.kind == "approximation"
    safe = load_text(src + "thread a { request_irq(i); spin_lock_irqsave(s); "
                     "spin_unlock_irqrestore(s) }")
    assert safe.proof_gaps == () and isinstance(prove(safe, Options(engine="explicit")), Proved)


def test_the_handler_worker_is_idle_while_it_waits():
    p = load_text(CASES["handler_runs_only_when_requested"][0])
    irq = p.threads[1]
    assert irq.name == "irq(i)" and irq.owner == -1 and not irq.must_finish
    assert irq.steps[0].idle and irq.steps[0].kind is StepKind.ATOMIC


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize("src, message", [
    ("thread a { msleep() }", "call of undeclared function 'msleep'; the built-in for it is "
     "'might_sleep', as in might_sleep()"),
    ("spinlock s\nthread a { raw_spin_lock(s) }", "call of undeclared function 'raw_spin_lock'; "
     "the built-in for it is 'spin_lock', as in spin_lock(s)"),
    ("mutex m\nthread a { spin_lock(m) }", "'spin_lock' needs a spinlock: 'm' is a mutex"),
    ("spinlock s\nthread a { lock(s) }", "'lock' needs a mutex: 's' is a spinlock"),
    ("spinlock s\nthread a { atomic { spin_lock(s) } }", "'spin_lock' is not allowed inside"),
    ("irq i runs nothing\nthread a { }", "the handler of irq 'i': 'nothing' is not declared"),
    ("fn h in core { }\nirq i runs h\nthread a { request_irq(h) }",
     "'request_irq' needs an irq: 'h' is a function"),
])
def test_error_messages(src, message):
    with pytest.raises(SpecError) as info:
        load_text(src, "e.mproof")
    assert message in str(info.value)


@pytest.mark.parametrize("b", V.CTX_BUILTINS, ids=lambda b: b.name)
def test_ctx_builtins_take_the_steps_their_entries_say(b):
    # docs/language.md gives these counts (steps an execution takes); in a file with a
    # spinlock a sleeping word has its might_sleep() step in front, and a devm irq two
    # devres steps at the end
    args = {"spinlock": "s", "rwsem": "sem", "irq": "i", None: ""}
    p = load_text(SETTING + f"thread a {{ {b.name}({args[b.operand]}) }}")
    # (down_read: a choice, then one of two steps that take the read hold)
    extra = ((b.sleeps and b.name != "might_sleep") + 2 * (b.name == "devm_request_irq")
             + (b.name == "down_read"))
    assert len(p.threads[0].steps) - 1 == b.steps + extra


# --------------------------------------------------------------------------- random programs
# The differential tests of test_differential.py on programs with these constructs
# (strategies_ctx.programs_ctx): the reductions keep verdicts and shortest
# witnesses, and BMC agrees with the explicit engine.  Few examples by default
# (MODPROOF_EXAMPLES raises them, as for the others).

def test_random_programs_with_contexts_agree_across_engines():
    from hypothesis import given, settings

    from strategies_ctx import programs_ctx
    from test_differential import EXAMPLES, SETTINGS, Tally, reductions_agree, summary

    tally = Tally()
    seen: set = set()

    @settings(SETTINGS, max_examples=max(4, EXAMPLES // 40))
    @given(programs_ctx())
    def example(src):
        p = load_text(src, "random_ctx.mproof")
        plain = reductions_agree(p, src, tally)
        if plain is None:
            return
        seen.add(summary(plain)[1] or plain.verdict)
        bm = prove_bmc(p, bound=plain.stats.depth + 2, timeout=10)
        if isinstance(bm, Unknown):
            tally.skip("bmc ran out of time")
        elif isinstance(plain, Violated) and plain.check == "hang":
            # an irq handler fires for ever while a thread waits: a hang, reported only
            # when no safety check fails, which BMC (safety only) must confirm
            assert isinstance(bm, Proved), src
        elif isinstance(plain, Violated):
            assert summary(bm) == summary(plain), src
        else:
            assert isinstance(bm, Proved), src

    example()
    tally.assert_enough_compared()
    assert len(seen) >= 2, seen
