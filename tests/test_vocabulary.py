"""The vocabulary (spec/vocabulary.py) against what the engines do with it.

The footprint of a step (encoder/footprint.py, derived from the vocabulary) is
what the Z3 engine's partial-order reduction trusts: two steps whose footprints
do not overlap may be swapped.  A footprint that misses a write or a read lets
the encoding skip executions, and a proof can follow (a `reinit` whose write of
`done` was forgotten turned a violated model into a proof).  So on random
programs that use every primitive and every v2 construct, every reachable state
and every step:

- whatever `semantics.successors` changes of the shared state is inside the
  step's footprint (`writes`), and
- changing any shared variable outside the footprint changes nothing the step
  does (`reads`): the same outcomes, with the same checks, and the same changes.

Both hold by construction for an entry of the vocabulary that is right; they
fail for one that lost a table (tests/tools/mutate_tables.py removes each entry
of each table in turn and checks that some test fails).
"""
from __future__ import annotations

import os
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings

from modproof.encoder.footprint import footprint
from modproof.grammar import KEYWORDS, OPTION_WORDS
from modproof.grammar.parser import _lark
from modproof.spec import model as M
from modproof.spec import semantics as S
from modproof.spec import vocabulary as V
from modproof.spec.lower import load_text
from strategies import programs, programs_v2

EXAMPLES = int(os.environ.get("MODPROOF_EXAMPLES", "300")) // 3
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
FIELD = {"refs": "refs", "done": "done", "mrefs": "mrefs", "mstate": "mstate",
         "holder": "holders", "var": "vars"}


def reachable(p: M.Program, limit: int) -> list[S.State]:
    """Up to `limit` reachable states, breadth-first, every thread expanded."""
    s0 = S.initial(p)
    seen = {s0}
    queue = deque([s0])
    out = []
    while queue and len(out) < limit:
        s = queue.popleft()
        out.append(s)
        for t in range(len(p.threads)):
            for o in S.successors(p, s, t):
                if o.violation is None and o.state not in seen:
                    seen.add(o.state)
                    queue.append(o.state)
    return out


def shared_keys(p: M.Program, s: S.State) -> list[tuple[str, int]]:
    return [(table, i) for table, f in FIELD.items() for i in range(len(getattr(s, f)))]


def value(s: S.State, key) -> object:
    return getattr(s, FIELD[key[0]])[key[1]]


def with_value(s: S.State, key, v) -> S.State:
    f = FIELD[key[0]]
    old = getattr(s, f)
    return s._replace(**{f: old[:key[1]] + (v,) + old[key[1] + 1:]})


def other_value(p: M.Program, key, v):
    """A different value of the same domain."""
    if key[0] == "mstate":
        return (v + 1) % 3
    if key[0] == "holder":
        return v + 1 if v + 1 < len(p.threads) else V.FREE
    if isinstance(v, bool):
        return not v
    return 0 if v == V.UINT_MAX else v + 1


def changed(s: S.State, after: S.State) -> set:
    return {k for k in shared_keys(None, s) if value(s, k) != value(after, k)}


def check_footprints(p: M.Program, limit: int, perturb: int) -> int:
    """Both properties of the module docstring on up to `limit` states (the reads
    on the first `perturb` of them); the number of (state, step) pairs checked."""
    checked = 0
    for n, s in enumerate(reachable(p, limit)):
        for t in range(len(p.threads)):
            st = S.current_step(p, s, t)
            if st is None:
                continue
            fp = footprint(p, st)
            outs = S.successors(p, s, t)
            for o in outs:
                if o.violation is None:
                    assert changed(s, o.state) <= fp.writes, (st.text, changed(s, o.state), fp)
            checked += 1
            if n >= perturb:
                continue
            for key in shared_keys(p, s):
                if key in fp.reads or key in fp.writes:
                    continue
                v = other_value(p, key, value(s, key))
                outs2 = S.successors(p, with_value(s, key, v), t)
                assert [o.violation for o in outs2] == [o.violation for o in outs], \
                    (st.text, key, "changes whether or how the step fails or is enabled", fp)
                for o, o2 in zip(outs, outs2):
                    if o.violation is None:
                        assert o2.state == with_value(o.state, key, v), (st.text, key, fp)
    return checked


