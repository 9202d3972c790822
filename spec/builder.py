"""Building one thread's steps: the part of the lowering that v1 and v2 statements share.

A `StepGraph` makes `model.Step`s directly, with ids in creation order; a step
that must be pointed at before it can be made (the test of a `while`, a
worker's idle step) reserves its id first.  `freeze` renumbers the steps in
reading order (depth-first from the entry, taken branches first) and fills in
what each step uses of storage that may live in a module (use-after-unload).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from modproof.spec import ast as A
from modproof.spec import model as M
from modproof.spec import vocabulary as V


@dataclass
class Ctx:
    """Where the statements being lowered stand."""

    owner: int               # whose code they are: CORE or a module index
    ret_next: int            # where a `return` in this body goes
    fn: Optional[str]        # the function, None in a thread body
    frame: tuple[str, ...]   # enclosing functions, outermost first
    slots: dict[str, int]    # local name -> slot
    # v3: the innermost loop of this body: (where `continue` goes, where `break` goes)
    loop: Optional[tuple[int, int]] = None
    # v3, NOTE(module-init): in an init function, where `return E` goes when E < 0
    ret_fail: Optional[int] = None
    # v3, NOTE(results): where `return E` puts E (the caller's `x = f(...)`), if anywhere
    ret_target: Optional[object] = None


class StepGraph:
    """The steps of one thread under construction."""

    def __init__(self) -> None:
        self.made: dict[int, M.Step] = {}
        self.count = 0

    def reserve(self) -> int:
        """An id for a step made later with `make(..., at=id)`."""
        self.count += 1
        return self.count - 1

    def make(self, kind: M.StepKind, owner: int, span: A.Span, text: str, *,
             at: Optional[int] = None, **fields) -> int:
        """Make a step (at a reserved id, or the next one) and return its id."""
        sid = self.reserve() if at is None else at
        self.made[sid] = M.Step(id=sid, kind=kind, owner=owner, span=span, text=text, **fields)
        return sid

    def freeze(self, entry: int) -> tuple[M.Step, ...]:
        """The steps renumbered in reading order, entry first."""
        order: list[int] = []
        seen: set[int] = set()
        stack = [entry]
        while stack:
            n = stack.pop()
            if n == M.DONE or n in seen:
                continue
            seen.add(n)
            order.append(n)
            stack.extend(reversed(self.made[n].successors()))
        # Steps no path reaches (after a `return`, say) stay, so vacuity reports can name them.
        order += sorted((n for n in self.made if n not in seen),
                        key=lambda n: (self.made[n].span.line, self.made[n].span.col, n))
        new = {old: i for i, old in enumerate(order)}
        new[M.DONE] = M.DONE
        out = []
        for old in order:
            st = self.made[old].renumbered(new)
            uses = storage_uses(st)
            out.append(replace(st, uses=uses) if uses else st)
        return tuple(out)


# --------------------------------------------------------------------------- storage uses


def _expr_uses(e, out: set) -> None:
    if isinstance(e, M.Q):
        q = V.query(e.kind)
        if q.operand in V.STORAGE_KINDS:
            out.add((q.operand, e.index))
    elif isinstance(e, M.Neg):
        _expr_uses(e.operand, out)
    elif isinstance(e, M.Bin):
        _expr_uses(e.left, out)
        _expr_uses(e.right, out)


def _prim_uses(kind: M.StepKind, operand: int, out: set) -> None:
    p = M.PRIMITIVE_OF[kind]
    if p.operand in V.STORAGE_KINDS:
        out.add((p.operand, operand))


def storage_uses(st: M.Step) -> tuple[tuple[str, int], ...]:
    """The objects and completions step `st` touches (for use-after-unload)."""
    out: set = set()
    if st.kind in M.PRIMITIVE_OF:
        _prim_uses(st.kind, st.operand, out)
    if st.expr is not None:
        _expr_uses(st.expr, out)
    for _, e in st.inits:   # NOTE(local-inits)
        _expr_uses(e, out)
    for a in M.atomic_statements(st.body):
        if isinstance(a, M.AOp):
            _prim_uses(a.kind, a.operand, out)
        for e in M.atomic_reads(a):
            _expr_uses(e, out)
    return tuple(sorted(out))
