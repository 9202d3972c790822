"""The reference semantics: the meaning of a `Program`, as an executable step function.

This is the one definition of what a step does (LANGUAGE.md with its Fine
points).  The explicit-state engine explores it, the Z3 encoding is tested
against it, and every witness is replayed on it before anyone sees it.

A `State` is a tuple of tuples, hashable and cheap to copy.  `successors(p, s, t)`
lists what thread `t` can do in `s`: nothing when it is done or blocked, else one
`Outcome` per nondeterministic choice, an outcome either a next state or a
violated check (a violated check ends the execution).  Invariants and deadlock
are properties of states: `invariant_violation` and `deadlocked`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

from modproof.spec import vocabulary as V
from modproof.spec.model import (
    BLOCKING_KINDS, DONE, GONE, PRIMITIVE_OF, AAssert, AAssign, AAwait, AChoose, AIf,
    AOp, AWhile, Bin, Const, LocalRef, Neg, Program, Prop, Q, Step, StepKind, VarRef,
)
from modproof.spec.vocabulary import ATOMIC_LOOP_LIMIT, FREE

ATOMIC_FUEL = ATOMIC_LOOP_LIMIT   # NOTE(atomic-loop-limit)
ATOMIC_WORK = 1_000_000           # statements one atomic step may run over all its paths


class State(NamedTuple):
    pcs: tuple[int, ...]                  # per thread; DONE when finished
    locs: tuple[tuple, ...]               # per thread: its local slots
    refs: tuple[int, ...]                 # per object
    done: tuple[int, ...]                 # per completion (UINT_MAX after complete_all)
    mrefs: tuple[int, ...]                # per module: refcount
    mstate: tuple[int, ...]               # per module: LOADED, UNLOADING or GONE
    holders: tuple[int, ...]              # per mutex: thread index or FREE
    vars: tuple                           # per var


@dataclass(frozen=True)
class Outcome:
    """One way a step can go.  `violation` is a check name; then `state` is the
    state before the step (a violation ends the execution)."""

    state: State
    violation: Optional[str] = None
    reason: str = ""
    choice: tuple[int, ...] = ()


class AtomicLoopLimit(Exception):
    """An `atomic` block ran more than ATOMIC_LOOP_LIMIT loop iterations on one path (or
    more than ATOMIC_WORK statements over all paths): the engines say unknown."""


def initial(p: Program) -> State:
    return State(
        pcs=tuple(t.entry for t in p.threads),
        locs=tuple(tuple(sl.init for sl in t.locals) for t in p.threads),
        refs=tuple(o.refs for o in p.objects),
        done=tuple(c.done for c in p.completions),
        mrefs=tuple(m.refs for m in p.modules),
        mstate=tuple(m.start for m in p.modules),
        holders=tuple(FREE for _ in p.mutexes),
        vars=tuple(v.init for v in p.vars),
    )


def _set(tup: tuple, i: int, v) -> tuple:
    return tup[:i] + (v,) + tup[i + 1:]


# --------------------------------------------------------------------------- expressions


# Where each state table of the vocabulary lives in a State.
_FIELD = {"refs": 2, "done": 3, "mrefs": 4, "mstate": 5, "holder": 6, "var": 7}
assert set(_FIELD) == set(V.STATE_TABLES) and all(State._fields[i] in (t, t + "s") for t, i in _FIELD.items())


def reader(s: State):
    """read(table, index): the state tables of `s`, as the vocabulary names them."""
    return lambda table, x: s[_FIELD[table]][x]


def _write(s: State, table: str, x: int, v) -> State:
    f = _FIELD[table]
    return State(*s[:f], _set(s[f], x, v), *s[f + 1:])


def evaluate(e, s: State, locs: tuple):
    """The value of expression `e` in state `s`, with `locs` the current thread's locals."""
    if isinstance(e, Const):
        return e.value
    if isinstance(e, VarRef):
        return s.vars[e.index]
    if isinstance(e, LocalRef):
        return locs[e.slot]
    if isinstance(e, Neg):
        return not evaluate(e.operand, s, locs)
    if isinstance(e, Bin):
        op = V.binary(e.op)
        a = evaluate(e.left, s, locs)
        if op.absorbing is not None and a == op.absorbing:
            return a        # and/or: the left side decides alone
        return op.apply(a, evaluate(e.right, s, locs))
    if isinstance(e, Q):
        q = V.query(e.kind)
        if q.value is None:
            raise AssertionError(f"{e.kind} is not a pure query")
        return q.value(reader(s), e.index)
    raise AssertionError(f"cannot evaluate {e!r}")


