"""Bounded model checking: the loop that asks Z3 about the formulas of `encoding`.

`prove_bmc` deepens one incremental solver step by step.  At depth L the solver
holds the initial state, L transitions and the refutations of every shorter
violation; it is asked whether a violation ends an execution of exactly L steps
(a violating L-th step, or an invariant false or a deadlock in state L).  All
shorter ones were refuted first, so the first satisfiable depth gives a shortest
witness, decoded into a `RawTrace` in the reference state representation.

Queries are switched on by assumption literals (`query@L`), so the solver keeps
what it learned; Z3's random seeds are fixed and every run builds its formulas
in a fresh `z3.Context` in the same order, so the same input gives the same
witness.  A timeout, an exhausted resource limit or a solver that says
`unknown` ends in `Unknown`, never in `Proved`.
"""
from __future__ import annotations

import time
from typing import Optional

import z3

from modproof.encoder.encoding import (
    ATOMIC_LIMIT, ATOMIC_UNROLL, Encoding, EncodingLimit, StatementGroup,
)
from modproof.options import DEFAULT_BOUND, Report
from modproof.result import (
    CoverResult, Proved, RawTrace, Result, Stats, Unknown, UnknownKind, Unreached, Violated,
)
from modproof.spec.model import CHECKS, Program

SEED = 0


