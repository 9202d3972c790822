"""The hang check: a fair infinite execution along which a thread that must finish never does.

NOTE(hang): `deadlock` is a state where no thread can move.  A driver can hang
without one: its module exit holds a lock and waits for a work item that waits
for the same lock, while a polling timer keeps re-arming itself; some thread
can always move.  `hang` is violated when some execution that goes on for ever
is *fair* and some thread that must finish (`Thread.must_finish`: a user
thread that is not a `service` loop and whose code can end) never finishes
along it.

Fairness is strong fairness per thread: every thread that is enabled
infinitely often moves infinitely often.  That is how the kernel runs its
threads: a runnable task is scheduled eventually, a waiter is woken when the
completion, mutex, flush or grace period it waits for is there (mutexes hand
off to a waiter rather than let it starve), so an execution in which a thread
could move again and again but never does is the scheduler's unfairness, not
a bug of the design.  Executions that are not fair are not reported (the
check looks for hangs the design causes); a thread that is never enabled again
(blocked for good) or that runs for ever in a loop without finishing hangs.

On the state graph, a fair infinite execution that hangs thread T is a lasso:
a path to a cycle of states, all with T unfinished, that takes a step of every
thread enabled in any of its states.  Such cycles are found with strongly
connected components (Tarjan) refined as Emerson and Lei do for fairness:
within a component, a state where some thread is enabled that never moves
inside the component cannot be on a fair cycle, so it is removed and the rest
split again, until every component left is fair.  The graph is the plain one
(no reduction: partial order and symmetry do not keep cycles and fairness,
and a witness must close its loop exactly); programs whose threads all have
acyclic control flow have no infinite execution at all and are not searched.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Optional

from modproof.explicit.graph import components
from modproof.spec import semantics as S
from modproof.spec.model import DONE, Program


@dataclass(frozen=True)
class Lasso:
    """A hang: `steps` (thread, state after) from the initial state, the loop being
    steps[loop:], which ends in the state the loop started from."""

    steps: tuple[tuple[int, S.State], ...]
    loop: int
    thread: int        # the thread that never finishes
    states: int        # states of the graph that was searched


class HangBudget(Exception):
    """The hang check ran out of states or time (`timeout` says which)."""

    def __init__(self, reason: str, states: int, timeout: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.states = states
        self.timeout = timeout


def find_hang(p: Program, max_states: int, timeout: Optional[float], start: float) -> Optional[Lasso]:
    """A hang of `p` (NOTE(hang)), or None when there is none.  Assumes no safety
    check is violated (every step taken is a real one).  Raises HangBudget."""
    must = [t for t, th in enumerate(p.threads) if th.must_finish]
    if not must or not p.may_run_forever():
        return None
    n = len(p.threads)
    s0 = S.initial(p)
    ids = {s0: 0}
    states = [s0]
    depth = [0]
    parent: list[Optional[tuple[int, int]]] = [None]
    edges: list[list[tuple[int, int]]] = []
    enabled: list[frozenset] = []
    queue = deque([0])
    while queue:
        if timeout is not None and time.monotonic() - start > timeout:
            raise HangBudget(f"timeout after {timeout:g} s", len(states), timeout=True)
        i = queue.popleft()
        s = states[i]
        out, en = [], set()
        for t in range(n):
            outs = S.successors(p, s, t)
            if outs:
                en.add(t)
            for o in outs:
                if o.violation is not None:
                    continue
                j = ids.get(o.state)
                if j is None:
                    j = ids[o.state] = len(states)
                    if j >= max_states:
                        raise HangBudget(f"more than {max_states} states", j)
                    states.append(o.state)
                    depth.append(depth[i] + 1)
                    parent.append((i, t))
                    queue.append(j)
                out.append((t, j))
        edges.append(out)
        enabled.append(frozenset(en))

    def unfinished(i: int) -> bool:
        pcs = states[i].pcs
        return any(pcs[t] != DONE for t in must)

    candidates = [i for i in range(len(states)) if unfinished(i)]
    best: Optional[tuple[int, frozenset]] = None
    for comp in _fair_components(candidates, edges, enabled):
        entry = min(comp, key=lambda i: (depth[i], i))
        if best is None or (depth[entry], entry) < (depth[best[0]], best[0]):
            best = (entry, comp)
    if best is None:
        return None
    entry, comp = best
    stem = _stem(parent, entry)
    loop = _cycle(entry, comp, edges, enabled)
    steps = tuple((t, states[j]) for t, j in stem + loop)
    pcs = states[entry].pcs
    thread = next(t for t in must if pcs[t] != DONE)
    return Lasso(steps, len(stem), thread, len(states))


def _fair_components(nodes: list[int], edges, enabled):
    """The fair strongly connected components within `nodes` (NOTE(hang))."""
    work = [frozenset(nodes)]
    while work:
        allowed = work.pop()
        for comp in components(sorted(allowed), lambda v: (w for _, w in edges[v] if w in allowed)):
            moving = {t for i in comp for t, j in edges[i] if j in comp}
            if not moving:
                continue            # a single state without a step to itself
            unfair = frozenset(i for i in comp if enabled[i] - moving)
            if not unfair:
                yield comp
            elif len(unfair) < len(comp):
                work.append(comp - unfair)


def _stem(parent, entry: int) -> list[tuple[int, int]]:
    """The breadth-first (shortest) path to `entry`: (thread, state) per step."""
    path = []
    i = entry
    while parent[i] is not None:
        j, t = parent[i]
        path.append((t, i))
        i = j
    path.reverse()
    return path


def _cycle(entry: int, comp: frozenset, edges, enabled) -> list[tuple[int, int]]:
    """A cycle from `entry` back to it inside `comp` that takes a step of every
    thread enabled in some state of `comp` (each moves inside it: the component is
    fair)."""
    need = sorted(set().union(*(enabled[i] for i in comp)))
    path: list[tuple[int, int]] = []
    cur = entry
    for u in need:
        hop = _path(cur, comp, edges, lambda i: any(t == u and j in comp for t, j in edges[i]))
        path += hop
        cur = hop[-1][1] if hop else cur
        t, j = next((t, j) for t, j in edges[cur] if t == u and j in comp)
        path.append((t, j))
        cur = j
    if cur != entry or not path:
        path += _path(cur, comp, edges, lambda i: i == entry, at_least_one=not path)
    return path


def _path(src: int, comp: frozenset, edges, goal, at_least_one: bool = False) -> list[tuple[int, int]]:
    """A shortest path inside `comp` from `src` to a state where `goal` holds (of
    one step at least, with `at_least_one`)."""
    if goal(src) and not at_least_one:
        return []
    prev: dict[int, Optional[tuple[int, int]]] = {src: None}
    queue = deque([src])
    while queue:
        i = queue.popleft()
        for t, j in edges[i]:
            if j not in comp:
                continue
            if goal(j):
                return _unwind(prev, i) + [(t, j)]
            if j not in prev:
                prev[j] = (i, t)
                queue.append(j)
    raise AssertionError("a strongly connected component is connected")


def _unwind(prev, j: int) -> list[tuple[int, int]]:
    path = []
    while prev[j] is not None:
        i, t = prev[j]
        path.append((t, j))
        j = i
    path.reverse()
    return path
