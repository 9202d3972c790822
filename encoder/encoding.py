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

Every step of every thread becomes a list of `Outcome`s (`steps.py`, and
`atomic.py` for atomic blocks), mirroring `semantics._effects`: a guard over
the state before the step and either the state variables it writes and where
it goes, or the check it violates.  Primitives, queries and operators mean
what their vocabulary entries say (`terms.py`).  `trans` writes each
next-state variable once, as an `If` over the outcomes that write it, else
unchanged.  NOTE(atomic-paths), NOTE(por) (`reductions.py`) and
NOTE(templates) (`timeline.py`) explain atomic blocks, the partial-order
reduction and how formulas move in time.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import z3

from modproof.encoder import reductions, steps, terms
from modproof.encoder.atomic import ATOMIC_UNROLL, MAX_ATOMIC_WORK, EncodingLimit  # noqa: F401
from modproof.encoder.decode import decode_mover, decode_state
from modproof.encoder.outcomes import ATOMIC_LIMIT, Key, NodeAt, Outcome  # noqa: F401
from modproof.encoder.timeline import Timeline, built_once, is_false, is_true
from modproof.spec import model as M
from modproof.spec import vocabulary as V
from modproof.spec.ast import Span
from modproof.spec.model import COMING, DONE, GONE, LOADED
from modproof.spec.semantics import FREE, State

CODE_AFTER_UNLOAD = V.CODE_AFTER_UNLOAD
USE_AFTER_UNLOAD = V.USE_AFTER_UNLOAD
STEP_CHECKS = V.STEP_CHECKS + (ATOMIC_LIMIT,)
Value = object


@dataclass(frozen=True)
class StateVar:
    key: Key
    label: str      # the name without its time: `refs(md_kobj)`
    is_bool: bool


@dataclass(frozen=True)
class StatementGroup:
    """The steps (over threads, copies and inlined calls) of one source statement."""

    text: str
    span: Span
    members: tuple[tuple[int, int], ...]   # (thread index, step id)


