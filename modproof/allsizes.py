"""Every number of copies at once: `thread NAME[*]` proved for every K, or the smallest K that breaks.

NOTE(all-sizes): for a template program (a `thread NAME[*]` group, spec/sizes.py)

0. the explicit engine decides the smallest sizes first (NOTE(probe): one copy
   per group, and one more in all): most violations need few copies, and a
   violation there is the answer;
1. the counter abstraction (modproof/explicit/counters.py) explores every size
   at once, with cutoff c = 2 raised while a comparison needs a larger one;
2. when it finds no violation, Z3 checks its reachable set as an inductive
   invariant of the counter system for unbounded K (encoder/counters.py); a
   certificate Z3 refutes or cannot decide is no proof (unknown);
3. the hang check is decided for every K when no execution of any size can go
   on for ever (no thread's control flow has a cycle, or no cycle of the
   abstract state graph takes a step inside a cycle of a thread's control
   flow); otherwise the sizes 1, 2, ... are searched for a hang, and without
   one the answer is unknown (never proved);
4. an abstract violation is a candidate: the sizes it needs are read off its
   abstract execution, and the explicit engine (with its reductions) searches
   the concrete programs in order of size, 1, 2, ... up to them: the first that
   is violated is the answer, with its shortest witness at that size.  A
   candidate no size confirms is tried again with a larger cutoff, and is
   unknown in the end, never a proof and never a violation;
5. a cover is "reached with K copies" for the fewest copies the explicit engine
   reaches it with (up to the sizes the abstract execution to it needs), and
   "not reached with any number" when the abstraction never reaches it
   (certified by Z3 with the invariant).

With several `[*]` groups, sizes are ordered by the total number of copies,
then group by group in declaration order; "smallest" means the fewest copies
in all.  Where the abstraction cannot answer (NOTE(counters) lists when), the
small sizes are still searched, so a violation with few copies is reported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Optional

from modproof.options import default_max_memory, states_held
from modproof.result import CoverResult, Proved, Result, Stats, Unknown, UnknownKind, Violated
from modproof.spec import semantics as S
from modproof.spec.model import Program
from modproof.spec.sizes import describe, instantiate

ENGINE = "all-sizes"
PROBE_EXTRA = 1           # NOTE(probe): sizes of up to this many copies more than one per group
FALLBACK_TOTAL = 4        # copies in all searched when the abstraction cannot answer
FALLBACK_SECONDS = 10.0   # ... for at most this long
HANG_TOTAL = 4            # ... and for a hang, when the hang check is not decided for every K


@dataclass(frozen=True)
class SizedCover:
    """A cover of a template: reached with `sizes` copies (in `step` steps there),
    not reached with any number of copies, or not decided (`reached` None)."""

    name: str
    reached: Optional[bool]
    sizes: Optional[dict] = None
    step: Optional[int] = None
    certified: bool = False       # "not reached with any number", checked by Z3


@dataclass(frozen=True)
class AllSizes:
    """The answer for every size.  `result` is a `Proved` (scope "all-sizes"), a
    `Violated` whose trace and witness are of `instance`, the program with
    `sizes` copies, or an `Unknown`."""

    result: Result
    sizes: Optional[dict] = None
    instance: Optional[Program] = None
    smallest: bool = True                 # a violation: every smaller size was decided safe
    certified: bool = False               # a proof: Z3 checked the invariant
    cutoff: Optional[int] = None
    abstract_states: Optional[int] = None
    covers: tuple[SizedCover, ...] = ()
    hang: str = ""                        # how the hang check was decided
    notes: tuple[str, ...] = ()
    seconds: dict = field(default_factory=dict)   # where the time went


def size_vectors(groups: tuple[str, ...], most: int):
    """Every assignment of at least one copy to each group with at most `most`
    copies in all, fewest first (then group by group)."""
    n = len(groups)
    for total in range(n, most + 1):
        for combo in _compositions(total, n):
            yield dict(zip(groups, combo))


def _compositions(total: int, parts: int):
    if parts == 1:
        yield (total,)
        return
    for first in range(1, total - parts + 2):
        for rest in _compositions(total - first, parts - 1):
            yield (first,) + rest


class _Sizes:
    """The explicit engine on the programs of given sizes, each run once."""

    def __init__(self, p: Program, deadline: Optional[float], max_states: int, reduce: bool = True):
        self.p = p
        self.reduce = reduce
        self.deadline = deadline
        self.max_states = max_states
        self.results: dict = {}

    def run(self, sizes: dict, until: Optional[float] = None) -> Optional[Result]:
        """The explicit engine's answer for `sizes`; None when no time is left (before
        the deadline, or `until`)."""
        key = tuple(sizes[g] for g in self.p.unbounded)
        if key not in self.results:
            from modproof.explicit import prove_explicit
            ends = [x for x in (self.deadline, until) if x is not None]
            left = min(ends) - time.monotonic() if ends else None
            if left is not None and left <= 0:
                return None
            self.results[key] = prove_explicit(instantiate(self.p, sizes), max_states=self.max_states,
                                               timeout=left, reduce=self.reduce)
        return self.results[key]

    def smallest(self, most: int, check: Optional[str] = None,
                 seconds: Optional[float] = None) -> Optional[AllSizes]:
        """The first program, by size, with at most `most` copies in all, that the
        explicit engine finds violated (of `check` only, when given): its violation,
        replayed.  None when none of them is (within `seconds`, when given)."""
        from modproof.witness import replay
        undecided = []
        until = None if seconds is None else time.monotonic() + seconds
        for sizes in size_vectors(self.p.unbounded, most):
            r = self.run(sizes, until)
            if r is None:
                undecided.append(f"{describe(sizes)}: no time left")
                break
            if isinstance(r, Violated) and (check is None or r.check == check):
                inst = instantiate(self.p, sizes)
                r = replace(r, witness=replay(inst, r.trace), sizes=tuple(sizes.items()),
                            fewest=not undecided,
                            stats=replace(r.stats, engine=ENGINE,
                                          method=f"{r.stats.method} with {describe(sizes)}, the "
                                                 "fewest copies that violate"))
                return AllSizes(r, sizes=dict(sizes), instance=inst, smallest=not undecided,
                                notes=tuple(undecided))
            if isinstance(r, Unknown):
                undecided.append(f"{describe(sizes)}: {r.reason}")
        return None


def prove_all_sizes(p: Program, max_states: Optional[int] = None, timeout: Optional[float] = None,
                    certify: bool = True, reduce: bool = True) -> AllSizes:
    """The answer for every size of template `p` (NOTE(all-sizes)); `reduce`: the
    explicit engine's reductions on the programs of given sizes."""
    start = time.monotonic()
    if max_states is None:   # as many as the default memory budget holds, as the explicit engine
        max_states = states_held(default_max_memory())
    got = _prove_all_sizes(p, max_states, timeout, certify, start, reduce)
    r = got.result
    if isinstance(r, Violated):   # its covers are of the program of its sizes
        r = replace(r, covers=tuple(replace(c, sizes=r.sizes) if c.reached else c for c in r.covers))
    return replace(got, result=replace(r, stats=replace(r.stats, seconds=time.monotonic() - start)))


