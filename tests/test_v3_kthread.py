"""Version 3: threads started at run time (issue 17, construct 7), docs/language.md
"Threads started at run time (kthreads)".  One small program per case, its
verdict written out by hand from the kernel's kthread.c as the docs state it,
and the engines agreeing on it: the explicit engine (the reference semantics,
reduced and plain), Z3's BMC, and Spin on the exported Promela (skipped
without Spin, as in test_spin.py).  Then the witnesses whose story matters
(the kthread returns, is reaped, and kthread_stop touches the freed task), the
shape of the lowering, and the messages."""
from __future__ import annotations

import pytest

from modproof.explicit import prove_explicit
from modproof.result import Proved, Violated
from modproof.spec.diagnostics import SpecError
from modproof.spec.lower import load_text
from modproof.spec.model import CORE, DONE, StepKind
from modproof.witness import replay
from engine_cases import engines_agree, spin_agrees, spin_runs
from test_spin import needs_spin, spin_tools  # noqa: F401 (a fixture)

# name: (source, verdict, check)
CASES = {
    # ---------------------------------------------------------------- kthread_stop after exit
    "stop_after_exit": ("""var done_work = false
kthread k { done_work = true }
thread m { kthread_run(k); await done_work; kthread_stop(k) }""", "violated", "use-after-free"),
    "stop_with_a_reference": ("""var done_work = false
kthread k { done_work = true }
thread m {
    kthread_create(k); get_task_struct(k); wake_up_process(k)
    await done_work; kthread_stop(k); put_task_struct(k)
}""", "proved", None),
    "get_task_struct_after_kthread_run_is_late": ("""kthread k { }
thread m { kthread_run(k); get_task_struct(k); kthread_stop(k); put_task_struct(k) }""",
                                                  "violated", "use-after-free"),
    "stop_put": ("""kthread k { }
thread m { kthread_create(k); get_task_struct(k); wake_up_process(k); kthread_stop_put(k) }""",
                 "proved", None),
    "stop_put_without_a_reference": ("""kthread k { await kthread_should_stop() }
thread m { kthread_run(k); kthread_stop_put(k) }""", "violated", "use-after-free"),
    "waits_for_should_stop": ("""var ticks = false
kthread k { while not kthread_should_stop() { ticks = not ticks } }
thread m { kthread_run(k); kthread_stop(k) }""", "proved", None),
    # ---------------------------------------------------------------- start
    "created_asleep_never_runs": ("""kthread k { assert false }
thread m { kthread_create(k) }""", "proved", None),
    "declared_never_created": ("""kthread k { assert false }
thread m { }""", "proved", None),
    "stop_before_wake_skips_the_function": ("""var ran = false
kthread k { ran = true }
thread m { kthread_create(k); kthread_stop(k); assert not ran }""", "proved", None),
    "woken_may_still_skip_the_function": ("""var ran = false
kthread k { ran = true; await kthread_should_stop() }
thread m { kthread_run(k); kthread_stop(k); assert ran }""", "violated", "assertion"),
    "runs_after_wake": ("""var ran = false
kthread k { ran = true }
thread m { kthread_create(k); get_task_struct(k); wake_up_process(k); kthread_stop(k)
           put_task_struct(k) }
cover it_ran: ran""", "proved", None),
    "wake_before_create": ("""kthread k { }
thread m { wake_up_process(k) }""", "violated", "assertion"),
    "create_twice": ("""kthread k { await kthread_should_stop() }
thread m { kthread_run(k); kthread_run(k) }""", "violated", "assertion"),
    # ---------------------------------------------------------------- task_struct references
    "put_task_struct_too_many": ("""kthread k { await kthread_should_stop() }
thread m { kthread_create(k); put_task_struct(k); wake_up_process(k) }""",
                                 "violated", "use-after-free"),
    "reaped_after_a_put_too_many": ("""var gone = false
kthread k { await gone }
thread m { kthread_run(k); put_task_struct(k); gone = true }""", "violated", "use-after-free"),
    "sleeping_until_stopped_is_no_deadlock": ("""kthread k { await kthread_should_stop() }
thread m { kthread_run(k) }""", "proved", None),
    "blocked_stopper_is_a_deadlock": ("""mutex l
kthread k { lock(l); unlock(l); await kthread_should_stop() }
thread m { lock(l); kthread_run(k); kthread_stop(k); unlock(l) }""", "violated", "deadlock"),
    "stop_of_a_kthread_that_never_checks_hangs": ("""var b = false
kthread k { while true { b = not b } }
thread m { kthread_run(k); kthread_stop(k) }""", "violated", "hang"),
    "second_stop_waits_for_ever": ("""kthread k { }
thread m { kthread_create(k); get_task_struct(k); wake_up_process(k)
           kthread_stop(k); kthread_stop(k) }""", "violated", "deadlock"),
    # ---------------------------------------------------------------- module kthreads
    "module_kthread_returns_into_the_module": ("""module m refs 1
var go = false
kthread k in m { await go; module_put(m) }
thread starter { kthread_run(k) }
thread admin { go = true; unload(m) }""", "violated", "code-after-unload"),
    "module_put_and_kthread_exit": ("""module m refs 1
var go = false
kthread k in m { await go; module_put_and_exit(m) }
thread starter { kthread_run(k) }
thread admin { go = true; unload(m) }
cover unloaded: not loaded(m)""", "proved", None),
    "kthread_complete_and_exit": ("""module m exit e
completion exited
var stop = false
fn e in m { stop = true; wait(exited) }
kthread k in m { await stop; complete_and_exit(exited) }
thread admin { kthread_run(k); unload(m) }
cover unloaded: not loaded(m)""", "proved", None),
    "complete_then_return": ("""module m exit e
completion exited
var stop = false
fn e in m { stop = true; wait(exited) }
kthread k in m { await stop; complete(exited) }
thread admin { kthread_run(k); unload(m) }""", "violated", "code-after-unload"),
    "kthread_stop_in_exit_then_return": ("""module m exit e
fn e in m { kthread_stop(k) }
kthread k in m { await kthread_should_stop() }
thread admin { kthread_run(k); unload(m) }
cover unloaded: not loaded(m)""", "proved", None),
    "should_stop_in_locals": ("""var seen = false
var ran = false
fn f in core { local s = kthread_should_stop(); seen = s }
kthread k { local t = kthread_should_stop(); assert not t; ran = true
            await kthread_should_stop(); f() }
thread m { kthread_run(k); await ran; kthread_stop(k); assert seen }""", "proved", None),
    "should_stop_in_a_function_the_kthread_calls": ("""var n = 0
fn body in core { while not kthread_should_stop() { await true } }
kthread k { body() }
thread m { kthread_run(k); kthread_stop(k) }""", "proved", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_explicit_and_z3_agree_with_the_case(name):
    engines_agree(name, CASES[name], covers_reached=True)


# Spin on one case of each verdict the construct can give (a pan is compiled per
# case: the whole table would take most of this file's time budget).
SPIN_CASES = ("stop_after_exit", "stop_with_a_reference", "stop_put_without_a_reference",
              "woken_may_still_skip_the_function", "created_asleep_never_runs",
              "second_stop_waits_for_ever", "module_kthread_returns_into_the_module",
              "module_put_and_kthread_exit")


@pytest.fixture(scope="module")
def spin_verdicts():
    return spin_runs(CASES, SPIN_CASES)


@needs_spin
@pytest.mark.parametrize("name", SPIN_CASES)
def test_spin_agrees_with_the_case(name, spin_verdicts):
    spin_agrees(name, CASES[name], spin_verdicts)


# --------------------------------------------------------------------------- the stories

def _witness(src: str):
    p = load_text(src, "w.mproof")
    r = prove_explicit(p)
    assert isinstance(r, Violated)
    return p, replay(p, r.trace)


def test_the_kthread_returns_is_reaped_then_kthread_stop_touches_the_freed_task():
    p, w = _witness(CASES["stop_after_exit"][0])
    assert w.check == "use-after-free" and len(w.steps) == 9
    k = [s.statement for s in w.steps if s.thread == "k"]
    assert k == ["k: created and woken?",
                 "k is woken: kthread() tests kthread_should_stop() before its function",
                 "done_work = true", "end of kthread k: its function returns",
                 "k exits (kthread_exit: kthread_stop's wait is over)",
                 "kthreadd reaps k: put_task_struct (the task_struct is freed unless a "
                 "reference is held)"]
    reap = next(s for s in w.steps if s.statement.startswith("kthreadd reaps"))
    assert ("task_refs(k)", 1, 0) in reap.changes
    last = w.steps[-1]
    assert (last.thread, last.statement) == ("m", "kthread_stop(k)")
    assert "the task_struct of k was freed (k returned on its own and kthreadd reaped it" \
        in w.message
    assert "get_task_struct(k)" in w.message and "kthread_stop_put(k)" in w.message


def test_the_module_kthread_returns_into_freed_code():
    p, w = _witness(CASES["module_kthread_returns_into_the_module"][0])
    last = w.steps[-1]
    assert (last.thread, last.owner, last.owner_state) == ("k", "m", "gone")
    assert last.statement == "end of kthread k: its function returns"


def test_a_kthread_is_its_start_its_function_and_its_exit_in_core_code():
    p = load_text(CASES["module_put_and_kthread_exit"][0], "k.mproof")
    k = next(t for t in p.threads if t.name == "k")
    assert not k.must_finish and k.service    # it runs until it is stopped
    wait = k.steps[k.entry]
    assert (wait.kind, wait.owner, wait.idle) == (StepKind.AWAIT, CORE, True)
    test = k.steps[wait.next]
    assert (test.kind, test.owner) == (StepKind.BRANCH, CORE)
    put = next(s for s in k.steps if s.text == "module_put_and_exit(m)")
    assert (put.kind, put.owner) == (StepKind.MODULE_PUT, 0)   # the call is m's code
    exit_ = k.steps[put.next]
    assert (exit_.kind, exit_.owner, exit_.text) == (StepKind.ATOMIC, CORE,
                                                     "k exits (kthread_exit: kthread_stop's "
                                                     "wait is over)")
    assert test.next == exit_.id      # a kthread stopped before it ran exits at once
    reap = k.steps[exit_.next]
    assert (reap.owner, reap.next) == (CORE, DONE)
    names = [v.name for v in p.vars]
    assert names[-5:] == ["created(k)", "started(k)", "should_stop(k)", "exited(k)",
                          "task_refs(k)"]


def test_a_plain_file_keeps_its_vars_and_threads():
    src = "var x = 1\nthread t { x = 2 }\n"
    p = load_text(src)
    assert [v.name for v in p.vars] == ["x"] and p.threads[0].must_finish


def test_kthread_is_a_soft_word():
    p = load_text("var kthread = 1\nthread t { kthread = 2; assert kthread == 2 }\n")
    assert isinstance(prove_explicit(p), Proved)
    p = load_text("var kthread_should_stop = true\nthread t { assert kthread_should_stop }\n")
    assert isinstance(prove_explicit(p), Proved)
    p = load_text("var ran = false\nfn kthread_stop in core { ran = true }\n"
                  "thread t { kthread_stop(); assert ran }\n")
    assert isinstance(prove_explicit(p), Proved)


# --------------------------------------------------------------------------- messages

def _error(src: str) -> str:
    with pytest.raises(SpecError) as e:
        load_text(src, "e.mproof")
    return str(e.value.diagnostics[0].span) + ": " + e.value.diagnostics[0].message


@pytest.mark.parametrize("src, message", [
    ("kthread k { }\nthread m { kthread_create_on_node(k) }",
     "the built-in for it is 'kthread_create', as in kthread_create(k)"),
    ("kthread k { }\nthread m { kthread_run_on_cpu(k) }",
     "the built-in for it is 'kthread_run', as in kthread_run(k)"),
    ("kthread k { }\nthread m { kthread_stopp(k) }", "did you mean 'kthread_stop'?"),
    ("kthread k { }\nthread m { kthread_stop_and_put(k) }", "did you mean 'kthread_stop_put'?"),
    ("module n\nkthread k in n { module_put_and_kthread_exit(n) }",
     "the primitive for it is 'module_put_and_exit', as in module_put_and_exit(n)"),
    ("kthread k { }\nthread m { kthread_complete_and_exit(k) }",
     "the primitive for it is 'complete_and_exit'"),
    ("thread t { }\nthread m { kthread_stop(t) }", "'kthread_stop' needs a kthread: 't' is a thread"),
    ("kthread k { }\nthread m { kthread_stop() }", "'kthread_stop' needs one argument, a kthread"),
    ("kthread k { kthread_should_stop() }",
     "'kthread_should_stop' is a query, not a statement"),
    ("kthread k { await kthread_should_stop(k) }", "'kthread_should_stop' takes no argument"),
    ("thread t { await kthread_should_stop() }",
     "'kthread_should_stop()' in a thread that is not a kthread"),
    ("kthread k { }\ninvariant i: not kthread_should_stop()",
     "cannot stand in an invariant or a cover"),
    ("fn f in core { await kthread_should_stop() }\nthread t { f() }",
     "e.mproof:1:22: 'kthread_should_stop()' runs in thread t, which is not a kthread"),
    ("kthread k { }\nkthread k { }", "'k' is already declared as a kthread"),
    ("kthread k { }\nthread m { get(k) }", "'k' is a kthread"),
])
def test_messages(src, message):
    assert message in _error(src)


# --------------------------------------------------------------------------- any number of threads

def test_any_number_of_callers_of_kthread_run():
    from modproof.allsizes import prove_all_sizes
    r = prove_all_sizes(load_text("""kthread k { await kthread_should_stop() }
thread t[*] { kthread_run(k) }
""", "s.mproof"), timeout=60)
    # the second caller creates the one task again
    assert isinstance(r.result, Violated) and r.result.check == "assertion"
    assert r.sizes == {"t": 2} and r.smallest


def test_a_kthread_beside_any_number_of_threads_is_proved_for_every_number():
    from modproof.allsizes import prove_all_sizes
    r = prove_all_sizes(load_text("""var n = 0
kthread k { await kthread_should_stop() }
thread main { kthread_run(k); await n == 0; kthread_stop(k) }
thread r[*] { if n < 1 { n = n + 1; n = n - 1 } }
""", "s.mproof"), timeout=60)
    assert isinstance(r.result, Proved) and r.result.scope == "all-sizes" and r.certified, r


def test_a_kthread_file_prints_back_to_itself():
    from modproof.grammar.parser import parse
    from modproof.spec.printer import to_source
    for name in ("should_stop_in_locals", "module_put_and_kthread_exit"):
        spec = parse(CASES[name][0])
        again = to_source(spec)
        assert "kthread k" in again and parse(again).decls == spec.decls
