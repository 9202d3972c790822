"""Z3 formulas over time-indexed copies of a program's state: the symbolic twin
of `modproof.spec.semantics`.

Pure formula building: nothing here calls a solver (`bmc.py` and `kinduction.py`
do).  An `Encoding` names one Z3 constant per state variable and time through
one helper, `Encoding.name` (`refs(md_kobj)@3`, `pc(reader)@3`,
`moved(admin)@3`), and builds:

- `init(t)`: state `t` is the initial state;
- `trans(t)`: state `t+1` follows from state `t` by one step of exactly one
  thread, `moved(thread)@t` says which, `choice@t` picks the branch of a
  `choose` (or the path through an `atomic` block that contains one).  Once
  every thread is done, the state may stutter (no thread moves) so that paths of
  length K also cover executions that ended sooner;
- `step_violation(t)`: the step from `t` violates a check;
- `invariant_false(t)`, `deadlock(t)`, `can_move(t)`, `violation_enabled(t)`
  (some thread could take a violating step: a state predicate, no `moved`).

Every step of every thread is turned into a list of `Outcome`s, mirroring
`semantics._effects`: a guard over the state before the step and either the
state variables it writes or the check it violates.  `trans` then writes each
next-state variable once, as an `If` over the outcomes that write it, else
unchanged.

NOTE(atomic-paths): an `atomic` block is executed symbolically into paths
(guard, writes or violation).  `while` inside it is unrolled `atomic_unroll`
times per path; a path that would need one more iteration becomes an outcome
that "violates" the pseudo-check `ATOMIC_LIMIT`, which the engines turn into
Unknown when it is reachable (it is never dropped silently).  Such a path counts
as enabled, so it never makes a deadlock appear.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import z3

from modproof.spec import model as M
from modproof.spec.ast import BinOp, QueryKind, Span
from modproof.spec.model import DONE, GONE, LOADED, UINT_MAX, UNLOADING, StepKind
from modproof.spec.semantics import FREE, State

ATOMIC_UNROLL = 32          # loop iterations one path through an `atomic` block may take
MAX_ATOMIC_PATHS = 4096     # paths through one `atomic` block before we give up
ATOMIC_LIMIT = "atomic-loop-limit"   # pseudo-check: an atomic path needs more unrolling
CODE_AFTER_UNLOAD = "code-after-unload"
STEP_CHECKS = tuple(c for c in M.CHECKS if c not in ("invariant", "deadlock")) + (ATOMIC_LIMIT,)

# A state variable: ("pc", thread) | ("loc", thread, slot) | ("refs", obj) |
# ("done", completion) | ("mrefs", module) | ("mstate", module) | ("holder", mutex) |
# ("var", var).
Key = tuple
Value = Union[int, bool]


class EncodingLimit(Exception):
    """The program cannot be encoded within the fixed limits (too many paths
    through an `atomic` block); the engines answer Unknown."""

    def __init__(self, message: str, span: Optional[Span] = None):
        super().__init__(message)
        self.span = span


@dataclass(frozen=True)
class StateVar:
    key: Key
    label: str      # the name without its time: `refs(md_kobj)`
    is_bool: bool


@dataclass(frozen=True)
class Outcome:
    """One way a step can go: when `guard` holds in the state before the step,
    either it writes `updates` and continues at `next_pc`, or it violates the
    check `violation`."""

    guard: z3.BoolRef
    updates: tuple[tuple[Key, z3.ExprRef], ...] = ()
    next_pc: int = DONE
    violation: Optional[str] = None
    span: Optional[Span] = None     # for ATOMIC_LIMIT: the loop that ran out


@dataclass(frozen=True)
class NodeAt:
    """Step `step` of thread `thread` as a candidate move at one time."""

    thread: int
    step: M.Step
    at_pc: z3.BoolRef               # pc(thread)@t == step.id
    gone: Optional[z3.BoolRef]      # the step's owner is gone (None for core code)
    outcomes: tuple[Outcome, ...]
    nondet: bool                    # outcomes are told apart by choice@t
    enabled: z3.BoolRef             # some outcome's guard holds (violations included)


@dataclass(frozen=True)
class StatementGroup:
    """The steps (over threads, copies and inlined calls) of one source statement."""

    text: str
    span: Span
    members: tuple[tuple[int, int], ...]   # (thread index, step id)


def _is_true(e: z3.ExprRef) -> bool:
    return z3.is_true(e)


def _is_false(e: z3.ExprRef) -> bool:
    return z3.is_false(e)


class Encoding:
    """Formulas for `program` in Z3 context `ctx`; `prefix` keeps the names of
    two encodings in one context apart (the k-induction path uses its own)."""

    def __init__(self, program: M.Program, ctx: Optional[z3.Context] = None, prefix: str = "",
                 atomic_unroll: int = ATOMIC_UNROLL):
        self.program = program
        self.ctx = ctx if ctx is not None else z3.Context()
        self.prefix = prefix
        self.atomic_unroll = atomic_unroll
        self.true = z3.BoolVal(True, self.ctx)
        self.false = z3.BoolVal(False, self.ctx)
        self.state_vars = self._state_vars()
        self._by_key = {sv.key: sv for sv in self.state_vars}
        self._consts: dict[tuple[str, int], z3.ExprRef] = {}
        self._nodes: dict[int, tuple[NodeAt, ...]] = {}

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
        return c

    def _state_vars(self) -> tuple[StateVar, ...]:
        p = self.program
        out = []
        for i, th in enumerate(p.threads):
            out.append(StateVar(("pc", i), f"pc({th.name})", False))
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
        return tuple(out)

    def at(self, key: Key, t: int) -> z3.ExprRef:
        """State variable `key` at time `t`."""
        sv = self._by_key[key]
        return self._const(sv.label, t, sv.is_bool)

    def pc(self, i: int, t: int) -> z3.ArithRef:
        return self.at(("pc", i), t)

    def moved(self, i: int, t: int) -> z3.BoolRef:
        """Thread `i` takes the step from state `t` to `t+1`."""
        return self._const(f"moved({self.program.threads[i].name})", t, True)

    def choice(self, t: int) -> z3.ArithRef:
        """Which branch of a `choose` (or path of an `atomic` with one) step `t` takes."""
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
            return [out(T, next_pc=b) for b in st.branches]
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
            return self._atomic(st, i, t)
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

    def _atomic(self, st: M.Step, i: int, t: int) -> list[Outcome]:
        """Symbolic execution of an atomic body into paths (NOTE(atomic-paths))."""
        paths: list[Outcome] = []

        def run(stmts: tuple, store: dict, conds: list, iters: int) -> None:
            if len(paths) > MAX_ATOMIC_PATHS:
                raise EncodingLimit(f"more than {MAX_ATOMIC_PATHS} paths through one atomic block",
                                    st.span)

            def read(key):
                v = store.get(key)
                return v if v is not None else self.at(key, t)

            def cont(rest, extra_cond=None, upd=None, n=iters):
                c = conds
                if extra_cond is not None:
                    if _is_false(z3.simplify(extra_cond)):
                        return
                    c = conds + [extra_cond]
                run(rest, {**store, **upd} if upd else store, c, n)

            def fail(cond, check, span=None):
                if not _is_false(z3.simplify(cond)):
                    paths.append(Outcome(self._and(conds + [cond]), (), DONE, check, span))

            if not stmts:
                paths.append(Outcome(self._and(conds), tuple(store.items()), st.next))
                return
            first, rest = stmts[0], stmts[1:]
            if isinstance(first, M.AOp):
                viol, upd = self._prim(first.kind, first.operand, read, i)
                if viol is None:
                    cont(rest, None, upd)
                else:
                    fail(viol[0], viol[1])
                    cont(rest, z3.Not(viol[0]), upd)
            elif isinstance(first, M.AAssign):
                cont(rest, None, {self._lkey(first.target, i): self.expr(first.value, read, i)})
            elif isinstance(first, M.AAssert):
                c = self.expr(first.cond, read, i)
                fail(z3.Not(c), "assertion")
                cont(rest, c)
            elif isinstance(first, M.AAwait):
                c, upd = self._test(first.cond, read, i)
                cont(rest, c, upd)   # a false await drops the path: not enabled on it
            elif isinstance(first, M.AIf):
                c, upd = self._test(first.cond, read, i)
                cont(first.then + rest, c, upd)
                cont(first.orelse + rest, z3.Not(c))
            elif isinstance(first, M.AWhile):
                c, upd = self._test(first.cond, read, i)
                if iters >= self.atomic_unroll:
                    fail(c, ATOMIC_LIMIT, first.span)
                else:
                    cont(first.body + stmts, c, upd, iters + 1)
                cont(rest, z3.Not(c))
            elif isinstance(first, M.AChoose):
                for branch in first.branches:
                    cont(branch + rest)
            else:
                raise AssertionError(first)

        run(st.body, {}, [], 0)
        return paths

    def nodes(self, t: int) -> tuple[NodeAt, ...]:
        """Every step of every thread as a candidate move from state `t`."""
        got = self._nodes.get(t)
        if got is not None:
            return got
        out = []
        for i, th in enumerate(self.program.threads):
            pc = self.pc(i, t)
            for st in th.steps:
                outs = tuple(self._outcomes(st, i, t))
                gone = None if st.owner < 0 else self.at(("mstate", st.owner), t) == GONE
                nondet = st.kind is StepKind.CHOOSE or (
                    st.kind is StepKind.ATOMIC and _has_choose(st.body))
                out.append(NodeAt(i, st, pc == st.id, gone, outs, nondet,
                                  self._or([o.guard for o in outs])))
        got = tuple(out)
        self._nodes[t] = got
        return got

    def _select(self, node: NodeAt, k: int, t: int) -> z3.BoolRef:
        """Outcome `k` of `node` is the one taken (given the node moves and is enabled)."""
        o = node.outcomes[k]
        if node.nondet:
            return z3.And(self.choice(t) == k, o.guard)
        return o.guard

    # ------------------------------------------------------------------ formulas

    def init(self, t: int = 0) -> z3.BoolRef:
        """State `t` is the initial state (semantics.initial)."""
        p = self.program
        eqs = []
        for i, th in enumerate(p.threads):
            eqs.append(self.pc(i, t) == th.entry)
            eqs += [self.at(("loc", i, j), t) == self.val(sl.init) for j, sl in enumerate(th.locals)]
        eqs += [self.at(("refs", k), t) == o.refs for k, o in enumerate(p.objects)]
        eqs += [self.at(("done", k), t) == c.done for k, c in enumerate(p.completions)]
        eqs += [self.at(("mrefs", k), t) == m.refs for k, m in enumerate(p.modules)]
        eqs += [self.at(("mstate", k), t) == LOADED for k in range(len(p.modules))]
        eqs += [self.at(("holder", k), t) == FREE for k in range(len(p.mutexes))]
        eqs += [self.at(("var", k), t) == self.val(v.init) for k, v in enumerate(p.vars)]
        return self._and(eqs)

    def all_done(self, t: int) -> z3.BoolRef:
        return self._and([self.pc(i, t) == DONE for i in range(len(self.program.threads))])

    def trans(self, t: int) -> z3.BoolRef:
        """State `t+1` follows from state `t`: at most one thread moves, by an enabled
        step (a violating one included: `step_violation(t)` tells those apart); no
        thread moves only when all are done.  Every state variable at `t+1` is an
        `If` over the outcomes that write it, else its value at `t`."""
        n = len(self.program.threads)
        moved = [self.moved(i, t) for i in range(n)]
        cs = []
        if n <= 6:
            cs += [z3.Not(z3.And(moved[a], moved[b])) for a in range(n) for b in range(a + 1, n)]
        else:
            cs.append(z3.AtMost(*moved, 1))
        cs.append(self._or(moved + [self.all_done(t)]))

        writers: dict[Key, list] = {sv.key: [] for sv in self.state_vars}
        pc_next: dict[int, list] = {i: [] for i in range(n)}
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
            if ok:
                npc = self.val(node.outcomes[ok[-1]].next_pc)
                for k in reversed(ok[:-1]):
                    npc = z3.If(sels[k], self.val(node.outcomes[k].next_pc), npc)
                pc_next[i].append((node.at_pc, npc))
        for i in range(n):
            cs.append(z3.Implies(moved[i], self._or(can[i])))
            cur = self.pc(i, t)
            npc = cur
            for at_pc, v in reversed(pc_next[i]):
                npc = z3.If(at_pc, v, npc)
            cs.append(self.pc(i, t + 1) == z3.If(moved[i], npc, cur))
        for sv in self.state_vars:
            if sv.key[0] == "pc":
                continue
            cur = self.at(sv.key, t)
            nxt = cur
            for cond, value in reversed(writers[sv.key]):
                nxt = z3.If(cond, value, nxt)
            cs.append(self.at(sv.key, t + 1) == nxt)
        return self._and(cs)

    def step_violations(self, t: int) -> dict[str, z3.BoolRef]:
        """For each check (and ATOMIC_LIMIT): the step from `t` violates it.
        code-after-unload comes first: an enabled step whose owner is gone."""
        per: dict[str, list] = {c: [] for c in STEP_CHECKS}
        for node in self.nodes(t):
            base = z3.And(self.moved(node.thread, t), node.at_pc)
            if node.gone is not None:
                per[CODE_AFTER_UNLOAD].append(z3.And(base, node.gone, node.enabled))
            for k, o in enumerate(node.outcomes):
                if o.violation is None:
                    continue
                c = [base, self._select(node, k, t)]
                if node.gone is not None:
                    c.append(z3.Not(node.gone))
                per[o.violation].append(self._and(c))
        return {c: self._or(v) for c, v in per.items()}

    def step_violation(self, t: int) -> z3.BoolRef:
        """The step from state `t` to `t+1` violates a check."""
        return self._or(list(self.step_violations(t).values()))

    def violation_enabled(self, t: int) -> z3.BoolRef:
        """Some thread could take a violating step from state `t` (no `moved`)."""
        cs = []
        for node in self.nodes(t):
            viol = self._or([o.guard for o in node.outcomes if o.violation is not None])
            if node.gone is not None:
                viol = z3.Or(z3.And(node.gone, node.enabled), z3.And(z3.Not(node.gone), viol))
            if not _is_false(viol):
                cs.append(z3.And(node.at_pc, viol))
        return self._or(cs)

    def thread_enabled(self, i: int, t: int) -> z3.BoolRef:
        return self._or([z3.And(n.at_pc, n.enabled) if not _is_true(n.enabled) else n.at_pc
                         for n in self.nodes(t) if n.thread == i])

    def can_move(self, t: int) -> z3.BoolRef:
        """Some thread has an enabled step in state `t` (a violating one counts)."""
        return self._or([self.thread_enabled(i, t) for i in range(len(self.program.threads))])

    def deadlock(self, t: int) -> z3.BoolRef:
        """Some thread is not done and no thread can take a step (semantics.deadlocked)."""
        return z3.And(z3.Not(self.all_done(t)), z3.Not(self.can_move(t)))

    def invariant_false(self, t: int) -> z3.BoolRef:
        return self._or([z3.Not(self.prop(inv, t)) for inv in self.program.invariants])

    def prop(self, prop: M.Prop, t: int) -> z3.BoolRef:
        """An invariant's or a cover's expression in state `t`."""
        return self.expr(prop.expr, lambda key: self.at(key, t))

    def cover(self, c: int, t: int) -> z3.BoolRef:
        return self.prop(self.program.covers[c], t)

    def bad_state(self, t: int) -> z3.BoolRef:
        """State `t` ends an execution with a violation: invariant false, deadlock,
        or a violating step (or an atomic path beyond the unrolling) enabled."""
        return self._or([self.invariant_false(t), self.deadlock(t), self.violation_enabled(t)])

    # ------------------------------------------------------------------ statements

    def statement_groups(self) -> tuple[StatementGroup, ...]:
        """The program's steps grouped by source statement, in source order."""
        groups: dict[tuple, list] = {}
        spans: dict[tuple, Span] = {}
        for i, th in enumerate(self.program.threads):
            for st in th.steps:
                key = (st.span.line, st.span.col, st.text)
                groups.setdefault(key, []).append((i, st.id))
                spans.setdefault(key, st.span)
        return tuple(StatementGroup(key[2], spans[key], tuple(m)) for key, m in sorted(groups.items()))

    def takeable(self, group: StatementGroup, t: int) -> z3.BoolRef:
        """Some step of `group` is enabled in state `t` (so some execution takes it next)."""
        by = {(n.thread, n.step.id): n for n in self.nodes(t)}
        return self._or([z3.And(by[m].at_pc, by[m].enabled) for m in group.members])

    def taken(self, group: StatementGroup, t: int) -> z3.BoolRef:
        """Some step of `group` is the step from state `t`."""
        return self._or([z3.And(self.moved(i, t), self.pc(i, t) == sid) for i, sid in group.members])

    # ------------------------------------------------------------------ induction helpers

    def domain(self, t: int) -> z3.BoolRef:
        """Facts true in every reachable state (pcs, module states and holders in
        range, counts never negative): they strengthen the induction step."""
        p = self.program
        cs = []
        for i, th in enumerate(p.threads):
            pc = self.pc(i, t)
            cs.append(z3.Or(pc == DONE, z3.And(pc >= 0, pc < len(th.steps))))
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
        return self._or([self.at(sv.key, t1) != self.at(sv.key, t2) for sv in self.state_vars])

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
            pcs=tuple(get(("pc", i)) for i in range(n)),
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
        """The thread that moved at step `t` of `model` (None: nobody, all done)."""
        for i in range(len(self.program.threads)):
            if z3.is_true(model.eval(self.moved(i, t), model_completion=True)):
                return i
        return None


def _has_choose(body) -> bool:
    for s in body:
        if isinstance(s, M.AChoose):
            return True
        if isinstance(s, M.AIf) and (_has_choose(s.then) or _has_choose(s.orelse)):
            return True
        if isinstance(s, M.AWhile) and _has_choose(s.body):
            return True
    return False
