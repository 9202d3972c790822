"""What a proof may spend, with every default stated once.

`Options` is what `modproof.prove.prove` and every engine of the registry
(`modproof.engines`) take; the command line, `modproof ci`, the pytest plugin
and the engines' own library entry points (`prove_explicit`, `prove_bmc`,
`prove_kinduction`) take their defaults from here.  This module imports nothing
of modproof, so any module may import it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Optional

DEFAULT_ENGINE = "auto"          # the portfolio (modproof.engines)
DEFAULT_BOUND = 40               # bmc: most steps an execution may take (and k-induction's max k)
DEFAULT_MAX_K = 60               # prove_kinduction called on its own: the largest k it tries
# The portfolio (`auto`) first runs the explicit engine on a budget of states, so
# every model it decides within that budget gets the same answer on any machine
# (NOTE(first-try) in modproof/portfolio.py); the seconds cap that try for models
# whose states are slow to explore.
FIRST_STATES = 50_000
FIRST_SECONDS = 10.0
# NOTE(memory-budget): a proof may use this fraction of the machine's physical
# memory unless told otherwise (--max-memory); engines that run side by side (the
# portfolio, `ci -j N`) share it.  Past its share an engine answers unknown (kind
# memory), and the machine's out-of-memory killer is never the one to stop it.
MEMORY_FRACTION = 0.5
# What one state of the explicit engine costs, at most, on the corpus and the
# bench models (bench/state_bytes.py: 963 bytes for 8 distinct threads over 66
# variables, 400 to 900 for the rest, with and without reduction).  The default
# state budget is as many states as the engine's share of memory holds at this
# price; a model with bigger states meets the memory budget first, which is also
# an unknown, never a crash.
STATE_BYTES = 1024
# A proof with neither a memory budget nor a state budget still stops somewhere.
UNLIMITED_MAX_STATES = 2_000_000_000


def physical_memory() -> Optional[int]:
    """The machine's physical memory in bytes (MemTotal; None when unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def default_max_memory() -> Optional[int]:
    """The default memory budget of a proof: MEMORY_FRACTION of physical memory."""
    total = physical_memory()
    return None if total is None else int(total * MEMORY_FRACTION)


def states_held(max_memory: Optional[int]) -> int:
    """The default state budget for an engine whose share of memory is `max_memory`."""
    if max_memory is None:
        return UNLIMITED_MAX_STATES
    return max(FIRST_STATES, max_memory // STATE_BYTES)


Report = Callable[..., None]   # an engine's progress: report(states=..., depth=..., query=...)


@dataclass(frozen=True)
class Options:
    """How to prove: the engine (a name of `modproof.engines.ENGINES`) and its budgets.

    Each engine reads the fields its registry entry names (`Engine.options`).
    `max_memory` is the budget of the whole proof in bytes (None: no limit);
    `max_states` None is as many states as the explicit engine's share of it
    holds (`states_held`).  `report`, when set, is called by the engine as it
    goes (modproof/supervise.py sets it in an engine process)."""

    engine: str = DEFAULT_ENGINE
    bound: int = DEFAULT_BOUND
    timeout: Optional[float] = None      # seconds of proving; None: no limit
    max_states: Optional[int] = None     # None: states_held(the engine's share of max_memory)
    reduce: bool = True                  # explicit: symmetry, dead-variable, partial-order reduction
    max_memory: Optional[int] = field(default_factory=default_max_memory)
    report: Optional[Report] = field(default=None, compare=False, repr=False)

    def state_budget(self) -> int:
        """The explicit engine's budget of states under these options."""
        return self.max_states if self.max_states is not None else states_held(self.max_memory)


__all__ = ["Options", "DEFAULT_ENGINE", "DEFAULT_BOUND", "DEFAULT_MAX_K", "FIRST_STATES",
           "FIRST_SECONDS", "MEMORY_FRACTION", "STATE_BYTES", "physical_memory",
           "default_max_memory", "states_held", "Report"]