def acting(e) -> tuple[Optional[Q], bool]:
    """NOTE(acting-condition): a condition that is a query that acts (try_get,
    refcount_dec_and_test, ...), under any number of `not`s: that query and
    whether the `not`s negate it; (None, False) for any other expression."""
    neg = False
    while isinstance(e, Neg):
        e, neg = e.operand, not neg
    if isinstance(e, Q) and V.query(e.kind).act is not None:
        return e, neg
    return None, False


def first_touch(e, s: State, locs: tuple) -> Optional[Q]:
    """NOTE(touch): the first query on storage of a gone module that evaluating `e`
    reaches, or None.  Evaluation is C's: left to right, and the right side of
    `and` (`or`) is not evaluated when the left side is false (true), so it
    touches nothing then."""
    if isinstance(e, Q):
        return e if e.home >= 0 and s.mstate[e.home] == GONE else None
    if isinstance(e, Neg):
        return first_touch(e.operand, s, locs)
    if isinstance(e, Bin):
        hit = first_touch(e.left, s, locs)
        if hit is not None:
            return hit
        op = V.binary(e.op)
        if op.absorbing is not None and evaluate(e.left, s, locs) == op.absorbing:
            return None
        return first_touch(e.right, s, locs)
    return None


def _gone_use(p: Program, kind: str, x: int, t: int, text: str) -> tuple[str, str]:
    """The use-after-unload of thing `x` of `kind` by thread `t` in statement `text`."""
    thing = p.objects[x] if kind == "object" else p.completions[x]
    return (V.USE_AFTER_UNLOAD,
            f"{p.threads[t].name} uses {kind} {thing.name} in '{text}', but it lived in "
            f"module {p.modules[thing.storage].name}, whose memory is gone")


def _test(p: Program, e, s: State, t: int) -> tuple[bool, State, Optional[tuple[str, str]]]:
    """A condition as a step evaluates it: (holds, state after the side effect of a
    query that acts, its violation or None).  NOTE(acting-condition): such a query
    (`try_get(o)`, `not try_get(o)`, `refcount_dec_and_test(o)`) writes what its
    vocabulary entry says for the value it takes; one that fails (a decrement of a
    count of 0) violates its check and writes nothing."""
    q, neg = acting(e)
    if q is None:
        return (bool(evaluate(e, s, s.locs[t])), s, None)
    entry = V.query(q.kind)
    act = entry.acts(reader(s), q.index)
    if act.fails:
        thing = p.objects[q.index].name if entry.operand == "object" else p.modules[q.index].name
        return (False, s, (entry.check, entry.message.format(name=entry.name, arg=thing)))
    for table, v in (act.on_true if act.value else act.on_false).items():
        s = _write(s, table, q.index, v)
    return (bool(act.value) != neg, s, None)


# --------------------------------------------------------------------------- primitives
# Each primitive returns (new state, None) or (old state, (check, reason)).


def _prim(p: Program, kind: StepKind, x: int, s: State, t: int):
    """The primitive `kind` on operand `x` by thread `t`, as its vocabulary entry says:
    None when it is not enabled, else (new state, None) or (old state, (check, reason))."""
    prim = PRIMITIVE_OF[kind]
    eff = prim.effect(reader(s), x, t)
    if not eff.enabled:
        return None
    if eff.fails:
        return s, (prim.check, _message(p, prim, x, s, t))
    for table, v in eff.writes.items():
        s = _write(s, table, x, v)
    return s, None


def _message(p: Program, prim: V.Primitive, x: int, s: State, t: int) -> str:
    """The violation of primitive `prim` on operand `x` by thread `t`, in words."""
    things = {"object": p.objects, "completion": p.completions, "mutex": p.mutexes,
              "module": p.modules}[prim.operand]
    holder = ""
    if prim.operand == "mutex":
        h = s.holders[x]
        holder = "nobody" if h == FREE else p.threads[h].name
    return prim.message.format(arg=things[x].name, thread=p.threads[t].name, holder=holder)


# --------------------------------------------------------------------------- atomic blocks


