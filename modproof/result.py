"""What an engine answers: `Proved`, `Violated` or `Unknown`, never a bare boolean.

`Unknown` is never safe: a timeout, a solver that gave up, a state budget that ran
out or a bound too small to say anything all end here, and its `kind`
(`UnknownKind`) says which.  `Proved.scope` says exactly what was proved:
"all-executions", "bounded" up to `bound` steps, or, for a file with `thread
NAME[*]`, "all-sizes": all executions of every number of copies
(modproof/allsizes.py), with `certified` saying whether Z3 checked it.  A
violation of such a file has the `sizes` of the program it happened in.

Engines report a violation as a `RawTrace`: the moving thread and the state after
each step, as the engine believes them.  `modproof.witness.replay` re-executes a
raw trace on the reference semantics and only a trace that replays becomes a
`Witness` that users see.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Optional, Union

from modproof.spec.semantics import State


@dataclass(frozen=True)
class RawTrace:
    """steps[i] = (thread index, state after step i+1); the violating step of a
    step check (anything but invariant and deadlock) has state None."""

    steps: tuple[tuple[int, Optional[State]], ...]
    check: str
    loop: Optional[int] = None   # a hang: steps[loop:] is a cycle back to the state before steps[loop]


# An execution as an engine found it: (thread index, state after the step) per step.
Path = tuple[tuple[int, State], ...]


@dataclass(frozen=True)
class CoverResult:
    name: str
    reached: bool
    step: Optional[int] = None   # fewest steps to reach it (engines that know)
    within: Optional[int] = None  # not reached: searched to this many steps only, open beyond
    sizes: tuple[tuple[str, int], ...] = ()   # all sizes: reached with these copies (step: there)
    # An execution of `step` steps whose last state satisfies the cover, as the engine
    # found it (`modproof.prove.cover_witness` replays it); every engine that knows
    # `step` gives one.  One of possibly many such executions: not compared.
    trace: Optional[Path] = field(default=None, compare=False, repr=False)


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
    scope: str                     # "all-executions", "bounded" or "all-sizes"
    bound: Optional[int]           # steps explored; for "bounded", executions up to this length
    stats: Stats
    covers: tuple[CoverResult, ...] = ()
    unreached: tuple[Unreached, ...] = ()
    certified: Optional[bool] = None   # "all-sizes": Z3 checked the invariant (None: no certificate)
    verdict: str = field(default="proved", init=False)

    @property
    def bounded(self) -> bool:
        """Proved only for executions of up to `bound` steps."""
        return self.scope == "bounded"


@dataclass(frozen=True)
class Violated:
    trace: RawTrace
    stats: Stats
    witness: object = None         # a modproof.witness.Witness once replayed
    covers: tuple[CoverResult, ...] = ()
    shortest: bool = True          # False: found under a reduction that may lengthen witnesses
    # A file with `thread NAME[*]`: the copies of the program the trace is of, and
    # whether every smaller size was decided to have no violation.
    sizes: tuple[tuple[str, int], ...] = ()
    fewest: bool = True
    verdict: str = field(default="violated", init=False)

    @property
    def check(self) -> str:
        return self.trace.check


class UnknownKind(str, Enum):
    """Why an engine gave up: set by every place that makes an `Unknown`, so that no
    one has to read its reason (which is for people).  `prove --json` gives the value."""

    TIMEOUT = "timeout"                # the time limit ran out (--timeout, a portfolio's first try)
    STATE_BUDGET = "state-budget"      # the explicit engine met more states than its budget
    RESOURCE_LIMIT = "resource-limit"  # Z3 used up its resource limit (rlimit, a library option)
    SOLVER = "solver"                  # Z3 answered unknown for a reason of its own
    BOUND = "bound"                    # the bound left it open: bound 0, or k-induction's max k
    ATOMIC_LIMIT = "atomic-limit"      # an atomic block's loop ran longer than an engine follows it
    ENCODING_LIMIT = "encoding-limit"  # the Z3 encoding cannot hold the model within its limits
    MEMORY = "memory"                  # the engine used up its share of --max-memory
    ENGINE_FAILED = "engine-failed"    # an engine process died (killed); portfolio: or raised
    APPROXIMATION = "approximation"    # the model leaves out executions the kernel has
    #                                    (Program.proof_gaps): a proof would not hold
    UNSUPPORTED = "unsupported"        # all sizes: outside the counter abstraction (docs/language.md)
    UNDECIDED = "undecided"            # all sizes: abstraction, sizes and Z3 do not settle it


@dataclass(frozen=True)
class Unknown:
    reason: str
    kind: UnknownKind = field(kw_only=True)   # a portfolio's: that of the reason it lists first
    stats: Stats
    bound: Optional[int] = None    # what was covered before giving up (no violation within it)
    covers: tuple[CoverResult, ...] = ()
    verdict: str = field(default="unknown", init=False)


Result = Union[Proved, Violated, Unknown]
