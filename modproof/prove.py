"""The library entry point: prove a program with an engine and return a checked result.

`prove(program, options)` runs the engine of the registry (`modproof.engines`)
that `options.engine` names and, for a violation, replays the engine's trace on
the reference semantics; a trace that does not replay raises `InternalError` (a
bug in an engine), so a `Violated` result always carries a `Witness` that the
reference semantics reproduces.  Nothing here prints or exits.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional

from modproof.engines import run_engine
from modproof.options import Options
from modproof.result import Proved, Result, Unknown, UnknownKind, Violated
from modproof.spec.model import Program
from modproof.witness import ReplayError, Witness, replay, replay_cover


class InternalError(Exception):
    """A bug in modproof itself (never a mistake in the user's file)."""


def checked(program: Program, result: Result) -> Result:
    """Attach a replayed witness to a violation, or raise InternalError.  A violation
    of a template (`thread NAME[*]`) is replayed on the program of its sizes.  A
    proof of a program with proof gaps (executions of the kernel the model leaves
    out) is not a proof: it becomes unknown, saying why.  A violation stays one: it
    is a real execution."""
    if isinstance(result, Violated):
        if result.sizes:
            from modproof.spec.sizes import instantiate
            program = instantiate(program, dict(result.sizes))
        try:
            w = replay(program, result.trace)
        except ReplayError as exc:
            raise InternalError(f"the {result.stats.engine} engine's witness does not replay on the "
                                f"reference semantics at {exc}") from exc
        return replace(result, witness=w)
    if isinstance(result, Proved) and program.proof_gaps:
        return Unknown("no violation, but the model leaves out executions the kernel has: "
                       + "; ".join(program.proof_gaps), kind=UnknownKind.APPROXIMATION,
                       stats=result.stats, covers=result.covers)
    return result


def prove(program: Program, opts: Optional[Options] = None, on_progress=None) -> Result:
    """The engine's answer (`opts.engine`, each engine in a process of its own),
    with a replayed witness for a violation.  `on_progress` is called with what the
    engines report as they go (`modproof.supervise.Children`)."""
    return checked(program, run_engine(program, opts if opts is not None else Options(),
                                       on_progress))


class NoCoverTrace(Exception):
    """The result has no execution to show for the cover; `reason` says why, in words."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def cover_witness(program: Program, result: Result, name: str) -> Witness:
    """The shortest execution `result`'s engine found to cover `name`, replayed on the
    reference semantics: a cover witness (`Witness.cover`).  Raises NoCoverTrace
    when there is none (the cover is not reached, or the engine found it without an
    execution), ValueError when the program has no such cover, and InternalError
    when the engine's execution does not replay."""
    if name not in [c.name for c in program.covers]:
        raise ValueError(f"{program.path} has no cover {name!r}")
    c = next(c for c in result.covers if c.name == name)
    if not c.reached:
        if c.within is not None:
            why = f"not reached within {c.within} steps (and not decided beyond)"
        elif isinstance(result, Proved) and result.scope == "all-executions":
            why = "not reached: no execution reaches it"
        elif isinstance(result, Proved) and result.scope == "all-sizes":
            why = "not reached: no execution with any number of copies reaches it"
        elif isinstance(result, Proved):
            why = f"not reached within {result.bound} steps"
        elif isinstance(result, Violated):
            why = ("not reached by the executions explored before the violation was found "
                   "(the search stops there)")
        else:
            why = "not reached within the explored executions"
        raise NoCoverTrace(f"cover {name} is {why}: there is no execution to show")
    if c.trace is None:
        raise NoCoverTrace(
            f"cover {name} is reachable, but the {result.stats.engine} engine found it under "
            "partial-order reduction, which does not keep the fewest steps, and the search "
            "for them ran out of states or time: --no-reduce or --engine bmc gives one")
    if c.sizes:   # NOTE(unbounded): reached by the program of those sizes
        from modproof.spec.sizes import instantiate
        program = instantiate(program, dict(c.sizes))
    try:
        return replay_cover(program, name, c.trace)
    except ReplayError as exc:
        raise InternalError(f"the {result.stats.engine} engine's execution to cover {name} does "
                            f"not replay on the reference semantics at {exc}") from exc


# What `expectation` says of a result against the file's `expect` line.
MET = "met"            # it matches
BOUNDED = "bounded"    # a proof up to a bound where the file asks for more (NOTE(bounded-expect))
MISMATCH = "mismatch"  # anything else that does not match


def expectation(program: Program, result: Result) -> Optional[str]:
    """MET, BOUNDED or MISMATCH: how `result` compares with the file's `expect`
    line (None when it has none).

    NOTE(bounded-expect): `expect proved` needs a proof for all executions; a
    proof of the executions of up to K steps (bounded model checking whose
    k-induction did not close) is BOUNDED, never MET.  `expect proved up to N`
    accepts a proof for all executions or one up to K >= N steps; up to fewer
    steps is BOUNDED.  A proof also needs every cover reached (else MISMATCH: it
    may be vacuous).  `expect violated CHECK` needs a violation of CHECK."""
    exp = program.expect
    if exp is None:
        return None
    if exp.verdict != "proved":
        return MET if isinstance(result, Violated) and result.check == exp.check else MISMATCH
    if not isinstance(result, Proved):
        return MISMATCH
    if result.bounded and (exp.bound is None or result.bound is None
                                              or result.bound < exp.bound):
        return BOUNDED
    return MET if all(c.reached for c in result.covers) else MISMATCH


def expectation_met(program: Program, result: Result) -> Optional[bool]:
    """Whether `result` matches the file's `expect` line (None when it has none):
    `expectation(...) == MET`."""
    status = expectation(program, result)
    return None if status is None else status == MET


__all__ = ["Options", "prove", "checked", "run_engine", "expectation", "expectation_met",
           "cover_witness", "NoCoverTrace", "InternalError", "Unknown", "MET", "BOUNDED",
           "MISMATCH"]
