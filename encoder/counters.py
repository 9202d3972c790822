"""The counter system of a `thread NAME[*]` template in Z3, and the certificate of a proof for every K.

NOTE(counter-system): for every K at once, the program is a *counter system*:
the single threads and the shared state as in `Encoding`, and per group a count
`n(u)` of the copies in each *extended configuration* u = (pc, locals,
mutexes held, ghost), the ghost being the copy's net contribution to every
shared integer (NOTE(counters) in modproof/explicit/counters.py).  The shared
integers are not variables of their own: each is its *remainder* plus the sum
over configurations of n(u) * ghost(u), so a copy's step that adds d to an
integer moves the copy to a configuration whose ghost is larger by d, and a
single thread's step changes the remainder.  The configurations are the finite
set U the abstract search met; a copy that would leave U is counted in
`n(other)`, which the invariant says is 0.  The moves are the steps of
`encoder/steps.py` (the symbolic twin of the reference semantics, tested
against it): a single thread's as in `Encoding.trans`, a copy's from u with
n(u) >= 1, its locals the constants of u, the shared integers the sums above,
and a mutex held by another copy of its group seen as held by someone else
(`OTHER`).  Dead locals are reset to their initial values after every move, as
the explicit engines do (a bisimulation: no later step reads them).

The certificate: the abstract reachable set read as a formula, `inv` (per
abstract state: the singles' pcs and locals, the shared state that is not an
integer, the remainders, and per class of the state its count, exactly k or at
least c, the other configurations 0), and Z3 shows, with K unbounded:

- initiation: the initial state of every K >= 1 satisfies inv;
- consecution: inv and any move lead to a state that satisfies inv;
- safety: no state of inv has an enabled violating step, a false invariant
  or a deadlock.

Any answer but unsat to one of these (sat, or Z3 gave up) and the certificate is
not checked: the proof is not reported.  Covers the abstraction never reaches
are certified the same way (inv and the cover is unsat).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import z3

from modproof.encoder.encoding import Encoding
from modproof.encoder.outcomes import NodeAt
from modproof.encoder.timeline import is_true
from modproof.explicit.counters import (
    OMEGA, AState, Layout, accelerated_pcs, cyclic_pairs, group_holder,
)
from modproof.spec.model import DONE, GONE, LOADED
from modproof.spec.vocabulary import FREE

_KEY = {"refs": "refs", "done": "done", "mrefs": "mrefs", "vars": "var"}   # layout -> encoding


@dataclass
class Certificate:
    """The outcome of checking an all-K proof: `checked` only when every query was unsat."""

    checked: bool
    reason: str = ""                  # why not, in words
    gave_up: bool = False             # not checked because Z3 answered unknown (not because it refuted)
    seconds: float = 0.0
    queries: int = 0
    disjuncts: int = 0
    covers_unreachable: frozenset = field(default_factory=frozenset)   # covers certified unreachable


class CounterSystem:
    """The counter system of template `layout.p` over configurations `configs`
    (per group, the extended configurations (pc, locals, holds, ghost) it may use)."""

    def __init__(self, layout: Layout, configs: list[list[tuple]], c: int):
        self.lay = layout
        self.c = c
        rp, where = layout.program(tuple(1 for _ in layout.groups))
        self.rp = rp
        self.enc = Encoding(rp, por=False, symmetry=False)
        self.ctx = self.enc.ctx
        # thread index in rp of each single (by its index among the singles) and group template
        self.single_at = [t for t, w in enumerate(where) if w[0] == "s"]
        self.group_at = [next(t for t, w in enumerate(where) if w[0] == "c" and w[1] == g)
                         for g in range(len(layout.groups))]
        self.configs = [list(cs) for cs in configs]
        self.index = [{u: k for k, u in enumerate(cs)} for cs in self.configs]
        self.int_keys = [(_KEY[tb], i) for tb, i in layout.slots]
        self.bool_var_keys = [("var", i) for i, v in enumerate(rp.vars)
                              if ("vars", i) not in layout.slot_of]
        self._vars: dict = {}
        self._atoms: dict = {}
        self._nodes = self.enc.nodes(0)
        self._node_at = {(n.thread, n.step.id): n for n in self._nodes}
        self.accelerated = {}
        for t in self.single_at + self.group_at:
            th = rp.threads[t]
            self.accelerated[t] = accelerated_pcs(th, cyclic_pairs(th))

    # ------------------------------------------------------------------ variables

    def _int(self, name: str, t: int) -> z3.ArithRef:
        key = (name, t)
        v = self._vars.get(key)
        if v is None:
            v = self._vars[key] = z3.Int(f"{name}@{t}", self.ctx)
        return v

    def rem(self, x: int, t: int) -> z3.ArithRef:
        return self._int(f"rem[{self.enc.state_var(self.int_keys[x]).label}]", t)

    def n(self, g: int, k: int, t: int) -> z3.ArithRef:
        """The count of configuration k of group g (k == len(configs[g]): 'other')."""
        name = self.lay.groups[g]
        return self._int(f"n[{name}#{'other' if k == len(self.configs[g]) else k}]", t)

    def value(self, x: int, t: int) -> z3.ArithRef:
        """Shared integer x: its remainder plus the copies' contributions."""
        terms = [self.rem(x, t)]
        for g, cs in enumerate(self.configs):
            for k, u in enumerate(cs):
                d = u[3][x]
                if d:
                    terms.append(self.n(g, k, t) * d)
        return terms[0] if len(terms) == 1 else z3.Sum(terms)

    def _ints_at(self, t: int) -> list:
        return [(self.enc.at(key, t), self.value(x, t)) for x, key in enumerate(self.int_keys)]

    def domain(self, t: int) -> z3.BoolRef:
        enc = self.enc
        cs = []
        for g, confs in enumerate(self.configs):
            cs += [self.n(g, k, t) >= 0 for k in range(len(confs) + 1)]
        for i in self.single_at:
            th = self.rp.threads[i]
            at = [enc.pc_is(i, pc, t) for pc in (DONE,) + tuple(st.id for st in th.steps)]
            cs += [z3.Or(at), z3.AtMost(*at, 1)]
        return z3.And(cs)

    def _holder(self, h: int) -> int:
        """The value of a mutex holder of an abstract state in the counter system."""
        if h == FREE:
            return FREE
        if h >= 0:
            return self.single_at[h]
        return self.group_at[-2 - h]

    # ------------------------------------------------------------------ states

    def _atom(self, key: tuple) -> z3.BoolRef:
        """The literal `key` names (a feature's value at a time), built once."""
        got = self._atoms.get(key)
        if got is not None:
            return got
        enc, kind, t = self.enc, key[0], key[-1]
        if kind == "pc":
            got = enc.pc_is(key[1], key[2], t)
        elif kind == "loc":
            got = enc.at(("loc", key[1], key[2]), t) == enc.val(key[3])
        elif kind == "mstate":
            got = enc.at(("mstate", key[1]), t) == key[2]
        elif kind == "holder":
            got = enc.at(("holder", key[1]), t) == self._holder(key[2])
        elif kind == "var":
            got = enc.at(("var", key[1]), t) == enc.val(key[2])
        elif kind == "rem":
            got = self.rem(key[1], t) == key[2]
        elif kind == "n":
            nk = self.n(key[1], key[2], t)
            got = nk >= self.c if key[3] == OMEGA else nk == key[3]
        elif kind == "zero":
            got = self.n(key[1], key[2], t) == 0
        else:
            raise AssertionError(key)
        self._atoms[key] = got
        return got

    # NOTE(invariant-diagram): the invariant as a multi-valued decision diagram over
    # the features of a state (the singles' pcs and locals, the shared state that
    # is not an integer, the remainders, and each configuration's count: 0, k or
    # "c or more"), one Z3 Boolean per node defined as the disjunction, over the
    # node's values, of the feature's literal and the child's Boolean.  Equal
    # sub-diagrams are one node, so a set of states that is a product is small, and
    # Z3 decides whether a state is in the set by propagation.

    def _features(self) -> list[tuple]:
        out = [("pc", j) for j in range(len(self.single_at))]
        out += [("loc", j, s) for j, i in enumerate(self.single_at)
                for s in range(len(self.rp.threads[i].locals))]
        out += [("mstate", m) for m in range(len(self.rp.modules))]
        out += [("holder", m) for m in range(len(self.rp.mutexes))]
        out += [("var", key[1]) for key in self.bool_var_keys]
        out += [("rem", x) for x in range(len(self.int_keys))]
        out += [("n", g, k) for g, cs in enumerate(self.configs) for k in range(len(cs))]
        return out

    def _row(self, a: AState, features) -> tuple:
        counts = {}
        for g, classes in enumerate(a.classes):
            for cl in classes:
                counts[(g, self.index[g][cl[:4]])] = cl[4]
        out = []
        for f in features:
            kind = f[0]
            if kind == "pc":
                out.append(a.spcs[f[1]])
            elif kind == "loc":
                out.append(a.slocs[f[1]][f[2]])
            elif kind == "mstate":
                out.append(a.mstate[f[1]])
            elif kind == "holder":
                out.append(a.holders[f[1]])
            elif kind == "var":
                out.append(a.vars[f[1]])
            elif kind == "rem":
                tb, i = self.lay.slots[f[1]]
                out.append(getattr(a, tb)[i])
            else:
                out.append(counts.get((f[1], f[2]), 0))
        return tuple(out)

    def _literal(self, f: tuple, v, t: int) -> z3.BoolRef:
        kind = f[0]
        if kind == "pc":
            return self._atom(("pc", self.single_at[f[1]], v, t))
        if kind == "loc":
            return self._atom(("loc", self.single_at[f[1]], f[2], v, t))
        if kind in ("mstate", "holder", "var"):
            return self._atom((kind, f[1], v, t))
        if kind == "rem":
            return self._atom(("rem", f[1], v, t))
        if v == 0:
            return self._atom(("zero", f[1], f[2], t))
        return self._atom(("n", f[1], f[2], v, t))

    def invariant_diagram(self, states, t: int) -> tuple[z3.BoolRef, list]:
        """The invariant at time t as (the root's Boolean, the definitions of the nodes)."""
        features = self._features()
        rows = sorted({self._row(a, features) for a in states})
        unique: dict = {}
        nodes: list = []                 # node id -> (level, ((value, child), ...))

        def build(level: int, lo: int, hi: int) -> int:
            if level == len(features):
                return -1                 # the leaf "true"
            kids = []
            i = lo
            while i < hi:
                v = rows[i][level]
                j = i
                while j < hi and rows[j][level] == v:
                    j += 1
                kids.append((v, build(level + 1, i, j)))
                i = j
            key = (level, tuple(kids))
            got = unique.get(key)
            if got is None:
                got = unique[key] = len(nodes)
                nodes.append(key)
            return got

        root = build(0, 0, len(rows)) if rows else None
        if root is None:
            return z3.BoolVal(False, self.ctx), []
        names = [z3.Bool(f"inv#{n}@{t}", self.ctx) for n in range(len(nodes))]
        defs = []
        for n, (level, kids) in enumerate(nodes):
            f = features[level]
            alts = [self._literal(f, v, t) if child < 0 else z3.And(self._literal(f, v, t), names[child])
                    for v, child in kids]
            defs.append(names[n] == (z3.Or(alts) if len(alts) > 1 else alts[0]))
        return names[root], defs

    def init(self, t: int) -> z3.BoolRef:
        """The initial state of every K >= 1."""
        enc, lay, p = self.enc, self.lay, self.rp
        cs = []
        for i in self.single_at:
            th = p.threads[i]
            for pc in (DONE,) + tuple(st.id for st in th.steps):
                cs.append(enc.pc_is(i, pc, t) if pc == th.entry else z3.Not(enc.pc_is(i, pc, t)))
            cs += [enc.at(("loc", i, s), t) == enc.val(sl.init) for s, sl in enumerate(th.locals)]
        cs += [enc.at(("mstate", m), t) == LOADED for m in range(len(p.modules))]
        cs += [enc.at(("holder", m), t) == FREE for m in range(len(p.mutexes))]
        cs += [enc.at(key, t) == enc.val(p.vars[key[1]].init) for key in self.bool_var_keys]
        inits = {"refs": [o.refs for o in p.objects], "done": [c.done for c in p.completions],
                 "mrefs": [m.refs for m in p.modules], "vars": [v.init for v in p.vars]}
        cs += [self.rem(x, t) == inits[tb][i] for x, (tb, i) in enumerate(lay.slots)]
        for g, confs in enumerate(self.configs):
            th = p.threads[self.group_at[g]]
            u0 = (th.entry, lay.reset_dead(lay.template[g], th.entry,
                                           tuple(sl.init for sl in th.locals)),
                  (), (0,) * len(lay.slots))
            k0 = self.index[g].get(u0)
            for k in range(len(confs) + 1):
                cs.append(self.n(g, k, t) >= 1 if k == k0 else self.n(g, k, t) == 0)
            if k0 is None:
                cs.append(z3.BoolVal(False, self.ctx))
        return z3.And(cs)

    def moves(self) -> list:
        """(mover, label, move formula or None, violation formula or None) of every
        move: a single thread's step ("s", single, pc) or a copy's from a
        configuration ("c", group, configuration)."""
        return list(self.single_moves()) + list(self.copy_moves())

    # ------------------------------------------------------------------ valuations
    # A valuation of the counter system, for tests: (pcs of the singles, their
    # locals, mstate, holders, bool vars, remainders, counts per group with
    # `other` last), the stored values as the formulas use them.

    def pin(self, v: tuple, t: int) -> z3.BoolRef:
        """The counter system is in valuation `v` at time t."""
        enc = self.enc
        spcs, slocs, mstate, holders, bools, rems, counts = v
        cs = []
        for j, i in enumerate(self.single_at):
            th = self.rp.threads[i]
            cs += [enc.pc_is(i, pc, t) == (pc == spcs[j]) for pc in (DONE,) + tuple(st.id for st in th.steps)]
            cs += [enc.at(("loc", i, s), t) == enc.val(x) for s, x in enumerate(slocs[j])]
        cs += [enc.at(("mstate", m), t) == x for m, x in enumerate(mstate)]
        cs += [enc.at(("holder", m), t) == x for m, x in enumerate(holders)]
        cs += [enc.at(key, t) == enc.val(x) for key, x in zip(self.bool_var_keys, bools)]
        cs += [self.rem(x, t) == r for x, r in enumerate(rems)]
        for g, ns in enumerate(counts):
            cs += [self.n(g, k, t) == n for k, n in enumerate(ns)]
        return z3.And(cs)

    def read(self, model: z3.ModelRef, t: int) -> tuple:
        """The valuation at time t of `model`."""
        enc = self.enc

        def get(e):
            x = model.eval(e, model_completion=True)
            return z3.is_true(x) if z3.is_bool(x) else x.as_long()

        spcs, slocs = [], []
        for i in self.single_at:
            th = self.rp.threads[i]
            spcs.append(next(pc for pc in (DONE,) + tuple(st.id for st in th.steps)
                             if get(enc.pc_is(i, pc, t))))
            slocs.append(tuple(get(enc.at(("loc", i, s), t)) for s in range(len(th.locals))))
        return (tuple(spcs), tuple(slocs),
                tuple(get(enc.at(("mstate", m), t)) for m in range(len(self.rp.modules))),
                tuple(get(enc.at(("holder", m), t)) for m in range(len(self.rp.mutexes))),
                tuple(get(enc.at(key, t)) for key in self.bool_var_keys),
                tuple(get(self.rem(x, t)) for x in range(len(self.int_keys))),
                tuple(tuple(get(self.n(g, k, t)) for k in range(len(cs) + 1))
                      for g, cs in enumerate(self.configs)))

    # ------------------------------------------------------------------ moves

    def _copy_view(self, g: int, u: tuple) -> list:
        """Substitutions that put a copy of group g in configuration u: its locals
        are u's constants, the integers the counter system's sums, and a mutex
        another copy of the group holds appears held by someone else."""
        enc = self.enc
        j = self.group_at[g]
        pairs = self._ints_at(0)
        pairs += [(enc.at(("loc", j, s), 0), enc.val(v)) for s, v in enumerate(u[1])]
        other = self.other(g)
        for m in range(len(self.rp.mutexes)):
            h = enc.at(("holder", m), 0)
            mine = j if m in u[2] else other
            pairs.append((h, z3.If(h == j, z3.IntVal(mine, self.ctx), h)))
        return pairs

    def other(self, g: int) -> int:
        """How a copy of group g sees a mutex another copy of its group holds."""
        return group_holder(len(self.rp.threads) + g)

    def _nodes_of(self, thread: int, pc: int) -> NodeAt:
        return self._node_at[(thread, pc)]

    def _chains(self, thread: int, pc: int, locs: list, accelerated: frozenset) -> list:
        """NOTE(local-chains): the ways thread `thread`, landing at `pc` with locals
        `locs` (terms), runs on through local steps: (condition, pc, locals) each."""
        enc = self.enc
        todo = [(None, pc, locs)]
        out = []
        while todo:
            cond, at, cur = todo.pop()
            if at not in accelerated:
                out.append((cond, at, cur))
                continue
            node = self._nodes_of(thread, at)
            pairs = [(enc.at(("loc", thread, s), 0), v) for s, v in enumerate(cur)]
            for o in node.outcomes:
                assert o.violation is None, "a local step cannot fail"
                upd = dict(o.updates)
                g = None if node.nondet else self._subst(o.guard, pairs)
                nxt = [self._subst(upd[("loc", thread, s)], pairs) if ("loc", thread, s) in upd else v
                       for s, v in enumerate(cur)]
                both = [x for x in (cond, g) if x is not None and not is_true(x)]
                todo.append((z3.And(both) if len(both) > 1 else both[0] if both else None,
                             o.next_pc, nxt))
        return out

    @staticmethod
    def _subst(e, pairs):
        return z3.substitute(e, *pairs) if pairs else e

    def _selected(self, node: NodeAt, k: int):
        o = node.outcomes[k]
        if node.nondet:
            return z3.And(self.enc.choice(0) == o.choice, o.guard)
        return o.guard

    def _frame(self, singles=None, groups=()) -> list:
        """The single threads (but `singles`) and the counts of `groups` unchanged."""
        enc = self.enc
        cs = []
        for i in self.single_at:
            if i == singles:
                continue
            th = self.rp.threads[i]
            for pc in (DONE,) + tuple(st.id for st in th.steps):
                cs.append(enc.pc_is(i, pc, 1) == enc.pc_is(i, pc, 0))
            cs += [enc.at(("loc", i, s), 1) == enc.at(("loc", i, s), 0)
                   for s in range(len(th.locals))]
        for g in groups:
            cs += [self.n(g, k, 1) == self.n(g, k, 0) for k in range(len(self.configs[g]) + 1)]
        return cs

    def _shared(self, upd: dict, pairs, holder=None) -> list:
        """The shared state that is not an integer after a step that writes `upd`
        (seen through `pairs`); `holder` maps a written holder to the stored one."""
        enc = self.enc
        cs = []
        keys = ([("mstate", m) for m in range(len(self.rp.modules))]
                + [("holder", m) for m in range(len(self.rp.mutexes))] + self.bool_var_keys)
        for key in keys:
            if key not in upd:
                cs.append(enc.at(key, 1) == enc.at(key, 0))
                continue
            new = self._subst(upd[key], pairs)
            if key[0] == "holder" and holder is not None:
                new = holder(new)
            cs.append(enc.at(key, 1) == new)
        return cs

    def single_moves(self):
        """(label, move formula, violation formula) for every step of every single thread."""
        enc, lay = self.enc, self.lay
        ints = self._ints_at(0)
        for j, i in enumerate(self.single_at):
            th = self.rp.threads[i]
            for node in self._nodes:
                if node.thread != i:
                    continue
                st = node.step
                at = node.at_pc
                moves, bad = [], []
                for k, o in enumerate(node.outcomes):
                    sel = self._subst(self._selected(node, k), ints)
                    if o.violation is not None:
                        bad.append(sel)
                        continue
                    upd = dict(o.updates)
                    landed = [self._subst(upd.get(("loc", i, s), enc.at(("loc", i, s), 0)), ints)
                              for s in range(len(th.locals))]
                    ends = []
                    for cond, end, locs in self._chains(i, o.next_pc, landed, self.accelerated[i]):
                        cs = [] if cond is None else [cond]
                        for pc in (DONE,) + tuple(s.id for s in th.steps):
                            cs.append(enc.pc_is(i, pc, 1) if pc == end else z3.Not(enc.pc_is(i, pc, 1)))
                        dead = set(lay.dead[lay.singles[j]][end] or ())
                        for s, sl in enumerate(th.locals):
                            cs.append(enc.at(("loc", i, s), 1) == (enc.val(sl.init) if s in dead else locs[s]))
                        ends.append(z3.And(cs) if cs else z3.BoolVal(True, self.ctx))
                    cs = [sel, z3.Or(ends)]
                    cs += self._frame(singles=i, groups=range(len(self.configs)))
                    cs += self._shared(upd, ints)
                    for x, key in enumerate(self.int_keys):
                        if key in upd:
                            new = self._subst(upd[key], ints)
                            cs.append(self.rem(x, 1) == self.rem(x, 0) + (new - self.value(x, 0)))
                        else:
                            cs.append(self.rem(x, 1) == self.rem(x, 0))
                    moves.append(z3.And(cs))
                enabled = self._subst(node.enabled, ints)
                if node.gone is not None:
                    bad = [z3.And(node.gone, enabled)] + [z3.And(z3.Not(node.gone), b) for b in bad]
                yield (("s", j, st.id), f"{th.name} at {st.id}",
                       z3.And(at, z3.Or(moves)) if moves else None,
                       z3.And(at, z3.Or(bad)) if bad else None)

    def copy_moves(self):
        """(label, move formula, violation formula) for every configuration of every group."""
        enc, lay = self.enc, self.lay
        for g, confs in enumerate(self.configs):
            j = self.group_at[g]
            th = self.rp.threads[j]
            tpl = lay.template[g]
            for k, u in enumerate(confs):
                pc, locs, holds, ghost = u
                if pc == DONE:
                    continue
                node = self._nodes_of(j, pc)
                pairs = self._copy_view(g, u)
                pre = self.n(g, k, 0) >= 1
                moves, bad = [], []
                for ko, o in enumerate(node.outcomes):
                    sel = self._subst(self._selected(node, ko), pairs)
                    if o.violation is not None:
                        bad.append(sel)
                        continue
                    upd = dict(o.updates)
                    landed = [self._subst(upd.get(("loc", j, s), enc.val(locs[s])), pairs)
                              for s in range(len(th.locals))]
                    for cond, end, end_locs in self._chains(j, o.next_pc, landed, self.accelerated[j]):
                        dead = set(lay.dead[tpl][end] or ())
                        new_locs = [enc.val(sl.init) if s in dead else end_locs[s]
                                    for s, sl in enumerate(th.locals)]
                        moves.append(self._copy_post(g, k, u, o, upd, pairs, sel if cond is None
                                                     else z3.And(sel, cond), end, new_locs))
                enabled = self._subst(node.enabled, pairs)
                if node.gone is not None:
                    bad = [z3.And(node.gone, enabled)] + [z3.And(z3.Not(node.gone), b) for b in bad]
                yield (("c", g, u), f"{th.group} copy in configuration {k} (pc {pc})",
                       z3.And(pre, z3.Or(moves)) if moves else None,
                       z3.And(pre, z3.Or(bad)) if bad else None)

    def _copy_post(self, g, k, u, o, upd, pairs, sel, end, new_locs):
        """A copy of group g in configuration k (= u) takes outcome `o` (its writes
        `upd`, under the copy's view `pairs`) and lands at `end` with locals
        `new_locs`: the move's formula.  The copy joins the configuration whose
        locals, mutexes and ghost (its ghost plus what the step added to each
        integer) it then has, or `other` when none in U matches."""
        enc = self.enc
        confs = self.configs[g]
        j = self.group_at[g]
        views = [self._subst(upd.get(("holder", m), enc.at(("holder", m), 0)), pairs)
                 for m in range(len(self.rp.mutexes))]
        ghost = [u[3][x] + (self._subst(upd[key], pairs) - self.value(x, 0)) if key in upd
                 else z3.IntVal(u[3][x], self.ctx) for x, key in enumerate(self.int_keys)]
        matched = {}
        for k2, u2 in enumerate(confs):
            if u2[0] != end:
                continue
            eq = [a == enc.val(b) for a, b in zip(new_locs, u2[1])]
            eq += [(views[m] == j) == (m in u2[2]) for m in range(len(views))]
            eq += [a == b for a, b in zip(ghost, u2[3])]
            matched[k2] = z3.And(eq) if eq else z3.BoolVal(True, self.ctx)
        one, zero = z3.IntVal(1, self.ctx), z3.IntVal(0, self.ctx)
        cs = [sel]
        for k2 in range(len(confs)):
            delta = [z3.IntVal(-1, self.ctx)] if k2 == k else []
            if k2 in matched:
                delta.append(z3.If(matched[k2], one, zero))
            cs.append(self.n(g, k2, 1) == (self.n(g, k2, 0) + z3.Sum(delta) if delta
                                           else self.n(g, k2, 0)))
        hit = z3.Or(list(matched.values())) if matched else z3.BoolVal(False, self.ctx)
        cs.append(self.n(g, len(confs), 1) == self.n(g, len(confs), 0) + z3.If(hit, zero, one))
        other = self.other(g)
        cs += self._frame(groups=[h for h in range(len(self.configs)) if h != g])
        cs += self._shared(upd, pairs, lambda v: z3.If(v == other, j, v))
        cs += [self.rem(x, 1) == self.rem(x, 0) for x in range(len(self.int_keys))]
        return z3.And(cs)

    # ------------------------------------------------------------------ state checks

    def invariant_false(self, t: int = 0) -> z3.BoolRef:
        ints = self._ints_at(t)
        props = [z3.Not(self._subst(self.enc.prop(inv, t), ints)) for inv in self.rp.invariants]
        return z3.Or(props) if props else z3.BoolVal(False, self.ctx)

    def cover(self, i: int, t: int = 0) -> z3.BoolRef:
        return self._subst(self.enc.prop(self.rp.covers[i], t), self._ints_at(t))

    def deadlock(self) -> z3.BoolRef:
        """Some thread unfinished and no move enabled (semantics.deadlocked)."""
        enc = self.enc
        unfinished, blocked = [], []
        ints = self._ints_at(0)
        for i in self.single_at:
            th = self.rp.threads[i]
            if not th.service:
                idle = [enc.pc_is(i, st.id, 0) for st in th.steps if st.idle]
                unfinished.append(z3.Not(z3.Or([enc.pc_is(i, DONE, 0)] + idle)))
            for node in self._nodes:
                if node.thread == i:
                    blocked.append(self._disabled(node, node.at_pc, ints))
        for g, confs in enumerate(self.configs):
            j = self.group_at[g]
            th = self.rp.threads[j]
            for k, u in enumerate(confs):
                present = self.n(g, k, 0) >= 1
                if u[0] == DONE:
                    continue
                if not th.service and not th.steps[u[0]].idle:
                    unfinished.append(present)
                node = self._nodes_of(j, u[0])
                blocked.append(self._disabled(node, present, self._copy_view(g, u)))
        if not unfinished:
            return z3.BoolVal(False, self.ctx)
        return z3.And([z3.Or(unfinished)] + blocked)

    def _disabled(self, node: NodeAt, present, pairs) -> z3.BoolRef:
        if is_true(node.enabled):
            return z3.Not(present)
        en = self._subst(node.enabled, pairs)
        if node.selectors:
            return z3.Or(z3.Not(present), z3.ForAll(list(node.selectors), z3.Not(en)))
        return z3.Or(z3.Not(present), z3.Not(en))


