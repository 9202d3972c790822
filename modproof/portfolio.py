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

NOTE(first-try): the first member (the explicit engine) first runs in-process
with a budget of `FIRST_STATES` states, so every model it decides within that
budget gets its deterministic answer and witness on any machine, however loaded
(a budget of time alone would make that depend on the machine); `FIRST_SECONDS`
caps that try for models whose states are slow to explore.  Only larger models
race, and there the engine that answers first, and so the witness (of the same
length and check either way), can differ from run to run.
"""
from __future__ import annotations

import signal
import time
from dataclasses import replace
from typing import Callable, Mapping

from modproof.options import FIRST_SECONDS, FIRST_STATES, Options
from modproof.result import Proved, Result, Stats, Unknown, UnknownKind, Violated
from modproof.spec.model import Program

Runner = Callable[[Program, Options], Result]   # as modproof.engines.Runner


def _run(conn, name: str, run: Runner, program: Program, opts: Options) -> None:
    # Forked with the parent's Python SIGTERM handler, which would wait for a Z3
    # call to return: the parent's terminate() must end an engine at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        r = run(program, replace(opts, engine=name))
        conn.send(("ok", r))
    except BaseException as exc:  # report, never hang the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def prove_portfolio(program: Program, opts: Options, members: Mapping[str, Runner]) -> Result:
    """Race `members` (engine name -> runner), the first tried in-process first
    (NOTE(first-try)); the first conclusive answer wins."""
    start = time.monotonic()
    # Most models are decided by the explicit engine in well under a second: try it
    # here first, on a budget of states, before paying for processes and Z3.
    first_name = next(iter(members))
    budget = min(FIRST_STATES, opts.max_states)
    first = members[first_name](program, replace(
        opts, engine=first_name, max_states=budget,
        timeout=min(FIRST_SECONDS, opts.timeout or FIRST_SECONDS)))
    # A violation without its shortest witness, or a proof without the fewest steps
    # to a cover, is raced for a complete answer (and kept if none comes); every
    # other answer is final.
    incomplete = ((isinstance(first, Violated) and not first.shortest)
                  or (isinstance(first, Proved)
                      and any(c.reached and c.step is None for c in first.covers)))
    if not isinstance(first, Unknown) and not incomplete:
        return _tag(first, start)
    if opts.timeout is not None and time.monotonic() - start >= opts.timeout:
        return _tag(first, start) if incomplete else first
    import multiprocessing as mp  # here: most runs never get this far
    from multiprocessing.connection import wait
    ctx = mp.get_context("fork")
    # The first engine is worth running on only when the first try stopped it;
    # the user's budget or an atomic loop limit would stop it again.
    again = incomplete or first.kind is UnknownKind.TIMEOUT or (
        first.kind is UnknownKind.STATE_BUDGET and budget < opts.max_states)
    engines = tuple(members) if again else tuple(members)[1:]
    procs = {}
    for name in engines:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_run, args=(send, name, members[name], program, opts),
                           daemon=True)
        proc.start()
        send.close()
        procs[recv] = (name, proc)
    answers: dict[str, Result] = {} if first_name in engines else {first_name: first}
    errors: dict[str, str] = {}
    pending: dict[str, Result] = {}
    try:
        while procs:
            left = None
            if opts.timeout is not None:
                left = opts.timeout - (time.monotonic() - start)
                if left <= 0:
                    break
            # An hour at most per wait: select() refuses a timeout of some days.
            ready = wait(list(procs), timeout=None if left is None else min(left, 3600.0))
            for conn in ready:
                name, proc = procs.pop(conn)
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    kind, payload = "error", "the engine process died"
                proc.join(0.1)
                if kind == "ok":
                    answers[name] = payload
                    if _conclusive(payload):
                        pending[name] = payload
                else:
                    errors[name] = payload
            if pending:  # of answers arriving together, that of the engine whose name sorts first
                return _tag(pending[sorted(pending)[0]], start)
    finally:
        for conn, (_, proc) in procs.items():
            proc.terminate()
            proc.join(1)
            conn.close()
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
    reasons += [(UnknownKind.ENGINE_FAILED, f"{n}: internal error: {e}")
                for n, e in sorted(errors.items())]
    if opts.timeout is not None and time.monotonic() - start >= opts.timeout:
        reasons.insert(0, (UnknownKind.TIMEOUT, f"timeout after {opts.timeout:g} s"))
    bounds = [a.bound for a in answers.values() if isinstance(a, Unknown) and a.bound is not None]
    return Unknown("; ".join(why for _, why in reasons) or "no engine answered",
                   Stats(engine="portfolio", method=f"portfolio of {' and '.join(members)}",
                         seconds=time.monotonic() - start),
                   bound=max(bounds) if bounds else None,
                   kind=reasons[0][0] if reasons else UnknownKind.ENGINE_FAILED)


def _conclusive(r: Result) -> bool:
    """A violation, or a proof for all executions.  A proof up to a bound is not:
    another engine may still find a longer violation or prove it for all."""
    return isinstance(r, Violated) or (isinstance(r, Proved) and r.scope == "all-executions")


def _tag(r: Result, start: float) -> Result:
    """Name the engine that answered in the portfolio's own terms."""
    stats = replace(r.stats, seconds=time.monotonic() - start,
                    method=f"{r.stats.method}; answered first in the portfolio")
    return replace(r, stats=stats)
