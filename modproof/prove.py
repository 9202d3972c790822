"""The library entry point: prove a program with an engine and return a checked result.

`prove(program, options)` runs the chosen engine and, for a violation, replays
the engine's trace on the reference semantics; a trace that does not replay
raises `InternalError` (a bug in an engine), so a `Violated` result always
carries a `Witness` that the reference semantics reproduces.  Nothing here
prints or exits.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

from modproof.result import Proved, Result, Unknown, Violated
from modproof.spec.model import Program
from modproof.witness import ReplayError, replay

ENGINES = ("auto", "bmc", "explicit")
DEFAULT_BOUND = 40


class InternalError(Exception):
    """A bug in modproof itself (never a mistake in the user's file)."""


@dataclass(frozen=True)
class Options:
    engine: str = "auto"
    bound: int = DEFAULT_BOUND
    timeout: Optional[float] = None
    max_states: int = 2_000_000
    reduce: bool = True             # explicit engine: symmetry, dead-variable and partial-order reduction


def run_engine(program: Program, opts: Options) -> Result:
    if opts.engine == "auto":
        from modproof.portfolio import prove_portfolio
        return prove_portfolio(program, opts)
    if opts.engine == "explicit":
        from modproof.explicit import prove_explicit
        return prove_explicit(program, max_states=opts.max_states, timeout=opts.timeout,
                              reduce=opts.reduce)
    if opts.engine == "bmc":
        return _z3(program, opts)
    raise ValueError(f"unknown engine {opts.engine!r}")


def _z3(program: Program, opts: Options) -> Result:
    """Z3: bounded model checking up to the bound, closed by k-induction where it can be.

    k-induction's base case is BMC itself, so a violation is still a shortest one;
    when the induction does not close within the bound, what remains is the
    bounded proof."""
    from modproof.encoder.kinduction import prove_kinduction
    return prove_kinduction(program, max_k=opts.bound, timeout=opts.timeout, bounded_fallback=True)


def checked(program: Program, result: Result) -> Result:
    """Attach a replayed witness to a violation, or raise InternalError."""
    if isinstance(result, Violated):
        try:
            w = replay(program, result.trace)
        except ReplayError as exc:
            raise InternalError(f"the {result.stats.engine} engine's witness does not replay on the "
                                f"reference semantics at {exc}") from exc
        return replace(result, witness=w)
    return result


def prove(program: Program, opts: Options = Options()) -> Result:
    return checked(program, run_engine(program, opts))


def expectation_met(program: Program, result: Result) -> Optional[bool]:
    """Whether `result` matches the file's `expect` line (None when it has none).

    `expect proved` needs a proof (bounded or not) and every cover reached."""
    exp = program.expect
    if exp is None:
        return None
    if exp.verdict == "proved":
        return isinstance(result, Proved) and all(c.reached for c in result.covers)
    return isinstance(result, Violated) and result.check == exp.check


__all__ = ["Options", "prove", "checked", "run_engine", "expectation_met", "InternalError",
           "ENGINES", "DEFAULT_BOUND", "Unknown"]