def _prove_all_sizes(p: Program, max_states: int, timeout: Optional[float], certify: bool,
                     start: float, reduce: bool) -> AllSizes:
    from modproof.explicit import counters as C
    deadline = None if timeout is None else start + timeout
    times: dict = {}
    sizes = _Sizes(p, deadline, max_states, reduce)

    def left() -> Optional[float]:
        return None if deadline is None else max(0.001, deadline - time.monotonic())

    def stats(method: str, **kw) -> Stats:
        return Stats(engine=ENGINE, method=method, seconds=time.monotonic() - start, **kw)

    def unknown(reason: str, kind: UnknownKind, method: str, **kw) -> Unknown:
        if deadline is not None and time.monotonic() >= deadline:
            kind = UnknownKind.TIMEOUT
            reason = f"timeout after {timeout:g} s: {reason}"
        return Unknown(reason, stats(method), kind=kind, **kw)

    def fallback(reason: str, kind: UnknownKind = UnknownKind.UNSUPPORTED) -> AllSizes:
        """The abstraction cannot answer: a violation with few copies is still one."""
        most = max(FALLBACK_TOTAL, len(p.unbounded))
        t0 = time.monotonic()
        got = sizes.smallest(most, seconds=FALLBACK_SECONDS)
        times["sizes"] = time.monotonic() - t0
        if got is not None:
            return replace(got, notes=got.notes + (f"not every size was explored: {reason}",),
                           seconds=times)
        done = [describe(dict(zip(p.unbounded, k))) for k, r in sizes.results.items()
                if isinstance(r, Proved)]
        return AllSizes(unknown(f"{reason}; " + (f"no violation with {', '.join(done)}" if done
                                                 else "no size was decided"),
                                kind, "explicit search by size"), seconds=times)

    # NOTE(probe): the smallest sizes first, by the explicit engine: most violations
    # need few copies, and there they cost less than the abstraction.
    t0 = time.monotonic()
    got = sizes.smallest(len(p.unbounded) + PROBE_EXTRA)
    times["probe"] = time.monotonic() - t0
    if got is not None:
        return replace(got, seconds=times)
    layout = C.Layout(p)
    c = 2
    tried: list[str] = []
    want_edges = _may_run_forever(p)
    while True:
        t0 = time.monotonic()
        try:
            try:
                ex = C.explore(p, c, max_states=min(max_states, C.DEFAULT_MAX_ABSTRACT),
                               deadline=deadline, want_edges=want_edges, layout=layout)
            finally:
                times["abstraction"] = times.get("abstraction", 0.0) + time.monotonic() - t0
        except C.Undetermined as e:
            if e.need is not None and e.need <= C.MAX_C:
                tried.append(f"cutoff {c}: {e.what} depends on the number of copies")
                c = max(e.need, c + 1)
                continue
            return fallback(f"a comparison depends on the number of copies for every cutoff "
                            f"up to {C.MAX_C}: {e.what}")
        except C.Unsupported as e:
            return fallback(e.reason)
        except C.Budget as e:
            return fallback(f"the counter abstraction ran out: {e}", e.kind)
        except S.AtomicLoopLimit as e:
            span = e.args[0]
            return fallback(f"an atomic block's loop at line {span.line} ran more than "
                            f"{S.ATOMIC_FUEL} iterations in one step", UnknownKind.ATOMIC_LIMIT)
        if ex.violation is None:
            break
        a, mv, check, reason = ex.violation
        trace = C.trace_to(ex, a)
        cand = C.realize_sizes(layout, c, trace, mv)
        if cand is None and c < C.MAX_C:
            tried.append(f"cutoff {c}: a spurious {check}")
            c += 1
            continue
        bound = sum(cand.values()) if cand else c * len(layout.groups) + len(trace)
        t0 = time.monotonic()
        got = sizes.smallest(bound)
        times["sizes"] = time.monotonic() - t0
        if got is not None:
            return replace(got, cutoff=c, abstract_states=len(ex.states), seconds=times)
        why = (f"the counter abstraction (cutoff {c}) finds a {check} ({reason}), but no program "
               f"with at most {bound} copies in all has a violation")
        return AllSizes(unknown(why, UnknownKind.UNDECIDED,
                                "counter abstraction, then explicit search by size"), cutoff=c, abstract_states=len(ex.states), notes=tuple(tried), seconds=times)
    # No abstract violation: a proof for every size, once Z3 has checked it.
    unreached = [i for i in range(len(p.covers)) if i not in ex.covers]
    method = f"counter abstraction (cutoff {c}, {len(ex.states)} abstract states)"
    certified = False
    cover_cert: frozenset = frozenset()
    if certify:
        from modproof.encoder.counters import certify as z3_certify
        t0 = time.monotonic()
        cert = z3_certify(layout, list(ex.states), c, edges=ex.edges, timeout=left(),
                          unreached_covers=unreached)
        times["certificate"] = time.monotonic() - t0
        if not cert.checked:
            return AllSizes(unknown(f"the counter abstraction (cutoff {c}) finds no violation, but "
                                    f"its certificate is not checked: {cert.reason}",
                                    UnknownKind.SOLVER if cert.gave_up else UnknownKind.UNDECIDED,
                                    method), cutoff=c, abstract_states=len(ex.states),
                            notes=tuple(tried), seconds=times)
        certified = True
        cover_cert = cert.covers_unreachable
        method += f", its invariant checked by Z3 for every K ({cert.queries} queries)"
    t0 = time.monotonic()
    hang, verdict = _hang(p, ex, sizes)
    times["hang"] = time.monotonic() - t0
    if verdict is not None:
        return replace(verdict, cutoff=c, abstract_states=len(ex.states), seconds=times)
    t0 = time.monotonic()
    covers = _covers(p, ex, layout, c, cover_cert, sizes)
    times["covers"] = time.monotonic() - t0
    cover_results = tuple(CoverResult(cv.name, bool(cv.reached), cv.step,
                                      sizes=tuple((cv.sizes or {}).items())) for cv in covers)
    common = dict(certified=certified, cutoff=c, abstract_states=len(ex.states), covers=covers,
                  hang=hang, notes=tuple(tried), seconds=times)
    if hang.startswith("unknown: "):
        return AllSizes(unknown(f"every safety check holds for every number of copies, but "
                                f"{hang[len('unknown: '):]}", UnknownKind.UNDECIDED, method,
                                covers=cover_results), **common)
    extra = (("cutoff", c), ("abstract_states", len(ex.states)))
    return AllSizes(Proved(scope="all-sizes", bound=None,
                           stats=stats(method, states=len(ex.states), extra=extra),
                           covers=cover_results, certified=certified), **common)


