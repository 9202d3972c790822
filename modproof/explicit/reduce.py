"""State-space reductions for the explicit engine, each sound for the checks of LANGUAGE.md.

- Dead locals: a local slot whose value no future step can read (per thread and
  pc, by a backward liveness analysis over the CFG) is reset to its initial
  value, so states that differ only in dead values coincide.
- Symmetry: the copies of `thread NAME[K]` run the same code from the same
  initial locals, and no check or property can tell them apart, so a state is
  replaced by the representative whose copies are sorted (counter abstraction:
  what matters is how many copies are at each local state).  Mutex holders are
  permuted along with the threads.
- Partial order: a step that touches only its own thread's pc and locals, in
  code owned by core (which is never unloaded), is independent of every other
  step and invisible to every check; when a thread stands at such a step the
  engine explores only that step (an ample set of one thread), unless that
  leads back to a state already seen or ends a long run of such steps
  (NOTE(ample-proviso) in explicit/search.py), then it expands fully.

Reductions preserve verdicts; partial-order reduction does not preserve witness
lengths, so a violation found under it is searched again by explicit/shortest.py,
which handles local steps as chains (`Reducer.chains`, NOTE(deferred-chains)).
"""
from __future__ import annotations

from itertools import groupby
from typing import NamedTuple, Optional

from modproof.spec.model import (
    CORE, DONE, Bin, Const, LocalRef, Neg, Program, Q, Step, StepKind, Thread, VarRef,
    atomic_reads, atomic_statements,
)
from modproof.spec import semantics as S


def _expr_locals(e, out: set[int]) -> bool:
    """Collect the local slots `e` reads; return True when it reads only locals and constants."""
    if isinstance(e, Const):
        return True
    if isinstance(e, LocalRef):
        out.add(e.slot)
        return True
    if isinstance(e, VarRef):
        return False
    if isinstance(e, Q):
        return False
    if isinstance(e, Neg):
        return _expr_locals(e.operand, out)
    if isinstance(e, Bin):
        a = _expr_locals(e.left, out)
        b = _expr_locals(e.right, out)
        return a and b
    raise AssertionError(e)


def _atomic_uses(body, out: set[int]) -> None:
    for a in atomic_statements(body):
        for e in atomic_reads(a):
            _expr_locals(e, out)


def _uses(st: Step) -> set[int]:
    out: set[int] = set()
    if st.expr is not None:
        _expr_locals(st.expr, out)
    for _, e in st.inits:   # (slots an initialiser reads are set by the same step before it:
        _expr_locals(e, out)  # counting them live here is merely cautious)
    if st.kind is StepKind.ATOMIC:
        _atomic_uses(st.body, out)
    return out


def _edges(st: Step) -> list[tuple[int, frozenset[int]]]:
    """Successors with the slots each edge defines (call inits only on the call edge;
    the target of an ASSIGN, and v3 of a BRANCH or PUT storing its result, on every edge)."""
    inits = frozenset(slot for slot, _ in st.inits)
    own = frozenset((st.target.slot,)) if isinstance(st.target, LocalRef) else frozenset()
    k = st.kind
    if k is StepKind.ASSIGN:
        return [(st.next, own)]
    if k is StepKind.CALL:
        return [(st.next, inits)]
    if st.release is not None:
        return [(st.release, inits | own), (st.next, own)]
    if k is StepKind.UNLOAD:
        return [(st.next, inits), (st.not_loaded, frozenset())]
    return [(n, own) for n in st.successors()]


def live_slots(t: Thread) -> tuple[frozenset[int], ...]:
    """live[pc]: the local slots whose current value some later step may read."""
    n = len(t.steps)
    uses = [_uses(st) for st in t.steps]
    edges = [_edges(st) for st in t.steps]
    live = [frozenset(u) for u in uses]
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            acc = set(uses[pc])
            for succ, defs in edges[pc]:
                if succ != DONE:
                    acc |= live[succ] - defs
            fs = frozenset(acc)
            if fs != live[pc]:
                live[pc] = fs
                changed = True
    return tuple(live)


