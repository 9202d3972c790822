"""The explicit-state engine: breadth-first search over the reference semantics.

`search.py` explores the states (the verdict), `reduce.py` shrinks what it
explores (symmetry, dead variables, partial order), `shortest.py` finds a
shortest witness and the fewest steps to each cover under those reductions.
"""
from modproof.explicit.search import prove_explicit, unreached_statements

__all__ = ["prove_explicit", "unreached_statements"]