# --------------------------------------------------------------------------- hang


def _may_run_forever(p: Program) -> bool:
    return any(t.must_finish for t in p.threads) and p.may_run_forever()


def _hang(p: Program, ex, sizes: _Sizes):
    """How the hang check is decided for every size: (how, None), or a violation."""
    if not any(t.must_finish for t in p.threads):
        return "no thread must finish", None
    if not _may_run_forever(p):
        return "no thread's control flow has a cycle: every execution of every size ends", None
    if not _abstract_cycle(ex.edges):
        return ("no cycle of the abstract state graph takes a step inside a cycle of a thread: "
                "every execution of every size ends"), None
    most = max(HANG_TOTAL, len(p.unbounded))
    got = sizes.smallest(most, check="hang", seconds=FALLBACK_SECONDS)
    if got is not None:
        return "", got
    return (f"unknown: the hang check is not decided for every number of copies (executions may "
            f"go on for ever; no hang with at most {most} copies in all)"), None


def _abstract_cycle(edges) -> bool:
    """Some strongly connected component of the abstract graph holds an edge that is
    a step inside a cycle of the mover's control flow."""
    succ: dict = {}
    for a, b, _, _ in edges:
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
    comp = _sccs(succ)
    return any(cyc and comp[a] == comp[b] for a, b, cyc, _ in edges)


