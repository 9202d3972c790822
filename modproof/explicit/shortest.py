"""A shortest violation, searched with symmetry, dead-variable reduction and local chains.

The explicit engine first searches under partial-order reduction, which decides
the verdict quickly but may find a longer violation than the shortest.  This
search then finds a shortest one, with the same reductions except that local
steps are handled as NOTE(deferred-chains) says, which keeps lengths exact.
"""
from __future__ import annotations

import heapq
import time
from typing import Optional

from modproof.explicit.reduce import Reducer, place
from modproof.explicit.search import realize
from modproof.result import CoverResult, RawTrace, Stats, Violated
from modproof.spec import semantics as S
from modproof.spec.model import BLOCKING_KINDS, CHECKS, DONE, Program

METHOD = "a shortest-path search with deferred local chains"
COVER = "cover"   # the `check` of a raw trace to a cover, while it is built (never a check)

# NOTE(deferred-chains): a local step (explicit/reduce.py: is_local_step) touches only
# its own thread's pc and locals, in core code; it commutes with every step of
# another thread and no check, invariant, cover or deadlock can see it.  So every
# execution can be rearranged, without changing its length or where it ends, so
# that each local step comes right after its thread's previous other step: a
# thread's moves become "one step, then the chain of local steps after it".
# Searching with such moves alone keeps the verdict but not lengths: the chain
# after a thread's last step is not needed unless a deadlock waits for the thread
# to reach the step it blocks on or its end.  So a chain is paid for only when it
# is needed: the state carries, per thread, the length of the chain it ran but did
# not pay for (its debt, an extra local slot, so symmetry sorts and compares it
# with the thread's other locals).  A thread's next step costs its debt plus one;
# an invariant violation costs nothing more; a deadlock costs every debt.  A
# chain takes the fewest steps to each of its ends, and a thread whose chain
# never ends stays where it is: it never needs to move again, and a thread that
# can still move is not part of a deadlock.  Distances are then exact lengths of
# real executions: the witness is the search's execution without the unpaid
# chains (the last chains of threads that do not move again), which changes no
# step of any other thread and nothing a check reads.  A chain too long to work
# out in advance (Reducer.chains) is taken a step at a time, which is exact.  The
# witness is realized with the debts, so the copy of a `thread NAME[K]` that
# takes the violating step is one whose chain was paid for, not a twin's.


def _augment(s: S.State, debts) -> S.State:
    return s._replace(locs=tuple(loc + (d,) for loc, d in zip(s.locs, debts)))


def _real(a: S.State) -> S.State:
    return a._replace(locs=tuple(loc[:-1] for loc in a.locs))