@SETTINGS
@given(programs_v2())
def test_footprints_hold_on_programs_with_every_construct(src):
    assert check_footprints(load_text(src, "random.mproof"), limit=400, perturb=60) > 0


@SETTINGS
@given(programs_v2())
def test_footprints_hold_with_deferred_release(src):
    p = load_text(src, "random.mproof", deferred_release=True)
    assert check_footprints(p, limit=200, perturb=30) > 0


@SETTINGS
@given(programs())
def test_footprints_hold_on_the_differential_programs(src):
    assert check_footprints(load_text(src, "random.mproof"), limit=300, perturb=40) > 0


REINIT = """
completion c done 5
thread a { complete(c) }
thread b { reinit(c) }
invariant not_one: done(c) != 1
"""


def test_the_reinit_model_of_the_issue_is_violated_by_both_engines():
    """Issue 13's reviewer: with reinit's write of `done` forgotten, bmc proved this."""
    from modproof.prove import Options, prove
    p = load_text(REINIT, "reinit.mproof")
    for engine in ("explicit", "bmc"):
        r = prove(p, Options(engine=engine))
        assert r.verdict == "violated" and r.check == "invariant", engine
        assert len(r.trace.steps) == 2, engine


# --------------------------------------------------------------------------- lookups raise


def test_a_word_no_table_knows_raises():
    for lookup in (V.primitive, V.query, V.builtin, V.binary, V.check_rank):
        with pytest.raises(KeyError):
            lookup("no_such_word")
    with pytest.raises(KeyError):
        M.PRIMITIVE_OF[M.StepKind.ASSIGN]


def test_a_step_kind_the_footprint_does_not_know_raises(monkeypatch):
    import modproof.encoder.footprint as F
    p = load_text("thread a { assert true }", "a.mproof")
    st = p.threads[0].steps[0]
    monkeypatch.setattr(F, "_PRIVATE", frozenset())
    with pytest.raises(AssertionError, match="no footprint"):
        F.footprint(p, st)


def test_every_step_kind_is_a_primitive_or_a_shape_and_every_table_has_it():
    kinds = {k.value for k in M.StepKind}
    assert kinds == {p.name for p in V.PRIMITIVES} | {s.name for s in V.STEP_SHAPES}
    assert {k.value for k in M.BLOCKING_KINDS} == {"wait", "lock", "unload", "await", "atomic",
                                                   "ref_module"}
    # v3 (NOTE(module-init)): the loader's steps that are not statements
    assert {p.name for p in V.INTERNAL_PRIMITIVES} == {"unload_free", "module_live",
                                                       "module_going", "ref_module",
                                                       "kref_init", "mutex_init"}
    assert {k.value for k in M.REFUSING_KINDS} == {"unload", "ref_module"}
    assert {k.value for k in M.ENDS_THREAD} == {"module_put_and_exit", "complete_and_exit"}


# --------------------------------------------------------------------------- what each entry says
# Written out by hand from LANGUAGE.md: a table that loses or changes an entry fails here.

OPERANDS = {"get": "object", "put": "object", "complete": "completion", "complete_all": "completion",
            "wait": "completion", "reinit": "completion", "lock": "mutex", "unlock": "mutex",
            "module_get": "module", "module_put": "module", "unload": "module",
            "module_put_and_exit": "module", "complete_and_exit": "completion"}
CHECK_OF = {"get": "get-after-release", "put": "put-after-release", "unlock": "unlock-not-held",
            "module_get": "module-get-after-unload", "module_put": "module-refcount-underflow",
            "module_put_and_exit": "module-refcount-underflow"}
NOT_IN_ATOMIC = {"wait", "lock", "unload", "module_put_and_exit", "complete_and_exit"}


