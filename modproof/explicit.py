"""The explicit-state engine: breadth-first search over the reference semantics.

Independent of Z3, it is the second opinion on every verdict.  BFS visits states
in order of the fewest steps that reach them, so the first violation it meets
ends a shortest execution.  When the reachable states are exhausted the verdict
holds for all executions; past `max_states` the answer is Unknown.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Optional

from modproof.result import (
    CoverResult, Proved, RawTrace, Stats, Unknown, Unreached, Violated,
)
from modproof.spec import semantics as S
from modproof.spec.model import Program

DEFAULT_MAX_STATES = 2_000_000


def unreached_statements(p: Program, taken: set[tuple[int, int]]) -> tuple[Unreached, ...]:
    """Source statements none of whose steps (in any thread or inlined copy) was taken."""
    by_stmt: dict[tuple[int, int, str], bool] = {}
    for ti, th in enumerate(p.threads):
        for st in th.steps:
            key = (st.span.line, st.span.col, st.text)
            by_stmt[key] = by_stmt.get(key, False) or (ti, st.id) in taken
    return tuple(Unreached(text, line, col)
                 for (line, col, text), hit in sorted(by_stmt.items()) if not hit)


def _trace(parents: dict, s: S.State, last: Optional[tuple[int, Optional[S.State]]],
           check: str) -> RawTrace:
    steps = []
    if last is not None:
        steps.append(last)
    cur = s
    while True:
        prev = parents[cur]
        if prev is None:
            break
        ps, t = prev
        steps.append((t, cur))
        cur = ps
    steps.reverse()
    return RawTrace(tuple(steps), check)


def prove_explicit(p: Program, max_states: int = DEFAULT_MAX_STATES,
                   timeout: Optional[float] = None) -> "Proved | Violated | Unknown":
    start = time.monotonic()
    try:
        return _search(p, max_states, timeout, start)
    except S.AtomicLoopLimit as exc:
        span = exc.args[0]
        return Unknown(f"an atomic block's loop at line {span.line} ran more than "
                       f"{S.ATOMIC_FUEL} iterations in one step",
                       Stats(engine="explicit", method="explicit-state breadth-first search",
                             seconds=time.monotonic() - start))


def _search(p: Program, max_states: int, timeout: Optional[float], start: float):
    nthreads = len(p.threads)
    init = S.initial(p)
    parents: dict[S.State, Optional[tuple[S.State, int]]] = {init: None}
    depth_of = {init: 0}
    covers: list[Optional[int]] = [None] * len(p.covers)
    taken: set[tuple[int, int]] = set()

    def stats(depth: int) -> Stats:
        return Stats(engine="explicit", method="explicit-state breadth-first search",
                     seconds=time.monotonic() - start, states=len(parents), depth=depth)

    def cover_results() -> tuple[CoverResult, ...]:
        return tuple(CoverResult(c.name, covers[i] is not None, covers[i])
                     for i, c in enumerate(p.covers))

    def note_covers(s: S.State, depth: int) -> None:
        for i in S.covers_hit(p, s):
            if covers[i] is None:
                covers[i] = depth

    def state_violation(s: S.State) -> Optional[str]:
        if S.invariant_violation(p, s) is not None:
            return "invariant"
        if S.deadlocked(p, s):
            return "deadlock"
        return None

    note_covers(init, 0)
    v = state_violation(init)
    if v is not None:
        return Violated(RawTrace((), v), stats(0), covers=cover_results())
    queue = deque([init])
    max_depth = 0
    while queue:
        if timeout is not None and time.monotonic() - start > timeout:
            return Unknown(f"timeout after {timeout:g} s with {len(parents)} states explored "
                           "and more to go", stats(max_depth), bound=depth_of[queue[0]],
                           covers=cover_results())
        s = queue.popleft()
        d = depth_of[s]
        for t in range(nthreads):
            outs = S.successors(p, s, t)
            if outs:
                taken.add((t, s.pcs[t]))
            for out in outs:
                if out.violation is not None:
                    return Violated(_trace(parents, s, (t, None), out.violation),
                                    stats(d + 1), covers=cover_results())
                s2 = out.state
                if s2 in parents:
                    continue
                parents[s2] = (s, t)
                depth_of[s2] = d + 1
                max_depth = max(max_depth, d + 1)
                note_covers(s2, d + 1)
                v = state_violation(s2)
                if v is not None:
                    return Violated(_trace(parents, s2, None, v), stats(d + 1),
                                    covers=cover_results())
                if len(parents) > max_states:
                    return Unknown(f"state budget exhausted: more than {max_states} states "
                                   "(raise --max-states)", stats(max_depth), bound=d,
                                   covers=cover_results())
                queue.append(s2)
    return Proved(scope="all-executions", bound=max_depth, stats=stats(max_depth),
                  covers=cover_results(), unreached=unreached_statements(p, taken))
