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

from modproof.spec.ast import BinOp, QueryKind
from modproof.spec.model import (
    DONE, GONE, LOADED, UINT_MAX, UNLOADING, AAssert, AAssign, AAwait, AChoose, AIf, AOp,
    AWhile, Bin, Const, LocalRef, Neg, Program, Prop, Q, Step, StepKind, VarRef,
)

FREE = -1  # holder of an unlocked mutex

# How many loop iterations one `atomic` step may run before we give up on it.
ATOMIC_FUEL = 10_000


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
    """An `atomic` block ran more than ATOMIC_FUEL loop iterations: the engines say unknown."""


def initial(p: Program) -> State:
    return State(
        pcs=tuple(t.entry for t in p.threads),
        locs=tuple(tuple(sl.init for sl in t.locals) for t in p.threads),
        refs=tuple(o.refs for o in p.objects),
        done=tuple(c.done for c in p.completions),
        mrefs=tuple(m.refs for m in p.modules),
        mstate=tuple(LOADED for _ in p.modules),
        holders=tuple(FREE for _ in p.mutexes),
        vars=tuple(v.init for v in p.vars),
    )


def _set(tup: tuple, i: int, v) -> tuple:
    return tup[:i] + (v,) + tup[i + 1:]


# --------------------------------------------------------------------------- expressions


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
        op = e.op
        if op is BinOp.AND:
            return evaluate(e.left, s, locs) and evaluate(e.right, s, locs)
        if op is BinOp.OR:
            return evaluate(e.left, s, locs) or evaluate(e.right, s, locs)
        a = evaluate(e.left, s, locs)
        b = evaluate(e.right, s, locs)
        if op is BinOp.EQ:
            return a == b
        if op is BinOp.NE:
            return a != b
        if op is BinOp.LT:
            return a < b
        if op is BinOp.LE:
            return a <= b
        if op is BinOp.GT:
            return a > b
        if op is BinOp.GE:
            return a >= b
        if op is BinOp.ADD:
            return a + b
        if op is BinOp.SUB:
            return a - b
        raise AssertionError(op)
    if isinstance(e, Q):
        k = e.kind
        if k is QueryKind.REFS:
            return s.refs[e.index]
        if k is QueryKind.MODULE_REFS:
            return s.mrefs[e.index]
        if k is QueryKind.LOADED:
            return s.mstate[e.index] != GONE
        if k is QueryKind.DONE:
            return s.done[e.index]
        if k is QueryKind.LOCKED:
            return s.holders[e.index] != FREE
        raise AssertionError(f"{k} is not a pure query")
    raise AssertionError(f"cannot evaluate {e!r}")


def _try(e, s: State) -> Optional[State]:
    """If `e` is a try_ query: the state after it succeeds, or None when it fails.
    Raises TypeError when `e` is not a try_ query."""
    if isinstance(e, Q) and e.kind is QueryKind.TRY_GET:
        if s.refs[e.index] == 0:
            return None
        return s._replace(refs=_set(s.refs, e.index, s.refs[e.index] + 1))
    if isinstance(e, Q) and e.kind is QueryKind.TRY_MODULE_GET:
        if s.mstate[e.index] != LOADED:
            return None
        return s._replace(mrefs=_set(s.mrefs, e.index, s.mrefs[e.index] + 1))
    raise TypeError


def _is_try(e) -> bool:
    return isinstance(e, Q) and e.kind in (QueryKind.TRY_GET, QueryKind.TRY_MODULE_GET)


def _test(e, s: State, t: int) -> tuple[bool, State]:
    """A condition as a step evaluates it: (holds, state after any try_ side effect)."""
    if _is_try(e):
        after = _try(e, s)
        return (after is not None, after if after is not None else s)
    return (bool(evaluate(e, s, s.locs[t])), s)


# --------------------------------------------------------------------------- primitives
# Each primitive returns (new state, None) or (old state, (check, reason)).