@pytest.mark.parametrize("name", sorted(OPERANDS))
def test_each_primitive_entry(name):
    p = V.primitive(name)
    assert p.operand == OPERANDS[name]
    assert p.check == CHECK_OF.get(name)
    assert (p.not_in_atomic is not None) == (name in NOT_IN_ATOMIC)
    assert p.blocks == (name in ("wait", "lock", "unload"))
    assert p.calls == {"put": "release", "unload": "exit"}.get(name)
    assert p.message or p.check is None


def recording_reads(asked: set[str]):
    """`read` functions over many states (counts 0 to 7, a held and a free mutex,
    every module state), each adding the tables it is asked for to `asked`."""
    for refs in (0, 1, 2, 7):
        for mstate in range(3):
            def read(table, x, refs=refs, mstate=mstate):
                asked.add(table)
                return {"holder": refs - 2, "mstate": mstate}.get(table, refs)
            yield read


@pytest.mark.parametrize("name", sorted(OPERANDS))
def test_a_primitive_reads_only_what_its_entry_says(name):
    """The meaning of a primitive, run on many states with a `read` that records what
    it asks for, reads no table its `reads` leaves out (the footprint's reads come
    from there), and writes only tables in its `writes`."""
    p = V.primitive(name)
    asked: set[str] = set()
    for read in recording_reads(asked):
        effect = p.effect(read, 0, 0)
        assert set(effect.writes) <= p.writes, (name, effect.writes)
    assert asked <= p.reads, (name, asked - p.reads)


@pytest.mark.parametrize("name", sorted(q.name for q in V.QUERIES))
def test_a_query_reads_only_what_its_entry_says(name):
    """As for primitives: a query's value, or an acting query's act, reads no table
    its `reads` leaves out, and an act writes only tables in its `writes`."""
    q = V.query(name)
    asked: set[str] = set()
    for read in recording_reads(asked):
        if q.act is not None:
            act = q.acts(read, 0)
            for writes in (act.on_true, act.on_false):
                assert set(writes or {}) <= q.writes, (name, act)
        if q.value is not None:
            q.value(read, 0)
    assert asked <= q.reads, (name, asked - q.reads)


def test_the_primitives_and_queries_are_exactly_the_languages():
    assert {p.name for p in V.PRIMITIVES} == set(OPERANDS)
    assert {q.name: (q.operand, q.type) for q in V.QUERIES} == {
        "refs": ("object", "int"), "module_refs": ("module", "int"), "loaded": ("module", "bool"),
        "done": ("completion", "int"), "locked": ("mutex", "bool"),
        "try_get": ("object", "bool"), "try_module_get": ("module", "bool"),
        "refcount_dec_and_test": ("object", "bool"), "atomic_dec_and_test": ("object", "bool"),
        "refcount_dec_not_one": ("object", "bool")}
    assert {q.name for q in V.QUERIES if q.act} == {
        "try_get", "try_module_get", "refcount_dec_and_test", "atomic_dec_and_test",
        "refcount_dec_not_one"}
    # the v3 names stay declarable (a v1 or v2 file may use them), and cannot be awaited
    assert {q.name for q in V.QUERIES if q.soft} == {
        "refcount_dec_and_test", "atomic_dec_and_test", "refcount_dec_not_one"}
    assert {q.name for q in V.QUERIES if not q.awaitable} == {q.name for q in V.QUERIES if q.soft}
    assert {o.name: (o.operands, o.locks) for o in V.OPERATIONS} == {
        "kref_put": (("object",), False), "kref_put_mutex": (("object", "mutex"), True),
        "kref_put_lock": (("object", "mutex"), True)}


@pytest.mark.parametrize("name, count, released", [
    ("refcount_dec_and_test", 1, True), ("refcount_dec_and_test", 2, False),
    ("refcount_dec_not_one", 1, False), ("refcount_dec_not_one", 3, True)])
def test_the_decrements_act_as_the_kernel_says(name, count, released):
    act = V.query(name).acts(lambda table, x: count, 0)
    assert (act.value, act.fails) == (released, False)
    assert act.on_true == {"refs": count - 1}
    zero = V.query(name).acts(lambda table, x: 0, 0)
    assert zero.fails     # a decrement of a count of 0 is a put after release


