"""The induction step's path: k transitions from any state in the domain through
pairwise distinct states (the simple-path constraint), for k-induction
(`kinduction.py`) and the hang check's liveness-to-safety encoding (`lasso.py`)."""
from __future__ import annotations

from typing import Optional

import z3

from modproof.encoder.bmc import Budget
from modproof.encoder.encoding import Encoding


class InductionPath:
    """A path of `k` transitions from an arbitrary in-domain state through
    pairwise distinct states, for the induction step."""

    def __init__(self, enc: Encoding, budget: Budget):
        self.enc = enc
        self.budget = budget
        self.solver = budget.new_solver(enc.ctx)
        self.k = -1

    def grow(self, good_last: bool = False) -> None:
        """Add state k+1; the state before it is assumed not bad.  With `good_last`
        (safety already proved) the new state is assumed not bad as well."""
        enc, k = self.enc, self.k + 1
        s = self.solver
        s.add(enc.domain(k))
        if k > 0:
            s.add(enc.trans(k - 1))
            if not good_last:
                s.add(z3.Not(enc.bad_state(k - 1)))
        if good_last:
            s.add(z3.Not(enc.bad_state(k)))
        for j in range(k):
            s.add(enc.differ(j, k))
        self.k = k

    def reaches(self, goal: z3.BoolRef, *assumptions: z3.BoolRef,
                cap: Optional[int] = None) -> Optional[bool]:
        """Can the path end in `goal`?  None when `cap` resource units were not enough."""
        lit = z3.Bool(self.enc.name("goal", self.k), self.enc.ctx)
        self.solver.add(z3.Implies(lit, goal))
        if cap is None:
            return self.budget.check(self.solver, lit, *assumptions)
        return self.budget.check_capped(self.solver, cap, lit, *assumptions)
