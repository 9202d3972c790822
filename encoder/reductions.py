"""The constraints that keep the Z3 encoding small: partial order and symmetry.

Both are added to `Encoding.trans(t)`; each keeps every violation, cover and
statement reachable within L steps reachable within L steps (the notes below
say why), so BMC's shortest witnesses stay shortest.
"""
from __future__ import annotations

import z3

from modproof.encoder.footprint import Footprint, expr_reads, footprint


def partial_order(enc, t: int) -> list[z3.BoolRef]:
    """NOTE(por): the partial-order reduction of `trans(t)`.  A step of thread j
    at t-1 followed by a step of thread i < j at t is ruled out when the two are
    independent (neither writes what the other reads or writes) and j's step is
    invisible (writes nothing an invariant or cover reads).  Swapping such a pair
    gives an execution of the same length, same final state and same steps, whose
    visible changes come no later; repeated swaps end (each removes one
    inversion), so every state, cover, statement and shortest violation reachable
    in L steps stays reachable in L steps.  Private state (pcs, locals) never
    makes two threads dependent."""
    visible, classes = por_facts(enc)
    prev: dict[tuple[int, Footprint], z3.BoolRef] = {}
    for j, cls in enumerate(classes):
        for fp, ids in cls.items():
            if not (fp.writes & visible):
                prev[(j, fp)] = z3.And(enc.moved(j, t - 1),
                                       enc.or_([enc.pc_is(j, m, t - 1) for m in ids]))
    cs = []
    for i, cls in enumerate(classes):
        for fp, ids in cls.items():
            ruled_out = [f for (j, fq), f in prev.items() if j > i and fp.independent(fq)]
            if ruled_out:
                here = enc.or_([enc.pc_is(i, n, t) for n in ids])
                cs.append(z3.Implies(z3.And(enc.moved(i, t), here), z3.Not(enc.or_(ruled_out))))
    return cs


def symmetry(enc, t: int) -> list[z3.BoolRef]:
    """NOTE(symmetry-breaking): the copies of `thread NAME[K]` make their first
    moves in index order: copy j+1 moves only once copy j has moved
    (`started`).  Any execution becomes one of this shape, of the same length
    and with the same checks, by renaming the copies (and mutex holders) in the
    order of their first moves: copies run the same code from the same locals
    and nothing a check or property reads can tell them apart.  The renaming
    keeps the partial-order constraint's normal form (its swaps only move a
    lower thread's step earlier).  On the induction path the window may start
    with any flags, all true included, which is the unrestricted system; the
    flags stay out of `differ`, which is sound because a shortest violating
    execution of the restricted system visits distinct states (cutting a loop
    gives a shorter execution, which renaming turns into a restricted one)."""
    cs = []
    for i, j in enc.symmetric_pairs:
        started = enc.at(("started", i), t)
        cs.append(enc.at(("started", i), t + 1) == z3.Or(started, enc.moved(i, t)))
        cs.append(z3.Implies(enc.moved(j, t), started))
    return cs


def por_facts(enc) -> tuple[frozenset, list[dict[Footprint, list[int]]]]:
    """What invariants and covers read, and each thread's steps grouped by
    their footprint on shared state (computed once per encoding)."""
    if enc._por_facts is None:
        reads: set = set()
        for prop in enc.program.invariants + enc.program.covers:
            expr_reads(prop.expr, reads, set())
        classes = []
        for th in enc.program.threads:
            by: dict[Footprint, list[int]] = {}
            for st in th.steps:
                by.setdefault(footprint(enc.program, st), []).append(st.id)
            classes.append(by)
        enc._por_facts = (frozenset(reads), classes)
    return enc._por_facts