def test_checks_in_priority_order_and_split_into_state_and_step_checks():
    assert V.CHECKS == ("code-after-unload", "use-after-unload", "get-after-release",
                        "put-after-release", "module-refcount-underflow",
                        "module-get-after-unload", "use-after-free", "double-free", "null-deref",
                        "unlock-not-held", "sleep-in-atomic", "assertion", "invariant",
                        "deadlock", "hang")
    assert V.STATE_CHECKS == ("invariant", "deadlock")
    assert V.LIVENESS_CHECKS == ("hang",)
    assert "hang" not in V.STEP_CHECKS
    assert V.JUDGED_FIRST == ("code-after-unload", "use-after-unload")


def test_the_builtins_and_their_arguments():
    assert {b.name: b.operand for b in V.BUILTINS} == {
        "queue_work": "work", "flush_work": "work", "cancel_work_sync": "work",
        "flush_workqueue": "workqueue", "destroy_workqueue": "workqueue", "call_rcu": "fn",
        "rcu_barrier": None, "synchronize_rcu": None, "rcu_read_lock": None,
        "rcu_read_unlock": None, "mod_timer": "timer", "del_timer_sync": "timer",
        "timer_shutdown_sync": "timer", "wait_timeout": "completion",
        "drain_workqueue": "workqueue", "flush_scheduled_work": None,
        "queue_delayed_work": "delayed_work", "mod_delayed_work": "delayed_work",
        "cancel_delayed_work": "delayed_work", "cancel_delayed_work_sync": "delayed_work",
        "flush_delayed_work": "delayed_work", "kzalloc": "memory", "kfree": "memory",
        # v3: threads started at run time
        "kthread_create": "kthread", "kthread_run": "kthread", "wake_up_process": "kthread",
        "kthread_stop": "kthread", "kthread_stop_put": "kthread", "get_task_struct": "kthread",
        "put_task_struct": "kthread"}
    assert {b.name: b.also for b in V.BUILTINS if b.also} == {"flush_work": ("delayed_work",)}


ARGUMENTS = {"work": "w", "delayed_work": "dw", "workqueue": "wq", "timer": "t", "fn": "f",
             "completion": "c", "memory": "p", "kthread": "k", None: ""}


@pytest.mark.parametrize("name", [b.name for b in V.BUILTINS])
def test_each_builtin_takes_the_steps_its_entry_says(name):
    # docs/language.md gives these counts; the entry and the lowering must agree.
    b = V.builtin(name)
    src = ("workqueue wq\nwork w runs f on wq\ndelayed_work dw runs f on wq\ntimer t runs f\n"
           "completion c\nfn f in core { }\nstruct s { var x = 0 }\nstruct s *p\n"
           f"thread a {{ {name}({ARGUMENTS[b.operand]}) }}\nthread r {{ rcu_read_lock() }}\n"
           "kthread k { }\n")
    a = load_text(src).threads[0]
    assert len(a.steps) - 1 == b.steps       # the thread's steps, less its return step


def test_keywords_are_the_grammars():
    assert KEYWORDS == frozenset("""module object completion mutex var fn thread invariant cover
        expect in local assert await return if else while choose or atomic and not true
        false""".split())
    assert OPTION_WORDS == frozenset("refs exit release done proved violated".split())
    assert V.SOFT_DECL_KEYWORDS == ("workqueue", "work", "timer", "delayed_work", "struct",
                                    "kthread", "spinlock", "rwsem", "irq")
    terminals = {t.name for t in _lark().terminals}
    assert {w.upper() for w in KEYWORDS} <= terminals


KERNEL = {"kobject_get": "get", "kref_get": "get", "refcount_inc": "get", "kobject_put": "put",
          "refcount_dec": "put", "wait_for_completion": "wait",
          "wait_for_completion_interruptible": "wait", "wait_for_completion_killable": "wait",
          "reinit_completion": "reinit", "init_completion": "reinit", "mutex_lock": "lock",
          "mutex_lock_interruptible": "lock", "mutex_lock_killable": "lock",
          "mutex_unlock": "unlock", "__module_get": "module_get", "rmmod": "unload",
          "delete_module": "unload", "kthread_complete_and_exit": "complete_and_exit",
          "module_put_and_kthread_exit": "module_put_and_exit",
          "__module_put_and_kthread_exit": "module_put_and_exit"}