def _run_atomic(p: Program, st: Step, s: State, t: int):
    """All ways the body of atomic step `st` can run from `s`: yields (state,
    violation-or-None, choice).  Paths that reach a false `await` are dropped (the
    block is not enabled on them).  Statements are judged in order: the first that
    touches storage of a gone module (NOTE(touch)) or violates its own check ends
    the block there.  Iterative, so a long loop inside `atomic` cannot exhaust
    Python's stack.

    NOTE(atomic-loop-limit): a path that would run more than ATOMIC_LOOP_LIMIT
    loop iterations raises AtomicLoopLimit (the engines answer unknown); so does
    a block with more than ATOMIC_WORK statements over all its paths, a budget
    of this engine and not part of the language."""
    judge = bool(st.uses)
    work = ATOMIC_WORK
    stack = [(st.body, s, (), ATOMIC_LOOP_LIMIT)]
    while stack:
        pending, s, choice, fuel = stack.pop()
        while True:
            if not pending:
                yield s, None, choice
                break
            work -= 1
            if work < 0:
                raise AtomicLoopLimit(st.span)
            first, rest = pending[0], pending[1:]
            if judge:
                hit = _touch_in(p, st, first, s, t)
                if hit is not None:
                    yield s, hit, choice
                    break
            if isinstance(first, AOp):
                done = _prim(p, first.kind, first.operand, s, t)
                if done is None:
                    break       # not enabled: the block is not enabled this way
                s2, v = done
                if v is not None:
                    yield s, v, choice
                    break
                pending, s = rest, s2
            elif isinstance(first, AAssign):
                pending, s = rest, _assign(first.target, first.value, s, t)
            elif isinstance(first, AAssert):
                if not evaluate(first.cond, s, s.locs[t]):
                    yield s, (first.check, first.message or "assertion failed inside atomic"), choice
                    break
                pending = rest
            elif isinstance(first, AAwait):
                ok, s2, v = _test(p, first.cond, s, t)
                if v is not None:
                    yield s, v, choice
                    break
                if not ok:
                    break
                pending, s = rest, s2
            elif isinstance(first, AIf):
                ok, s2, v = _test(p, first.cond, s, t)
                if v is not None:
                    yield s, v, choice
                    break
                pending, s = (first.then if ok else first.orelse) + rest, s2
            elif isinstance(first, AWhile):
                ok, s2, v = _test(p, first.cond, s, t)
                if v is not None:
                    yield s, v, choice
                    break
                s = s2
                if ok:
                    fuel -= 1
                    if fuel < 0:
                        raise AtomicLoopLimit(first.span)
                    pending = first.body + pending
                else:
                    pending = rest
            elif isinstance(first, AChoose):
                # Branch 0 first: push the others in reverse order.
                for i in range(len(first.branches) - 1, 0, -1):
                    stack.append((first.branches[i] + rest, s, choice + (i,), fuel))
                pending, choice = first.branches[0] + rest, choice + (0,)
            else:
                raise AssertionError(first)


def _touch_in(p: Program, st: Step, a, s: State, t: int) -> Optional[tuple[str, str]]:
    """NOTE(touch): does atomic statement `a`, run now, touch storage of a gone module
    first thing?  (check, reason) or None.  An `await` that does not hold touches
    nothing: it blocks the block, which executes nothing."""
    if isinstance(a, AOp):
        prim = PRIMITIVE_OF[a.kind]
        home = p.home(prim.operand, a.operand)
        if home >= 0 and s.mstate[home] == GONE:
            if prim.blocks and not prim.effect(reader(s), a.operand, t).enabled:
                return None
            return _gone_use(p, prim.operand, a.operand, t, st.text)
        return None
    locs = s.locs[t]
    if isinstance(a, AAwait):
        if not _test(p, a.cond, s, t)[0]:
            return None
        q = first_touch(a.cond, s, locs)
    elif isinstance(a, AAssign):
        q = first_touch(a.value, s, locs)
    elif isinstance(a, (AAssert, AIf, AWhile)):
        q = first_touch(a.cond, s, locs)
    else:
        return None
    return None if q is None else _gone_use(p, V.query(q.kind).operand, q.index, t, st.text)


def _assign(target, value, s: State, t: int) -> State:
    v = evaluate(value, s, s.locs[t])
    if isinstance(target, LocalRef):
        return s._replace(locs=_set(s.locs, t, _set(s.locs[t], target.slot, v)))
    return s._replace(vars=_set(s.vars, target.index, v))


# --------------------------------------------------------------------------- steps


