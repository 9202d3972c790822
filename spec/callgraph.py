"""The call graph of a file: call cycles, and nesting with every call inlined.

Its edges are recorded while bodies are checked (`modproof.spec.check_stmts`):
a call `f()`, and a `put` or `unload` that runs a release or exit function, is
an edge from the fn or thread whose body holds it.  Calls do not recurse, so a
cycle is an error; and calls are inlined by the lowering, so blocks nest across
them (NOTE(nesting-limits) in `modproof.spec.limits`).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from modproof.spec import ast as A
from modproof.spec.diagnostics import Diagnostic, Note
from modproof.spec.limits import MAX_INLINED_DEPTH


class CallEdge(NamedTuple):
    callee: str
    span: A.Span
    how: str     # the call in words, with {f} for the caller and {g} for the callee
    depth: int   # the block depth of the call in the caller's body


Graph = dict[str, list[CallEdge]]


def call_graph(calls: Graph, fns: dict[str, A.FnDecl]) -> Graph:
    """The edges of `calls` that lead to declared functions."""
    return {n: [c for c in edges if c.callee in fns] for n, edges in calls.items()}


def cycle_errors(graph: Graph, fns: dict[str, A.FnDecl]) -> list[Diagnostic]:
    """One error for each cycle of calls among functions, naming it."""
    errors: list[Diagnostic] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 finished
    stack: list[tuple[str, CallEdge]] = []
    reported: set[frozenset[str]] = set()

    def report(cyc: list[tuple[str, CallEdge]], callee: str) -> None:
        key = frozenset(f for f, _ in cyc)
        if key in reported:
            return
        reported.add(key)
        path = " -> ".join([f for f, _ in cyc] + [callee])
        caller, first = cyc[0]
        here = ("" if first.how.startswith("'{f}' calls")
                else ": " + first.how.format(f=caller, g=first.callee) + " here")
        notes = tuple(Note(e.span, e.how.format(f=f, g=e.callee) + " here") for f, e in cyc[1:])
        errors.append(Diagnostic(first.span, f"call cycle: {path}{here} (calls do not recurse; "
                                 "release and exit functions count as calls)", notes))

    # Depth-first, with an explicit stack: a chain of calls can be long.
    for root in sorted(fns, key=lambda f: (fns[f].span.line, f)):
        if state.get(root) is not None:
            continue
        state[root] = 1
        work = [(root, iter(graph.get(root, [])))]
        while work:
            n, edges = work[-1]
            edge = next(edges, None)
            if edge is None:
                state[n] = 2
                work.pop()
                if work:
                    stack.pop()   # the edge that led to n
                continue
            callee = edge.callee
            if state.get(callee) == 1:
                names = [f for f, _ in stack] + [n]
                cyc = (stack + [(n, edge)])[names.index(callee):]
                report(cyc, callee)
            elif state.get(callee) is None:
                stack.append((n, edge))
                state[callee] = 1
                work.append((callee, iter(graph.get(callee, []))))
    return errors


def inlined_depth_errors(graph: Graph, body_depth: dict[str, int],
                         decls: tuple[A.Decl, ...]) -> list[Diagnostic]:
    """NOTE(nesting-limits): calls are inlined, so blocks nest across them.
    One error for each thread (or function nobody calls, such as a work handler)
    among `decls` whose body, with every call inlined, nests blocks and calls
    more than MAX_INLINED_DEPTH deep.  `body_depth` is the deepest block of each
    body on its own; calls in `graph` form no cycle."""
    depth: dict[str, int] = {}     # inlined nesting of each body
    via: dict[str, Optional[CallEdge]] = {}   # the call edge that reaches it
    for root in sorted(graph):
        work = [root]
        while work:
            n = work[-1]
            if n in depth:
                work.pop()
                continue
            todo = [c.callee for c in graph.get(n, []) if c.callee not in depth]
            if todo:
                work.extend(todo)
                continue
            work.pop()
            best, edge = body_depth.get(n, 1), None
            for c in graph.get(n, []):
                if c.depth + depth[c.callee] > best:
                    best, edge = c.depth + depth[c.callee], c
            depth[n], via[n] = best, edge
    errors: list[Diagnostic] = []
    called = {c.callee for edges in graph.values() for c in edges}
    for d in decls:
        if not isinstance(d, (A.ThreadDecl, A.FnDecl)) or d.name in called:
            continue   # a function is reported where its callers start
        if depth.get(d.name, 0) <= MAX_INLINED_DEPTH or via.get(d.name) is None:
            continue
        chain, n = [d.name], d.name
        while via.get(n) is not None and len(chain) < 6:
            n = via[n].callee
            chain.append(n)
        more = " -> ..." if via.get(n) is not None else ""
        what = "thread" if isinstance(d, A.ThreadDecl) else "function"
        errors.append(Diagnostic(via[d.name].span, f"with its calls inlined, {what} '{d.name}' "
                                 f"nests blocks and calls {depth[d.name]} deep (at most "
                                 f"{MAX_INLINED_DEPTH}): {' -> '.join(chain)}{more}; modproof "
                                 "inlines every call, so flatten the code or the call chain"))
    return errors
