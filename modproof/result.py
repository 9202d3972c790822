"""What an engine answers: `Proved`, `Violated` or `Unknown`, never a bare boolean.

`Unknown` is never safe: a timeout, a solver that gave up, a state budget that ran
out or a bound too small to say anything all end here.  `Proved.scope` says
exactly what was proved: "all-executions", or "bounded" up to `bound` steps.

Engines report a violation as a `RawTrace`: the moving thread and the state after
each step, as the engine believes them.  `modproof.witness.replay` re-executes a
raw trace on the reference semantics and only a trace that replays becomes a
`Witness` that users see.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union

from modproof.spec.semantics import State


@dataclass(frozen=True)
class RawTrace:
    """steps[i] = (thread index, state after step i+1); the violating step of a
    step check (anything but invariant and deadlock) has state None."""

    steps: tuple[tuple[int, Optional[State]], ...]
    check: str
    loop: Optional[int] = None   # a hang: steps[loop:] is a cycle back to the state before steps[loop]


@dataclass(frozen=True)
class CoverResult:
    name: str
    reached: bool
    step: Optional[int] = None   # fewest steps to reach it (engines that know)
    within: Optional[int] = None  # not reached: searched to this many steps only, open beyond


@dataclass(frozen=True)
class Unreached:
    """A statement no explored execution executed."""

    text: str
    line: int
    col: int


@dataclass(frozen=True)
class Stats:
    engine: str
    method: str
    seconds: float = 0.0
    states: Optional[int] = None
    depth: Optional[int] = None
    extra: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Proved:
    scope: str                     # "all-executions" or "bounded"
    bound: Optional[int]           # steps explored; for "bounded", executions up to this length
    stats: Stats
    covers: tuple[CoverResult, ...] = ()
    unreached: tuple[Unreached, ...] = ()
    verdict: str = field(default="proved", init=False)


@dataclass(frozen=True)
class Violated:
    trace: RawTrace
    stats: Stats
    witness: object = None         # a modproof.witness.Witness once replayed
    covers: tuple[CoverResult, ...] = ()
    shortest: bool = True          # False: found under a reduction that may lengthen witnesses
    verdict: str = field(default="violated", init=False)

    @property
    def check(self) -> str:
        return self.trace.check


@dataclass(frozen=True)
class Unknown:
    reason: str
    stats: Stats
    bound: Optional[int] = None    # what was covered before giving up (no violation within it)
    covers: tuple[CoverResult, ...] = ()
    verdict: str = field(default="unknown", init=False)


Result = Union[Proved, Violated, Unknown]
