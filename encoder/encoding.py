"""Z3 formulas over time-indexed copies of a program's state: the symbolic twin
of `modproof.spec.semantics`.

Pure formula building: nothing here calls a solver (`bmc.py` and `kinduction.py`
do).  An `Encoding` names one Z3 constant per state variable and time through
one helper, `Encoding.name` (`refs(md_kobj)@3`, `moved(admin)@3`,
`pc(reader)=2@3`), and builds:

- `init(t)`: state `t` is the initial state;
- `trans(t)`: state `t+1` follows from state `t` by one step of exactly one
  thread, `moved(thread)@t` says which and `choice@t` picks the branch of a
  `choose`: a path of L transitions is an execution of exactly L steps;
- `step_violation(t)` / `step_violations(t)`: the step from `t` violates a check;
- `invariant_false(t)`, `deadlock(t)`, `can_move(t)`, and for k-induction
  `violation_enabled(t)`, `bad_state(t)`, `domain(t)`, `differ(t1, t2)`.

State variables: a thread's position is one-hot (`pc(reader)=2@t`, one Bool per
step and one for DONE: control flow stays propositional, which Z3 handles far
better than `pc == 2` over an Int), its locals are Int or Bool by their initial
value; counts, module states, mutex holders and vars are Ints (or Bools for bool
vars), in the values of `spec.semantics`.

Every step of every thread becomes a list of `Outcome`s, mirroring
`semantics._effects`: a guard over the state before the step and either the
state variables it writes and where it goes, or the check it violates.  `trans`
writes each next-state variable once, as an `If` over the outcomes that write
it, else unchanged.  NOTE(atomic-paths), NOTE(por) and NOTE(templates) explain
atomic blocks, the partial-order reduction and how formulas move in time.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional, Union

import z3

from modproof.encoder.footprint import Footprint, expr_reads, footprint, storage_modules
from modproof.spec import model as M
from modproof.spec.ast import BinOp, QueryKind, Span
from modproof.spec.model import DONE, GONE, LOADED, UINT_MAX, UNLOADING, StepKind
from modproof.spec.semantics import FREE, State

ATOMIC_UNROLL = 32          # loop iterations one path through an `atomic` block may take
MAX_ATOMIC_WORK = 100_000   # statements one `atomic` block may unroll to before we give up
ATOMIC_LIMIT = "atomic-loop-limit"   # pseudo-check: an atomic path needs more unrolling
CODE_AFTER_UNLOAD = "code-after-unload"
USE_AFTER_UNLOAD = "use-after-unload"
STEP_CHECKS = tuple(c for c in M.CHECKS if c not in ("invariant", "deadlock")) + (ATOMIC_LIMIT,)

# A state variable: ("at", thread, pc) | ("loc", thread, slot) | ("refs", obj) |
# ("done", completion) | ("mrefs", module) | ("mstate", module) | ("holder", mutex) |
# ("var", var).
Key = tuple
Value = Union[int, bool]


class EncodingLimit(Exception):
    """The program cannot be encoded within the fixed limits (an atomic block whose
    nested loops unroll to too many statements); the engines answer Unknown."""

    def __init__(self, message: str, span: Optional[Span] = None):
        super().__init__(message)
        self.span = span


@dataclass(frozen=True)
class StateVar:
    key: Key
    label: str      # the name without its time: `refs(md_kobj)`
    is_bool: bool


@dataclass(frozen=True, eq=False)
class Outcome:
    """One way a step can go: when `guard` holds in the state before the step,
    either it writes `updates` and continues at `next_pc`, or it violates the
    check `violation`."""

    guard: z3.BoolRef
    updates: tuple[tuple[Key, z3.ExprRef], ...] = ()
    next_pc: int = DONE
    violation: Optional[str] = None
    span: Optional[Span] = None     # for ATOMIC_LIMIT: the loop that ran out
    choice: int = 0                 # of a CHOOSE step: the value of choice@t that takes it


@dataclass(frozen=True, eq=False)
class NodeAt:
    """Step `step` of thread `thread` as a candidate move at one time."""

    thread: int
    step: M.Step
    at_pc: z3.BoolRef               # pc(thread)@t == step.id
    gone: Optional[z3.BoolRef]      # the step's owner is gone (None for core code)
    outcomes: tuple[Outcome, ...]
    nondet: bool                    # outcomes are told apart by choice@t
    enabled: z3.BoolRef             # some outcome's guard holds (violations included)
    selectors: tuple = ()           # choice[k]@t that `enabled` depends on (NOTE(atomic-paths))
    freed: Optional[z3.BoolRef] = None  # v2: storage the step uses is gone (use-after-unload)


@dataclass(frozen=True)
class StatementGroup:
    """The steps (over threads, copies and inlined calls) of one source statement."""

    text: str
    span: Span
    members: tuple[tuple[int, int], ...]   # (thread index, step id)


def _built_once(method):
    """NOTE(templates): a formula about times t-1, t and t+1 is built once, at
    t = 1, and moved to any other t by substituting its constants (one call into
    Z3 instead of rebuilding it in Python).  t = 0 is built directly: there is no
    step before it."""
    name = method.__name__

    @functools.wraps(method)
    def at_time(self: "Encoding", *args):
        *key, t = args
        cache_key = (name, *key, min(t, 1))
        built = self._templates.get(cache_key)
        if built is None:
            built = self._templates[cache_key] = method(self, *key, min(t, 1))
        return built if t <= 1 else self._shift(built, t)

    return at_time


def _is_true(e: z3.ExprRef) -> bool:
    return z3.is_true(e)


def _is_false(e: z3.ExprRef) -> bool:
    return z3.is_false(e)


class Encoding:
    """Formulas for `program` in Z3 context `ctx`; `prefix` keeps the names of
    two encodings in one context apart (the k-induction path uses its own)."""

    def __init__(self, program: M.Program, ctx: Optional[z3.Context] = None, prefix: str = "",
                 atomic_unroll: int = ATOMIC_UNROLL, por: bool = True, symmetry: bool = True):
        self.program = program
        self.ctx = ctx if ctx is not None else z3.Context()
        self.prefix = prefix
        self.atomic_unroll = atomic_unroll
        self.por = por
        self.true = z3.BoolVal(True, self.ctx)
        self.false = z3.BoolVal(False, self.ctx)
        # (copy j, copy j+1) of every `thread NAME[K]`: NOTE(symmetry-breaking).
        self.symmetric_pairs = (tuple((a, b) for g in program.copy_groups() for a, b in zip(g, g[1:]))
                                if symmetry else ())
        self.state_vars = self._state_vars()
        self._by_key = {sv.key: sv for sv in self.state_vars}
        self._consts: dict[tuple[str, int], z3.ExprRef] = {}
        self._nodes: dict[int, tuple[NodeAt, ...]] = {}
        self._node_indexes: dict[int, dict[tuple[int, int], NodeAt]] = {}
        self._templates: dict[tuple, object] = {}
        self._base: list[tuple[str, int, z3.ExprRef]] = []   # constants at times 0, 1, 2
        self._pairs: dict[int, tuple[int, object, object]] = {}   # t -> (n, from, to)

    # ------------------------------------------------------------------ naming

    def name(self, label: str, t: int) -> str:
        """The one naming helper: `label` at time `t`."""
        return f"{self.prefix}{label}@{t}"

    def _const(self, label: str, t: int, is_bool: bool) -> z3.ExprRef:
        c = self._consts.get((label, t))
        if c is None:
            n = self.name(label, t)
            c = z3.Bool(n, self.ctx) if is_bool else z3.Int(n, self.ctx)
            self._consts[(label, t)] = c
            if t <= 2:
                self._base.append((label, t, c))
        return c

    def _shift(self, template, t: int):
        """`template` (built at time 1) at time `t` (NOTE(templates))."""
        n, src, dst = self._pairs.get(t, (0, None, None))
        if n < len(self._base):
            base = list(self._base)   # making the targets may add constants at times <= 2
            n = len(base)
            src, dst = (z3.Ast * n)(), (z3.Ast * n)()
            for k, (label, t0, c) in enumerate(base):
                src[k] = c.as_ast()
                dst[k] = self._const(label, t - 1 + t0, z3.is_bool(c)).as_ast()
            self._pairs[t] = (n, src, dst)

        def move(e: z3.BoolRef) -> z3.BoolRef:
            # z3.substitute would check every pair's sort on every call: built right here.
            return z3.BoolRef(z3.Z3_substitute(self.ctx.ref(), e.as_ast(), n, src, dst), self.ctx)

        if isinstance(template, dict):
            return {k: move(v) for k, v in template.items()}
        return move(template)

    def _state_vars(self) -> tuple[StateVar, ...]:
        p = self.program
        out = []
        for i, th in enumerate(p.threads):
            for n in (DONE,) + tuple(st.id for st in th.steps):
                out.append(StateVar(("at", i, n), f"pc({th.name})={'done' if n == DONE else n}", True))
            for j, sl in enumerate(th.locals):
                label = f"{th.name}.{sl.name}" if sl.fn is None else f"{th.name}.{sl.fn}.{sl.name}"
                out.append(StateVar(("loc", i, j), label, isinstance(sl.init, bool)))
        out += [StateVar(("refs", k), f"refs({o.name})", False) for k, o in enumerate(p.objects)]
        out += [StateVar(("done", k), f"done({c.name})", False) for k, c in enumerate(p.completions)]
        out += [StateVar(("mrefs", k), f"module_refs({m.name})", False) for k, m in enumerate(p.modules)]
        out += [StateVar(("mstate", k), f"module_state({m.name})", False)
                for k, m in enumerate(p.modules)]
        out += [StateVar(("holder", k), f"holder({x.name})", False) for k, x in enumerate(p.mutexes)]
        out += [StateVar(("var", k), v.name, isinstance(v.init, bool)) for k, v in enumerate(p.vars)]
        out += [StateVar(("started", i), f"started({p.threads[i].name})", True)
                for i, _ in self.symmetric_pairs]
        return tuple(out)

    def at(self, key: Key, t: int) -> z3.ExprRef:
        """State variable `key` at time `t`."""
        sv = self._by_key[key]
        return self._const(sv.label, t, sv.is_bool)

    def pc_is(self, i: int, pc: int, t: int) -> z3.BoolRef:
        """Thread `i` is at step `pc` (or DONE) in state `t`."""
        return self.at(("at", i, pc), t)

    def moved(self, i: int, t: int) -> z3.BoolRef:
        """Thread `i` takes the step from state `t` to `t+1`."""
        return self._const(f"moved({self.program.threads[i].name})", t, True)

    def choice(self, t: int) -> z3.ArithRef:
        """Which branch a `choose` statement takes at step `t`."""
        return self._const("choice", t, False)

    # ------------------------------------------------------------------ values and expressions

    def val(self, v: Value) -> z3.ExprRef:
        if isinstance(v, bool):
            return z3.BoolVal(v, self.ctx)
        return z3.IntVal(v, self.ctx)

    def _or(self, xs) -> z3.BoolRef:
        xs = [x for x in xs if not _is_false(x)]
        if any(_is_true(x) for x in xs):
            return self.true
        if not xs:
            return self.false
        return xs[0] if len(xs) == 1 else z3.Or(xs)

    def _and(self, xs) -> z3.BoolRef:
        xs = [x for x in xs if not _is_true(x)]
        if any(_is_false(x) for x in xs):
            return self.false
        if not xs:
            return self.true
        return xs[0] if len(xs) == 1 else z3.And(xs)

    def expr(self, e: M.Expr, read: Callable[[Key], z3.ExprRef], thread: int = -1) -> z3.ExprRef:
        """The value of a pure expression; `read` gives the state variables."""
        if isinstance(e, M.Const):
            return self.val(e.value)
        if isinstance(e, M.VarRef):
            return read(("var", e.index))
        if isinstance(e, M.LocalRef):
            return read(("loc", thread, e.slot))
        if isinstance(e, M.Neg):
            return z3.Not(self.expr(e.operand, read, thread))
        if isinstance(e, M.Bin):
            a = self.expr(e.left, read, thread)
            b = self.expr(e.right, read, thread)
            op = e.op
            if op is BinOp.AND:
                return z3.And(a, b)
            if op is BinOp.OR:
                return z3.Or(a, b)
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
        if isinstance(e, M.Q):
            k, x = e.kind, e.index
            if k is QueryKind.REFS:
                return read(("refs", x))
            if k is QueryKind.MODULE_REFS:
                return read(("mrefs", x))
            if k is QueryKind.LOADED:
                return read(("mstate", x)) != GONE
            if k is QueryKind.DONE:
                return read(("done", x))
            if k is QueryKind.LOCKED:
                return read(("holder", x)) != FREE
            raise AssertionError(f"{k} is not a pure query")
        raise AssertionError(f"cannot encode {e!r}")

    def _test(self, e: M.Expr, read, thread: int) -> tuple[z3.BoolRef, dict]:
        """A condition as a step evaluates it: (holds, writes when it holds).
        `try_get`/`try_module_get` as the whole condition take their reference."""
        if isinstance(e, M.Q) and e.kind is QueryKind.TRY_GET:
            r = read(("refs", e.index))
            return r != 0, {("refs", e.index): r + 1}
        if isinstance(e, M.Q) and e.kind is QueryKind.TRY_MODULE_GET:
            return (read(("mstate", e.index)) == LOADED,
                    {("mrefs", e.index): read(("mrefs", e.index)) + 1})
        return self.expr(e, read, thread), {}

    def _prim(self, kind: StepKind, x: int, read, thread: int):
        """A primitive, as `semantics._prim`: (violation guard and check or None,
        writes when it does not violate)."""
        if kind is StepKind.GET:
            r = read(("refs", x))
            return (r == 0, "get-after-release"), {("refs", x): r + 1}
        if kind is StepKind.PUT:
            r = read(("refs", x))
            return (r == 0, "put-after-release"), {("refs", x): r - 1}
        if kind in (StepKind.COMPLETE, StepKind.COMPLETE_AND_EXIT):
            d = read(("done", x))
            return None, {("done", x): z3.If(d == UINT_MAX, d, d + 1)}
        if kind is StepKind.COMPLETE_ALL:
            return None, {("done", x): self.val(UINT_MAX)}
        if kind is StepKind.REINIT:
            return None, {("done", x): self.val(0)}
        if kind is StepKind.WAIT:  # enabledness is the caller's
            d = read(("done", x))
            return None, {("done", x): z3.If(d == UINT_MAX, d, d - 1)}
        if kind is StepKind.LOCK:
            return None, {("holder", x): self.val(thread)}
        if kind is StepKind.UNLOCK:
            h = read(("holder", x))
            return (h != thread, "unlock-not-held"), {("holder", x): self.val(FREE)}
        if kind is StepKind.MODULE_GET:
            return ((read(("mstate", x)) == GONE, "module-get-after-unload"),
                    {("mrefs", x): read(("mrefs", x)) + 1})
        if kind in (StepKind.MODULE_PUT, StepKind.MODULE_PUT_AND_EXIT):
            r = read(("mrefs", x))
            return (r == 0, "module-refcount-underflow"), {("mrefs", x): r - 1}
        raise AssertionError(kind)

    # ------------------------------------------------------------------ steps

    def _inits(self, thread: int, inits) -> dict:
        return {("loc", thread, slot): self.val(v) for slot, v in inits}

    def _outcomes(self, st: M.Step, i: int, t: int) -> list[Outcome]:
        """The outcomes of thread `i` taking `st` from state `t` (code-after-unload aside)."""
        def read(key):
            return self.at(key, t)

        def out(guard, updates=None, next_pc=st.next, violation=None):
            return Outcome(guard, tuple((updates or {}).items()), next_pc, violation)

        k, x = st.kind, st.operand
        T = self.true
        if k is StepKind.WAIT:
            _, upd = self._prim(k, x, read, i)
            return [out(read(("done", x)) != 0, upd)]
        if k is StepKind.LOCK:
            _, upd = self._prim(k, x, read, i)
            return [out(read(("holder", x)) == FREE, upd)]
        if k is StepKind.UNLOAD:
            ms = read(("mstate", x))
            upd = {("mstate", x): self.val(UNLOADING), **self._inits(i, st.inits)}
            return [out(ms != LOADED, next_pc=st.alt),
                    out(z3.And(ms == LOADED, read(("mrefs", x)) == 0), upd)]
        if k is StepKind.UNLOAD_FREE:
            return [out(T, {("mstate", x): self.val(GONE)})]
        if k is StepKind.AWAIT:
            cond, upd = self._test(st.expr, read, i)
            return [out(cond, upd)]
        if k is StepKind.BRANCH:
            cond, upd = self._test(st.expr, read, i)
            return [out(cond, upd), out(z3.Not(cond), next_pc=st.alt)]
        if k is StepKind.CHOOSE:
            return [Outcome(T, (), b, choice=k) for k, b in enumerate(st.branches)]
        if k is StepKind.ASSIGN:
            return [out(T, {self._lkey(st.target, i): self.expr(st.expr, read, i)})]
        if k is StepKind.ASSERT:
            cond = self.expr(st.expr, read, i)
            return [out(z3.Not(cond), violation="assertion"), out(cond)]
        if k is StepKind.CALL:
            return [out(T, self._inits(i, st.inits))]
        if k is StepKind.RETURN:
            return [out(T)]
        if k is StepKind.ATOMIC:
            raise AssertionError("atomic blocks go through _atomic")
        viol, upd = self._prim(k, x, read, i)
        outs = []
        ok = T
        if viol is not None:
            outs.append(out(viol[0], violation=viol[1]))
            ok = z3.Not(viol[0])
        if k is StepKind.PUT and st.fn is not None:
            # NOTE(release-call): the put that drops the count to zero is the call
            # of the release function (semantics: s2.refs == 0 after the decrement).
            r = read(("refs", x))
            outs.append(out(z3.And(ok, r == 1), {**upd, **self._inits(i, st.inits)}, st.alt))
            outs.append(out(z3.And(ok, r != 1), upd))
        else:
            outs.append(out(ok, upd))
        return outs

    def _lkey(self, target: M.LValue, thread: int) -> Key:
        if isinstance(target, M.LocalRef):
            return ("loc", thread, target.slot)
        return ("var", target.index)

    def _atomic(self, st: M.Step, i: int, t: int) -> tuple[list[Outcome], tuple]:
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

        `while` is unrolled `atomic_unroll` times (per loop entry); where it would
        need one more iteration the block "violates" the pseudo-check
        ATOMIC_LIMIT, which the engines report as Unknown when it is reachable:
        never dropped silently.  It counts as enabled, so it never makes a
        deadlock appear."""
        await_after = _await_after_choose(st.body)
        selectors: list[z3.ArithRef] = []
        enabling: list[z3.ArithRef] = []   # selectors that enabledness depends on
        work = [0]

        def read_in(w: _World):
            def read(key):
                v = w.store.get(key)
                return v if v is not None else self.at(key, t)
            return read

        def branch(w: _World, cond, then_run, else_run) -> _World:
            """Run `then_run` where `cond` holds and `else_run` where it does not."""
            c = z3.simplify(cond)
            if _is_true(c):
                return then_run(w)
            if _is_false(c):
                return else_run(w)
            a = then_run(w.fork(self._and([w.live, c])))
            b = else_run(w.fork(self._and([w.live, z3.Not(c)])))
            read = read_in(w)
            store = dict(w.store)
            for key in sorted(set(a.store) | set(b.store)):   # sorted: same formula every run
                va = a.store[key] if key in a.store else read(key)
                vb = b.store[key] if key in b.store else read(key)
                store[key] = va if va.eq(vb) else z3.If(c, va, vb)
            n0 = len(w.fails)
            return _World(store, self._or([a.live, b.live]), a.fails + b.fails[n0:])

        def block(stmts, w: _World) -> _World:
            for s in stmts:
                w = stmt(s, w)
            return w

        def loop(s: M.AWhile, w: _World, k: int) -> _World:
            c, upd = self._test(s.cond, read_in(w), i)
            if k >= self.atomic_unroll:
                def beyond(w1: _World) -> _World:
                    w1.fail(w1.live, ATOMIC_LIMIT, s.span)
                    w1.live = self.false
                    return w1
                return branch(w, c, beyond, lambda w1: w1)
            return branch(w, c, lambda w1: loop(s, block(s.body, w1.update(upd)), k + 1),
                          lambda w1: w1)

        def choose(w: _World, branches, sel, k: int = 0) -> _World:
            if k == len(branches) - 1:
                return block(branches[k], w)
            return branch(w, sel == k, lambda w1: block(branches[k], w1),
                          lambda w1: choose(w1, branches, sel, k + 1))

        def stmt(s, w: _World) -> _World:
            if _is_false(w.live):
                return w
            work[0] += 1
            if work[0] > MAX_ATOMIC_WORK:
                raise EncodingLimit(f"the loops of this atomic block unroll to more than "
                                    f"{MAX_ATOMIC_WORK} statements", st.span)
            read = read_in(w)
            if isinstance(s, M.AOp):
                viol, upd = self._prim(s.kind, s.operand, read, i)
                if viol is not None:
                    w.fail(self._and([w.live, viol[0]]), viol[1])
                    w.live = self._and([w.live, z3.Not(viol[0])])
                return w.update(upd)
            if isinstance(s, M.AAssign):
                return w.update({self._lkey(s.target, i): self.expr(s.value, read, i)})
            if isinstance(s, M.AAssert):
                c = self.expr(s.cond, read, i)
                w.fail(self._and([w.live, z3.Not(c)]), "assertion")
                w.live = self._and([w.live, c])
                return w
            if isinstance(s, M.AAwait):
                c, upd = self._test(s.cond, read, i)
                w.live = self._and([w.live, c])   # a false await: not enabled this way
                return w.update(upd)
            if isinstance(s, M.AIf):
                c, upd = self._test(s.cond, read, i)
                return branch(w, c, lambda w1: block(s.then, w1.update(upd)),
                              lambda w1: block(s.orelse, w1))
            if isinstance(s, M.AWhile):
                return loop(s, w, 0)
            if isinstance(s, M.AChoose):
                sel = self._const(f"choice[{len(selectors)}]", t, False)
                selectors.append(sel)
                if await_after[id(s)]:
                    enabling.append(sel)
                return choose(w, s.branches, sel)
            raise AssertionError(s)

        w = block(st.body, _World({}, self.true, []))
        outs = [Outcome(w.live, tuple(w.store.items()), st.next)]
        outs += [Outcome(c, (), DONE, check, span) for c, check, span in w.fails if not _is_false(c)]
        return outs, tuple(enabling)

    def nodes(self, t: int) -> tuple[NodeAt, ...]:
        """Every step of every thread as a candidate move from state `t`."""
        got = self._nodes.get(t)
        if got is not None:
            return got
        out = []
        for i, th in enumerate(self.program.threads):
            for st in th.steps:
                sels: tuple = ()
                if st.kind is StepKind.ATOMIC:
                    outs, sels = self._atomic(st, i, t)
                else:
                    outs = self._outcomes(st, i, t)
                gone = None if st.owner < 0 else self.at(("mstate", st.owner), t) == GONE
                nondet = st.kind is StepKind.CHOOSE
                homes = storage_modules(self.program, st)
                freed = (self._or([self.at(("mstate", m), t) == GONE for m in homes])
                         if homes else None)
                out.append(NodeAt(i, st, self.pc_is(i, st.id, t), gone, tuple(outs), nondet,
                                  self._or([o.guard for o in outs]), sels, freed))
        got = tuple(out)
        self._nodes[t] = got
        return got

    def _select(self, node: NodeAt, k: int, t: int) -> z3.BoolRef:
        """Outcome `k` of `node` is the one taken (given the node moves and is enabled)."""
        o = node.outcomes[k]
        if node.nondet:
            return self._and([self.choice(t) == o.choice, o.guard])
        return o.guard

    # ------------------------------------------------------------------ formulas

    def init(self, t: int = 0) -> z3.BoolRef:
        """State `t` is the initial state (semantics.initial)."""
        p = self.program
        eqs = []
        for i, th in enumerate(p.threads):
            for n in (DONE,) + tuple(st.id for st in th.steps):
                eqs.append(self.pc_is(i, n, t) if n == th.entry else z3.Not(self.pc_is(i, n, t)))
            eqs += [self.at(("loc", i, j), t) == self.val(sl.init) for j, sl in enumerate(th.locals)]
        eqs += [self.at(("refs", k), t) == o.refs for k, o in enumerate(p.objects)]
        eqs += [self.at(("done", k), t) == c.done for k, c in enumerate(p.completions)]
        eqs += [self.at(("mrefs", k), t) == m.refs for k, m in enumerate(p.modules)]
        eqs += [self.at(("mstate", k), t) == LOADED for k in range(len(p.modules))]
        eqs += [self.at(("holder", k), t) == FREE for k in range(len(p.mutexes))]
        eqs += [self.at(("var", k), t) == self.val(v.init) for k, v in enumerate(p.vars)]
        eqs += [z3.Not(self.at(("started", i), t)) for i, _ in self.symmetric_pairs]
        return self._and(eqs)

    def all_done_or_idle(self, t: int) -> z3.BoolRef:
        """Every thread is done or a v2 worker idles at its wait-for-work step."""
        parts = []
        for i, th in enumerate(self.program.threads):
            idle = [self.pc_is(i, st.id, t) for st in th.steps if st.idle]
            parts.append(self._or([self.pc_is(i, DONE, t)] + idle))
        return self._and(parts)

    @_built_once
    def trans(self, t: int) -> z3.BoolRef:
        """State `t+1` follows from state `t`: exactly one thread moves, by an enabled
        step (a violating one included: `step_violation(t)` tells those apart).
        Every state variable at `t+1` is an `If` over the outcomes that write it,
        else its value at `t`.  An execution that ends sooner has no path of this
        length: each depth is asked about its own executions."""
        n = len(self.program.threads)
        moved = [self.moved(i, t) for i in range(n)]
        cs = [self._or(moved)]
        if n <= 6:
            cs += [z3.Not(z3.And(moved[a], moved[b])) for a in range(n) for b in range(a + 1, n)]
        else:
            cs.append(z3.AtMost(*moved, 1))
        if self.por and t > 0:
            cs += self._por(t)
        cs += self._symmetry(t)

        writers: dict[Key, list] = {sv.key: [] for sv in self.state_vars}
        incoming: dict[tuple[int, int], list] = {}   # (thread, pc) -> ways to get there
        can: dict[int, list] = {i: [] for i in range(n)}
        for node in self.nodes(t):
            i = node.thread
            ok = [k for k, o in enumerate(node.outcomes) if o.violation is None]
            if node.nondet:
                can[i].append(z3.And(node.at_pc, self._or(
                    [self._select(node, k, t) for k in range(len(node.outcomes))])))
            else:
                can[i].append(z3.And(node.at_pc, node.enabled) if not _is_true(node.enabled)
                              else node.at_pc)
            base = z3.And(moved[i], node.at_pc)
            # With one non-violating outcome its writes need no guard: if a violating
            # outcome is taken instead, the next state does not matter.
            sels = {k: (self.true if len(ok) == 1 else self._select(node, k, t)) for k in ok}
            for k in ok:
                for key, value in node.outcomes[k].updates:
                    writers[key].append((self._and([base, sels[k]]), value))
            for k in ok:
                incoming.setdefault((i, node.outcomes[k].next_pc), []).append(
                    self._and([node.at_pc, sels[k]]))
        for i in range(n):
            cs.append(z3.Implies(moved[i], self._or(can[i])))
            for pc in (DONE,) + tuple(st.id for st in self.program.threads[i].steps):
                arrive = self._or(incoming.get((i, pc), []))
                cs.append(self.pc_is(i, pc, t + 1) == z3.If(moved[i], arrive, self.pc_is(i, pc, t)))
        for sv in self.state_vars:
            if sv.key[0] in ("at", "started"):
                continue
            cur = self.at(sv.key, t)
            nxt = cur
            for cond, value in reversed(writers[sv.key]):
                nxt = z3.If(cond, value, nxt)
            cs.append(self.at(sv.key, t + 1) == nxt)
        return self._and(cs)

    def _por(self, t: int) -> list[z3.BoolRef]:
        """NOTE(por): the partial-order reduction of `trans(t)`.  A step of thread j
        at t-1 followed by a step of thread i < j at t is ruled out when the two are
        independent (neither writes what the other reads or writes) and j's step is
        invisible (writes nothing an invariant or cover reads).  Swapping such a pair
        gives an execution of the same length, same final state and same steps, whose
        visible changes come no later; repeated swaps end (each removes one
        inversion), so every state, cover, statement and shortest violation reachable
        in L steps stays reachable in L steps.  Private state (pcs, locals) never
        makes two threads dependent."""
        visible, classes = self._por_facts()
        prev: dict[tuple[int, Footprint], z3.BoolRef] = {}
        for j, cls in enumerate(classes):
            for fp, ids in cls.items():
                if not (fp.writes & visible):
                    prev[(j, fp)] = z3.And(self.moved(j, t - 1),
                                           self._or([self.pc_is(j, m, t - 1) for m in ids]))
        cs = []
        for i, cls in enumerate(classes):
            for fp, ids in cls.items():
                ruled_out = [f for (j, fq), f in prev.items() if j > i and fp.independent(fq)]
                if ruled_out:
                    here = self._or([self.pc_is(i, n, t) for n in ids])
                    cs.append(z3.Implies(z3.And(self.moved(i, t), here), z3.Not(self._or(ruled_out))))
        return cs

    def _symmetry(self, t: int) -> list[z3.BoolRef]:
        """NOTE(symmetry-breaking): the copies of `thread NAME[K]` make their first
        moves in index order: copy j+1 moves only once copy j has moved
        (`started`).  Any execution becomes one of this shape, of the same length
        and with the same checks, by renaming the copies (and mutex holders) in the
        order of their first moves: copies run the same code from the same locals
        and nothing a check or property reads can tell them apart.  The renaming
        keeps the partial-order constraint's normal form (its swaps only move a
        lower thread's step earlier).  On the induction path the window may start
        with any flags, all true included, which is the unrestricted system; the
        flags stay out of `differ`, which is sound because a shortest violating
        execution of the restricted system visits distinct states (cutting a loop
        gives a shorter execution, which renaming turns into a restricted one)."""
        cs = []
        for i, j in self.symmetric_pairs:
            started = self.at(("started", i), t)
            cs.append(self.at(("started", i), t + 1) == z3.Or(started, self.moved(i, t)))
            cs.append(z3.Implies(self.moved(j, t), started))
        return cs

    def _por_facts(self) -> tuple[frozenset, list[dict["Footprint", list[int]]]]:
        """What invariants and covers read, and each thread's steps grouped by
        their footprint on shared state."""
        reads: set = set()
        for prop in self.program.invariants + self.program.covers:
            expr_reads(prop.expr, reads, set())
        classes = []
        for th in self.program.threads:
            by: dict[Footprint, list[int]] = {}
            for st in th.steps:
                by.setdefault(footprint(self.program, st), []).append(st.id)
            classes.append(by)
        return frozenset(reads), classes

    @_built_once
    def step_violations(self, t: int) -> dict[str, z3.BoolRef]:
        """For each check (and ATOMIC_LIMIT): the step from `t` violates it.
        code-after-unload comes first: an enabled step whose owner is gone."""
        per: dict[str, list] = {c: [] for c in STEP_CHECKS}
        for node in self.nodes(t):
            base = z3.And(self.moved(node.thread, t), node.at_pc)
            if node.gone is not None:
                per[CODE_AFTER_UNLOAD].append(z3.And(base, node.gone, node.enabled))
            if node.freed is not None:
                c = [base, node.freed, node.enabled]
                if node.gone is not None:
                    c.append(z3.Not(node.gone))
                per[USE_AFTER_UNLOAD].append(self._and(c))
            for k, o in enumerate(node.outcomes):
                if o.violation is None:
                    continue
                c = [base, self._select(node, k, t)]
                if node.gone is not None:
                    c.append(z3.Not(node.gone))
                if node.freed is not None:
                    c.append(z3.Not(node.freed))
                per[o.violation].append(self._and(c))
        return {c: self._or(v) for c, v in per.items()}

    def step_violation(self, t: int) -> z3.BoolRef:
        """The step from state `t` to `t+1` violates a check."""
        return self._or(list(self.step_violations(t).values()))

    @_built_once
    def violation_enabled(self, t: int) -> z3.BoolRef:
        """Some thread could take a violating step from state `t` (no `moved`)."""
        cs = []
        for node in self.nodes(t):
            viol = self._or([o.guard for o in node.outcomes if o.violation is not None])
            if node.freed is not None:
                viol = z3.Or(z3.And(node.freed, node.enabled), z3.And(z3.Not(node.freed), viol))
            if node.gone is not None:
                viol = z3.Or(z3.And(node.gone, node.enabled), z3.And(z3.Not(node.gone), viol))
            if not _is_false(viol):
                cs.append(z3.And(node.at_pc, viol))
        return self._or(cs)

    def thread_enabled(self, i: int, t: int) -> z3.BoolRef:
        return self._or([z3.And(n.at_pc, n.enabled) if not _is_true(n.enabled) else n.at_pc
                         for n in self.nodes(t) if n.thread == i])

    @_built_once
    def can_move(self, t: int) -> z3.BoolRef:
        """Some thread has an enabled step in state `t` (a violating one counts)."""
        return self._or([self.thread_enabled(i, t) for i in range(len(self.program.threads))])

    @_built_once
    def deadlock(self, t: int) -> z3.BoolRef:
        """Some thread is not done and no thread can take a step (semantics.deadlocked).
        A block whose enabledness depends on its choices is blocked when it is for
        every choice (NOTE(atomic-paths))."""
        blocked = [z3.Not(self.all_done_or_idle(t))]
        for n in self.nodes(t):
            if _is_true(n.enabled):
                blocked.append(z3.Not(n.at_pc))
            elif n.selectors:
                blocked.append(z3.Or(z3.Not(n.at_pc), z3.ForAll(list(n.selectors), z3.Not(n.enabled))))
            else:
                blocked.append(z3.Or(z3.Not(n.at_pc), z3.Not(n.enabled)))
        return self._and(blocked)

    @_built_once
    def invariant_false(self, t: int) -> z3.BoolRef:
        return self._or([z3.Not(self.prop(inv, t)) for inv in self.program.invariants])

    def prop(self, prop: M.Prop, t: int) -> z3.BoolRef:
        """An invariant's or a cover's expression in state `t`."""
        return self.expr(prop.expr, lambda key: self.at(key, t))

    @_built_once
    def cover(self, c: int, t: int) -> z3.BoolRef:
        return self.prop(self.program.covers[c], t)

    @_built_once
    def bad_state(self, t: int) -> z3.BoolRef:
        """State `t` ends an execution with a violation: invariant false, deadlock,
        or a violating step (or an atomic path beyond the unrolling) enabled."""
        return self._or([self.invariant_false(t), self.deadlock(t), self.violation_enabled(t)])

    # ------------------------------------------------------------------ statements

    def statement_groups(self) -> tuple[StatementGroup, ...]:
        """The program's steps grouped by source statement, in source order.  The
        implicit final return of a body is no statement of its own and is left out
        (as `modproof.explicit.unreached_statements` does)."""
        groups: dict[tuple, list] = {}
        spans: dict[tuple, Span] = {}
        for i, th in enumerate(self.program.threads):
            for st in th.steps:
                if st.synthetic:
                    continue
                key = (st.span.line, st.span.col, st.text)
                groups.setdefault(key, []).append((i, st.id))
                spans.setdefault(key, st.span)
        return tuple(StatementGroup(key[2], spans[key], tuple(m)) for key, m in sorted(groups.items()))

    @_built_once
    def takeable(self, group: StatementGroup, t: int) -> z3.BoolRef:
        """Some step of `group` is enabled in state `t` (so some execution takes it next)."""
        by = self._node_index(t)
        return self._or([z3.And(by[m].at_pc, by[m].enabled) for m in group.members])

    def _node_index(self, t: int) -> dict[tuple[int, int], NodeAt]:
        """`nodes(t)` by (thread, step id), built once per t (not once per statement:
        a thread of thousands of statements made that quadratic)."""
        index = self._node_indexes.get(t)
        if index is None:
            index = self._node_indexes[t] = {(n.thread, n.step.id): n for n in self.nodes(t)}
        return index

    # ------------------------------------------------------------------ induction helpers

    @_built_once
    def domain(self, t: int) -> z3.BoolRef:
        """Facts true in every reachable state (pcs, module states and holders in
        range, counts never negative): they strengthen the induction step."""
        p = self.program
        cs = []
        for i, th in enumerate(p.threads):
            at = [self.pc_is(i, pc, t) for pc in (DONE,) + tuple(st.id for st in th.steps)]
            cs += [z3.Or(at), z3.AtMost(*at, 1)]
        for k in range(len(p.modules)):
            ms = self.at(("mstate", k), t)
            cs.append(z3.And(ms >= LOADED, ms <= GONE))
        for k in range(len(p.mutexes)):
            h = self.at(("holder", k), t)
            cs.append(z3.And(h >= FREE, h < len(p.threads)))
        for kind, decls, attr in (("refs", p.objects, "refs"), ("done", p.completions, "done"),
                                  ("mrefs", p.modules, "refs")):
            for k, d in enumerate(decls):
                if getattr(d, attr) >= 0:   # counts only decrease when not zero
                    cs.append(self.at((kind, k), t) >= 0)
        return self._and(cs)

    def differ(self, t1: int, t2: int) -> z3.BoolRef:
        """States `t1` and `t2` differ (the simple-path constraint)."""
        return self._or([self.at(sv.key, t1) != self.at(sv.key, t2) for sv in self.state_vars
                         if sv.key[0] != "started"])

    # ------------------------------------------------------------------ decoding

    def decode_state(self, model: z3.ModelRef, t: int) -> State:
        """State `t` of `model`, in the representation of `spec.semantics`."""
        p = self.program

        def get(key):
            sv = self._by_key[key]
            v = model.eval(self.at(key, t), model_completion=True)
            return z3.is_true(v) if sv.is_bool else v.as_long()

        n = len(p.threads)
        return State(
            pcs=tuple(next((pc for pc in (DONE,) + tuple(st.id for st in p.threads[i].steps)
                            if get(("at", i, pc))), DONE) for i in range(n)),
            locs=tuple(tuple(get(("loc", i, j)) for j in range(len(p.threads[i].locals)))
                       for i in range(n)),
            refs=tuple(get(("refs", k)) for k in range(len(p.objects))),
            done=tuple(get(("done", k)) for k in range(len(p.completions))),
            mrefs=tuple(get(("mrefs", k)) for k in range(len(p.modules))),
            mstate=tuple(get(("mstate", k)) for k in range(len(p.modules))),
            holders=tuple(get(("holder", k)) for k in range(len(p.mutexes))),
            vars=tuple(get(("var", k)) for k in range(len(p.vars))),
        )

    def decode_mover(self, model: z3.ModelRef, t: int) -> Optional[int]:
        """The thread that moved at step `t` of `model`."""
        for i in range(len(self.program.threads)):
            if z3.is_true(model.eval(self.moved(i, t), model_completion=True)):
                return i
        return None


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