class _Search:
    """The search of NOTE(deferred-chains): states with debts, taken from a heap in
    order of the steps of the real executions they stand for."""

    def __init__(self, p: Program, max_states: int, timeout: Optional[float], start: float):
        self.p, self.max_states, self.timeout, self.start = p, max_states, timeout, start
        self.red = Reducer(p, por=False)
        self.dist: dict[S.State, int] = {}
        self.parents: dict[S.State, tuple] = {}
        self.covers: list[Optional[int]] = [None] * len(p.covers)
        self.cover_at: list[Optional[S.State]] = [None] * len(p.covers)  # the state that reached it
        self.best: Optional[tuple[int, int, tuple]] = None  # (length, rank, (state, last, check))

    def settle(self, s: S.State, t: int):
        """Where thread t's chains from s end: (pc, locals, steps, path) per end; where
        it stands when it is not at a local step, can only loop locally, or takes its
        local steps one by one (Reducer.chains)."""
        pc = s.pcs[t]
        if pc != DONE and self.red.local[t][pc]:
            chains = self.red.chains(s, t)
            if chains is not None and chains.ends:
                return chains.ends
        return ((pc, s.locs[t], 0, None),)

    def offer(self, length: int, check: str, at: S.State, last) -> None:
        # NOTE(check-priority): the first check in CHECKS wins among the shortest.
        key = (length, CHECKS.index(check))
        if self.best is None or key < self.best[:2]:
            self.best = (*key, (at, last, check))

    def run(self, until_covers: Optional[frozenset[int]] = None) -> bool:
        """Search until the shortest violation is known, or, given `until_covers`,
        until each of those covers has its fewest steps (or the states run out).
        False when the state budget or the time ran out first."""
        p, red, dist, parents = self.p, self.red, self.dist, self.parents
        nthreads = len(p.threads)
        # The initial states: every thread runs its first chain (unpaid).
        starts: list[tuple[S.State, tuple, tuple]] = [(S.initial(p), (0,) * nthreads, ())]
        for t in range(nthreads):
            starts = [(place(s, t, pc, locs), debts[:t] + (w,) + debts[t + 1:], paths + ((t, path),))
                      for s, debts, paths in starts for pc, locs, w, path in self.settle(s, t)]
        heap: list[tuple[int, int, S.State]] = []
        seq = 0
        for s, debts, paths in starts:
            a = red.canon(_augment(s, debts))
            if a not in dist:
                dist[a] = 0
                parents[a] = ("init", paths)
                heap.append((0, seq, a))
                seq += 1
        closed: set[S.State] = set()
        open_covers = len(until_covers or ())
        blocking = [[st.kind in BLOCKING_KINDS for st in th.steps] for th in p.threads]
        while heap:
            d, _, a = heapq.heappop(heap)
            if a in closed:
                continue
            if self.best is not None and d > self.best[0]:
                return True
            if self.timeout is not None and time.monotonic() - self.start > self.timeout:
                return False
            closed.add(a)
            r = _real(a)
            debts = [loc[-1] for loc in a.locs]
            for i in S.covers_hit(p, r):
                if self.covers[i] is None:
                    self.covers[i] = d
                    self.cover_at[i] = a
                    if until_covers and i in until_covers:
                        open_covers -= 1
            if until_covers and open_covers == 0:
                return True
            if S.invariant_violation(p, r) is not None:
                self.offer(d, "invariant", a, None)
            elif all(pc == DONE or blocking[t][pc] for t, pc in enumerate(r.pcs)) \
                    and S.deadlocked(p, r):   # (ask the semantics only when it may be one)
                self.offer(d + sum(debts), "deadlock", a, None)
            if self.best is not None and d + 1 > self.best[0]:
                continue  # a step from here is longer than the violation in hand
            for t in red.distinct_threads(a):
                pc = r.pcs[t]
                if pc == DONE or (red.local[t][pc] and red.chains(r, t) is not None):
                    continue  # finished, or a thread whose chain only loops
                cost = debts[t] + 1
                for o in S.successors(p, r, t):
                    if o.violation is not None:
                        self.offer(d + cost, o.violation, a, (t, None))
                        continue
                    y = o.state
                    for end_pc, locs, w, path in self.settle(y, t):
                        # Only t's pc and locals changed: the others keep their debts.
                        a2 = red.canon(y._replace(pcs=y.pcs[:t] + (end_pc,) + y.pcs[t + 1:],
                                                  locs=a.locs[:t] + (locs + (w,),) + a.locs[t + 1:]),
                                       t)
                        d2 = d + cost
                        if a2 in closed or dist.get(a2, d2 + 1) <= d2:
                            continue
                        dist[a2] = d2
                        parents[a2] = (a, t, o.state, path)
                        if len(dist) > self.max_states:
                            return False
                        heapq.heappush(heap, (d2, seq, a2))
                        seq += 1
        return True

    def cover_results(self) -> tuple[CoverResult, ...]:
        return tuple(CoverResult(c.name, self.covers[i] is not None, self.covers[i],
                                 trace=None if self.cover_at[i] is None else self.path_to(i))
                     for i, c in enumerate(self.p.covers))

    def path_to(self, cover: int):
        """A real execution of `covers[cover]` steps whose last state satisfies the cover:
        the search's execution to the state that reached it, realized and without its
        unpaid chains (NOTE(deferred-chains): local steps, which no cover can see)."""
        p, a = self.p, self.cover_at[cover]
        steps = _canonical_trace(p, self.red, self.parents, a)
        raw, chain = _realize(p, self.red, steps, None, a, COVER)
        path = _drop_unpaid(p, raw, chain).steps
        assert len(path) == self.covers[cover], (len(path), self.covers[cover])
        return path


def shortest_violation(p: Program, max_states: int, timeout: Optional[float],
                       start: float) -> Optional[Violated]:
    """A shortest violation of `p`, as a real execution, or None when the search ran
    out of states or time first (or found none)."""
    search = _Search(p, max_states, timeout, start)
    if not search.run() or search.best is None:
        return None
    length, _, (a, last, check) = search.best
    steps = _canonical_trace(p, search.red, search.parents, a)
    raw, chain = _realize(p, search.red, steps, last, a, check)
    trace = _drop_unpaid(p, raw, chain)
    assert len(trace.steps) == length, (len(trace.steps), length)
    stats = Stats(engine="explicit", method=METHOD, seconds=time.monotonic() - start,
                  states=len(search.dist), depth=length)
    return Violated(trace, stats, covers=search.cover_results())