def _prim(p: Program, kind: StepKind, x: int, s: State, t: int):
    if kind is StepKind.GET:
        if s.refs[x] == 0:
            return s, ("get-after-release", f"get({p.objects[x].name}) on an object whose count is 0")
        return s._replace(refs=_set(s.refs, x, s.refs[x] + 1)), None
    if kind is StepKind.PUT:
        if s.refs[x] == 0:
            return s, ("put-after-release", f"put({p.objects[x].name}) on an object whose count is 0")
        return s._replace(refs=_set(s.refs, x, s.refs[x] - 1)), None
    if kind is StepKind.COMPLETE or kind is StepKind.COMPLETE_AND_EXIT:
        d = s.done[x]
        return s._replace(done=_set(s.done, x, d if d == UINT_MAX else d + 1)), None
    if kind is StepKind.COMPLETE_ALL:
        return s._replace(done=_set(s.done, x, UINT_MAX)), None
    if kind is StepKind.REINIT:
        return s._replace(done=_set(s.done, x, 0)), None
    if kind is StepKind.WAIT:  # enabledness checked by the caller
        d = s.done[x]
        return s._replace(done=_set(s.done, x, d if d == UINT_MAX else d - 1)), None
    if kind is StepKind.LOCK:
        return s._replace(holders=_set(s.holders, x, t)), None
    if kind is StepKind.UNLOCK:
        if s.holders[x] != t:
            who = "nobody" if s.holders[x] == FREE else p.threads[s.holders[x]].name
            return s, ("unlock-not-held", f"unlock({p.mutexes[x].name}) by {p.threads[t].name}, "
                       f"but the mutex is held by {who}")
        return s._replace(holders=_set(s.holders, x, FREE)), None
    if kind is StepKind.MODULE_GET:
        if s.mstate[x] == GONE:
            return s, ("module-get-after-unload",
                       f"module_get({p.modules[x].name}) on a module that is gone")
        return s._replace(mrefs=_set(s.mrefs, x, s.mrefs[x] + 1)), None
    if kind is StepKind.MODULE_PUT or kind is StepKind.MODULE_PUT_AND_EXIT:
        if s.mrefs[x] == 0:
            return s, ("module-refcount-underflow",
                       f"module_put({p.modules[x].name}) when its refcount is already 0")
        return s._replace(mrefs=_set(s.mrefs, x, s.mrefs[x] - 1)), None
    raise AssertionError(kind)


# --------------------------------------------------------------------------- atomic blocks


def _run_atomic(p: Program, body, s: State, t: int, choice: tuple, fuel: list):
    """All ways `body` can run from `s`: yields (state, violation-or-None, choice).
    Paths that reach a false `await` are dropped (the block is not enabled on them).
    Iterative, so a long loop inside `atomic` cannot exhaust Python's stack."""
    stack = [(tuple(body), s, choice)]
    while stack:
        pending, s, choice = stack.pop()
        while True:
            if not pending:
                yield s, None, choice
                break
            first, rest = pending[0], pending[1:]
            if isinstance(first, AOp):
                s2, v = _prim(p, first.kind, first.operand, s, t)
                if v is not None:
                    yield s, v, choice
                    break
                pending, s = rest, s2
            elif isinstance(first, AAssign):
                pending, s = rest, _assign(first.target, first.value, s, t)
            elif isinstance(first, AAssert):
                if not evaluate(first.cond, s, s.locs[t]):
                    yield s, ("assertion", "assertion failed inside atomic"), choice
                    break
                pending = rest
            elif isinstance(first, AAwait):
                ok, s = _test(first.cond, s, t)
                if not ok:
                    break
                pending = rest
            elif isinstance(first, AIf):
                ok, s = _test(first.cond, s, t)
                pending = (first.then if ok else first.orelse) + rest
            elif isinstance(first, AWhile):
                ok, s = _test(first.cond, s, t)
                if ok:
                    fuel[0] -= 1
                    if fuel[0] < 0:
                        raise AtomicLoopLimit(first.span)
                    pending = first.body + pending
                else:
                    pending = rest
            elif isinstance(first, AChoose):
                # Branch 0 first: push the others in reverse order.
                for i in range(len(first.branches) - 1, 0, -1):
                    stack.append((first.branches[i] + rest, s, choice + (i,)))
                pending, choice = first.branches[0] + rest, choice + (0,)
            else:
                raise AssertionError(first)


def _assign(target, value, s: State, t: int) -> State:
    v = evaluate(value, s, s.locs[t])
    if isinstance(target, LocalRef):
        return s._replace(locs=_set(s.locs, t, _set(s.locs[t], target.slot, v)))
    return s._replace(vars=_set(s.vars, target.index, v))


# --------------------------------------------------------------------------- steps


def _goto(s: State, t: int, pc: int, inits=()) -> State:
    s = s._replace(pcs=_set(s.pcs, t, pc))
    if inits:
        locs = list(s.locs[t])
        for slot, v in inits:
            locs[slot] = v
        s = s._replace(locs=_set(s.locs, t, tuple(locs)))
    return s


