"""The counter abstraction: every number of copies of `thread NAME[*]` explored at once.

NOTE(counters): copies of a `thread NAME[*]` group are interchangeable (same
code, same initial locals, and nothing in a state is keyed by a copy but the
holder of a mutex, which moves with it), so a state is determined, up to
renaming the copies, by how many copies stand in each *configuration*.  An
abstract state (`AState`) holds

- the single threads' pcs and locals, and the shared state that is not an
  integer (module states, mutex holders, bool vars), exactly;
- per group, a multiset of *classes*: a configuration (pc, live locals,
  mutexes held) with a *ghost* vector, the copy's net contribution to every
  shared integer (refs, done, module refcounts, int vars), and a count,
  exact (1 ... c-1) or OMEGA, "c or more";
- for every shared integer its *remainder*: its value with the copies'
  contributions taken out.  An integer is remainder + sum(count * ghost).

The ghost is what keeps `refs(o) == 1` exact while the number of holders is
unbounded: with n copies holding a reference, refs(o) is 1 + n, not "some
number".  Successors come from the reference semantics itself
(`semantics.successors`), run on a *representative*: a program with one
thread per class (spec/sizes.py instantiates the template) in a state whose
integers are `Lin` values, a constant plus coefficients times the counts of
the OMEGA classes, each an unknown >= c.  The semantics computes with them as
with ints; a comparison answers only when it has the same answer for every
value of those unknowns, and otherwise raises `Undetermined` (with the
smallest c that would decide it, when one exists): so the abstraction never
guesses how many copies there are.  A copy that moves leaves its class (an
OMEGA class gives two successors: still OMEGA, or exactly c-1) and joins the
class of its new configuration and ghost (ghost + what its step added to each
integer); a step must add a constant to every integer, so a copy's ghost
stays a constant.  A copy that lands on local steps runs on through them at
once (NOTE(local-chains) at `accelerated_pcs`).

What the abstraction refuses, as `Unsupported` (the engine answers unknown
with the reason): state keyed by thread (v2 RCU: `Program.keyed_by_thread`);
an update of an integer by an amount that depends on the counts (an
assignment of an absolute value, `complete_all` or `reinit` of a completion
the copies counted: the abstraction has no constant ghost for it); a local
that receives a count-dependent value; ghosts beyond `GHOST_LIMIT` (a copy
that adds to an integer in a loop); a comparison no c up to `MAX_C` decides
(a completion counted by the copies may saturate at UINT_MAX, which takes
4294967295 copies); an atomic loop beyond the language's limit.

The abstraction over-approximates (an OMEGA class stands for any count >= c,
also where the real count is exactly c), so a proof is a proof for every K,
and a violation only a candidate for the engine to confirm at concrete sizes
(modproof/allsizes.py).  The reachable abstract states are the inductive
invariant that encoder/counters.py has Z3 check for unbounded K.
"""
from __future__ import annotations

import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

from modproof.explicit.reduce import is_local_step, live_slots
from modproof.result import UnknownKind
from modproof.spec import semantics as S
from modproof.spec.model import DONE, Program
from modproof.spec.sizes import instantiate
from modproof.spec.vocabulary import FREE

OMEGA = -1           # the count "c or more"
MAX_C = 8            # the largest cutoff c tried (NOTE(counters))
GHOST_LIMIT = 64     # the largest contribution one copy may make to one integer
DEFAULT_MAX_ABSTRACT = 200_000


class Undetermined(Exception):
    """A comparison whose answer depends on how many copies an OMEGA class has.
    `need`: the smallest c that decides it (None: no c up to MAX_C does)."""

    def __init__(self, need: Optional[int], what: str):
        super().__init__(what)
        self.need = need
        self.what = what


class Unsupported(Exception):
    """The model is outside what the counter abstraction handles; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- count-dependent values


class Domain:
    """The unknowns of one representative: each OMEGA class's count, >= c."""

    __slots__ = ("c", "names")

    def __init__(self, c: int, names: dict):
        self.c = c
        self.names = names     # unknown -> "the number of reader copies at 'put(o)'"


