"""What a proof may spend, with every default stated once.

`Options` is what `modproof.prove.prove` and every engine of the registry
(`modproof.engines`) take; the command line, `modproof ci`, the pytest plugin
and the engines' own library entry points (`prove_explicit`, `prove_bmc`,
`prove_kinduction`) take their defaults from here.  This module imports nothing
of modproof, so any module may import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

DEFAULT_ENGINE = "auto"          # the portfolio (modproof.engines)
DEFAULT_BOUND = 40               # bmc: most steps an execution may take (and k-induction's max k)
DEFAULT_MAX_STATES = 2_000_000   # explicit: states explored before the answer is unknown
DEFAULT_MAX_K = 60               # prove_kinduction called on its own: the largest k it tries
# The portfolio (`auto`) first runs the explicit engine in-process on a budget of
# states, so every model it decides within that budget gets the same answer on any
# machine (NOTE(first-try) in modproof/portfolio.py); the seconds cap that try for
# models whose states are slow to explore.
FIRST_STATES = 50_000
FIRST_SECONDS = 10.0


@dataclass(frozen=True)
class Options:
    """How to prove: the engine (a name of `modproof.engines.ENGINES`) and its budgets.

    Each engine reads the fields its registry entry names (`Engine.options`)."""

    engine: str = DEFAULT_ENGINE
    bound: int = DEFAULT_BOUND
    timeout: Optional[float] = None      # seconds of proving; None: no limit
    max_states: int = DEFAULT_MAX_STATES
    reduce: bool = True                  # explicit: symmetry, dead-variable, partial-order reduction


__all__ = ["Options", "DEFAULT_ENGINE", "DEFAULT_BOUND", "DEFAULT_MAX_STATES", "DEFAULT_MAX_K",
           "FIRST_STATES", "FIRST_SECONDS"]