def _effects(p: Program, st: Step, s: State, t: int) -> list[Outcome]:
    """The outcomes of taking `st` in `s` for thread `t`, ignoring code-after-unload;
    [] when the step is not enabled."""
    k = st.kind
    if k is StepKind.WAIT and s.done[st.operand] == 0:
        return []
    if k is StepKind.LOCK and s.holders[st.operand] != FREE:
        return []
    if k is StepKind.UNLOAD:
        x = st.operand
        if s.mstate[x] != LOADED:
            return [Outcome(_goto(s, t, st.alt))]  # unloading or gone already: rmmod does nothing
        if s.mrefs[x] != 0:
            return []
        s2 = s._replace(mstate=_set(s.mstate, x, UNLOADING))
        return [Outcome(_goto(s2, t, st.next, st.inits))]
    if k is StepKind.UNLOAD_FREE:
        return [Outcome(_goto(s._replace(mstate=_set(s.mstate, st.operand, GONE)), t, st.next))]
    if k is StepKind.AWAIT:
        ok, s2 = _test(st.expr, s, t)
        return [Outcome(_goto(s2, t, st.next))] if ok else []
    if k is StepKind.BRANCH:
        ok, s2 = _test(st.expr, s, t)
        return [Outcome(_goto(s2, t, st.next if ok else st.alt), choice=(0 if ok else 1,))]
    if k is StepKind.CHOOSE:
        return [Outcome(_goto(s, t, b), choice=(i,)) for i, b in enumerate(st.branches)]
    if k is StepKind.ASSIGN:
        return [Outcome(_goto(_assign(st.target, st.expr, s, t), t, st.next))]
    if k is StepKind.ASSERT:
        if not evaluate(st.expr, s, s.locs[t]):
            return [Outcome(s, "assertion", f"assertion failed: {st.text}")]
        return [Outcome(_goto(s, t, st.next))]
    if k is StepKind.CALL:
        return [Outcome(_goto(s, t, st.next, st.inits))]
    if k is StepKind.RETURN:
        return [Outcome(_goto(s, t, st.next))]
    if k is StepKind.ATOMIC:
        out = []
        for s2, v, choice in _run_atomic(p, st.body, s, t, (), [ATOMIC_FUEL]):
            if v is not None:
                out.append(Outcome(s, v[0], v[1], choice))
            else:
                out.append(Outcome(_goto(s2, t, st.next), choice=choice))
        return out
    # primitives
    s2, v = _prim(p, k, st.operand, s, t)
    if v is not None:
        return [Outcome(s, v[0], v[1])]
    if k is StepKind.PUT and st.fn is not None and s2.refs[st.operand] == 0:
        return [Outcome(_goto(s2, t, st.alt, st.inits))]  # the put calls the release function
    return [Outcome(_goto(s2, t, st.next))]


def successors(p: Program, s: State, t: int) -> list[Outcome]:
    """Everything thread `t` can do in state `s` (empty: done or blocked)."""
    pc = s.pcs[t]
    if pc == DONE:
        return []
    st = p.threads[t].steps[pc]
    outs = _effects(p, st, s, t)
    # Fine points: a blocked step executes nothing; a step that is taken is checked
    # for code-after-unload first.
    if outs and st.owner >= 0 and s.mstate[st.owner] == GONE:
        return [Outcome(s, "code-after-unload",
                        f"{p.threads[t].name} executes '{st.text}' in module "
                        f"{p.modules[st.owner].name}, whose code is gone")]
    if outs and st.uses:
        for kind, x in st.uses:
            thing = p.objects[x] if kind == "object" else p.completions[x]
            if thing.storage >= 0 and s.mstate[thing.storage] == GONE:
                return [Outcome(s, "use-after-unload",
                                f"{p.threads[t].name} uses {kind} {thing.name} in '{st.text}', "
                                f"but it lived in module {p.modules[thing.storage].name}, "
                                "whose memory is gone")]
    return outs


def current_step(p: Program, s: State, t: int) -> Optional[Step]:
    pc = s.pcs[t]
    return None if pc == DONE else p.threads[t].steps[pc]


def invariant_violation(p: Program, s: State) -> Optional[Prop]:
    for inv in p.invariants:
        if not evaluate(inv.expr, s, ()):
            return inv
    return None


# The kinds of step that can be disabled; every other step is always enabled.
BLOCKING_KINDS = frozenset((StepKind.WAIT, StepKind.LOCK, StepKind.UNLOAD, StepKind.AWAIT,
                            StepKind.ATOMIC))


def deadlocked(p: Program, s: State) -> bool:
    """Some thread is not done and no thread can take a step."""
    # A worker idling at its wait-for-work step is not an unfinished thread.
    if all(pc == DONE or p.threads[t].steps[pc].idle for t, pc in enumerate(s.pcs)):
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
    if k is StepKind.AWAIT:
        return f"{name} waits in {st.text}"
    if k is StepKind.ATOMIC:
        return f"{name} waits in {st.text} (an await inside it does not hold)"
    return f"{name} cannot take '{st.text}'"