class Lin:
    """k + sum(b * n) over unknowns n >= c, with some b != 0 (a value without
    unknowns is a plain int: `Lin.of` makes sure).  The reference semantics
    computes with it through `+`, `-` and comparisons only."""

    __slots__ = ("k", "terms", "dom")

    def __init__(self, k: int, terms: tuple, dom: Domain):
        self.k = k
        self.terms = terms     # ((unknown, b), ...) sorted, every b != 0
        self.dom = dom

    @staticmethod
    def of(k: int, terms: dict, dom: Domain):
        t = tuple(sorted((v, b) for v, b in terms.items() if b != 0))
        return Lin(k, t, dom) if t else k

    def _add(self, other, sign: int):
        terms = dict(self.terms)
        if isinstance(other, Lin):
            for v, b in other.terms:
                terms[v] = terms.get(v, 0) + sign * b
            return Lin.of(self.k + sign * other.k, terms, self.dom)
        if isinstance(other, bool) or not isinstance(other, int):
            return NotImplemented
        return Lin(self.k + sign * other, self.terms, self.dom)

    def __add__(self, other):
        return self._add(other, 1)

    __radd__ = __add__

    def __sub__(self, other):
        return self._add(other, -1)

    def __rsub__(self, other):
        neg = Lin(-self.k, tuple((v, -b) for v, b in self.terms), self.dom)
        return neg + other

    def __neg__(self):
        return Lin(-self.k, tuple((v, -b) for v, b in self.terms), self.dom)

    def __bool__(self):
        raise TypeError("a count-dependent integer used as a truth value")

    def __hash__(self):
        return hash((self.k, self.terms))

    def _cmp(self, other, op: str) -> bool:
        d = self - other
        if not isinstance(d, Lin):
            return _OPS[op](d, 0)
        got = _decide(d, op, self.dom.c)
        if got is not None:
            return got
        need = next((c for c in range(self.dom.c + 1, MAX_C + 1) if _decide(d, op, c) is not None),
                    None)
        raise Undetermined(need, f"{self.show()} {_SYMBOL[op]} {_show_value(other)}")

    def __eq__(self, other):
        if isinstance(other, bool) or not isinstance(other, (int, Lin)):
            return NotImplemented
        return self._cmp(other, "eq")

    def __ne__(self, other):
        if isinstance(other, bool) or not isinstance(other, (int, Lin)):
            return NotImplemented
        return self._cmp(other, "ne")

    def __lt__(self, other):
        return self._cmp(other, "lt")

    def __le__(self, other):
        return self._cmp(other, "le")

    def __gt__(self, other):
        return self._cmp(other, "gt")

    def __ge__(self, other):
        return self._cmp(other, "ge")

    def show(self) -> str:
        parts = [] if self.k == 0 else [str(self.k)]
        for v, b in self.terms:
            name = self.dom.names.get(v, "n")
            term = name if abs(b) == 1 else f"{abs(b)} * {name}"
            parts.append(("- " if b < 0 else "+ " if parts else "") + term)
        return " ".join(parts)

    def __repr__(self):
        return f"Lin({self.show()})"


def _show_value(v) -> str:
    return v.show() if isinstance(v, Lin) else str(v)


_OPS = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _decide(d: Lin, op: str, c: int) -> Optional[bool]:
    """`d OP 0` for every value of d's unknowns (each >= c), or None when it differs."""
    lo = hi = d.k
    lo_inf = hi_inf = False
    g = 0
    for _, b in d.terms:
        g = math.gcd(g, abs(b))
        if b > 0:
            lo += b * c
            hi_inf = True
        else:
            hi += b * c
            lo_inf = True
    if op in ("eq", "ne"):
        # d = (k + sum b*c) + sum b*m, m >= 0: never 0 outside [lo, hi] or off the lattice.
        never = (not lo_inf and lo > 0) or (not hi_inf and hi < 0) or (d.k + sum(b * c for _, b in d.terms)) % g
        if never:
            return op == "ne"
        return None
    if op == "lt":
        return True if not hi_inf and hi < 0 else False if not lo_inf and lo >= 0 else None
    if op == "le":
        return True if not hi_inf and hi <= 0 else False if not lo_inf and lo > 0 else None
    if op == "gt":
        return True if not lo_inf and lo > 0 else False if not hi_inf and hi <= 0 else None
    if op == "ge":
        return True if not lo_inf and lo >= 0 else False if not hi_inf and hi < 0 else None
    raise AssertionError(op)


# --------------------------------------------------------------------------- abstract states


