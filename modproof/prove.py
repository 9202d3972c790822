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
from modproof.result import Proved, Result, Unknown, Violated
from modproof.spec.model import Program
from modproof.witness import ReplayError, replay


class InternalError(Exception):
    """A bug in modproof itself (never a mistake in the user's file)."""


def checked(program: Program, result: Result) -> Result:
    """Attach a replayed witness to a violation, or raise InternalError.  A violation
    of a template (`thread NAME[*]`) is replayed on the program of its sizes."""
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
           "Unknown"]