def _goto(s: State, t: int, pc: int) -> State:
    return s._replace(pcs=_set(s.pcs, t, pc))


def _enter(p: Program, st: Step, before: State, s: State, t: int, pc: int) -> Outcome:
    """Go to `pc` from `s`, the state after step `st`'s own effect, setting the
    locals of `st.inits` (NOTE(local-inits)): each in order, its expression
    evaluated in that state with the locals set so far.  An initialiser that
    touches storage of a gone module (NOTE(touch)) violates use-after-unload:
    the outcome then keeps `before`, the state before the step."""
    s = _goto(s, t, pc)
    if not st.inits:
        return Outcome(s)
    locs = list(s.locs[t])
    for slot, e in st.inits:
        cur = tuple(locs)
        hit = first_touch(e, s, cur)
        if hit is not None:
            return Outcome(before, *_gone_use(p, V.query(hit.kind).operand, hit.index, t, st.text))
        locs[slot] = evaluate(e, s, cur)
    return Outcome(s._replace(locs=_set(s.locs, t, tuple(locs))))


def _store(target, v, s: State, t: int) -> State:
    """`s` with the var or local `target` (None: nothing) set to `v`."""
    if target is None:
        return s
    if isinstance(target, LocalRef):
        return s._replace(locs=_set(s.locs, t, _set(s.locs[t], target.slot, v)))
    return s._replace(vars=_set(s.vars, target.index, v))


def _effects(p: Program, st: Step, s: State, t: int) -> list[Outcome]:
    """The outcomes of taking `st` in `s` for thread `t`, before the checks of
    NOTE(check-order) that `successors` adds; [] when the step is not enabled."""
    k = st.kind
    if st.not_loaded is not None and PRIMITIVE_OF[k].refuses(reader(s), st.operand):
        # The kernel call fails at once and does nothing: rmmod of a module that is
        # not live (-EBUSY), a load whose dependency is not there (v3).
        return [Outcome(_goto(s, t, st.not_loaded))]
    if k is StepKind.AWAIT:
        ok, s2, v = _test(p, st.expr, s, t)
        if v is not None:
            return [Outcome(s, v[0], v[1])]
        return [Outcome(_goto(s2, t, st.next))] if ok else []
    if k is StepKind.BRANCH:
        ok, s2, v = _test(p, st.expr, s, t)
        if v is not None:
            return [Outcome(s, v[0], v[1])]
        s2 = _store(st.target, ok, s2, t)   # v3: `x = try_get(o)` and the like
        return [Outcome(_goto(s2, t, st.next if ok else st.on_false), choice=(0 if ok else 1,))]
    if k is StepKind.CHOOSE:
        return [Outcome(_goto(s, t, b), choice=(i,)) for i, b in enumerate(st.branches)]
    if k is StepKind.ASSIGN:
        return [Outcome(_goto(_assign(st.target, st.expr, s, t), t, st.next))]
    if k is StepKind.ASSERT:
        if not evaluate(st.expr, s, s.locs[t]):
            return [Outcome(s, "assertion", f"assertion failed: {st.text}")]
        return [Outcome(_goto(s, t, st.next))]
    if k is StepKind.CALL:
        return [_enter(p, st, s, s, t, st.next)]
    if k is StepKind.RETURN:
        return [Outcome(_goto(s, t, st.next))]
    if k is StepKind.ATOMIC:
        out = []
        for s2, v, choice in _run_atomic(p, st, s, t):
            if v is not None:
                out.append(Outcome(s, v[0], v[1], choice))
            else:
                out.append(Outcome(_goto(s2, t, st.next), choice=choice))
        return out
    # primitives (unload_free among them)
    done = _prim(p, k, st.operand, s, t)
    if done is None:
        return []
    s2, v = done
    if v is not None:
        return [Outcome(s, v[0], v[1])]
    if k is StepKind.UNLOAD:
        return [_enter(p, st, s, s2, t, st.next)]   # the unloading step calls exit
    if k is StepKind.PUT:
        zero = s2.refs[st.operand] == 0
        s2 = _store(st.target, zero, s2, t)   # NOTE(returning-put): kref_put's result
        if st.release is not None and zero:
            return [_enter(p, st, s, s2, t, st.release)]  # the put calls the release function
    return [Outcome(_goto(s2, t, st.next))]


