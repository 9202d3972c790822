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
from modproof.spec.ast import QueryKind
from modproof.spec.model import StepKind


@dataclass(frozen=True)
class Footprint:
    """The shared state variables a step may read and write (its guard, its checks
    and the code-after-unload check of its owner included)."""

    reads: frozenset
    writes: frozenset

    def independent(self, other: "Footprint") -> bool:
        return not (self.writes & (other.reads | other.writes)) and not (other.writes & self.reads)


_PRIM_READS_WRITES = {
    StepKind.GET: ("refs", True, True), StepKind.PUT: ("refs", True, True),
    StepKind.COMPLETE: ("done", True, True), StepKind.COMPLETE_AND_EXIT: ("done", True, True),
    StepKind.WAIT: ("done", True, True),
    StepKind.COMPLETE_ALL: ("done", False, True), StepKind.REINIT: ("done", False, True),
    StepKind.LOCK: ("holder", True, True), StepKind.UNLOCK: ("holder", True, True),
    StepKind.MODULE_PUT: ("mrefs", True, True), StepKind.MODULE_PUT_AND_EXIT: ("mrefs", True, True),
    StepKind.MODULE_GET: ("mrefs", True, True),
}


def _prim_footprint(kind: StepKind, x: int, reads: set, writes: set) -> None:
    if kind in _PRIM_READS_WRITES:
        table, r, w = _PRIM_READS_WRITES[kind]
        if r:
            reads.add((table, x))
        if w:
            writes.add((table, x))
    if kind is StepKind.MODULE_GET:
        reads.add(("mstate", x))
    elif kind is StepKind.UNLOAD:
        reads.update({("mstate", x), ("mrefs", x)})
        writes.add(("mstate", x))
    elif kind is StepKind.UNLOAD_FREE:
        writes.add(("mstate", x))


_QUERY_TABLE = {QueryKind.REFS: "refs", QueryKind.MODULE_REFS: "mrefs", QueryKind.LOADED: "mstate",
                QueryKind.DONE: "done", QueryKind.LOCKED: "holder"}


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
        if e.kind is QueryKind.TRY_GET:
            reads.add(("refs", e.index))
            writes.add(("refs", e.index))
        elif e.kind is QueryKind.TRY_MODULE_GET:
            reads.update({("mstate", e.index), ("mrefs", e.index)})
            writes.add(("mrefs", e.index))
        else:
            reads.add((_QUERY_TABLE[e.kind], e.index))


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
    if st.kind is StepKind.ASSIGN and isinstance(st.target, M.VarRef):
        writes.add(("var", st.target.index))
    elif st.kind is StepKind.ATOMIC:
        _atomic_footprint(st.body, reads, writes)
    else:
        _prim_footprint(st.kind, st.operand, reads, writes)
    return Footprint(frozenset(reads), frozenset(writes))
