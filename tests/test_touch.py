"""use-after-unload as docs/language.md defines it (NOTE(touch)), with every engine.

A step touches an object or completion declared `in MOD` when a primitive acts
on it or when evaluating its expression reaches a query of it; evaluation is
C's (`and` and `or` do not evaluate their right side when the left decides).
Only a step that is taken is judged: a blocked step, and an `await` that does
not hold, touch nothing.  Inside `atomic` the statements are judged in order,
and the first violation (a touch, an assert, a primitive's own check) ends the
block.  Each model's verdict, check and witness length is worked out by hand
below it.
"""
from __future__ import annotations

import pytest

from modproof.prove import Options, prove
from modproof.spec.lower import load_text

HEAD = "module m\nobject o in m\ncompletion c done 1 in m\nvar v = false\n"


def outcome(src: str, engine: str, deferred: bool = False):
    r = prove(load_text(src, "touch.mproof", deferred_release=deferred), Options(engine=engine))
    if r.verdict == "violated":
        return ("violated", r.check, len(r.trace.steps))
    return (r.verdict, None, None)


CASES = [
    # unload (1), free (2), then the block: its `get` is never run.
    ("a branch never taken touches nothing (issue 19)",
     HEAD + "thread a { unload(m); atomic { if false { get(o) } } }",
     ("proved", None, None)),
    # The assertion fails before the get runs: the block ends there.
    ("an earlier assertion wins (issue 19)",
     HEAD + "thread a { unload(m); atomic { assert false; get(o) } }",
     ("violated", "assertion", 3)),
    # The get touches freed memory before the await would block the block.
    ("a touch before a blocking await counts (issue 19)",
     HEAD + "thread a { unload(m); atomic { get(o); await false } }",
     ("violated", "use-after-unload", 3)),
    ("a touch after an assertion that holds counts",
     HEAD + "thread a { unload(m); atomic { assert true; get(o); assert false } }",
     ("violated", "use-after-unload", 3)),
    # C's &&: v is false, refs(o) is not evaluated (issue 18's question).
    ("and does not evaluate its right side after false",
     HEAD + "thread a { unload(m); if v and refs(o) == 0 { v = true } }",
     ("proved", None, None)),
    ("and evaluates its right side after true",
     HEAD.replace("var v = false", "var v = true")
     + "thread a { unload(m); if v and refs(o) == 0 { v = true } }",
     ("violated", "use-after-unload", 3)),
    ("or does not evaluate its right side after true",
     HEAD + "thread a { unload(m); assert not v or done(c) > 0 }",
     ("proved", None, None)),
    ("or evaluates its right side after false",
     HEAD + "thread a { unload(m); assert v or done(c) > 0 }",
     ("violated", "use-after-unload", 3)),
    ("short circuit inside atomic too",
     HEAD + "thread a { unload(m); atomic { if v and refs(o) == 1 { v = true }; v = true } }",
     ("proved", None, None)),
    ("short circuit in an await",
     HEAD + "thread a { unload(m); await not v or refs(o) == 1 }",
     ("proved", None, None)),
    # An await that does not hold is not taken: the thread is blocked (deadlock
    # in the state after the free step), it never reads freed memory.
    ("a false await touches nothing",
     HEAD + "thread a { unload(m); await refs(o) > 5 }",
     ("violated", "deadlock", 2)),
    ("a true await touches",
     HEAD + "thread a { unload(m); await refs(o) > 0 }",
     ("violated", "use-after-unload", 3)),
    ("a false await inside atomic touches nothing",
     HEAD + "thread a { unload(m); atomic { await done(c) > 5; get(o) } }",
     ("violated", "deadlock", 2)),
    ("a true await inside atomic touches",
     HEAD + "thread a { unload(m); atomic { await done(c) > 0; v = true } }",
     ("violated", "use-after-unload", 3)),
    # wait(c) with done(c) = 0 blocks (nothing touched); with done 1 it is taken.
    ("a blocked wait touches nothing",
     HEAD.replace("done 1", "done 0") + "thread a { unload(m); wait(c) }",
     ("violated", "deadlock", 2)),
    ("a wait that is taken touches",
     HEAD + "thread a { unload(m); wait(c) }",
     ("violated", "use-after-unload", 3)),
    # b's get(o), taken after unload (1) and free (2), is m's code and touches m's
    # memory: code-after-unload is judged first.
    ("code-after-unload comes before use-after-unload",
     HEAD + "thread a { unload(m) }\nthread b in m { get(o) }",
     ("violated", "code-after-unload", 3)),
    # A touch is judged before the primitive's own check: put of count 0 in freed memory.
    ("the touch comes before the step's own check",
     "module m\nobject o refs 0 in m\nthread a { unload(m); put(o) }",
     ("violated", "use-after-unload", 3)),
    ("try_get of freed storage touches",
     HEAD + "thread a { unload(m); if try_get(o) { v = true } }",
     ("violated", "use-after-unload", 3)),
    ("an assignment's value touches",
     "module m\nobject o in m\nvar n = 0\nthread a { unload(m); n = refs(o) }",
     ("violated", "use-after-unload", 3)),
    # Realistic (issue 19): the fixed dm model with the kobject in dm's memory.  The
    # reader never touches md_kobj once `published` is false.
    ("the fixed dm model with its kobject in the module",
     open("proofs/kernel/01_dm_builtin_fixed.mproof").read().replace(
         "object md_kobj refs 1 release dm_kobject_release",
         "object md_kobj refs 1 release dm_kobject_release in dm"),
     ("proved", None, None)),
]


@pytest.mark.parametrize("engine", ["explicit", "bmc", "auto"])
@pytest.mark.parametrize("name,src,expected", CASES, ids=[c[0] for c in CASES])
def test_touch(name, src, expected, engine):
    assert outcome(src, engine) == expected


# --------------------------------------------------------------------------- deferred release

# put (1) queues the release; the worker takes it (2), calls h (3), h returns (4),
# and the worker marks itself idle (5).  Then t is blocked forever and the worker
# idles: a deadlock in the state after 5 steps (issue 19: there was no idle step).
DEFERRED = "object o release h\nfn h in core { }\nthread t { put(o); await false }\n"


@pytest.mark.parametrize("engine", ["explicit", "bmc", "auto"])
def test_the_release_worker_takes_a_step_back_to_idle(engine):
    assert outcome(DEFERRED, engine, deferred=True) == ("violated", "deadlock", 5)


@pytest.mark.parametrize("engine", ["explicit", "bmc"])
def test_the_release_worker_is_idle_before_and_after(engine):
    # t finishes after put (1) and its return (2); the worker takes (3), calls (4),
    # returns from h (5), back to idle (6): every thread done or idle, no deadlock.
    src = "object o release h\nvar n = 0\nfn h in core { n = n + 1 }\nthread t { put(o) }\n" \
          "invariant once: n < 2\ncover released: n == 1\n"
    r = prove(load_text(src, "d.mproof", deferred_release=True), Options(engine=engine))
    assert r.verdict == "proved"
    assert [(c.name, c.reached) for c in r.covers] == [("released", True)]