class AState(NamedTuple):
    """An abstract state (NOTE(counters)).  Integers of refs, done, mrefs and vars
    are remainders; holders are FREE, a single thread's index among the singles,
    or `group_holder(g)` for a copy of group g (the class whose configuration
    holds the mutex says which)."""

    spcs: tuple            # per single thread: its pc
    slocs: tuple           # per single thread: its locals
    refs: tuple
    done: tuple
    mrefs: tuple
    mstate: tuple
    holders: tuple
    vars: tuple
    classes: tuple         # per group: ((pc, locals, holds, ghost, count), ...) sorted


def group_holder(g: int) -> int:
    """The abstract holder of a mutex that a copy of group g holds."""
    return -2 - g


_TABLES = ("refs", "done", "mrefs", "vars")


class Move(NamedTuple):
    """Who moved: a single thread (`group` None, `single` its index among the
    singles) or a copy of group `group` from class key `before` to key `after`."""

    single: Optional[int]
    group: Optional[int]
    before: Optional[tuple]
    after: Optional[tuple]
    pc: int                 # the mover's pc before the step
    next_pc: int            # and after it


class Layout:
    """The shape of a template program: which threads are single, which stand for
    a group, the integer slots ghosts are kept for, and the live locals."""

    def __init__(self, p: Program):
        self.p = p
        self.groups = tuple(p.unbounded)
        self.template = []        # per group: the template thread's index in p
        self.singles = []         # thread indices of p that are single threads
        for i, t in enumerate(p.threads):
            if t.group in self.groups and t.copy is not None:
                self.template.append(i)
            else:
                self.singles.append(i)
        order = {g: k for k, g in enumerate(self.groups)}
        self.template.sort(key=lambda i: order[p.threads[i].group])
        self.template = tuple(self.template)
        self.singles = tuple(self.singles)
        # The integer slots: (table, index), in table order.
        slots = [("refs", i) for i in range(len(p.objects))]
        slots += [("done", i) for i in range(len(p.completions))]
        slots += [("mrefs", i) for i in range(len(p.modules))]
        slots += [("vars", i) for i, v in enumerate(p.vars)
                  if isinstance(v.init, int) and not isinstance(v.init, bool)]
        self.slots = tuple(slots)
        self.slot_of = {s: k for k, s in enumerate(slots)}
        self.dead = {}            # thread index of p -> per pc: dead slots (or None)
        for i in self.singles + self.template:
            t = p.threads[i]
            live = live_slots(t)
            masks = {pc: tuple(j for j in range(len(t.locals)) if j not in live[pc]) or None
                     for pc in range(len(t.steps))}
            masks[DONE] = tuple(range(len(t.locals))) or None
            self.dead[i] = masks
        self.inits = {i: tuple(sl.init for sl in p.threads[i].locals)
                      for i in self.singles + self.template}
        self._programs: dict[tuple, tuple] = {}

    def reset_dead(self, thread: int, pc: int, locs: tuple) -> tuple:
        """`locs` of `thread` at `pc` with the slots no later step reads back at their
        initial values (the explicit engine's dead-variable reduction)."""
        dead = self.dead[thread][pc]
        if not dead:
            return locs
        init = self.inits[thread]
        if all(locs[j] == init[j] for j in dead):
            return locs
        out = list(locs)
        for j in dead:
            out[j] = init[j]
        return tuple(out)

    def program(self, shape: tuple) -> tuple:
        """The representative program with shape[g] threads for group g, and where
        each thread of it comes from: ("s", single index) or ("c", group, class)."""
        got = self._programs.get(shape)
        if got is None:
            rp = instantiate(self.p, {g: n for g, n in zip(self.groups, shape)})
            where = []
            k = 0
            single = 0
            for i, t in enumerate(self.p.threads):
                if i in self.template:
                    g = self.template.index(i)
                    where += [("c", g, j) for j in range(shape[g])]
                else:
                    where.append(("s", single, None))
                    single += 1
                k += 1
            got = self._programs[shape] = (rp, tuple(where))
        return got


@dataclass
class Exploration:
    """What the abstract search found."""

    c: int
    states: dict                   # AState -> (parent AState, Move) or None for an initial one
    violation: Optional[tuple] = None      # (AState, Move or None, check, reason)
    covers: dict = field(default_factory=dict)   # cover index -> first AState where it may hold
    covers_sure: set = field(default_factory=set)   # covers that surely hold there
    edges: list = field(default_factory=list)   # (AState, AState, cyclic, mover)
    complete: bool = True
    seconds: float = 0.0