def certify(layout: Layout, states, c: int, edges=(), timeout: Optional[float] = None,
            unreached_covers=()) -> Certificate:
    """Check that the abstract states `states` (the reachable set of the counter
    abstraction with cutoff c) are an inductive invariant of the counter system
    that implies every check, for every K >= 1 (NOTE(counter-system)); and that
    each cover of `unreached_covers` is false in it.

    Consecution is asked move by move (a single thread's step, a copy's from a
    configuration), with the invariant as a decision diagram
    (NOTE(invariant-diagram)).  `edges` are not needed: the conclusion is the
    whole invariant."""
    start = time.monotonic()
    configs = [sorted({cl[:4] for a in states for cl in a.classes[g]}) for g in range(len(layout.groups))]
    try:
        cs = CounterSystem(layout, configs, c)
    except Exception as exc:   # an atomic block too large for the encoding, say
        from modproof.encoder.encoding import EncodingLimit
        if isinstance(exc, EncodingLimit):
            return Certificate(False, f"the counter system cannot be encoded: {exc}",
                               seconds=time.monotonic() - start)
        raise
    solver = z3.Solver(ctx=cs.ctx)
    if timeout is not None:
        solver.set("timeout", max(1, int(timeout * 1000)))
    solver.add(cs.domain(0))
    queries = 0
    gave_up = False

    def unsat(what: str, *fs) -> Optional[str]:
        nonlocal queries
        queries += 1
        solver.push()
        solver.add(*fs)
        r = solver.check()
        solver.pop()
        if r == z3.unsat:
            return None
        if r == z3.sat:
            return f"Z3 refutes {what}"
        nonlocal gave_up
        gave_up = True
        return f"Z3 could not decide {what} ({solver.reason_unknown()})"

    def done(ok: bool, reason: str = "", covers=frozenset()) -> Certificate:
        return Certificate(ok, reason, gave_up, time.monotonic() - start, queries, len(states),
                           covers)

    states = list(states)
    invs = []
    for t in (0, 1):   # NOTE(invariant-diagram)
        root, defs = cs.invariant_diagram(states, t)
        solver.add(*defs)
        others = [cs.n(g, len(confs), t) == 0 for g, confs in enumerate(cs.configs)]
        invs.append(z3.And([root] + others))
    inv0, inv1 = invs
    why = unsat("initiation (the initial state of some K is not in the invariant)",
                cs.init(0), z3.Not(inv0))
    if why:
        return done(False, why)
    why = unsat("that every invariant holds in the invariant", inv0, cs.invariant_false())
    if why:
        return done(False, why)
    why = unsat("that no state of the invariant is a deadlock", inv0, cs.deadlock())
    if why:
        return done(False, why)
    present = set()
    for a in states:
        present.update(("s", j, pc) for j, pc in enumerate(a.spcs))
        present.update(("c", g, cl[:4]) for g, classes in enumerate(a.classes) for cl in classes)
    for key, label, move, bad in cs.moves():
        if key not in present:
            continue     # no state of the invariant has this mover: the move never happens
        if bad is not None:
            why = unsat(f"that no step of {label} violates a check", inv0, bad)
            if why:
                return done(False, why)
        if move is not None:
            why = unsat(f"consecution for {label}", inv0, move, z3.Not(inv1))
            if why:
                return done(False, why)
    unreachable = set()
    for i in unreached_covers:
        if unsat(f"cover {i}", inv0, cs.cover(i)) is None:
            unreachable.add(i)
    return done(True, covers=frozenset(unreachable))