class OutOfBudget(Exception):
    """The solver gave up (timeout, resource limit, unknown); `reason` says why, in
    words, and `kind` which of those it was."""

    def __init__(self, kind: UnknownKind, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Budget:
    """The wall-clock and Z3 resource budget of one run, shared by its solvers."""

    def __init__(self, timeout: Optional[float], rlimit: Optional[int],
                 report: Optional[Report] = None):
        self.start = time.monotonic()
        self.report = report   # progress: the depth reached and the query being asked
        self.timeout = timeout
        self.deadline = None if timeout is None else self.start + timeout
        self.rlimit = rlimit
        self.used = 0
        self.queries = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def note(self, **fields) -> None:
        """Tell whoever watches what is being asked now (`Options.report`)."""
        if self.report is not None:
            self.report(**fields)

    def new_solver(self, ctx: z3.Context) -> z3.Solver:
        s = z3.Solver(ctx=ctx)
        s.set("random_seed", SEED)
        return s

    def check_capped(self, solver: z3.Solver, cap: int, *assumptions: z3.BoolRef) -> Optional[bool]:
        """Like `check`, with at most `cap` more Z3 resource units for this query:
        None when the cap (and not the run's own budget) ran out.  Resource units
        are deterministic, so the same input gives up at the same place."""
        own_limit, used_before = self.rlimit, self.used
        if own_limit is not None and own_limit - used_before <= cap:
            return self.check(solver, *assumptions)
        self.rlimit = used_before + cap      # `check` counts what this query uses
        try:
            return self.check(solver, *assumptions)
        except OutOfBudget:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise
            # Z3 may report an exhausted cap as "canceled" rather than as a resource limit.
            why = solver.reason_unknown()
            if self.used - used_before >= cap or "resource" in why or why == "canceled":
                return None
            raise
        finally:
            self.rlimit = own_limit
            if own_limit is None:
                solver.set("rlimit", 0)   # no cap on this solver's later queries

    def check(self, solver: z3.Solver, *assumptions: z3.BoolRef) -> bool:
        """True when sat, False when unsat; raises OutOfBudget otherwise."""
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise OutOfBudget(UnknownKind.TIMEOUT, f"timeout after {self.timeout:g} s")
            solver.set("timeout", max(1, int(left * 1000)))
        before = 0
        if self.rlimit is not None:
            left_r = self.rlimit - self.used
            if left_r <= 0:
                raise OutOfBudget(UnknownKind.RESOURCE_LIMIT,
                                  f"resource limit {self.rlimit} exhausted")
            solver.set("rlimit", left_r)
            before = rlimit_count(solver)
        self.queries += 1
        r = solver.check(*assumptions)
        if self.rlimit is not None:
            self.used += rlimit_count(solver) - before
        if r == z3.sat:
            return True
        if r == z3.unsat:
            return False
        why = solver.reason_unknown()
        if self.deadline is not None and (why in ("timeout", "canceled")
                                          or time.monotonic() >= self.deadline):
            raise OutOfBudget(UnknownKind.TIMEOUT, f"timeout after {self.timeout:g} s")
        if self.rlimit is not None and ("resource" in why or self.used >= self.rlimit):
            raise OutOfBudget(UnknownKind.RESOURCE_LIMIT, f"resource limit {self.rlimit} exhausted")
        if "memory" in why:   # Z3 could not allocate (its process's share of --max-memory)
            raise OutOfBudget(UnknownKind.MEMORY, f"z3 ran out of memory ({why})")
        raise OutOfBudget(UnknownKind.SOLVER, f"z3 answered unknown ({why})")


def rlimit_count(solver: z3.Solver) -> int:
    st = solver.statistics()
    return int(st.get_key_value("rlimit count")) if "rlimit count" in st.keys() else 0


class Targets:
    """Covers (fewest steps to a state where each holds) and statements (taken by
    some execution), found depth by depth."""

    def __init__(self, enc: Encoding):
        self.enc = enc
        self.cover_step: dict[int, int] = {}
        self.cover_trace: dict[int, tuple] = {}   # the model's execution that reached it
        self.groups = enc.statement_groups()
        self.reached: set[int] = set()

    def open_covers(self) -> list[int]:
        return [c for c in range(len(self.enc.program.covers)) if c not in self.cover_step]

    def open_groups(self) -> list[int]:
        return [g for g in range(len(self.groups)) if g not in self.reached]

    def all(self) -> list[tuple[str, int]]:
        return ([("cover", c) for c in range(len(self.enc.program.covers))]
                + [("stmt", g) for g in range(len(self.groups))])

    def open(self, statements: bool = True) -> list[tuple[str, int]]:
        return ([("cover", c) for c in self.open_covers()]
                + ([("stmt", g) for g in self.open_groups()] if statements else []))

    def predicate(self, what: tuple[str, int], enc: Encoding, t: int) -> z3.BoolRef:
        """Target `what` holds in state `t` of `enc`: the cover is true, or a step
        of the statement is enabled (so some execution takes it next)."""
        kind, k = what
        return enc.cover(k, t) if kind == "cover" else enc.takeable(self.groups[k], t)

    def items(self, t: int, statements: bool) -> list[tuple[tuple[str, int], z3.BoolRef]]:
        """What is still open, as predicates of state `t`."""
        return [(w, self.predicate(w, self.enc, t)) for w in self.open(statements)]

    def mark(self, what: tuple[str, int], t: int, model: Optional[z3.ModelRef] = None) -> None:
        """`what` holds in state `t` of `model` (for a cover, its execution is kept)."""
        kind, k = what
        if kind == "cover":
            if k not in self.cover_step:
                self.cover_step[k] = t
                if model is not None:
                    self.cover_trace[k] = decode_path(self.enc, model, t)
        else:
            self.reached.add(k)

    def cover_results(self) -> tuple[CoverResult, ...]:
        return tuple(CoverResult(c.name, k in self.cover_step, self.cover_step.get(k),
                                 trace=self.cover_trace.get(k))
                     for k, c in enumerate(self.enc.program.covers))

    def unreached(self) -> tuple[Unreached, ...]:
        return tuple(_unreached(self.groups[g]) for g in self.open_groups())


def decode_path(enc: Encoding, model: z3.ModelRef, length: int) -> tuple:
    """The first `length` steps of `model`'s execution: (mover, state after) per step."""
    steps = []
    for t in range(length):
        i = enc.decode_mover(model, t)
        if i is None:
            raise AssertionError(f"decoded execution has no moving thread at step {t + 1}")
        steps.append((i, enc.decode_state(model, t + 1)))
    return tuple(steps)


def _unreached(g: StatementGroup) -> Unreached:
    return Unreached(g.text, g.span.line, g.span.col)


class Unroller:
    """The BMC path of one run: `depth` transitions from the initial state, every
    violation of at most `refuted` steps refuted."""

    def __init__(self, enc: Encoding, budget: Budget, engine: str = "bmc"):
        self.enc = enc
        self.budget = budget
        self.engine = engine
        self.solver = budget.new_solver(enc.ctx)
        self.solver.add(enc.init(0))
        self.depth = 0
        self.refuted: Optional[int] = None
        self.targets = Targets(enc)

    def _query(self, tag: str, formula: z3.BoolRef) -> bool:
        self.budget.note(depth=self.depth, query=f"{tag}@{self.depth}", refuted=self.refuted)
        lit = z3.Bool(self.enc.name(f"query:{tag}", self.depth), self.enc.ctx)
        self.solver.add(z3.Implies(lit, formula))
        return self.budget.check(self.solver, lit)

    def check_violation(self) -> Optional[RawTrace]:
        """A shortest violating execution of exactly `depth` steps, or None (and
        then all of them are refuted)."""
        enc, L = self.enc, self.depth
        parts = [enc.invariant_false(L), enc.deadlock(L)]
        if L > 0:
            parts.append(enc.step_violation(L - 1))
        if self._query("violation", z3.Or(parts)):
            # NOTE(check-priority): of the violations at this (shortest) length, report
            # the check that comes first in CHECKS, as the explicit engine does; an
            # atomic loop past its unrolling comes before all (it makes the answer unknown).
            # (a copy: the dict is the encoding's cached template, NOTE(templates))
            per = dict(enc.step_violations(L - 1)) if L > 0 else {}
            per["invariant"] = enc.invariant_false(L)
            per["deadlock"] = enc.deadlock(L)
            for c in (ATOMIC_LIMIT,) + CHECKS:
                f = per.get(c)
                if f is None or z3.is_false(f):
                    continue
                if self._query(f"violation:{c}", f):
                    trace = self._decode(self.solver.model(), c)
                    if c != ATOMIC_LIMIT:
                        self.covers_at_violation()
                    return trace
            raise AssertionError("a violation was found but no check explains it")
        self.assume_safe()
        return None

    def covers_at_violation(self) -> None:
        """NOTE(covers-at-violation): the depth of the shortest violation is still
        explored, as the explicit engine's breadth-first level is: a cover that holds
        in a state `depth` steps deep is reached, also when that state violates an
        invariant or deadlocks, or when the violation is another execution's step.
        Only executions whose `depth` steps violate nothing end in a real state.
        The violation is found already: a budget that runs out here leaves the
        covers still open as not reached (the conservative side), never the
        violation unreported."""
        L = self.depth
        ok = [z3.Not(self.enc.step_violation(L - 1))] if L > 0 else []
        while True:
            items = [(w, self.targets.predicate(w, self.enc, L))
                     for w in self.targets.open(statements=False)]
            if not items:
                return
            try:
                if not self._query(f"violation-covers{len(items)}",
                                   z3.And(ok + [z3.Or([f for _, f in items])])):
                    return
            except OutOfBudget:
                return
            m = self.solver.model()
            for what, f in items:
                if z3.is_true(m.eval(f, model_completion=True)):
                    self.targets.mark(what, L, m)

    def assume_safe(self) -> None:
        """Record that no violation ends an execution of `depth` steps (refuted, or
        proved by induction)."""
        if self.depth > 0:
            self.solver.add(z3.Not(self.enc.step_violation(self.depth - 1)))
        self.refuted = self.depth

    def check_targets(self, statements: bool) -> None:
        """Settle the open covers in state `depth`, and (when `statements`) the open
        statements as steps taken from it."""
        L = self.depth
        while True:
            items = self.targets.items(L, statements)
            if not items:
                return
            if not self._query(f"targets{len(items)}", z3.Or([f for _, f in items])):
                return
            m = self.solver.model()
            for what, f in items:
                if z3.is_true(m.eval(f, model_completion=True)):
                    self.targets.mark(what, L, m)

    def can_move(self) -> bool:
        """Some execution of `depth` steps can take one more."""
        return self._query("can_move", self.enc.can_move(self.depth))

    def extend(self) -> None:
        self.solver.add(self.enc.trans(self.depth))
        self.depth += 1

    def _decode(self, model: z3.ModelRef, check: str) -> RawTrace:
        """The execution of `model` that ends in a violation of `check` at `depth`."""
        enc, L = self.enc, self.depth
        steps = []
        for t in range(L):
            i = enc.decode_mover(model, t)
            if i is None:
                raise AssertionError(f"decoded witness has no moving thread at step {t + 1}")
            last_step_check = check not in ("invariant", "deadlock") and t == L - 1
            steps.append((i, None if last_step_check else enc.decode_state(model, t + 1)))
        return RawTrace(tuple(steps), check)

    def limit_reason(self, trace: RawTrace) -> str:
        """Why an ATOMIC_LIMIT witness is an Unknown: the loop that ran out."""
        i = trace.steps[-1][0]
        prev = trace.steps[-2][1] if len(trace.steps) > 1 else None
        pc = prev.pcs[i] if prev is not None else self.enc.program.threads[i].entry
        st = self.enc.program.threads[i].steps[pc]
        return (f"the loop inside '{st.text}' at {st.span} may run more than "
                f"{self.enc.atomic_unroll} times in one step (the encoding unrolls it "
                f"{self.enc.atomic_unroll} times)")


def prove_bmc(program: Program, bound: int = DEFAULT_BOUND, timeout: Optional[float] = None,
              rlimit: Optional[int] = None, atomic_unroll: int = ATOMIC_UNROLL,
              por: bool = True, symmetry: bool = True, report: Optional[Report] = None) -> Result:
    """Bounded model checking of `program` up to `bound` steps.

    Violated: a shortest witness.  Proved("all-executions") when every execution
    ends within the bound (no execution can take another step), else
    Proved("bounded", bound).  Unknown when the budget (`timeout` seconds of wall
    clock, `rlimit` Z3 resource units) runs out, when Z3 says unknown, or when an
    atomic loop would need more than `atomic_unroll` iterations.  `por=False`
    switches off the partial-order reduction (NOTE(por) in encoding.py),
    `symmetry=False` the ordering of identical copies (NOTE(symmetry-breaking)).
    `report`, when given, is told the depth and the query before each query.
    """
    budget = Budget(timeout, rlimit, report)
    enc = Encoding(program, z3.Context(), atomic_unroll=atomic_unroll, por=por, symmetry=symmetry)
    run = None
    try:
        run = Unroller(enc, budget)
        while True:
            verdict = step_once(run, bound=bound, method="bounded model checking")
            if verdict is not None:
                return verdict
            run.extend()
    except OutOfBudget as e:
        return unknown(run, budget, e.kind, e.reason, "bounded model checking")
    except EncodingLimit as e:
        return unknown(run, budget, UnknownKind.ENCODING_LIMIT, f"{e} (at {e.span})",
                       "bounded model checking")


def step_once(run: Unroller, bound: Optional[int], method: str) -> Optional[Result]:
    """One depth of BMC: a violation, a proof when no execution goes on (or the
    bound is reached), or None to go one step deeper."""
    trace = run.check_violation()
    if trace is not None:
        if trace.check == ATOMIC_LIMIT:
            return unknown(run, run.budget, UnknownKind.ATOMIC_LIMIT, run.limit_reason(trace),
                           method)
        return Violated(trace=trace, stats=stats(run, method), covers=run.targets.cover_results())
    run.check_targets(statements=bound is None or run.depth < bound)
    if not run.can_move():
        return Proved(scope="all-executions", bound=run.depth,
                      stats=stats(run, f"{method}: every execution ends within {run.depth} steps"),
                      covers=run.targets.cover_results(), unreached=run.targets.unreached())
    if bound is not None and run.depth >= bound:
        return bounded(run, run.depth, method)
    return None


def bounded(run: Unroller, depth: int, method: str) -> Result:
    """What BMC showed when executions go on past `depth`: no violation up to it.
    At depth 0 only the initial state was checked, which proves nothing (never a
    proof when the bound is too small to reach anything)."""
    if depth == 0:
        return unknown(run, run.budget, UnknownKind.BOUND, "a bound of 0 checks only the "
                       "initial state, and some thread can move (give --bound 1 or more)", method)
    return Proved(scope="bounded", bound=depth, stats=stats(run, method),
                  covers=run.targets.cover_results(), unreached=run.targets.unreached())


def stats(run: Unroller, method: str, extra: tuple = ()) -> Stats:
    return Stats(engine=run.engine, method=method, seconds=run.budget.elapsed(), depth=run.depth,
                 extra=(("queries", run.budget.queries),) + extra)


def unknown(run: Optional[Unroller], budget: Budget, kind: UnknownKind, reason: str, method: str,
            engine: str = "bmc") -> Unknown:
    depth = run.depth if run is not None else 0
    engine = run.engine if run is not None else engine
    return Unknown(reason=reason, kind=kind,
                   stats=Stats(engine=engine, method=method, seconds=budget.elapsed(), depth=depth,
                               extra=(("queries", budget.queries),)),
                   bound=run.refuted if run is not None else None,
                   covers=run.targets.cover_results() if run is not None else ())