class Budget(Exception):
    """The abstract search ran out of states or time (`kind`: an UnknownKind)."""

    def __init__(self, reason: str, kind):
        super().__init__(reason)
        self.kind = kind


class Abstraction:
    """The counter abstraction of template `p` with cutoff `c` (NOTE(counters))."""

    def __init__(self, p: Program, c: int, layout: Optional[Layout] = None):
        if p.keyed_by_thread:
            raise Unsupported("the model has state that belongs to each thread (RCU read-side "
                              "sections and grace periods), so the copies are not interchangeable")
        self.p = p
        self.c = c
        self.lay = layout or Layout(p)
        lay = self.lay
        self.cyclic = {i: cyclic_pairs(p.threads[i]) for i in lay.singles + lay.template}
        # NOTE(local-chains): the pcs after which a thread's move goes on at once.
        self.accelerated = {i: accelerated_pcs(p.threads[i], self.cyclic[i])
                            for i in lay.singles + lay.template}

    # ------------------------------------------------------------------ states

    def initial_states(self) -> list[AState]:
        """The initial states for every K >= 1: per group all copies in the initial
        configuration, 1 ... c-1 of them or OMEGA."""
        p, lay = self.p, self.lay
        s0 = S.initial(p)
        nslots = len(lay.slots)
        keys = []
        for g in range(len(lay.groups)):
            t = lay.template[g]
            th = p.threads[t]
            keys.append((th.entry, lay.reset_dead(t, th.entry, s0.locs[t]), (), (0,) * nslots))
        choices = [list(range(1, self.c)) + [OMEGA] for _ in keys]
        out = []
        for combo in itertools.product(*choices):
            classes = [(key + (n,),) for key, n in zip(keys, combo)]
            out.append(AState(
                spcs=tuple(s0.pcs[i] for i in lay.singles),
                slocs=tuple(lay.reset_dead(i, s0.pcs[i], s0.locs[i]) for i in lay.singles),
                refs=s0.refs, done=s0.done, mrefs=s0.mrefs, mstate=s0.mstate,
                holders=s0.holders, vars=s0.vars, classes=tuple(classes)))
        return out

    def represent(self, a: AState):
        """The representative of `a`: (program, state, where) with one thread per class
        and the integers as `Lin` values over the OMEGA classes' counts."""
        lay = self.lay
        shape = tuple(len(cl) for cl in a.classes)
        rp, where = lay.program(shape)
        names = {}
        terms: list[dict] = [dict() for _ in lay.slots]
        consts = [0] * len(lay.slots)
        for g, cl in enumerate(a.classes):
            for k, (pc, _, _, ghost, n) in enumerate(cl):
                if not any(ghost):
                    continue
                if n == OMEGA:
                    names[(g, k)] = self._count_name(g, pc)
                    for x, d in enumerate(ghost):
                        if d:
                            terms[x][(g, k)] = d
                else:
                    for x, d in enumerate(ghost):
                        consts[x] += n * d
        dom = Domain(self.c, names)
        tables = {"refs": list(a.refs), "done": list(a.done), "mrefs": list(a.mrefs),
                  "vars": list(a.vars)}
        for x, (table, i) in enumerate(lay.slots):
            if terms[x] or consts[x]:
                tables[table][i] = Lin.of(tables[table][i] + consts[x], terms[x], dom)
        index_of_class = {}
        pcs, locs = [], []
        for t, (kind, g, k) in enumerate(where):
            if kind == "s":
                pcs.append(a.spcs[g])
                locs.append(a.slocs[g])
            else:
                pc, lc, holds, _, _ = a.classes[g][k]
                pcs.append(pc)
                locs.append(lc)
                for m in holds:
                    index_of_class[m] = t
        single_index = [t for t, w in enumerate(where) if w[0] == "s"]
        holders = tuple(h if h == FREE else single_index[h] if h >= 0 else index_of_class[m]
                        for m, h in enumerate(a.holders))
        s = S.State(tuple(pcs), tuple(locs), tuple(tables["refs"]), tuple(tables["done"]),
                    tuple(tables["mrefs"]), a.mstate, holders, tuple(tables["vars"]))
        return rp, s, where

    def _count_name(self, g: int, pc: int) -> str:
        t = self.p.threads[self.lay.template[g]]
        where = "the end" if pc == DONE else f"'{t.steps[pc].text}'"
        return f"n({t.group} at {where})"

    # ------------------------------------------------------------------ moves

    def successors(self, a: AState, rep=None):
        """[(Move, AState or None, check, reason)] of every move from `a`: a
        violation has no state and names its check.  Raises Undetermined,
        Unsupported and semantics.AtomicLoopLimit."""
        rp, s, where = rep or self.represent(a)
        out = []
        for t, (kind, g, k) in enumerate(where):
            outs = S.successors(rp, s, t)
            if not outs:
                continue
            pc = s.pcs[t]
            for o in outs:
                if o.violation is not None:
                    mv = self._move(a, kind, g, k, pc, pc, None)
                    out.append((mv, None, o.violation, o.reason))
                    continue
                src = self.lay.singles[g] if kind == "s" else self.lay.template[g]
                for end in self._chain(rp, o.state, t, self.accelerated[src]):
                    for mv, b in self._abstract(a, s, end, t, kind, g, k, where):
                        out.append((mv._replace(next_pc=o.state.pcs[t]), b, None, ""))
        return out

    @staticmethod
    def _chain(rp: Program, s: S.State, t: int, accelerated: frozenset) -> list[S.State]:
        """NOTE(local-chains): where thread t goes on from `s` by local steps alone."""
        if s.pcs[t] not in accelerated:
            return [s]
        ends, todo = [], [s]
        while todo:
            x = todo.pop()
            if x.pcs[t] not in accelerated:
                ends.append(x)
                continue
            for o in S.successors(rp, x, t):
                assert o.violation is None, "a local step cannot fail"
                todo.append(o.state)
        return ends

    def _move(self, a, kind, g, k, pc, next_pc, after):
        if kind == "s":
            return Move(g, None, None, None, pc, next_pc)
        return Move(None, g, a.classes[g][k][:4], after, pc, next_pc)

    def _abstract(self, a: AState, s: S.State, s2: S.State, t: int, kind: str, g: int,
                  k: Optional[int], where: tuple):
        """The abstract states of concrete successor `s2` of representative `s` of `a`
        by thread `t` (a single thread, or class k of group g)."""
        lay = self.lay
        deltas = None
        tables = {}
        for tb in _TABLES:
            before_t, after_t = getattr(s, tb), getattr(s2, tb)
            if before_t is after_t:
                tables[tb] = getattr(a, tb)
                continue
            new = list(getattr(a, tb))
            for i, (before, after) in enumerate(zip(before_t, after_t)):
                if after is before:
                    continue
                x = lay.slot_of.get((tb, i))
                if x is None:            # a bool var: its value
                    new[i] = after
                    continue
                d = after - before
                if isinstance(d, Lin):
                    raise Unsupported(self._absolute(t, s, tb, i, before, after))
                if d:
                    if deltas is None:
                        deltas = [0] * len(lay.slots)
                    deltas[x] = d
                    if kind == "s":      # a single thread's change goes to the remainder
                        new[i] += d
            tables[tb] = tuple(new)
        new_pc = s2.pcs[t]
        src = lay.singles[g] if kind == "s" else lay.template[g]
        new_locs = s2.locs[t]
        if new_locs is not s.locs[t]:
            for v in new_locs:
                if isinstance(v, Lin):
                    raise Unsupported(f"a local of {self.p.threads[src].group} receives a value "
                                      f"that depends on the number of copies ({v.show()}) in "
                                      f"'{self.p.threads[src].steps[s.pcs[t]].text}'")
        new_locs = lay.reset_dead(src, new_pc, new_locs)
        if s2.holders is s.holders:
            holders = a.holders
        else:
            holders = tuple(FREE if h == FREE else where[h][1] if where[h][0] == "s"
                            else group_holder(where[h][1]) for h in s2.holders)
        if kind == "s":
            b = AState(a.spcs[:g] + (new_pc,) + a.spcs[g + 1:],
                       a.slocs[:g] + (new_locs,) + a.slocs[g + 1:],
                       tables["refs"], tables["done"], tables["mrefs"], s2.mstate, holders,
                       tables["vars"], a.classes)
            return [(Move(g, None, None, None, s.pcs[t], new_pc), b)]
        pc, locs, holds, ghost, n = a.classes[g][k]
        new_holds = tuple(m for m, h in enumerate(s2.holders) if h == t) if s2.holders else ()
        new_ghost = ghost if deltas is None else tuple(x + d for x, d in zip(ghost, deltas))
        if deltas is not None and any(abs(x) > GHOST_LIMIT for x in new_ghost):
            raise Unsupported(f"a copy of {self.p.threads[src].group} adds more than {GHOST_LIMIT} "
                              f"to a shared integer (it changes one in a loop, or sets a done "
                              f"count to UINT_MAX with complete_all)")
        after = (new_pc, new_locs, new_holds, new_ghost)
        before = (pc, locs, holds, ghost)
        out = []
        for left in ((OMEGA, self.c - 1) if n == OMEGA else (n - 1,)):
            counts = {cl[:4]: cl[4] for cl in a.classes[g]}
            if left == 0:
                del counts[before]
            else:
                counts[before] = left
            cur = counts.get(after, 0)
            counts[after] = OMEGA if cur == OMEGA or cur + 1 >= self.c else cur + 1
            cls = tuple(sorted(key + (cnt,) for key, cnt in counts.items()))
            b = AState(a.spcs, a.slocs, tables["refs"], tables["done"], tables["mrefs"],
                       s2.mstate, holders, tables["vars"],
                       a.classes[:g] + (cls,) + a.classes[g + 1:])
            out.append((Move(None, g, before, after, pc, new_pc), b))
        return out

    def _absolute(self, t, s, table, i, before, after) -> str:
        p = self.p
        names = {"refs": lambda: f"refs({p.objects[i].name})",
                 "done": lambda: f"done({p.completions[i].name})",
                 "mrefs": lambda: f"module_refs({p.modules[i].name})",
                 "vars": lambda: p.vars[i].name}
        return (f"a step changes {names[table]()} from {_show_value(before)} to "
                f"{_show_value(after)}: by an amount that depends on the number of copies "
                f"(an absolute assignment, complete_all or reinit of a count the copies "
                f"changed), which the counter abstraction does not follow")

    # ------------------------------------------------------------------ state checks

    def covers(self, a: AState, rep=None) -> list[tuple[int, bool]]:
        """(cover, surely) for every cover that may hold in `a`: surely when it holds
        for every count the OMEGA classes may have."""
        rp, s, _ = rep or self.represent(a)
        out = []
        for i, c in enumerate(self.p.covers):
            try:
                if S.evaluate(c.expr, s, ()):
                    out.append((i, True))
            except Undetermined:
                out.append((i, False))
        return out

    def cyclic_move(self, mv: Move) -> bool:
        """The move takes a step inside a cycle of its thread's control flow."""
        t = self.lay.singles[mv.single] if mv.group is None else self.lay.template[mv.group]
        return (mv.pc, mv.next_pc) in self.cyclic[t]