class Encoding(Timeline):
    """Formulas for `program` in Z3 context `ctx`; `prefix` keeps the names of
    two encodings in one context apart (the k-induction path uses its own)."""

    def __init__(self, program: M.Program, ctx: Optional[z3.Context] = None, prefix: str = "",
                 atomic_unroll: int = ATOMIC_UNROLL, por: bool = True, symmetry: bool = True):
        super().__init__(ctx, prefix)
        self.program = program
        self.atomic_unroll = atomic_unroll
        self.por = por
        self.alg = terms.Z3Values(self.ctx)
        # (copy j, copy j+1) of every `thread NAME[K]`: NOTE(symmetry-breaking).
        self.symmetric_pairs = (tuple((a, b) for g in program.copy_groups() for a, b in zip(g, g[1:]))
                                if symmetry else ())
        self.state_vars = self._state_vars()
        self._by_key = {sv.key: sv for sv in self.state_vars}
        self._nodes: dict[int, tuple[NodeAt, ...]] = {}
        self._node_indexes: dict[int, dict[tuple[int, int], NodeAt]] = {}
        self._por_facts = None

    # ------------------------------------------------------------------ state variables

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

    def state_var(self, key: Key) -> StateVar:
        return self._by_key[key]

    def at(self, key: Key, t: int) -> z3.ExprRef:
        """State variable `key` at time `t`."""
        sv = self._by_key[key]
        return self.const(sv.label, t, sv.is_bool)

    def pc_is(self, i: int, pc: int, t: int) -> z3.BoolRef:
        """Thread `i` is at step `pc` (or DONE) in state `t`."""
        return self.at(("at", i, pc), t)

    def moved(self, i: int, t: int) -> z3.BoolRef:
        """Thread `i` takes the step from state `t` to `t+1`."""
        return self.const(f"moved({self.program.threads[i].name})", t, True)

    def choice(self, t: int) -> z3.ArithRef:
        """Which branch a `choose` statement takes at step `t`."""
        return self.const("choice", t, False)

    def lkey(self, target: M.LValue, thread: int) -> Key:
        if isinstance(target, M.LocalRef):
            return ("loc", thread, target.slot)
        return ("var", target.index)

    def expr(self, e: M.Expr, read: Callable[[Key], z3.ExprRef], thread: int = -1) -> z3.ExprRef:
        """The value of a pure expression; `read` gives the state variables."""
        return terms.expr(e, read, thread, self.alg)

    # ------------------------------------------------------------------ steps

    def nodes(self, t: int) -> tuple[NodeAt, ...]:
        """Every step of every thread as a candidate move from state `t`."""
        got = self._nodes.get(t)
        if got is None:
            got = self._nodes[t] = steps.nodes(self, t)
        return got

    def _select(self, node: NodeAt, k: int, t: int) -> z3.BoolRef:
        """Outcome `k` of `node` is the one taken (given the node moves and is enabled)."""
        o = node.outcomes[k]
        if node.nondet:
            return self.and_([self.choice(t) == o.choice, o.guard])
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
        eqs += [self.at(("mstate", k), t) == m.start for k, m in enumerate(p.modules)]
        eqs += [self.at(("holder", k), t) == FREE for k in range(len(p.mutexes))]
        eqs += [self.at(("var", k), t) == self.val(v.init) for k, v in enumerate(p.vars)]
        eqs += [z3.Not(self.at(("started", i), t)) for i, _ in self.symmetric_pairs]
        return self.and_(eqs)

    def all_done_or_idle(self, t: int) -> z3.BoolRef:
        """Every thread is done or a v2 worker idles at its wait-for-work step."""
        parts = []
        for i, th in enumerate(self.program.threads):
            if th.service:
                continue        # a service loop is never part of a deadlock
            idle = [self.pc_is(i, st.id, t) for st in th.steps if st.idle]
            parts.append(self.or_([self.pc_is(i, DONE, t)] + idle))
        return self.and_(parts)

    @built_once
    def trans(self, t: int) -> z3.BoolRef:
        """State `t+1` follows from state `t`: exactly one thread moves, by an enabled
        step (a violating one included: `step_violation(t)` tells those apart).
        Every state variable at `t+1` is an `If` over the outcomes that write it,
        else its value at `t`.  An execution that ends sooner has no path of this
        length: each depth is asked about its own executions."""
        n = len(self.program.threads)
        moved = [self.moved(i, t) for i in range(n)]
        cs = [self.or_(moved)]
        if n <= 6:
            cs += [z3.Not(z3.And(moved[a], moved[b])) for a in range(n) for b in range(a + 1, n)]
        else:
            cs.append(z3.AtMost(*moved, 1))
        if self.por and t > 0:
            cs += reductions.partial_order(self, t)
        cs += reductions.symmetry(self, t)

        writers: dict[Key, list] = {sv.key: [] for sv in self.state_vars}
        incoming: dict[tuple[int, int], list] = {}   # (thread, pc) -> ways to get there
        can: dict[int, list] = {i: [] for i in range(n)}
        for node in self.nodes(t):
            i = node.thread
            ok = [k for k, o in enumerate(node.outcomes) if o.violation is None]
            if node.nondet:
                can[i].append(z3.And(node.at_pc, self.or_(
                    [self._select(node, k, t) for k in range(len(node.outcomes))])))
            else:
                can[i].append(z3.And(node.at_pc, node.enabled) if not is_true(node.enabled)
                              else node.at_pc)
            base = z3.And(moved[i], node.at_pc)
            # With one non-violating outcome its writes need no guard: if a violating
            # outcome is taken instead, the next state does not matter.
            sels = {k: (self.true if len(ok) == 1 else self._select(node, k, t)) for k in ok}
            for k in ok:
                for key, value in node.outcomes[k].updates:
                    writers[key].append((self.and_([base, sels[k]]), value))
            for k in ok:
                incoming.setdefault((i, node.outcomes[k].next_pc), []).append(
                    self.and_([node.at_pc, sels[k]]))
        for i in range(n):
            cs.append(z3.Implies(moved[i], self.or_(can[i])))
            for pc in (DONE,) + tuple(st.id for st in self.program.threads[i].steps):
                arrive = self.or_(incoming.get((i, pc), []))
                cs.append(self.pc_is(i, pc, t + 1) == z3.If(moved[i], arrive, self.pc_is(i, pc, t)))
        for sv in self.state_vars:
            if sv.key[0] in ("at", "started"):
                continue
            cur = self.at(sv.key, t)
            nxt = cur
            for cond, value in reversed(writers[sv.key]):
                nxt = z3.If(cond, value, nxt)
            cs.append(self.at(sv.key, t + 1) == nxt)
        return self.and_(cs)

    @staticmethod
    def _judged_first(node: NodeAt) -> list[tuple[str, z3.BoolRef]]:
        """NOTE(check-order): a step that is taken is judged first for
        code-after-unload (its owner is gone); use-after-unload comes next, as the
        step's first outcome (steps.py) or in order inside an atomic block."""
        assert V.JUDGED_FIRST[0] == CODE_AFTER_UNLOAD
        return [(CODE_AFTER_UNLOAD, node.gone)] if node.gone is not None else []

    @built_once
    def step_violations(self, t: int) -> dict[str, z3.BoolRef]:
        """For each check (and ATOMIC_LIMIT): the step from `t` violates it.  An
        enabled step is judged first by NOTE(check-order)'s checks, then by its own."""
        per: dict[str, list] = {c: [] for c in STEP_CHECKS}
        for node in self.nodes(t):
            base = z3.And(self.moved(node.thread, t), node.at_pc)
            first = self._judged_first(node)
            for k, (check, cond) in enumerate(first):
                per[check].append(z3.And([base, cond, node.enabled]
                                         + [z3.Not(c) for _, c in first[:k]]))
            for k, o in enumerate(node.outcomes):
                if o.violation is None:
                    continue
                per[o.violation].append(self.and_([base, self._select(node, k, t)]
                                                  + [z3.Not(c) for _, c in first]))
        return {c: self.or_(v) for c, v in per.items()}

    def step_violation(self, t: int) -> z3.BoolRef:
        """The step from state `t` to `t+1` violates a check."""
        return self.or_(list(self.step_violations(t).values()))

    @built_once
    def violation_enabled(self, t: int) -> z3.BoolRef:
        """Some thread could take a violating step from state `t` (no `moved`)."""
        cs = []
        for node in self.nodes(t):
            viol = self.or_([o.guard for o in node.outcomes if o.violation is not None])
            for _, cond in reversed(self._judged_first(node)):
                viol = z3.Or(z3.And(cond, node.enabled), z3.And(z3.Not(cond), viol))
            if not is_false(viol):
                cs.append(z3.And(node.at_pc, viol))
        return self.or_(cs)

    def thread_enabled(self, i: int, t: int) -> z3.BoolRef:
        return self.or_([z3.And(n.at_pc, n.enabled) if not is_true(n.enabled) else n.at_pc
                         for n in self.nodes(t) if n.thread == i])

    @built_once
    def can_move(self, t: int) -> z3.BoolRef:
        """Some thread has an enabled step in state `t` (a violating one counts)."""
        return self.or_([self.thread_enabled(i, t) for i in range(len(self.program.threads))])

    @built_once
    def deadlock(self, t: int) -> z3.BoolRef:
        """Some thread is not done and no thread can take a step (semantics.deadlocked).
        A block whose enabledness depends on its choices is blocked when it is for
        every choice (NOTE(atomic-paths))."""
        blocked = [z3.Not(self.all_done_or_idle(t))]
        for n in self.nodes(t):
            if is_true(n.enabled):
                blocked.append(z3.Not(n.at_pc))
            elif n.selectors:
                blocked.append(z3.Or(z3.Not(n.at_pc), z3.ForAll(list(n.selectors), z3.Not(n.enabled))))
            else:
                blocked.append(z3.Or(z3.Not(n.at_pc), z3.Not(n.enabled)))
        return self.and_(blocked)

    @built_once
    def invariant_false(self, t: int) -> z3.BoolRef:
        return self.or_([z3.Not(self.prop(inv, t)) for inv in self.program.invariants])

    def prop(self, prop: M.Prop, t: int) -> z3.BoolRef:
        """An invariant's or a cover's expression in state `t`."""
        return self.expr(prop.expr, lambda key: self.at(key, t))

    @built_once
    def cover(self, c: int, t: int) -> z3.BoolRef:
        return self.prop(self.program.covers[c], t)

    @built_once
    def bad_state(self, t: int) -> z3.BoolRef:
        """State `t` ends an execution with a violation: invariant false, deadlock,
        or a violating step (or an atomic path beyond the unrolling) enabled."""
        return self.or_([self.invariant_false(t), self.deadlock(t), self.violation_enabled(t)])

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

    @built_once
    def takeable(self, group: StatementGroup, t: int) -> z3.BoolRef:
        """Some step of `group` is enabled in state `t` (so some execution takes it next)."""
        by = self._node_index(t)
        return self.or_([z3.And(by[m].at_pc, by[m].enabled) for m in group.members])

    def _node_index(self, t: int) -> dict[tuple[int, int], NodeAt]:
        """`nodes(t)` by (thread, step id), built once per t (not once per statement:
        a thread of thousands of statements made that quadratic)."""
        index = self._node_indexes.get(t)
        if index is None:
            index = self._node_indexes[t] = {(n.thread, n.step.id): n for n in self.nodes(t)}
        return index

    # ------------------------------------------------------------------ induction helpers

    @built_once
    def domain(self, t: int) -> z3.BoolRef:
        """Facts true in every reachable state (pcs, module states and holders in
        range, counts never negative): they strengthen the induction step."""
        p = self.program
        cs = []
        for i, th in enumerate(p.threads):
            at = [self.pc_is(i, pc, t) for pc in (DONE,) + tuple(st.id for st in th.steps)]
            cs += [z3.Or(at), z3.AtMost(*at, 1)]
        for k, m in enumerate(p.modules):
            ms = self.at(("mstate", k), t)
            # Only a module with a loader (v3, NOTE(module-init)) is ever coming.
            cs.append(z3.And(ms >= LOADED, ms <= (COMING if m.start == COMING else GONE)))
        for k in range(len(p.mutexes)):
            h = self.at(("holder", k), t)
            cs.append(z3.And(h >= FREE, h < len(p.threads)))
        for kind, decls, attr in (("refs", p.objects, "refs"), ("done", p.completions, "done"),
                                  ("mrefs", p.modules, "refs")):
            for k, d in enumerate(decls):
                if getattr(d, attr) >= 0:   # counts only decrease when not zero
                    cs.append(self.at((kind, k), t) >= 0)
        return self.and_(cs)

    def differ(self, t1: int, t2: int) -> z3.BoolRef:
        """States `t1` and `t2` differ (the simple-path constraint)."""
        return self.or_([self.at(sv.key, t1) != self.at(sv.key, t2) for sv in self.state_vars
                         if sv.key[0] != "started"])

    # ------------------------------------------------------------------ decoding

    def decode_state(self, model: z3.ModelRef, t: int) -> State:
        """State `t` of `model`, in the representation of `spec.semantics`."""
        return decode_state(self, model, t)

    def decode_mover(self, model: z3.ModelRef, t: int) -> Optional[int]:
        """The thread that moved at step `t` of `model`."""
        return decode_mover(self, model, t)