def is_local_step(st: Step) -> bool:
    """Touches only its thread's pc and locals, in core code, cannot violate or block."""
    if st.owner != CORE:
        return False
    k = st.kind
    if k is StepKind.CALL:   # its initialisers may read shared state (NOTE(local-inits))
        return all(_expr_locals(e, set()) for _, e in st.inits)
    if k in (StepKind.RETURN, StepKind.CHOOSE):
        return True
    if k in (StepKind.ASSIGN, StepKind.BRANCH):
        return (st.target is None or isinstance(st.target, LocalRef)) and _expr_locals(st.expr, set())
    return False


CHAIN_LIMIT = 10_000  # pcs-and-locals one local chain may visit (Reducer.chains)


class Reducer:
    """Canonical representatives and ample steps for one program."""

    def __init__(self, p: Program, symmetry: bool = True, por: bool = True, dead: bool = True):
        self.p = p
        self.por = por
        self.symmetry = symmetry
        self.inits = [tuple(sl.init for sl in t.locals) for t in p.threads]
        self.dead_masks = None
        if dead:
            # For each thread and pc: the slots to reset (None when nothing is dead).
            masks = []
            for ti, t in enumerate(p.threads):
                live = live_slots(t)
                per_pc = {}
                for pc in range(len(t.steps)):
                    dead_slots = tuple(j for j in range(len(t.locals)) if j not in live[pc])
                    per_pc[pc] = dead_slots or None
                per_pc[DONE] = tuple(range(len(t.locals))) or None
                masks.append(per_pc)
            self.dead_masks = masks
        # NOTE(keyed-vars): symmetry here permutes copies by their pcs, locals and
        # mutex holdings only.  Hidden vars that belong to a thread (RCU's
        # rcu_depth(T), gp_wait(S,T), cb_wait(F,T)) would have to move with it, and
        # its key would have to include them; until they do, such programs are
        # searched without symmetry (sound, only less reduced).  Moving copies while
        # leaving those vars behind gave a proof of a violated model.  The Z3
        # engine's symmetry breaking only orders first moves, which renames vars
        # and threads together, so it stays.
        self.groups = p.copy_groups() if symmetry and not p.keyed_by_thread else ()
        self.group_of = {i: g for g in self.groups for i in g}
        self.index_in_group = {i: at for g in self.groups for at, i in enumerate(g)}
        self.contiguous = all(g == tuple(range(g[0], g[0] + len(g))) for g in self.groups)
        # The threads in index order as runs: a group of copies, or one thread alone.
        self.segments = None
        if self.contiguous:
            firsts = {g[0]: g for g in self.groups}
            segments, t = [], 0
            while t < len(p.threads):
                n = len(firsts.get(t, (t,)))
                segments.append((t, t + n))
                t += n
            self.segments = tuple(segments)
        self.local = [[is_local_step(st) for st in t.steps] for t in p.threads]
        self._chains: dict[tuple, Optional[Chains]] = {}

    def canon(self, s: S.State, moved: Optional[int] = None) -> S.State:
        """The representative of `s`.  `moved`: `s` is a successor, by thread
        `moved`, of a state that was its own representative; only that thread's
        locals can then hold dead values (steps write only their own locals)."""
        # The hot loop of the explicit engine: every successor goes through here.
        if self.dead_masks is not None:
            locs = None
            for t in range(len(s.pcs)) if moved is None else (moved,):
                dead = self.dead_masks[t][s.pcs[t]]
                if dead:
                    cur = s.locs[t] if locs is None else locs[t]
                    init = self.inits[t]
                    if any(cur[j] != init[j] for j in dead):
                        lst = list(cur)
                        for j in dead:
                            lst[j] = init[j]
                        if locs is None:
                            locs = list(s.locs)
                        locs[t] = tuple(lst)
            if locs is not None:
                s = s._replace(locs=tuple(locs))
        # Only the group of the thread that moved can have left sorted order: the
        # others' pcs and locals did not change, and their mutex keys only compare
        # holders with their own indices.  So that copy alone is put back in its
        # place, with a binary search among the others (NOTE(reinsert)).
        if moved is None:
            for g in self.groups:
                key = self._key(s)
                order = sorted(range(len(g)), key=lambda j: key(g[j]))
                s = self._permuted(s, g, order)
            return s
        g = self.group_of.get(moved)
        if g is None:
            return s
        return self._reinsert(s, g, moved)

    @staticmethod
    def _key(s: S.State):
        """The sort key of a copy in `s`: its pc, locals and which mutexes it holds."""
        pcs, locs, holders = s.pcs, s.locs, s.holders
        if holders:
            return lambda i: (pcs[i], locs[i], tuple(h == i for h in holders))
        return lambda i: (pcs[i], locs[i])

    def _reinsert(self, s: S.State, g: tuple[int, ...], moved: int) -> S.State:
        """`s` with group `g` back in sorted order, when only `moved` may be out of place.

        NOTE(reinsert): the other copies are sorted and kept their keys, so the
        moved copy's place is found by comparing it with its neighbours and, when
        it left its place, by a binary search among the others; the copies between
        its old and new place shift by one.  O(log K) keys instead of sorting K of
        them for every successor.  Copies with equal keys hold no mutex and are
        identical, so where among them it lands does not change the representative."""
        key = self._key(s)
        at = self.index_in_group[moved]
        k = key(moved)
        n = len(g)
        if (at == 0 or key(g[at - 1]) <= k) and (at == n - 1 or k <= key(g[at + 1])):
            return s
        others = g[:at] + g[at + 1:]
        lo, hi = 0, n - 1
        while lo < hi:   # the first of the others whose key is not below k
            mid = (lo + hi) // 2
            if key(others[mid]) < k:
                lo = mid + 1
            else:
                hi = mid
        if not self.contiguous:
            order = list(range(n))
            del order[at]
            order.insert(lo, at)
            return self._permuted(s, g, order)
        i, j = moved, g[lo]   # thread i's pc and locals move to thread j's place
        def shift(xs):
            if j < i:
                return xs[:j] + (xs[i],) + xs[j:i] + xs[i + 1:]
            return xs[:i] + xs[i + 1:j + 1] + (xs[i],) + xs[j + 1:]
        if not s.holders:
            return s._replace(pcs=shift(s.pcs), locs=shift(s.locs))
        if j < i:
            rename = lambda h: j if h == i else (h + 1 if j <= h < i else h)
        else:
            rename = lambda h: j if h == i else (h - 1 if i < h <= j else h)
        return s._replace(pcs=shift(s.pcs), locs=shift(s.locs),
                          holders=tuple(rename(h) for h in s.holders))

    @staticmethod
    def _permuted(s: S.State, g: tuple[int, ...], order) -> S.State:
        """`s` with the copies of `g` put in `order` (old positions in new order),
        mutex holders renamed with them."""
        if all(new == old for new, old in enumerate(order)):
            return s
        pcs, locs, holders = s.pcs, s.locs, s.holders
        new_pcs, new_locs = list(pcs), list(locs)
        back = {}
        for new, old in enumerate(order):
            new_pcs[g[new]] = pcs[g[old]]
            new_locs[g[new]] = locs[g[old]]
            back[g[old]] = g[new]
        if not holders:
            return s._replace(pcs=tuple(new_pcs), locs=tuple(new_locs))
        return s._replace(pcs=tuple(new_pcs), locs=tuple(new_locs),
                          holders=tuple(back.get(h, h) for h in holders))

    def distinct_threads(self, s: S.State) -> list[int]:
        """All threads, but of a run of identical copies only the first."""
        if not self.groups:
            return list(range(len(s.pcs)))
        pcs, locs, holders = s.pcs, s.locs, s.holders
        if self.segments is not None and not holders:
            out = []
            for a, b in self.segments:
                if b == a + 1:
                    out.append(a)
                    continue
                i = a
                for _, run in groupby(zip(pcs[a:b], locs[a:b])):
                    out.append(i)
                    i += len(list(run))
            return out
        skip = set()
        for g in self.groups:
            prev = None
            for i in g:
                key = (pcs[i], locs[i], tuple(h == i for h in holders) if holders else ())
                if key == prev:
                    skip.add(i)
                prev = key
        return [t for t in range(len(pcs)) if t not in skip]

    def ample_thread(self, s: S.State) -> Optional[int]:
        """A thread whose next step is local, or None: the first such thread."""
        if not self.por:
            return None
        pcs = s.pcs
        if self.segments is None:
            for t, pc in enumerate(pcs):
                if pc != DONE and self.local[t][pc]:
                    return t
            return None
        for a, b in self.segments:
            local = self.local[a]
            if b == a + 1:
                pc = pcs[a]
                if pc != DONE and local[pc]:
                    return a
                continue
            # The copies of a canonical state are sorted by pc: the first copy at
            # a local step is the first at the least such pc.
            for pc in sorted(set(pcs[a:b])):
                if pc != DONE and local[pc]:
                    return pcs.index(pc, a, b)
        return None

    def chains(self, s: S.State, t: int) -> Optional["Chains"]:
        """Where thread `t`, standing at a local step in `s`, gets to by local
        steps alone: each end (the first pc that is not a local step, or the
        thread's end) with the fewest steps to it and the pcs and locals after
        each of those steps; no ends when the thread can only loop locally.
        NOTE(deferred-chains) in explicit/shortest.py says how the shortest-witness
        search uses them.  A chain depends only on the thread's pc and locals, so
        chains are kept per (thread, pc, locals).

        Integers are unbounded, so a local loop can run through ever new locals:
        past CHAIN_LIMIT pcs-and-locals the answer is None, "take these steps one
        by one", for this start and every one visited on the way (always exact,
        only less reduced).
        """
        key = (t, s.pcs[t], s.locs[t])
        if key in self._chains:
            return self._chains[key]
        local = self.local[t]
        start = (s.pcs[t], s.locs[t])
        parent: dict[tuple, Optional[tuple]] = {start: None}
        frontier = [s]
        ends: list[tuple] = []
        while frontier:
            nxt = []
            for x in frontier:
                here = (x.pcs[t], x.locs[t])
                for o in S.successors(self.p, x, t):
                    assert o.violation is None, "a local step cannot fail"
                    y = o.state
                    cfg = (y.pcs[t], y.locs[t])
                    if cfg in parent:
                        continue
                    parent[cfg] = here
                    if len(parent) > CHAIN_LIMIT:
                        for pc, locs in parent:
                            self._chains[(t, pc, locs)] = None
                        return None
                    if cfg[0] == DONE or not local[cfg[0]]:
                        ends.append(cfg)
                    else:
                        nxt.append(y)
            frontier = nxt
        out = []
        for cfg in ends:   # breadth-first: each end's path is a shortest one
            path = []
            c = cfg
            while c != start:
                path.append(c)
                c = parent[c]
            path.reverse()
            out.append((cfg[0], cfg[1], len(path), tuple(path)))
        chains = Chains(tuple(out))
        self._chains[key] = chains
        return chains


def place(s: S.State, t: int, pc: int, locs: tuple) -> S.State:
    """`s` with thread `t` at `pc` with locals `locs`."""
    return s._replace(pcs=s.pcs[:t] + (pc,) + s.pcs[t + 1:], locs=s.locs[:t] + (locs,) + s.locs[t + 1:])


class Chains(NamedTuple):
    """The ends of the local chains from one thread's pc and locals (Reducer.chains)."""

    ends: tuple[tuple[int, tuple, int, tuple], ...]   # (pc, locals, steps, path)