def accelerated_pcs(th, cyclic: frozenset) -> frozenset:
    """NOTE(local-chains): the pcs of thread `th` whose step is local (explicit/reduce.py:
    it touches only the thread's own pc and locals, in core code, and cannot block or
    fail) and on no cycle of the thread's control flow.  A local step commutes with
    every step of every other thread and no check sees it, so it can be moved left, to
    right after its thread's previous step: every execution has a counterpart of
    the same checks in which a thread that lands on such a pc runs on through these
    steps at once (a reduction in Lipton's sense).  Off cycles, the chains are finite."""
    on_cycle = {a for a, _ in cyclic}
    return frozenset(st.id for st in th.steps if is_local_step(st) and st.id not in on_cycle)


def cyclic_pairs(th) -> frozenset:
    """The edges (pc, pc') of a thread's control flow that lie on a cycle."""
    n = len(th.steps)
    succ = [[x for x in st.successors() if x != DONE] for st in th.steps]
    index, low, on, stack, comp = {}, {}, set(), [], {}
    counter = 0
    for root in range(n):
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(succ[nxt])))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp[w] = v
                    if w == v:
                        break
    return frozenset((a, b) for a in range(n) for b in succ[a] if comp[a] == comp[b])


# --------------------------------------------------------------------------- the search


