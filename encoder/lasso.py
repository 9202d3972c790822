"""The hang check in Z3: liveness to safety, then BMC and k-induction.

NOTE(hang) in modproof/explicit/hang.py defines a hang: a fair infinite
execution along which a thread that must finish never does.  A finite-state
execution that goes on for ever ends in a loop, so a hang has a witness of the
shape s0 .. sj .. sL with sL = sj (a lasso) where every step is a step of the
program that violates nothing, some thread that must finish is unfinished in
sj, and (fairness) every thread enabled in some state sj .. sL-1 moves in some
step of the loop.

NOTE(liveness-to-safety): as Biere, Artho and Schuppan do, the encoding gets a
copy of the state (`saved(...)`), an oracle `save@t` that copies the state at
one time of the solver's choosing, and per thread two flags: enabled in some
state since the copy (`seen_enabled`), moved in some step since (`seen_moved`).
A hang is then a *state* of this larger system: a copy was made, the state
equals it, every thread seen enabled was seen moving, and a thread that must
finish is unfinished.  BMC finds the shortest such lasso (its length is the
stem and loop together), and k-induction with the simple-path constraint
proves that none exists, exactly as for the safety checks; on a finite-state
model the induction closes for some k.  The partial-order and symmetry
constraints are off: they keep states and violations reachable within L
steps, not loops.
"""
from __future__ import annotations

from typing import Optional

import z3

from modproof.encoder.bmc import Budget
from modproof.encoder.encoding import Encoding, StateVar
from modproof.encoder.induction import InductionPath
from modproof.encoder.timeline import built_once
from modproof.result import RawTrace
from modproof.spec.model import DONE, Program


class LassoEncoding(Encoding):
    """The program with a saved copy of its state and fairness flags (NOTE(liveness-to-safety))."""

    def __init__(self, program: Program, ctx: z3.Context, prefix: str = "l2s:"):
        super().__init__(program, ctx, prefix=prefix, por=False, symmetry=False)
        self.base_keys = [sv.key for sv in self.state_vars if sv.key[0] != "started"]
        self.must = [t for t, th in enumerate(program.threads) if th.must_finish]
        extra = [StateVar(("saved", k), f"saved({self._by_key[k].label})", self._by_key[k].is_bool)
                 for k in self.base_keys]
        extra.append(StateVar(("copied",), "copied", True))
        n = len(program.threads)
        extra += [StateVar(("seen_enabled", u), f"seen_enabled({program.threads[u].name})", True)
                  for u in range(n)]
        extra += [StateVar(("seen_moved", u), f"seen_moved({program.threads[u].name})", True)
                  for u in range(n)]
        self.extra_vars = tuple(extra)
        self.cyclic_pcs = [th.pcs_on_cycles() for th in program.threads]
        self._by_key.update({sv.key: sv for sv in extra})

    def save(self, t: int) -> z3.BoolRef:
        """The oracle: the state at time `t` is the one the loop returns to."""
        return self.const("save", t, True)

    def init(self, t: int = 0) -> z3.BoolRef:
        flags = [z3.Not(self.at(("copied",), t))]
        n = len(self.program.threads)
        flags += [z3.Not(self.at(("seen_enabled", u), t)) for u in range(n)]
        flags += [z3.Not(self.at(("seen_moved", u), t)) for u in range(n)]
        return z3.And(super().init(t), *flags)

    @built_once
    def trans(self, t: int) -> z3.BoolRef:
        """A step of the program that violates nothing, and the copy and flags."""
        save, copied = self.save(t), self.at(("copied",), t)
        cs = [Encoding.trans.__wrapped__(self, t), z3.Not(self.step_violation(t)),
              z3.Implies(save, z3.Not(copied)),
              self.at(("copied",), t + 1) == z3.Or(copied, save)]
        for k in self.base_keys:
            cs.append(self.at(("saved", k), t + 1)
                      == z3.If(save, self.at(k, t), self.at(("saved", k), t)))
        for u in range(len(self.program.threads)):
            for flag, now in (("seen_enabled", self.thread_enabled(u, t)),
                              ("seen_moved", self.moved(u, t))):
                old = self.at((flag, u), t)
                cs.append(self.at((flag, u), t + 1)
                          == z3.If(save, now, z3.And(copied, z3.Or(old, now))))
        return z3.And(cs)

    @built_once
    def bad_state(self, t: int) -> z3.BoolRef:
        """State `t` closes a fair loop that hangs a thread that must finish."""
        cs = [self.at(("copied",), t)]
        cs += [self.at(k, t) == self.at(("saved", k), t) for k in self.base_keys]
        cs += [z3.Implies(self.at(("seen_enabled", u), t), self.at(("seen_moved", u), t))
               for u in range(len(self.program.threads))]
        cs.append(self.or_([z3.Not(self.pc_is(u, DONE, t)) for u in self.must]))
        # A thread that moved in the loop is back at the pc it started from, so that pc
        # lies on a cycle of its control flow.  True of every real lasso; it also keeps
        # the induction step from starting in the middle of loops no thread can close.
        for u, pcs in enumerate(self.cyclic_pcs):
            cs.append(z3.Implies(self.at(("seen_moved", u), t),
                                 self.or_([self.pc_is(u, pc, t) for pc in pcs])))
        return z3.And(cs)

    def differ(self, t1: int, t2: int) -> z3.BoolRef:
        return z3.Or(super().differ(t1, t2),
                     *[self.at(sv.key, t1) != self.at(sv.key, t2) for sv in self.extra_vars])


def decide_hang(program: Program, max_k: int, budget: Budget) -> tuple[str, Optional[RawTrace], int]:
    """("hang", lasso, k): the shortest fair lasso that hangs a thread; ("none", None, k):
    k-induction shows there is none; ("open", None, max_k): neither within max_k.
    Raises bmc.OutOfBudget."""
    if not any(th.must_finish for th in program.threads) or not program.may_run_forever():
        return ("none", None, 0)
    ctx = z3.Context()
    enc = LassoEncoding(program, ctx)
    solver = budget.new_solver(ctx)
    solver.add(enc.init(0))
    ind = InductionPath(LassoEncoding(program, ctx, prefix="l2s-ind:"), budget)
    for k in range(max_k + 1):
        lit = z3.Bool(enc.name("hang", k), ctx)
        solver.add(z3.Implies(lit, enc.bad_state(k)))
        if budget.check(solver, lit):
            return ("hang", _decode(enc, solver.model(), k), k)
        solver.add(z3.Not(enc.bad_state(k)))
        ind.grow()
        if not ind.reaches(ind.enc.bad_state(k)):
            return ("none", None, k)
        solver.add(enc.trans(k))
    return ("open", None, max_k)


def _decode(enc: LassoEncoding, m: z3.ModelRef, L: int) -> RawTrace:
    start = next(t for t in range(L) if z3.is_true(m.eval(enc.save(t), model_completion=True)))
    steps = tuple((enc.decode_mover(m, t), enc.decode_state(m, t + 1)) for t in range(L))
    return RawTrace(steps, "hang", loop=start)
