"""Strongly connected components, for the searches that look for cycles.

The hang check (explicit/hang.py) looks for fair cycles in the reachable
states, the counter abstraction (explicit/counters.py) for the control-flow
edges that lie on a cycle, and the all-sizes engine (modproof/allsizes.py) for
abstract steps inside a cycle: each asks `components`.
"""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, TypeVar

N = TypeVar("N", bound=Hashable)


def components(roots: Iterable[N], successors: Callable[[N], Iterable[N]]) -> list[frozenset[N]]:
    """The strongly connected components of the graph reachable from `roots`, in
    the order Tarjan's algorithm completes them (a component before the ones that
    reach it).  Iterative, for graphs deeper than Python's stack; the order is a
    function of the order of `roots` and of `successors`, so callers stay
    deterministic."""
    index: dict[N, int] = {}
    low: dict[N, int] = {}
    on_stack: set[N] = set()
    stack: list[N] = []
    out: list[frozenset[N]] = []
    for root in roots:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors(root)))]
        while work:
            v, pending = work[-1]
            w = next(pending, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(successors(w))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(frozenset(comp))
    return out


def component_of(comps: list[frozenset[N]]) -> dict[N, int]:
    """Each node of `comps` to the number of its component."""
    return {n: i for i, comp in enumerate(comps) for n in comp}


__all__ = ["components", "component_of"]
