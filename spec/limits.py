"""The size limits of a model, and the walk that checks how deep a file nests.

NOTE(nesting-limits): every later stage (the checks, the lowering, the
reference semantics, the Z3 encoding) walks expressions and blocks
recursively, so nesting is bounded here, by a walk that does not recurse, before
any of them runs.  The limits are far beyond hand-written models (a sum of 150
terms, 100 nested blocks) and keep every stage well inside Python's default
recursion limit.  Calls are inlined into their callers, so blocks nest across
calls too: a call counts as one more level of the caller's block, and a thread
with its calls inlined may nest MAX_INLINED_DEPTH deep
(`modproof.spec.callgraph.inlined_depth_errors`).
"""
from __future__ import annotations

from modproof.spec import ast as A
from modproof.spec.diagnostics import Diagnostic

MAX_EXPR_DEPTH = 150
MAX_BLOCK_DEPTH = 100
MAX_INLINED_DEPTH = 100  # blocks and calls of a thread with every call inlined
MAX_COPIES = 10_000     # of one `thread NAME[K]`: every copy is a thread of the model


def nesting_errors(spec: A.SpecFile) -> list[Diagnostic]:
    """One diagnostic for each top-level expression or body nested too deeply."""
    errors: list[Diagnostic] = []
    bodies: list[tuple] = []
    exprs: list = []
    for d in spec.decls:
        if isinstance(d, (A.FnDecl, A.ThreadDecl)):
            bodies.append(d.body)
        elif isinstance(d, (A.InvariantDecl, A.CoverDecl)):
            exprs.append(d.expr)
    # Blocks: (statements, depth) pairs, depth-first.
    stack = [(b, 1) for b in reversed(bodies)]
    while stack:
        block, depth = stack.pop()
        for st in block:
            if isinstance(st, (A.If, A.While, A.Assert, A.Await)):
                exprs.append(st.cond)
            elif isinstance(st, A.Assign):
                exprs.append(st.value)
            inner = A.blocks_of(st)
            if inner and depth + 1 > MAX_BLOCK_DEPTH:
                errors.append(Diagnostic(st.span, f"blocks nested more than {MAX_BLOCK_DEPTH} "
                                         "deep; flatten the code (calls are inlined, so moving "
                                         "it into functions does not help)"))
                continue
            stack.extend((b, depth + 1) for b in reversed(inner))
    operators = (A.Not, A.Binary)
    for top in exprs:
        work = [(top, 1)] if isinstance(top, operators) else []   # (operator, operators above + 1)
        while work:
            e, depth = work.pop()
            if depth > MAX_EXPR_DEPTH:
                errors.append(Diagnostic(top.span, f"expression nested more than {MAX_EXPR_DEPTH} "
                                         "operators deep; split it with a local or a var"))
                break
            kids = (e.operand,) if isinstance(e, A.Not) else (e.right, e.left)
            work += [(k, depth + 1) for k in kids if isinstance(k, operators)]
    return errors
