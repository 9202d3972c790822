"""k-induction with the simple-path constraint: proofs for all executions.

The base case is the BMC run of `bmc.Unroller`: depth k refutes every violation
that ends an execution of at most k steps.  The induction step asks, on a path
of its own (names prefixed `ind:`) that starts in any state within the domain
(`Encoding.domain`): can k steps through pairwise distinct states none of which
is bad (`Encoding.bad_state`: invariant false, deadlock, or a violating step
enabled) end in a bad state?  If not, no reachable state is bad: a shortest
violating execution visits pairwise distinct states (else cut the loop), its
states before the last are not bad (else a shorter one), and its last k+1 states
would be such a path.  For finite-state models the simple paths are bounded, so
some k closes the proof; with mathematical integers a model may have infinitely
many states, and then the honest answer at `max_k` is Unknown.

Once safety is proved, the covers and statements still open (not seen by BMC)
get the same treatment: a target that is not k-inductively unreachable within
the budget stays open, so a cover is reported as not reached (the conservative
side: CI fails) and a statement as unreached; `Stats.extra` then says
`targets_complete=False` and the depth they were searched to.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

import z3

from modproof.encoder.bmc import (
    Budget, OutOfBudget, Targets, Unroller, bounded, rlimit_count, step_once, unknown,
)
from modproof.encoder.encoding import ATOMIC_UNROLL, Encoding, EncodingLimit
from modproof.encoder.induction import InductionPath
from modproof.options import DEFAULT_MAX_K, Report
from modproof.result import Proved, Result, Stats, UnknownKind, Violated
from modproof.spec.model import Program

METHOD = "k-induction"
INDUCTION_CAP_MIN = 1_000_000      # Z3 resource units an induction attempt may always use


def prove_kinduction(program: Program, max_k: int = DEFAULT_MAX_K,
                     timeout: Optional[float] = None, rlimit: Optional[int] = None,
                     atomic_unroll: int = ATOMIC_UNROLL, por: bool = True, symmetry: bool = True,
                     bounded_fallback: bool = False, report: Optional[Report] = None) -> Result:
    """Prove `program` for all executions by k-induction (k <= `max_k`).

    Violated: the shortest BMC witness.  Proved("all-executions"): either every
    execution ends within the depth explored, or the induction step closed at
    some k (in `Stats.method` and `Stats.extra["k"]`).  Unknown when max_k or the
    budget (`timeout` seconds, `rlimit` Z3 resource units) runs out first.
    `por=False` switches off the partial-order reduction, `symmetry=False` the
    ordering of identical copies.  With `bounded_fallback`,
    an induction that does not close by `max_k` gives what the base case showed,
    Proved("bounded", max_k), instead of Unknown.  `report`, when given, is told
    the depth and the query before each query.
    """
    budget = Budget(timeout, rlimit, report)
    ctx = z3.Context()
    run: Optional[Unroller] = None
    try:
        run = Unroller(Encoding(program, ctx, atomic_unroll=atomic_unroll, por=por,
                                symmetry=symmetry), budget,
                       engine="k-induction")
        step = InductionPath(Encoding(program, ctx, prefix="ind:", atomic_unroll=atomic_unroll,
                                      por=por, symmetry=symmetry), budget)
        gave_up = 0
        for k in range(max_k + 1):
            before = rlimit_count(run.solver)
            verdict = step_once(run, bound=None, method=METHOD)
            if verdict is not None:
                return verdict
            step.grow()
            # NOTE(induction-cap): an induction step may cost far more than the BMC
            # that settles a terminating model a few steps deeper.  So each attempt
            # gets a resource cap: what BMC spent at this depth, doubled for every
            # attempt that gave up (the induction pays at most about twice what its
            # successful attempt costs).  An attempt that gives up means "not closed
            # at this k" (only an unsat answer is used, so this is sound); resource
            # units, not seconds, keep it deterministic.
            cap = max(INDUCTION_CAP_MIN, rlimit_count(run.solver) - before) << gave_up
            budget.note(depth=run.depth, query=f"induction k={k}", refuted=run.refuted)
            closed = step.reaches(step.enc.bad_state(k), cap=cap)
            if closed is False:
                return _proved(run, budget, k, max_k)
            gave_up += closed is None
            run.extend()
        if bounded_fallback:
            return bounded(run, max_k, f"bounded model checking to depth {max_k} "
                           "(k-induction did not close)")
        return unknown(run, budget, UnknownKind.BOUND, f"k-induction did not close for "
                       f"k <= {max_k} (the model may have infinitely many states)", METHOD)
    except OutOfBudget as e:
        return unknown(run, budget, e.kind, e.reason, METHOD, engine="k-induction")
    except EncodingLimit as e:
        return unknown(run, budget, UnknownKind.ENCODING_LIMIT, f"{e} (at {e.span})", METHOD,
                       engine="k-induction")


def _proved(run: Unroller, budget: Budget, k: int, max_k: int) -> Proved:
    """Safety holds by k-induction; settle the open covers and statements."""
    complete = True
    try:
        complete = _settle_targets(run, budget, max_k)
    except OutOfBudget:
        complete = False
    extra = (("queries", budget.queries), ("k", k), ("targets_complete", complete),
             ("targets_depth", run.depth))
    covers = run.targets.cover_results()
    if not complete:   # the covers still open were searched to run.depth only
        covers = tuple(c if c.reached else replace(c, within=run.depth) for c in covers)
    proved = Proved(scope="all-executions", bound=run.depth,
                    stats=Stats(engine="k-induction", method=f"{METHOD} (k={k})",
                                seconds=budget.elapsed(), depth=run.depth, extra=extra),
                    covers=covers, unreached=run.targets.unreached())
    return _hang(run, budget, proved, max_k)


def _hang(run: Unroller, budget: Budget, proved: Proved, max_k: int) -> Result:
    """NOTE(hang): k-induction proved every safety check, but executions may go on
    for ever: decide the hang check by liveness to safety (encoder/lasso.py).  Left
    open, it is unknown, never proved."""
    from modproof.encoder.lasso import decide_hang
    try:
        outcome, trace, k = decide_hang(run.enc.program, max_k, budget)
    except OutOfBudget as e:
        return unknown(run, budget, e.kind, f"every safety check holds for all executions "
                       f"({METHOD}); the hang check ran out: {e.reason}", METHOD,
                       engine="k-induction")
    if outcome == "none":
        return proved if k == 0 else replace(proved, stats=replace(
            proved.stats, method=f"{proved.stats.method}; no hang: liveness to safety, "
                                 f"k-induction (k={k})", seconds=budget.elapsed()))
    if outcome == "hang":
        return Violated(trace=trace, stats=replace(
            proved.stats, method="liveness to safety: bounded model checking for a fair lasso",
            seconds=budget.elapsed(), depth=len(trace.steps)), covers=proved.covers)
    return unknown(run, budget, UnknownKind.BOUND, f"every safety check holds for all executions "
                   f"({METHOD}); the hang check (executions can go on for ever) was not decided "
                   f"within k = {max_k}", METHOD, engine="k-induction")


def _settle_targets(run: Unroller, budget: Budget, max_k: int) -> bool:
    """Deepen BMC to find open targets and prove the others unreachable by
    k-induction; True when nothing is left undecided."""
    targets: Targets = run.targets
    if not targets.open():
        return True
    enc = Encoding(run.enc.program, run.enc.ctx, prefix="tgt:", atomic_unroll=run.enc.atomic_unroll,
                   por=run.enc.por, symmetry=bool(run.enc.symmetric_pairs))
    path = InductionPath(enc, budget)
    lits = {w: z3.Bool(f"tgt:open[{w[0]}{w[1]}]", enc.ctx) for w in targets.all()}
    for j in range(max_k + 1):
        if not targets.open():
            return True
        if j > run.depth:     # the base case must cover states 0..j-1
            run.extend()
            run.assume_safe()
            run.check_targets(statements=True)
            if not run.can_move():
                return True   # every execution ended: what is open is unreachable
            if not targets.open():
                return True
        if j > 0:
            for w, lit in lits.items():
                path.solver.add(z3.Implies(lit, z3.Not(targets.predicate(w, enc, j - 1))))
        path.grow(good_last=True)
        open_now = set(targets.open())
        goal = z3.Or([z3.And(lit, targets.predicate(w, enc, j)) for w, lit in lits.items()])
        flags = [lit if w in open_now else z3.Not(lit) for w, lit in lits.items()]
        if not path.reaches(goal, *flags):
            return True
    return False