KERNEL_QUERIES = {"kref_read": "refs({})", "kobject_read": "refs({})", "refcount_read": "refs({})",
                  "module_refcount": "module_refs({})", "module_is_live": "loaded({})",
                  "completion_done": "done({}) > 0", "mutex_is_locked": "locked({})",
                  "kref_get_unless_zero": "try_get({})", "kobject_get_unless_zero": "try_get({})",
                  "refcount_inc_not_zero": "try_get({})"}


KERNEL_OPERATIONS = {"refcount_dec_and_lock": "kref_put_lock",
                     "refcount_dec_and_mutex_lock": "kref_put_mutex"}


@pytest.mark.parametrize("kernel", sorted(KERNEL_OPERATIONS))
def test_a_kernel_name_for_an_operation_gets_its_hint(kernel):
    from modproof.spec.diagnostics import SpecError
    with pytest.raises(SpecError) as e:
        load_text(f"object o\nmutex m\nthread a {{\n  {kernel}(o, m)\n}}", "k.mproof")
    assert f"modproof writes it '{KERNEL_OPERATIONS[kernel]}'" in str(e.value.diagnostics[0].message)


@pytest.mark.parametrize("query", ["refcount_dec_and_test", "atomic_dec_and_test",
                                   "refcount_dec_not_one"])
def test_an_acting_decrement_of_a_released_object_is_put_after_release(query):
    p = load_text(f"object o refs 1\nthread t {{\n  put(o)\n  if {query}(o) {{ }}\n}}",
                  "d.mproof")
    from modproof.explicit import prove_explicit
    r = prove_explicit(p)
    assert r.verdict == "violated" and r.check == "put-after-release", r
    assert len(r.trace.steps) == 2


@pytest.mark.parametrize("kernel", sorted(KERNEL))
def test_a_kernel_name_for_a_primitive_gets_its_hint(kernel):
    from modproof.spec.diagnostics import SpecError
    with pytest.raises(SpecError) as e:
        load_text(f"object x\nthread a {{ {kernel}(x) }}", "k.mproof")
    assert f"the primitive for it is '{KERNEL[kernel]}'" in str(e.value.diagnostics[0].message)


@pytest.mark.parametrize("kernel", sorted(KERNEL_QUERIES))
def test_a_kernel_name_for_a_query_gets_its_hint(kernel):
    from modproof.spec.diagnostics import SpecError
    with pytest.raises(SpecError) as e:
        load_text(f"object x\nthread a {{ assert {kernel}(x) }}", "k.mproof")
    assert "modproof writes it " + KERNEL_QUERIES[kernel].format("x") in e.value.diagnostics[0].message


KERNEL_BUILTINS = {"schedule_work": "queue_work", "queue_work_on": "queue_work",
                   "schedule_delayed_work": "queue_delayed_work",
                   "queue_delayed_work_on": "queue_delayed_work",
                   "mod_delayed_work_on": "mod_delayed_work", "timer_delete_sync": "del_timer_sync",
                   "wait_for_completion_timeout": "wait_timeout",
                   # v3: threads started at run time
                   "kthread_create_on_node": "kthread_create",
                   "kthread_create_on_cpu": "kthread_create", "kthread_run_on_cpu": "kthread_run",
                   "wake_up_state": "wake_up_process"}


@pytest.mark.parametrize("kernel", sorted(KERNEL_BUILTINS))
def test_a_kernel_name_for_a_builtin_gets_its_hint(kernel):
    from modproof.spec.diagnostics import SpecError
    with pytest.raises(SpecError) as e:
        load_text(f"work x runs f\nfn f in core {{ }}\nthread a {{ {kernel}(x) }}", "k.mproof")
    assert (f"the built-in for it is '{KERNEL_BUILTINS[kernel]}', as in {KERNEL_BUILTINS[kernel]}(x)"
            in e.value.diagnostics[0].message)
