"""The hang check in Z3: a bounded search for a fair lasso (liveness to safety).

NOTE(hang) in modproof/explicit/hang.py defines a hang: a fair infinite
execution along which a thread that must finish never does.  A finite-state
execution that goes on for ever ends in a loop, so a hang has a witness of the
shape s0 .. sj .. sL with sL = sj (a lasso) where:

- every step is a step of the program and violates nothing,
- some thread that must finish is unfinished in sj (done is for good, so in
  every state of the loop),
- fairness: every thread enabled in some state sj .. sL-1 moves in some step
  of the loop.

`find_lasso` asks Z3 for such a path of L steps, L = 1, 2, ... up to a bound,
with the loop's start j chosen by the solver, so the first one found has the
fewest steps of all (stem and loop together).  It never proves there is no
hang: past the bound the answer stays open, and the engine says so
(`unknown`) unless every execution is known to end.  The encoding is the
plain one: the partial-order and symmetry constraints keep every state and
violation reachable within L steps, not loops.
"""
from __future__ import annotations

from typing import Optional

import z3

from modproof.encoder.encoding import Encoding
from modproof.result import RawTrace
from modproof.spec.model import DONE, Program


def find_lasso(program: Program, bound: int, budget) -> Optional[RawTrace]:
    """A fair lasso of at most `bound` steps that hangs a thread (shortest first), or
    None.  `budget` is a `bmc.Budget` (raises its OutOfBudget)."""
    must = [t for t, th in enumerate(program.threads) if th.must_finish]
    if not must:
        return None
    enc = Encoding(program, z3.Context(), prefix="lasso:", por=False, symmetry=False)
    solver = budget.new_solver(enc.ctx)
    solver.add(enc.init(0))
    n = len(program.threads)
    keys = [sv.key for sv in enc.state_vars if sv.key[0] != "started"]
    for L in range(1, bound + 1):
        t = L - 1
        solver.add(enc.trans(t))
        solver.add(z3.Not(enc.step_violation(t)))
        loops = []
        for j in range(L):
            same = [enc.at(k, L) == enc.at(k, j) for k in keys]
            hung = enc.or_([z3.Not(enc.pc_is(u, DONE, j)) for u in must])
            fair = []
            for u in range(n):
                enabled = enc.or_([enc.thread_enabled(u, k) for k in range(j, L)])
                moved = enc.or_([enc.moved(u, k) for k in range(j, L)])
                fair.append(z3.Implies(enabled, moved))
            loops.append(z3.And(same + [hung] + fair))
        lit = z3.Bool(enc.name("lasso", L), enc.ctx)
        solver.add(z3.Implies(lit, z3.Or(loops)))
        if budget.check(solver, lit):
            m = solver.model()
            start = next(j for j in range(L) if z3.is_true(m.eval(loops[j], model_completion=True)))
            steps = tuple((enc.decode_mover(m, k), enc.decode_state(m, k + 1)) for k in range(L))
            return RawTrace(steps, "hang", loop=start)
    return None
