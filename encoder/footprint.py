"""What each step reads and writes of the shared state: the independence
relation behind the Z3 encoding's partial-order constraint (NOTE(por) in
`encoding.py`).

A footprint names state variables as the encoding keys them (`("refs", obj)`,
`("mstate", module)`, `("var", index)`, ...), never pcs or locals: a thread's
private state cannot make two threads dependent.  A step's footprint includes
its guard, its checks, and the owner and storage modules whose `mstate` its
code-after-unload and use-after-unload checks read.
"""
from __future__ import annotations

from dataclasses import dataclass

from modproof.spec import model as M
from modproof.spec import vocabulary as V
from modproof.spec.model import StepKind


@dataclass(frozen=True)
class Footprint:
    """The shared state variables a step may read and write (its guard, its checks
    and the code-after-unload check of its owner included)."""

    reads: frozenset
    writes: frozenset

    def independent(self, other: "Footprint") -> bool:
        return not (self.writes & (other.reads | other.writes)) and not (other.writes & self.reads)


def _prim_footprint(kind: StepKind, x: int, reads: set, writes: set) -> None:
    """A primitive's footprint at operand `x`: its vocabulary entry's tables.
    A kind that is not a primitive raises KeyError."""
    prim = M.PRIMITIVE_OF[kind]
    reads.update((table, x) for table in prim.reads)
    writes.update((table, x) for table in prim.writes)


def expr_reads(e, reads: set, writes: set) -> None:
    """Shared state read by `e` (and written, for a try_ query as a condition)."""
    if isinstance(e, M.VarRef):
        reads.add(("var", e.index))
    elif isinstance(e, M.Neg):
        expr_reads(e.operand, reads, writes)
    elif isinstance(e, M.Bin):
        expr_reads(e.left, reads, writes)
        expr_reads(e.right, reads, writes)
    elif isinstance(e, M.Q):
        q = V.query(e.kind)
        reads.update((table, e.index) for table in q.reads)
        writes.update((table, e.index) for table in q.writes)
    elif not isinstance(e, (M.Const, M.LocalRef)):
        raise AssertionError(f"no footprint for {e!r}")


def _atomic_footprint(body, reads: set, writes: set) -> None:
    for s in body:
        if isinstance(s, M.AOp):
            _prim_footprint(s.kind, s.operand, reads, writes)
        elif isinstance(s, M.AAssign):
            expr_reads(s.value, reads, writes)
            if isinstance(s.target, M.VarRef):
                writes.add(("var", s.target.index))
        elif isinstance(s, (M.AAssert, M.AAwait)):
            expr_reads(s.cond, reads, writes)
        elif isinstance(s, M.AIf):
            expr_reads(s.cond, reads, writes)
            _atomic_footprint(s.then + s.orelse, reads, writes)
        elif isinstance(s, M.AWhile):
            expr_reads(s.cond, reads, writes)
            _atomic_footprint(s.body, reads, writes)
        elif isinstance(s, M.AChoose):
            for b in s.branches:
                _atomic_footprint(b, reads, writes)
        else:
            raise AssertionError(f"no footprint for {s!r}")


def storage_modules(p: M.Program, st: M.Step) -> tuple[int, ...]:
    """The modules whose memory holds what `st` uses (its use-after-unload check)."""
    return tuple(sorted({m for m in ((p.objects[x] if kind == "object" else p.completions[x]).storage
                                     for kind, x in st.uses) if m >= 0}))


def footprint(p: M.Program, st: M.Step) -> Footprint:
    """What step `st` may read and write of the shared state (not pcs, not locals)."""
    reads: set = set()
    writes: set = set()
    if st.owner >= 0:
        reads.add(("mstate", st.owner))      # the code-after-unload check
    reads.update(("mstate", m) for m in storage_modules(p, st))   # the use-after-unload check
    if st.expr is not None:
        expr_reads(st.expr, reads, writes)
    for _, e in st.inits:   # NOTE(local-inits): a call's locals may read shared state
        expr_reads(e, reads, writes)
    if isinstance(st.target, M.VarRef):   # ASSIGN; v3: a BRANCH or PUT storing its result
        writes.add(("var", st.target.index))
    k = st.kind
    if k in M.PRIMITIVE_OF:
        _prim_footprint(k, st.operand, reads, writes)
    elif k is StepKind.ATOMIC:
        _atomic_footprint(st.body, reads, writes)
    elif k not in _PRIVATE:
        raise AssertionError(f"no footprint for a {k.value} step")
    return Footprint(frozenset(reads), frozenset(writes))


# Steps that touch shared state only through their expression (or not at all).
_PRIVATE = frozenset({StepKind.ASSIGN, StepKind.ASSERT, StepKind.AWAIT, StepKind.BRANCH,
                      StepKind.CHOOSE, StepKind.CALL, StepKind.RETURN})