def _finished(rp: Program, s: S.State) -> bool:
    """Every thread is done, a service loop, or a worker idling (semantics.deadlocked)."""
    return all(pc == DONE or rp.threads[t].service or rp.threads[t].steps[pc].idle
               for t, pc in enumerate(s.pcs))


def explore(p: Program, c: int, max_states: int = DEFAULT_MAX_ABSTRACT,
            deadline: Optional[float] = None, want_edges: bool = False,
            layout: Optional[Layout] = None) -> Exploration:
    """Breadth-first search of the abstract states of template `p` with cutoff `c`,
    up to the first abstract violation.  Raises Undetermined, Unsupported, Budget
    and semantics.AtomicLoopLimit.  The edges are kept, with who moved (`mover`)
    and, with `want_edges`, whether the move is a step inside a cycle of the
    mover's control flow (the hang argument of modproof/allsizes.py)."""
    start = time.monotonic()
    ab = Abstraction(p, c, layout)
    ex = Exploration(c, states={})
    queue: deque = deque()
    for a in ab.initial_states():
        if a not in ex.states:
            ex.states[a] = None
            queue.append(a)
    while queue:
        if deadline is not None and time.monotonic() > deadline:
            raise Budget(f"timeout with {len(ex.states)} abstract states explored",
                         UnknownKind.TIMEOUT)
        a = queue.popleft()
        rep = ab.represent(a)
        for i, sure in ab.covers(a, rep):
            if i not in ex.covers or (sure and i not in ex.covers_sure):
                ex.covers[i] = a
                if sure:
                    ex.covers_sure.add(i)
        inv = S.invariant_violation(rep[0], rep[1])
        if inv is not None:
            ex.violation = (a, None, "invariant", f"invariant {inv.name} is false")
            break
        succ = ab.successors(a, rep)
        if not succ and not _finished(rep[0], rep[1]):
            ex.violation = (a, None, "deadlock", "no thread can move")
            break
        bad = next((x for x in succ if x[2] is not None), None)
        if bad is not None:
            ex.violation = (a, bad[0], bad[2], bad[3])
            break
        for mv, b, _, _ in succ:
            ex.edges.append((a, b, want_edges and ab.cyclic_move(mv), mover(mv)))
            if b not in ex.states:
                ex.states[b] = (a, mv)
                queue.append(b)
                if len(ex.states) > max_states:
                    raise Budget(f"more than {max_states} abstract states",
                                 UnknownKind.STATE_BUDGET)
    ex.seconds = time.monotonic() - start
    return ex


