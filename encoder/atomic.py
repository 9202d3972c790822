"""An `atomic` block as Z3 formulas: a symbolic executor (NOTE(atomic-paths)).

`atomic_outcomes(enc, st, i, t)` runs the block of step `st` of thread `i`
from state `t` symbolically into the outcomes of `steps.Outcome`: where it
completes (every await held, no violation) with its writes, and where it
violates a check.
"""
from __future__ import annotations

from typing import Optional

import z3

from modproof.encoder import terms
from modproof.encoder.outcomes import ATOMIC_LIMIT, Outcome
from modproof.encoder.timeline import is_false, is_true
from modproof.spec import model as M
from modproof.spec import vocabulary as V
from modproof.spec.ast import Span
from modproof.spec.vocabulary import ATOMIC_LOOP_LIMIT

ATOMIC_UNROLL = 32          # loop iterations one path through an `atomic` block may take, per loop
MAX_ATOMIC_WORK = 100_000   # statements one `atomic` block may unroll to before we give up


class EncodingLimit(Exception):
    """The program cannot be encoded within the fixed limits (an atomic block whose
    nested loops unroll to too many statements); the engines answer Unknown."""

    def __init__(self, message: str, span: Optional[Span] = None):
        super().__init__(message)
        self.span = span


class _World:
    """An atomic block executed so far: the state variables written (`store`),
    when it is still running (`live`: no violation, every await held) and the
    violations met on the way (condition, check, span)."""

    __slots__ = ("store", "live", "fails")

    def __init__(self, store: dict, live: z3.BoolRef, fails: list):
        self.store = store
        self.live = live
        self.fails = fails

    def fork(self, live: z3.BoolRef) -> "_World":
        return _World(dict(self.store), live, list(self.fails))

    def update(self, writes: dict) -> "_World":
        self.store.update(writes)
        return self

    def fail(self, cond: z3.BoolRef, check: str, span: Optional[Span] = None) -> None:
        self.fails.append((cond, check, span))


def _await_after_choose(body) -> dict[int, bool]:
    """For each `choose` of an atomic body (by id): may an `await` run after it
    (in a branch, later in the block, or in a later iteration of a loop around it)?"""
    out: dict[int, bool] = {}

    def walk(stmts, after: bool) -> None:
        for k, s in enumerate(stmts):
            later = after or M.has_await(stmts[k + 1:])
            if isinstance(s, M.AIf):
                walk(s.then, later)
                walk(s.orelse, later)
            elif isinstance(s, M.AWhile):
                walk(s.body, later or M.has_await(s.body))
            elif isinstance(s, M.AChoose):
                out[id(s)] = later or any(M.has_await(b) for b in s.branches)
                for b in s.branches:
                    walk(b, later)

    walk(body, False)
    return out


def most_iterations(body, unroll: int) -> int:
    """The most loop iterations one run of `body` can take when every loop runs at
    most `unroll` times per entry (branches counted together: an upper bound)."""
    total = 0
    for s in body:
        if isinstance(s, M.AWhile):
            total += unroll * (1 + most_iterations(s.body, unroll))
        elif isinstance(s, M.AIf):
            total += most_iterations(s.then, unroll) + most_iterations(s.orelse, unroll)
        elif isinstance(s, M.AChoose):
            total += sum(most_iterations(b, unroll) for b in s.branches)
    return total


