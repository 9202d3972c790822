"""How much memory a process uses, as the memory budget counts it (NOTE(memory-budget)).

An engine process is forked from the process that supervises it and starts out
sharing all of its memory, so the budget counts what the engine *adds*: the
growth of its data size (heap and anonymous mappings, `VmData`, which is also
what RLIMIT_DATA limits) since it started.  Linux only; elsewhere nothing is
measured and only the limit the supervisor sets applies.
"""
from __future__ import annotations

import os
from typing import Optional

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def data_bytes(pid: Optional[int] = None) -> Optional[int]:
    """The data size of process `pid` (default: this one) in bytes, or None."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as f:
            return int(f.read().split()[5]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def resident_bytes(pid: Optional[int] = None) -> Optional[int]:
    """The resident memory of process `pid` (default: this one) in bytes, or None."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


class MemoryWatch:
    """Whether this process has grown by more than `limit` bytes since the watch was
    made (never, for a limit of None or where nothing can be measured).  Engines
    check it as they go, to stop with an answer before the hard limit stops them."""

    def __init__(self, limit: Optional[int], fraction: float = 0.9):
        self.base = data_bytes() if limit is not None else None
        self.limit = None if limit is None or self.base is None else int(limit * fraction)

    def exceeded(self) -> bool:
        if self.limit is None:
            return False
        now = data_bytes()
        return now is not None and now - self.base > self.limit


def size_text(n: int) -> str:
    """A size for people: 512 MB, 1.5 GB."""
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    if n >= 2**20:
        return f"{n / 2**20:.0f} MB"
    return f"{n / 2**10:.0f} KB"


__all__ = ["data_bytes", "resident_bytes", "MemoryWatch", "size_text"]