def _sccs(succ: dict) -> dict:
    index, low, on, stack, comp = {}, {}, set(), [], {}
    counter = 0
    for root in succ:
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
    return comp



# --------------------------------------------------------------------------- covers


def _covers(p: Program, ex, layout, c: int, certified: frozenset,
            sizes: _Sizes) -> tuple[SizedCover, ...]:
    """Each cover: with the fewest copies the explicit engine reaches it with, or not
    with any number."""
    from modproof.explicit import counters as C
    out: list[SizedCover] = []
    for i, cov in enumerate(p.covers):
        a = ex.covers.get(i)
        if a is None:
            out.append(SizedCover(cov.name, False, certified=i in certified))
            continue
        # The fewest copies that reach it: sizes in order, up to those the abstract
        # execution to it needs (or a few, when it needs none in particular).
        need = C.realize_sizes(layout, c, C.trace_to(ex, a))
        most = max(sum(need.values()) if need else 0, FALLBACK_TOTAL, len(p.unbounded))
        tries = list(size_vectors(p.unbounded, most))
        found = None
        for s in tries:
            r = sizes.run(s)
            if r is None:
                break
            hit = next((cr for cr in getattr(r, "covers", ()) if cr.name == cov.name and cr.reached),
                       None)
            if hit is not None:
                found = SizedCover(cov.name, True, dict(s), hit.step)
                break
        out.append(found or SizedCover(cov.name, None))
    return tuple(out)
