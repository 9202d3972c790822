"""The explicit-state engine: breadth-first search over the reference semantics.

Independent of Z3, it is the second opinion on every verdict.  BFS visits states
in order of the fewest steps that reach them, so the first violation it meets
ends a shortest execution.  When the reachable states are exhausted the verdict
holds for all executions; past `max_states` the answer is Unknown.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from typing import Optional

from modproof.memory import MemoryWatch, size_text
from modproof.options import Report, default_max_memory, states_held
from modproof.result import (
    CoverResult, Proved, RawTrace, Stats, Unknown, UnknownKind, Unreached, Violated,
)
from modproof.spec import semantics as S
from modproof.spec.model import BLOCKING_KINDS, CHECKS, DONE, Program

MAX_BURST = 256  # NOTE(ample-proviso)
EVERY = 1024     # states between two progress reports and memory checks


def unreached_statements(p: Program, taken: set[tuple[int, int]]) -> tuple[Unreached, ...]:
    """Source statements none of whose steps (in any thread or inlined copy) was taken."""
    by_stmt: dict[tuple[int, int, str], bool] = {}
    for ti, th in enumerate(p.threads):
        for st in th.steps:
            if st.synthetic and (ti, st.id) not in taken:
                continue  # an implicit return that a `return` statement makes unreachable
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


def prove_explicit(p: Program, max_states: Optional[int] = None,
                   timeout: Optional[float] = None, reduce: bool = False,
                   max_memory: Optional[int] = None,
                   report: Optional[Report] = None) -> "Proved | Violated | Unknown":
    """Explore every reachable state.  With `reduce`, symmetry, dead-local and
    partial-order reductions shrink the search (explicit/reduce.py); a violation
    found that way is searched again for a shortest witness, and a proof for the
    fewest steps to each cover (explicit/shortest.py).

    Unknown past `max_states` states (default: as many as the default memory
    budget holds, `modproof.options.states_held`), `timeout` seconds, or when the
    search has grown by `max_memory` bytes (None: not watched).  `report`, when
    given, is called every EVERY states with `states` and `depth`."""
    start = time.monotonic()
    if max_states is None:
        max_states = states_held(default_max_memory())
    watch = _Watch(max_memory, report)
    r = _prove_safety(p, max_states, timeout, reduce, start, watch)
    if isinstance(r, Proved) and r.scope == "all-executions":
        return _check_hang(p, r, max_states, timeout, start)
    return r


def _check_hang(p: Program, proved: Proved, max_states: int, timeout: Optional[float],
                start: float):
    """NOTE(hang): safety holds for all executions; is there a hang?"""
    from modproof.explicit.hang import HangBudget, find_hang
    try:
        lasso = find_hang(p, max_states, timeout, start)
    except HangBudget as e:
        return Unknown(f"every safety check holds for all executions, but the hang check ran "
                       f"out: {e.reason}", replace(proved.stats, seconds=time.monotonic() - start),
                       covers=proved.covers,
                       kind=UnknownKind.TIMEOUT if e.timeout else UnknownKind.STATE_BUDGET)
    if lasso is None:
        return proved
    stats = Stats(engine="explicit", method="explicit-state search for a fair cycle "
                  "(strongly connected components)", seconds=time.monotonic() - start,
                  states=lasso.states, depth=len(lasso.steps))
    return Violated(RawTrace(lasso.steps, "hang", loop=lasso.loop), stats, covers=proved.covers,
                    shortest=False)


class _Watch:
    """What the search does every EVERY states: report its progress, check its memory."""

    def __init__(self, max_memory: Optional[int], report: Optional[Report]):
        self.memory = MemoryWatch(max_memory)
        self.max_memory = max_memory
        self.report = report

    def out_of_memory(self, states: int, depth: int) -> bool:
        if self.report is not None:
            self.report(states=states, depth=depth)
        return self.memory.exceeded()

    def reason(self, states: int) -> str:
        return (f"memory budget of {size_text(self.max_memory)} exhausted after {states} states "
                "(raise --max-memory)")


def _prove_safety(p: Program, max_states: int, timeout: Optional[float], reduce: bool,
                  start: float, watch: _Watch):
    """Every check but `hang`."""
    try:
        if not reduce:
            return _search(p, max_states, timeout, start, None, watch)
        try:
            return _prove_reduced(p, max_states, timeout, start, watch)
        except S.AtomicLoopLimit:
            # NOTE(atomic-limit-order): the reductions run some threads ahead of the
            # others (partial order, deferred local chains), so they can meet an atomic
            # loop that never ends deeper than a shorter violation, which the plain
            # search, level by level, reports before it gets there.  The plain search
            # decides then: that violation, or unknown when it meets the loop too.
            return _search(p, max_states, timeout, start, None, watch)
    except S.AtomicLoopLimit as exc:
        span = exc.args[0]
        return Unknown(f"an atomic block's loop at line {span.line} ran more than "
                       f"{S.ATOMIC_FUEL} iterations in one step (or the block more than "
                       f"{S.ATOMIC_WORK} statements over all its paths)",
                       Stats(engine="explicit", method="explicit-state breadth-first search",
                             seconds=time.monotonic() - start), kind=UnknownKind.ATOMIC_LIMIT)


def _prove_reduced(p: Program, max_states: int, timeout: Optional[float], start: float,
                   watch: _Watch):
    """prove_explicit with the reductions; raises AtomicLoopLimit as the searches do."""
    from modproof.explicit.reduce import Reducer
    red = Reducer(p)
    r = _search(p, max_states, timeout, start, red, watch)
    # Partial-order reduction does not keep lengths: search again, with the
    # local steps deferred instead (NOTE(deferred-chains)), for a shortest
    # witness, or for the fewest steps to each cover of a proof.
    from modproof.explicit.shortest import cover_steps, shortest_violation
    left = None if timeout is None else max(0.001, timeout - (time.monotonic() - start))
    if isinstance(r, Proved):
        reachable = frozenset(i for i, c in enumerate(r.covers) if c.reached)
        if reachable:   # (the search under reduction already knows which are)
            covers = cover_steps(p, reachable, max_states, left, time.monotonic())
            if covers is not None:
                assert [c.reached for c in covers] == [c.reached for c in r.covers]
                r = replace(r, covers=covers,
                            stats=replace(r.stats, seconds=time.monotonic() - start))
        return r
    if not isinstance(r, Violated):
        return r
    exact = shortest_violation(p, max_states, left, time.monotonic())
    if exact is not None:
        return replace(exact, stats=replace(
            exact.stats, seconds=time.monotonic() - start,
            method=f"{r.stats.method}, then {exact.stats.method} for the witness"))
    return replace(r, trace=_realize(p, red.canon, r.trace), shortest=False)


def realize(p: Program, wanted) -> list[tuple[int, S.Outcome]]:
    """A real execution matching an execution of a reduced search: `wanted` gives,
    step by step, the thread that took it there and `fits(u, outcome)`, whether
    thread `u`'s `outcome` is a real counterpart (the same canonical state, say).
    The recorded thread is tried first, then the others (symmetry may have put
    another copy in its place).  Returns (thread, outcome) per step."""
    s = S.initial(p)
    out = []
    for t0, fits in wanted:
        for u in [t0] + [v for v in range(len(p.threads)) if v != t0]:
            hit = next((o for o in S.successors(p, s, u) if fits(u, o)), None)
            if hit is not None:
                out.append((u, hit))
                if hit.violation is None:
                    s = hit.state
                break
        else:
            raise AssertionError("a reduced trace has no real counterpart")
    return out


def _realize(p: Program, canon, raw: RawTrace) -> RawTrace:
    """Turn a trace of canonical states into a real execution."""
    def fits(c):
        if c is None:
            return lambda u, o: o.violation == raw.check
        return lambda u, o: o.violation is None and canon(o.state) == c
    steps = realize(p, [(t0, fits(c)) for t0, c in raw.steps])
    return RawTrace(tuple((u, None if o.violation else o.state) for u, o in steps), raw.check)


def _search(p: Program, max_states: int, timeout: Optional[float], start: float, red,
            watch: _Watch):
    nthreads = len(p.threads)
    canon = red.canon if red is not None else (lambda x, moved=None: x)
    method = "explicit-state breadth-first search"
    if red is not None:
        # Symmetry is named only where copies exist to permute (NOTE(keyed-vars): not
        # when their RCU state belongs to them).
        kinds = (["symmetry"] if red.groups or not p.copy_groups() else []) + ["dead-variable"]
        kinds += ["partial-order"] if red.por else []
        method += f" with {', '.join(kinds[:-1])} and {kinds[-1]} reduction"
    init = canon(S.initial(p))
    parents: dict[S.State, Optional[tuple[S.State, int]]] = {init: None}
    depth_of = {init: 0}
    covers: list[Optional[int]] = [None] * len(p.covers)
    cover_at: list[Optional[S.State]] = [None] * len(p.covers)   # the state that reached it first
    taken: set[tuple[int, int]] = set()

    def stats(depth: int) -> Stats:
        return Stats(engine="explicit", method=method,
                     seconds=time.monotonic() - start, states=len(parents), depth=depth)

    def cover_results() -> tuple[CoverResult, ...]:
        # Under partial-order reduction depths are not shortest: no step number then,
        # nor an execution (explicit/shortest.py finds both).  Without reduction the
        # breadth-first parents give a shortest execution to each cover.
        if red is not None:
            return tuple(CoverResult(c.name, covers[i] is not None) for i, c in enumerate(p.covers))
        return tuple(CoverResult(c.name, covers[i] is not None, covers[i],
                                 trace=None if cover_at[i] is None
                                 else _trace(parents, cover_at[i], None, "").steps)
                     for i, c in enumerate(p.covers))

    def note_covers(s: S.State, depth: int) -> None:
        if all(c is not None for c in covers):
            return   # every cover already has its first (fewest-steps) depth
        for i in S.covers_hit(p, s):
            if covers[i] is None:
                covers[i] = depth
                cover_at[i] = s

    blocking = [[st.kind in BLOCKING_KINDS for st in t.steps] for t in p.threads]

    def state_violation(s: S.State) -> Optional[str]:
        if S.invariant_violation(p, s) is not None:
            return "invariant"
        # Only a state where every unfinished thread stands at a step that can block
        # may be a deadlock; ask the semantics only then.
        # (From the last thread: copies sort finished ones first.)
        pcs = s.pcs
        if all(pcs[t] == DONE or blocking[t][pcs[t]] for t in reversed(range(nthreads))) \
                and S.deadlocked(p, s):
            return "deadlock"
        return None

    note_covers(init, 0)
    v = state_violation(init)
    if v is not None:
        return Violated(RawTrace((), v), stats(0), covers=cover_results())
    queue = deque([init])
    closed: set[S.State] = set()
    burst: dict[S.State, int] = {}  # NOTE(ample-proviso): ample steps in a row before a state
    max_depth = 0
    # NOTE(check-priority): of the violations at the shortest length, the one whose
    # check comes first in CHECKS is reported, so every engine reports the same check.
    best: Optional[tuple[int, RawTrace, int]] = None

    def offer(trace: RawTrace, depth: int) -> None:
        nonlocal best
        rank = CHECKS.index(trace.check)
        if best is None or rank < best[0]:
            best = (rank, trace, depth)

    while queue:
        if best is not None and depth_of[queue[0]] >= best[2]:
            break  # the level that produced the violation is done
        if timeout is not None and time.monotonic() - start > timeout:
            if best is not None:
                return Violated(best[1], stats(best[2]), covers=cover_results())
            return Unknown(f"timeout after {timeout:g} s with {len(parents)} states explored "
                           "and more to go", stats(max_depth), bound=depth_of[queue[0]],
                           covers=cover_results(), kind=UnknownKind.TIMEOUT)
        s = queue.popleft()
        d = depth_of[s]
        closed.add(s)
        threads = range(nthreads)
        if red is not None:
            t = red.ample_thread(s) if burst.get(s, 0) < MAX_BURST else None
            # NOTE(ample-proviso): an ample step must not lead back to an expanded
            # state (so no cycle is reduced all the way round), and a state at the
            # end of MAX_BURST ample steps in a row is expanded fully (so a thread
            # counting up in a local loop forever, through ever new states, cannot
            # postpone the others forever either); otherwise expand fully.  The
            # count is raised on the successors before they are expanded, so along
            # any run of ample expansions it grows by one per step.
            after = [canon(o.state, t) for o in S.successors(p, s, t)] if t is not None else ()
            if t is not None and all(s2 not in closed for s2 in after):
                threads = (t,)
                for s2 in after:
                    burst[s2] = max(burst.get(s2, 0), burst.get(s, 0) + 1)
            else:
                # Identical copies in a canonical state have symmetric successors:
                # expanding the first of each run of identical copies is enough.
                threads = red.distinct_threads(s)
        for t in threads:
            outs = S.successors(p, s, t)
            if outs:
                taken.add((t, s.pcs[t]))
            for out in outs:
                if out.violation is not None:
                    offer(_trace(parents, s, (t, None), out.violation), d + 1)
                    continue
                s2 = canon(out.state, t)
                if s2 in parents:
                    continue
                parents[s2] = (s, t)
                depth_of[s2] = d + 1
                max_depth = max(max_depth, d + 1)
                note_covers(s2, d + 1)
                v = state_violation(s2)
                if v is not None:
                    offer(_trace(parents, s2, None, v), d + 1)
                    continue
                if len(parents) % EVERY == 0 and watch.out_of_memory(len(parents), d + 1):
                    if best is not None:
                        return Violated(best[1], stats(best[2]), covers=cover_results())
                    return Unknown(watch.reason(len(parents)), stats(max_depth), bound=d,
                                   covers=cover_results(), kind=UnknownKind.MEMORY)
                if len(parents) > max_states:
                    if best is not None:
                        return Violated(best[1], stats(best[2]), covers=cover_results())
                    return Unknown(f"state budget exhausted: more than {max_states} states "
                                   "(raise --max-states)", stats(max_depth), bound=d,
                                   covers=cover_results(), kind=UnknownKind.STATE_BUDGET)
                queue.append(s2)
    if best is not None:
        return Violated(best[1], stats(best[2]), covers=cover_results())
    return Proved(scope="all-executions", bound=max_depth, stats=stats(max_depth),
                  covers=cover_results(), unreached=unreached_statements(p, taken))
