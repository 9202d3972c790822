"""The default engine: a portfolio of engines in parallel processes, first conclusive answer wins.

As SymbiYosys does, `prove` without `--engine` starts the engines that fit, each
in its own process: the explicit engine with reductions (fast on finite models,
proofs for all executions, shortest witnesses) and the Z3 engine (bounded model
checking for bugs, then k-induction for unbounded proofs).  The first violation
or proof for all executions wins and the others are stopped.  A proof up to a
bound wins only when no engine decides: the engine still running may find a
violation beyond the bound.  `Unknown` only when every engine gave up.  The
answer says which engine gave it.

`prove_portfolio` races the runners it is given (the registry's `auto` entry,
`modproof.engines`, gives it the explicit and bmc engines); it knows no engine
by itself, so it imports neither the engines nor the registry.

NOTE(first-try): the first member (the explicit engine) first runs alone, with
all the memory and a budget of `FIRST_STATES` states, so every model it decides
within that budget gets its deterministic answer and witness on any machine,
however loaded (a budget of time alone would make that depend on the machine);
`FIRST_SECONDS` caps that try for models whose states are slow to explore.  Only
larger models race, and there the engine that answers first, and so the witness
(of the same length and check either way), can differ from run to run.  Every
engine runs in a process of its own (NOTE(child-processes) in
modproof/supervise.py); the engines that race share the memory budget equally
(NOTE(memory-budget)).
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Mapping, Optional

from modproof.options import FIRST_SECONDS, FIRST_STATES, Options
from modproof.result import Proved, Result, Stats, Unknown, UnknownKind, Violated
from modproof.spec.model import Program
from modproof.supervise import ERROR, Children, OnProgress, result_of, run_isolated

Runner = Callable[[Program, Options], Result]   # as modproof.engines.Runner


def prove_portfolio(program: Program, opts: Options, members: Mapping[str, Runner],
                    on_progress: Optional[OnProgress] = None) -> Result:
    """Race `members` (engine name -> runner), the first tried alone first
    (NOTE(first-try)); the first conclusive answer wins."""
    start = time.monotonic()
    deadline = None if opts.timeout is None else start + opts.timeout
    # Most models are decided by the explicit engine in well under a second: try it
    # first, on a budget of states, before paying for Z3.
    first_name = next(iter(members))
    budget = min(FIRST_STATES, opts.state_budget())
    first = run_isolated(first_name, members[first_name], program, replace(
        opts, max_states=budget, timeout=min(FIRST_SECONDS, opts.timeout or FIRST_SECONDS)),
        on_progress)
    # A violation without its shortest witness, or a proof without the fewest steps
    # to a cover, is raced for a complete answer (and kept if none comes); every
    # other answer is final.
    incomplete = ((isinstance(first, Violated) and not first.shortest)
                  or (isinstance(first, Proved)
                      and any(c.reached and c.step is None for c in first.covers)))
    if not isinstance(first, Unknown) and not incomplete:
        return _tag(first, start)
    if deadline is not None and time.monotonic() >= deadline:
        return _tag(first, start) if incomplete else first
    # The first engine is worth running on only when the first try stopped it;
    # the user's budget, its memory or an atomic loop limit would stop it again.
    share = None if opts.max_memory is None else opts.max_memory // len(members)
    raced = replace(opts, max_memory=share)
    again = incomplete or first.kind is UnknownKind.TIMEOUT or (
        first.kind is UnknownKind.STATE_BUDGET and budget < raced.state_budget())
    engines = tuple(members) if again else tuple(members)[1:]
    if len(engines) < len(members):   # one engine alone has all the memory
        raced = replace(opts, max_memory=opts.max_memory)
    answers: dict[str, Result] = {} if first_name in engines else {first_name: first}
    errors: dict[str, str] = {}
    pending: dict[str, Result] = {}
    with Children(on_progress) as kids:
        for name in engines:
            kids.start(name, _work(members[name], program, replace(raced, engine=name)),
                       memory=raced.max_memory)
        while kids.running and not pending:
            # At the deadline the engines still running are stopped (they started after
            # it was set, so none reaches its own time limit first).
            ended = kids.next(until=deadline)
            if ended is None:
                break
            # Of answers arriving together, that of the engine whose name sorts first.
            for e in [ended, *kids.ended_now()]:
                if e.how == ERROR:
                    errors[e.name] = f"internal error: {e.value}"
                    continue
                r = result_of(e, start)
                answers[e.name] = r
                if _conclusive(r):
                    pending[e.name] = r
    if pending:
        return _tag(pending[sorted(pending)[0]], start)
    if incomplete:
        return _tag(first, start)
    # No engine decided.  A proof up to a bound is the best answer left, and says so.
    bounded = [(a.bound, n) for n, a in answers.items() if isinstance(a, Proved)]
    if bounded:
        return _tag(answers[max(bounded)[1]], start)
    # Every reason, with its kind: the answer's kind is that of the reason listed first.
    reasons = [(a.kind, f"{n}: {a.reason}") for n, a in sorted(answers.items())
               if isinstance(a, Unknown)]
    reasons += [(UnknownKind.ENGINE_FAILED, f"{n}: {e}") for n, e in sorted(errors.items())]
    if deadline is not None and time.monotonic() >= deadline:
        reasons.insert(0, (UnknownKind.TIMEOUT, f"timeout after {opts.timeout:g} s"))
    bounds = [a.bound for a in answers.values() if isinstance(a, Unknown) and a.bound is not None]
    return Unknown("; ".join(why for _, why in reasons) or "no engine answered",
                   Stats(engine="portfolio", method=f"portfolio of {' and '.join(members)}",
                         seconds=time.monotonic() - start),
                   bound=max(bounds) if bounds else None,
                   kind=reasons[0][0] if reasons else UnknownKind.ENGINE_FAILED)


def _work(run: Runner, program: Program, opts: Options):
    return lambda report: run(program, replace(opts, report=report))


def _conclusive(r: Result) -> bool:
    """A violation, or a proof for all executions.  A proof up to a bound is not:
    another engine may still find a longer violation or prove it for all."""
    return isinstance(r, Violated) or (isinstance(r, Proved) and not r.bounded)


def _tag(r: Result, start: float) -> Result:
    """Name the engine that answered in the portfolio's own terms."""
    stats = replace(r.stats, seconds=time.monotonic() - start,
                    method=f"{r.stats.method}; answered first in the portfolio")
    return replace(r, stats=stats)