def mover(mv: Move) -> tuple:
    """Who moves, as the certificate names its moves: ("s", single, pc) or ("c", group,
    configuration before)."""
    return ("s", mv.single, mv.pc) if mv.group is None else ("c", mv.group, mv.before)


def trace_to(ex: Exploration, a: AState) -> list[tuple[Optional[Move], AState]]:
    """The abstract execution the search found to `a`: (move, state after), the first
    entry an initial state with no move."""
    out = []
    cur = a
    while True:
        prev = ex.states[cur]
        if prev is None:
            out.append((None, cur))
            break
        out.append((prev[1], cur))
        cur = prev[0]
    out.reverse()
    return out


def realize_sizes(lay: Layout, c: int, trace, last: Optional[Move] = None) -> Optional[dict]:
    """The fewest copies per group with which abstract execution `trace` (and then
    move `last`, a violating step) is a real one: the real count of every class
    along it matches its abstract count (exact, or at least c for OMEGA).  None
    when no number up to c + len(trace) does (an OMEGA class the abstraction kept
    where the real count had dropped below c: the execution is spurious)."""
    sizes = {}
    moves = [m for m, _ in trace[1:]] + ([last] if last is not None else [])
    states = [a for _, a in trace]
    for g, name in enumerate(lay.groups):
        key0, n0 = states[0].classes[g][0][:4], states[0].classes[g][0][4]
        tries = [n0] if n0 != OMEGA else range(c, c + len(moves) + 2)
        for n in tries:
            real = {key0: n}
            ok = _matches(real, states[0].classes[g], c)
            for mv, a in itertools.zip_longest(moves, states[1:]):
                if not ok:
                    break
                if mv is not None and mv.group == g:
                    real[mv.before] = real.get(mv.before, 0) - 1
                    if real[mv.before] < 0:
                        ok = False
                        break
                    if a is not None:
                        real[mv.after] = real.get(mv.after, 0) + 1
                if a is not None:
                    ok = _matches(real, a.classes[g], c)
            if ok:
                sizes[name] = n
                break
        else:
            return None
    return sizes


def _matches(real: dict, classes: tuple, c: int) -> bool:
    keys = {cl[:4]: cl[4] for cl in classes}
    if any(n > 0 and key not in keys for key, n in real.items()):
        return False
    return all((real.get(key, 0) >= c) if n == OMEGA else real.get(key, 0) == n
               for key, n in keys.items())