def successors(p: Program, s: State, t: int) -> list[Outcome]:
    """Everything thread `t` can do in state `s` (empty: done or blocked)."""
    pc = s.pcs[t]
    if pc == DONE:
        return []
    st = p.threads[t].steps[pc]
    outs = _effects(p, st, s, t)
    if not outs or (st.owner < 0 and not st.uses):
        return outs     # NOTE(check-order): a blocked step executes nothing
    gone = step_gone(p, st, s, t)
    return [gone] if gone is not None else outs


def step_gone(p: Program, st: Step, s: State, t: int) -> Optional[Outcome]:
    """NOTE(check-order): a step that is taken is judged first by the checks of
    vocabulary.JUDGED_FIRST, in order (is its code gone, is storage it uses
    gone), and only then by its own.  The first of those it violates, or None."""
    for check in V.JUDGED_FIRST:
        why = _JUDGE[check](p, st, s, t)
        if why is not None:
            return Outcome(s, check, why)
    return None


def _owner_gone(p: Program, st: Step, s: State, t: int) -> Optional[str]:
    if st.owner >= 0 and s.mstate[st.owner] == GONE:
        return (f"{p.threads[t].name} executes '{st.text}' in module "
                f"{p.modules[st.owner].name}, whose code is gone")
    return None


def _storage_touched(p: Program, st: Step, s: State, t: int) -> Optional[str]:
    """NOTE(touch): the step touches storage of a gone module: its primitive acts on
    it, or its expression evaluates a query of it.  Inside `atomic` the block's
    statements are judged in order as it runs (`_run_atomic`), not here."""
    if not st.uses or st.kind is StepKind.ATOMIC:
        return None
    if st.kind in PRIMITIVE_OF:
        prim = PRIMITIVE_OF[st.kind]
        home = p.home(prim.operand, st.operand)
        if home >= 0 and s.mstate[home] == GONE:
            return _gone_use(p, prim.operand, st.operand, t, st.text)[1]
    if st.expr is not None:
        q = first_touch(st.expr, s, s.locs[t])
        if q is not None:
            return _gone_use(p, V.query(q.kind).operand, q.index, t, st.text)[1]
    return None


_JUDGE = {V.CODE_AFTER_UNLOAD: _owner_gone, V.USE_AFTER_UNLOAD: _storage_touched}


def current_step(p: Program, s: State, t: int) -> Optional[Step]:
    pc = s.pcs[t]
    return None if pc == DONE else p.threads[t].steps[pc]


def invariant_violation(p: Program, s: State) -> Optional[Prop]:
    for inv in p.invariants:
        if not evaluate(inv.expr, s, ()):
            return inv
    return None


def deadlocked(p: Program, s: State) -> bool:
    """Some thread is not done and no thread can take a step."""
    # A worker idling at its wait-for-work step is not an unfinished thread, and a
    # `service` loop never is.
    if all(pc == DONE or p.threads[t].service or p.threads[t].steps[pc].idle
           for t, pc in enumerate(s.pcs)):
        return False
    return not any(successors(p, s, t) for t in range(len(p.threads)))


def covers_hit(p: Program, s: State) -> list[int]:
    return [i for i, c in enumerate(p.covers) if evaluate(c.expr, s, ())]


def blocked_reason(p: Program, s: State, t: int) -> str:
    """Why thread `t` cannot move in `s`, in the user's words."""
    st = current_step(p, s, t)
    name = p.threads[t].name
    if st is None:
        return f"{name} has finished"
    k = st.kind
    if k is StepKind.WAIT:
        return f"{name} waits in {st.text} and done({p.completions[st.operand].name}) is 0"
    if k is StepKind.LOCK:
        h = s.holders[st.operand]
        who = "itself" if h == t else p.threads[h].name
        return f"{name} waits in {st.text}, held by {who}"
    if k is StepKind.UNLOAD:
        m = st.operand
        return (f"{name} waits in {st.text} for module {p.modules[m].name}'s refcount "
                f"({s.mrefs[m]}) to drop to 0")
    if k is StepKind.REF_MODULE:
        return (f"{name} waits in {st.text} for module {p.modules[st.operand].name}'s init "
                "to return (it is coming)")
    if k is StepKind.AWAIT:
        return f"{name} waits in {st.text}"
    if k is StepKind.ATOMIC:
        return f"{name} waits in {st.text} (an await inside it does not hold)"
    return f"{name} cannot take '{st.text}'"
