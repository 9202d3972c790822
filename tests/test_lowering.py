"""The program model: calls, release calls, return steps, unload phases, owners, atomic."""
from __future__ import annotations

from conftest import PROOFS
from modproof.spec.lower import load, load_text
from modproof.spec.model import CORE, DONE, Const, StepKind


def kinds(thread):
    return [(s.kind, s.owner) for s in thread.steps]


def test_dm_in_module_lowering():
    p = load(str(PROOFS / "dm_in_module.mproof"))
    dm = 0
    reader, admin = p.threads
    assert [t.name for t in p.threads] == ["reader", "admin"]
    assert kinds(reader) == [
        (StepKind.ATOMIC, CORE), (StepKind.BRANCH, CORE), (StepKind.PUT, CORE),
        (StepKind.COMPLETE, dm), (StepKind.RETURN, dm), (StepKind.RETURN, CORE)]
    put = reader.steps[2]
    assert put.fn == "dm_kobject_release" and put.release == 3 and put.next == 5
    assert reader.steps[4].next == 5          # the release returns to after the put
    assert reader.steps[5].next == DONE       # the thread body's own return step
    assert kinds(admin) == [
        (StepKind.CALL, CORE), (StepKind.ASSIGN, dm), (StepKind.PUT, dm), (StepKind.COMPLETE, dm),
        (StepKind.RETURN, dm), (StepKind.WAIT, dm), (StepKind.MODULE_PUT, dm),
        (StepKind.RETURN, dm), (StepKind.MODULE_PUT, CORE), (StepKind.UNLOAD, CORE),
        (StepKind.UNLOAD_FREE, CORE), (StepKind.RETURN, CORE)]
    unload = admin.steps[9]
    assert unload.next == 10 and unload.not_loaded == 11  # free step; skip when not loaded
    assert admin.steps[3].frame == ("dm_ioctl_remove", "dm_kobject_release")
    assert reader.steps[0].text == "atomic { if published { get(md_kobj); found = true } }"
    assert (reader.steps[2].span.line, reader.steps[2].span.col) == (27, 16)


def test_thread_copies_and_owners():
    p = load_text("module m\nthread w[3] in m { return }\n")
    assert [t.name for t in p.threads] == ["w[0]", "w[1]", "w[2]"]
    assert all(t.group == "w" and t.owner == 0 for t in p.threads)
    assert [t.copy for t in p.threads] == [0, 1, 2]
    assert kinds(p.threads[0]) == [(StepKind.RETURN, 0), (StepKind.RETURN, 0)]
    assert p.threads[0].steps[1].synthetic  # kept, though the `return` makes it unreachable


def test_exit_function_is_called_by_the_unloading_step():
    p = load_text("module m exit bye\nfn bye in m { }\nthread a { unload(m) }\n")
    (a,) = p.threads
    assert kinds(a) == [(StepKind.UNLOAD, CORE), (StepKind.RETURN, 0),
                        (StepKind.UNLOAD_FREE, CORE), (StepKind.RETURN, CORE)]
    assert a.steps[0].fn == "bye" and a.steps[0].next == 1 and a.steps[0].not_loaded == 3
    assert a.steps[1].next == 2


def test_locals_one_slot_per_function_and_reset_by_each_call():
    p = load_text("""
var n = 0
fn f in core { local x = 5; n = x }
thread t { local y = true; f(); f() }
""")
    (t,) = p.threads
    assert [(s.name, s.fn, s.init) for s in t.locals] == [("y", None, True), ("x", "f", 5)]
    calls = [s for s in t.steps if s.kind is StepKind.CALL]
    # NOTE(local-inits): each call sets the slot to its initialiser, an expression
    assert len(calls) == 2 and all(c.inits == ((1, Const(5)),) for c in calls)


def test_while_if_choose_and_return_successors():
    p = load_text("""
var x = 0
fn f in core { if x == 0 { return }; x = 1 }
thread t {
    while x < 2 { x = x + 1 }
    choose { x = 5 } or { } or { f() }
}
""")
    (t,) = p.threads
    test = t.steps[0]
    assert test.kind is StepKind.BRANCH and t.steps[test.next].next == 0  # the body loops back
    choose = t.steps[test.on_false]
    assert choose.kind is StepKind.CHOOSE and len(choose.branches) == 3
    end = [s for s in t.steps if s.kind is StepKind.RETURN and s.fn is None][0]
    assert choose.branches[1] == end.id        # an empty branch goes straight on
    rets = [s for s in t.steps if s.kind is StepKind.RETURN and s.fn == "f"]
    assert len(rets) == 2 and rets[0].next == rets[1].next == end.id  # early and final return


def test_atomic_block_is_one_step_with_structured_body():
    p = load_text("object o\nvar a = false\nthread t { atomic { if try_get(o) { a = true } else { a = false } } }\n")
    (t,) = p.threads
    assert [s.kind for s in t.steps] == [StepKind.ATOMIC, StepKind.RETURN]
    assert len(t.steps[0].body) == 1


def test_every_proof_file_lowers_with_consistent_successors():
    for path in sorted(PROOFS.rglob("*.mproof")):
        p = load(str(path))
        for t in p.threads:
            assert t.steps[t.entry].id == 0
            for s in t.steps:
                assert s.id == t.steps.index(s)
                for n in s.successors():
                    assert n == DONE or 0 <= n < len(t.steps)
