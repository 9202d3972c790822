"""modproof.explicit.graph.components against the definition: two nodes share a
component exactly when each reaches the other."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modproof.explicit.graph import component_of, components


def reach(succ: dict[int, list[int]], a: int) -> set[int]:
    seen, todo = {a}, [a]
    while todo:
        for w in succ[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


graphs = st.integers(1, 12).flatmap(lambda n: st.lists(
    st.lists(st.integers(0, n - 1), max_size=4), min_size=n, max_size=n))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(graphs)
def test_components_are_the_mutually_reachable_nodes(edges):
    succ = dict(enumerate(edges))
    comps = components(succ, succ.__getitem__)
    comp = component_of(comps)
    assert sorted(n for c in comps for n in c) == sorted(succ)   # a partition
    for a in succ:
        for b in succ:
            assert (comp[a] == comp[b]) == (b in reach(succ, a) and a in reach(succ, b))
    # Tarjan's order: no edge leads from a component to one completed after it.
    for a in succ:
        assert all(comp[b] <= comp[a] for b in succ[a])


def test_a_deep_chain_does_not_overflow_the_stack():
    n = 50_000
    succ = {i: [i + 1] for i in range(n)} | {n: [0]}
    assert components([0], succ.__getitem__) == [frozenset(range(n + 1))]


def test_only_what_the_roots_reach():
    succ = {0: [1], 1: [0], 2: [0]}
    assert components([0], succ.__getitem__) == [frozenset({0, 1})]
