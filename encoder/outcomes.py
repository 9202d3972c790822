"""The ways a step can go, as Z3 formulas at one time: the data the encoding is built from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import z3

from modproof.spec import model as M
from modproof.spec.ast import Span
from modproof.spec.vocabulary import ATOMIC_LIMIT_CHECK

ATOMIC_LIMIT = ATOMIC_LIMIT_CHECK   # pseudo-check: an atomic path needs more unrolling

Key = tuple   # a state variable: ("at", thread, pc) | ("loc", thread, slot) | ("refs", obj) | ...


@dataclass(frozen=True, eq=False)
class Outcome:
    """One way a step can go: when `guard` holds in the state before the step,
    either it writes `updates` and continues at `next_pc`, or it violates the
    check `violation`."""

    guard: z3.BoolRef
    updates: tuple[tuple[Key, z3.ExprRef], ...] = ()
    next_pc: int = M.DONE
    violation: Optional[str] = None
    span: Optional[Span] = None     # for ATOMIC_LIMIT: the loop that ran out
    choice: int = 0                 # of a CHOOSE step: the value of choice@t that takes it


@dataclass(frozen=True, eq=False)
class NodeAt:
    """Step `step` of thread `thread` as a candidate move at one time."""

    thread: int
    step: M.Step
    at_pc: z3.BoolRef               # pc(thread)@t == step.id
    gone: Optional[z3.BoolRef]      # the step's owner is gone (None for core code)
    outcomes: tuple[Outcome, ...]
    nondet: bool                    # outcomes are told apart by choice@t
    enabled: z3.BoolRef             # some outcome's guard holds (violations included)
    selectors: tuple = ()           # choice[k]@t that `enabled` depends on (NOTE(atomic-paths))