def cover_steps(p: Program, reachable: frozenset[int], max_states: int,
                timeout: Optional[float], start: float) -> Optional[tuple[CoverResult, ...]]:
    """The covers of a program with no violation, each of the `reachable` ones
    with the fewest steps that reach it (NOTE(deferred-chains)); the search stops
    once it has them all.  None when it ran out of states or time first."""
    search = _Search(p, max_states, timeout, start)
    if not search.run(until_covers=reachable):
        return None
    return search.cover_results()


def _canonical_trace(p: Program, red: Reducer, parents: dict, a: S.State) -> list[tuple]:
    """The search's execution to `a`: per step the thread, the canonical state after
    it with the debts (NOTE(deferred-chains)), and whether it belongs to a chain."""
    edges = []
    cur = a
    while True:
        entry = parents[cur]
        if entry[0] == "init":
            init_paths = entry[1]
            break
        edges.append(entry)
        cur = entry[0]
    edges.reverse()
    steps: list[tuple[int, S.State, bool]] = []
    s = S.initial(p)
    debts = [0] * len(p.threads)
    for t, path in init_paths:
        for pc, locs in path or ():
            s = place(s, t, pc, locs)
            debts[t] += 1
            steps.append((t, red.canon(_augment(s, debts)), True))
    for parent, t, after, path in edges:
        debts = [loc[-1] for loc in parent.locs]
        debts[t] = 0
        steps.append((t, red.canon(_augment(after, debts)), False))
        for pc, locs in path or ():
            debts[t] += 1
            steps.append((t, red.canon(_augment(place(after, t, pc, locs), debts)), True))
    return steps


def _realize(p: Program, red: Reducer, steps: list[tuple], last, a: S.State,
             check: str) -> tuple[RawTrace, list[bool]]:
    """A real execution whose states have the canonical forms of `steps`, debts
    included, then the violating step `last` by a thread with the debt the search
    paid for it; and for each step whether it belongs to a chain."""
    debts = [0] * len(p.threads)

    def fits(c, in_chain):
        def f(u, o):
            if o.violation is not None:
                return False
            nd = list(debts)
            nd[u] = nd[u] + 1 if in_chain else 0
            if red.canon(_augment(o.state, nd)) != c:
                return False
            debts[:] = nd
            return True
        return f

    wanted = [(t0, fits(c, in_chain)) for t0, c, in_chain in steps]
    chain = [in_chain for _, _, in_chain in steps]
    if last is not None:
        paid = a.locs[last[0]][-1]
        wanted.append((last[0], lambda u, o: debts[u] == paid and o.violation == check))
        chain.append(False)
    real = realize(p, wanted)
    return RawTrace(tuple((u, None if o.violation else o.state) for u, o in real), check), chain


def _drop_unpaid(p: Program, real: RawTrace, chain: list[bool]) -> RawTrace:
    """`real` without the chains no later step of their thread needed, and with each
    thread's first chain moved to just before its first other step, where a reader
    expects it (NOTE(deferred-chains)).  Before a deadlock every chain is needed."""
    steps = real.steps
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for i, (t, _) in enumerate(steps):
        if not chain[i]:
            first.setdefault(t, i)
            last[t] = i
    order: list[int] = []
    moved: dict[int, list[int]] = {}   # index of a first other step -> chain steps before it
    for i, (t, _) in enumerate(steps):
        if chain[i] and i > last.get(t, -1):
            if real.check == "deadlock":
                order.append(i)
            continue  # unpaid
        if chain[i] and i < first[t]:
            moved.setdefault(first[t], []).append(i)
            continue
        order.extend(moved.pop(i, ()))
        order.append(i)
    return _replay_in_order(p, real, order, chain)


def _replay_in_order(p: Program, real: RawTrace, order: list[int], chain: list[bool]) -> RawTrace:
    """The steps of `real` taken in `order`, which only moves or drops local-chain steps.
    A step changes its own thread's pc and locals and, unless it is local, the
    shared state; each new state is checked to be one the step can reach."""
    cur = S.initial(p)
    out = []
    for i in order:
        t, after = real.steps[i]
        if after is None:
            out.append((t, None))
            continue
        new = place(cur, t, after.pcs[t], after.locs[t])
        if not chain[i]:
            new = new._replace(refs=after.refs, done=after.done, mrefs=after.mrefs,
                               mstate=after.mstate, holders=after.holders, vars=after.vars)
        assert any(o.violation is None and o.state == new for o in S.successors(p, cur, t)), \
            "a rearranged step is not a step of the program"
        out.append((t, new))
        cur = new
    return RawTrace(tuple(out), real.check)