def atomic_outcomes(enc, st: M.Step, i: int, t: int) -> tuple[list[Outcome], tuple]:
    """NOTE(atomic-paths): an atomic block is executed symbolically into
    outcomes: where it completes (every await held, no violation) with its
    writes, and where it violates a check.  Returns them and the selectors its
    enabledness depends on.

    The two sides of an `if` or `while` test are merged again with `If`, so
    sequences of them do not multiply paths.  Branch k of a `choose` runs where
    the selector `choice[j]@t` of that choose equals k (the last branch
    elsewhere): the solver picks it like any other unknown.  Whether the block
    is enabled may then depend on a selector, when an `await` can run after the
    choose; `deadlock` negates enabledness, so for such a block it reads
    "blocked for every value of its selectors" (a ForAll).  Otherwise every
    branch runs to the end or to a violation, which counts as enabled too.

    `while` is unrolled `enc.atomic_unroll` times (per loop entry); where it
    would need one more iteration the block "violates" the pseudo-check
    ATOMIC_LIMIT, which the engines report as Unknown when it is reachable:
    never dropped silently.  It counts as enabled, so it never makes a
    deadlock appear.  NOTE(atomic-loop-limit): a block whose unrolled loops
    could run more iterations than the language's limit is not encoded
    (EncodingLimit, so Unknown): where the reference semantics gives up, this
    encoding must not answer."""
    unroll = enc.atomic_unroll
    if most_iterations(st.body, unroll) > ATOMIC_LOOP_LIMIT:
        raise EncodingLimit(f"the loops of this atomic block, unrolled {unroll} times each, may "
                            f"run more than {ATOMIC_LOOP_LIMIT} iterations in one step", st.span)
    alg = enc.alg
    await_after = _await_after_choose(st.body)
    selectors: list[z3.ArithRef] = []
    enabling: list[z3.ArithRef] = []   # selectors that enabledness depends on
    work = [0]

    def read_in(w: _World):
        def read(key):
            v = w.store.get(key)
            return v if v is not None else enc.at(key, t)
        return read

    def branch(w: _World, cond, then_run, else_run) -> _World:
        """Run `then_run` where `cond` holds and `else_run` where it does not."""
        c = z3.simplify(cond)
        if is_true(c):
            return then_run(w)
        if is_false(c):
            return else_run(w)
        a = then_run(w.fork(enc.and_([w.live, c])))
        b = else_run(w.fork(enc.and_([w.live, z3.Not(c)])))
        read = read_in(w)
        store = dict(w.store)
        for key in sorted(set(a.store) | set(b.store)):   # sorted: same formula every run
            va = a.store[key] if key in a.store else read(key)
            vb = b.store[key] if key in b.store else read(key)
            store[key] = va if va.eq(vb) else z3.If(c, va, vb)
        n0 = len(w.fails)
        return _World(store, enc.or_([a.live, b.live]), a.fails + b.fails[n0:])

    def block(stmts, w: _World) -> _World:
        for s in stmts:
            w = stmt(s, w)
        return w

    def touched(w: _World, tc) -> None:
        """NOTE(touch): where `tc` holds the block touches storage of a gone module here."""
        if tc is not None:
            w.fail(enc.and_([w.live, tc]), V.USE_AFTER_UNLOAD)
            w.live = enc.and_([w.live, z3.Not(tc)])

    def tested(w: _World, cond) -> terms.Test:
        """The test of `cond` from `w`; where a query that acts fails, the block
        violates its check (NOTE(acting-condition))."""
        tst = terms.test(cond, read_in(w), i, alg)
        if tst.fails is not None:
            w.fail(enc.and_([w.live, tst.fails]), tst.check)
            w.live = enc.and_([w.live, z3.Not(tst.fails)])
        return tst

    def loop(s: M.AWhile, w: _World, k: int) -> _World:
        touched(w, terms.touch(s.cond, read_in(w), i, alg))
        if is_false(w.live):
            return w
        tst = tested(w, s.cond)
        if is_false(w.live):
            return w
        if k >= unroll:
            def beyond(w1: _World) -> _World:
                w1.fail(w1.live, ATOMIC_LIMIT, s.span)
                w1.live = enc.false
                return w1
            return branch(w, tst.cond, beyond, lambda w1: w1.update(tst.on_false))
        return branch(w, tst.cond, lambda w1: loop(s, block(s.body, w1.update(tst.on_true)), k + 1),
                      lambda w1: w1.update(tst.on_false))

    def choose(w: _World, branches, sel, k: int = 0) -> _World:
        if k == len(branches) - 1:
            return block(branches[k], w)
        return branch(w, sel == k, lambda w1: block(branches[k], w1),
                      lambda w1: choose(w1, branches, sel, k + 1))

    def stmt(s, w: _World) -> _World:
        if is_false(w.live):
            return w
        work[0] += 1
        if work[0] > MAX_ATOMIC_WORK:
            raise EncodingLimit(f"the loops of this atomic block unroll to more than "
                                f"{MAX_ATOMIC_WORK} statements", st.span)
        read = read_in(w)
        if isinstance(s, M.AOp):
            enabled, viol, upd = terms.prim(s.kind, s.operand, read, i, alg)
            if enabled is not None:    # not enabled: the block is not enabled this way
                w.live = enc.and_([w.live, enabled])
            prim = M.PRIMITIVE_OF[s.kind]
            touched(w, terms.gone(enc.program.home(prim.operand, s.operand), read))
            if viol is not None:
                w.fail(enc.and_([w.live, viol[0]]), viol[1])
                w.live = enc.and_([w.live, z3.Not(viol[0])])
            return w.update(upd)
        if isinstance(s, M.AAssign):
            touched(w, terms.touch(s.value, read, i, alg))
            return w.update({enc.lkey(s.target, i): terms.expr(s.value, read, i, alg)})
        if isinstance(s, M.AAssert):
            touched(w, terms.touch(s.cond, read, i, alg))
            c = terms.expr(s.cond, read, i, alg)
            w.fail(enc.and_([w.live, z3.Not(c)]), s.check)
            w.live = enc.and_([w.live, c])
            return w
        if isinstance(s, M.AAwait):
            tst = tested(w, s.cond)   # (the checker keeps queries that can fail out of await)
            w.live = enc.and_([w.live, tst.cond])   # a false await: not enabled this way
            touched(w, terms.touch(s.cond, read, i, alg))
            return w.update(tst.on_true)
        if isinstance(s, M.AIf):
            touched(w, terms.touch(s.cond, read, i, alg))
            if is_false(w.live):
                return w
            tst = tested(w, s.cond)
            return branch(w, tst.cond, lambda w1: block(s.then, w1.update(tst.on_true)),
                          lambda w1: block(s.orelse, w1.update(tst.on_false)))
        if isinstance(s, M.AWhile):
            return loop(s, w, 0)
        if isinstance(s, M.AChoose):
            sel = enc.const(f"choice[{len(selectors)}]", t, False)
            selectors.append(sel)
            if await_after[id(s)]:
                enabling.append(sel)
            return choose(w, s.branches, sel)
        raise AssertionError(s)

    w = block(st.body, _World({}, enc.true, []))
    outs = [Outcome(w.live, tuple(w.store.items()), st.next)]
    outs += [Outcome(c, (), M.DONE, check, span) for c, check, span in w.fails if not is_false(c)]
    return outs, tuple(enabling)
