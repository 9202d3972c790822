"""Programs of every size: `thread NAME[*]` groups and the programs with K copies of them.

NOTE(unbounded): a `thread NAME[*]` declares copies for every K >= 1.  The
lowering makes one copy of it, `NAME[0]`, and lists the group in
`Program.unbounded`: that program is a *template*, not a program any engine
may run as it stands (it would answer for K = 1 alone).  `instantiate` makes
the program with K copies of each such group by copying the template thread
(a `Thread` is plain data: its steps, locals and edges do not name other
threads), so a size costs no parsing, checking or lowering.  The engine that
answers for every size is modproof/allsizes.py.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from modproof.spec.model import Program, Thread


def is_template(p: Program) -> bool:
    """Some group of `p` is declared `thread NAME[*]`."""
    return bool(p.unbounded)


def template_index(p: Program, group: str) -> int:
    """The index of the one thread that stands for group `group` in template `p`."""
    for i, t in enumerate(p.threads):
        if t.group == group and t.copy is not None:
            return i
    raise KeyError(group)


def instantiate(p: Program, sizes: Mapping[str, int]) -> Program:
    """The program with `sizes[g]` copies (`g[0]` ... `g[K-1]`) of each group `g` of
    `p.unbounded`, in the template thread's place; every other thread keeps its
    place.  A group missing from `sizes` is an error (KeyError), as is a size below
    1 (ValueError).  The result has no unbounded group: every engine can run it."""
    if set(sizes) != set(p.unbounded):
        missing = set(p.unbounded) - set(sizes)
        raise KeyError(f"sizes for {sorted(missing)}" if missing else
                       f"no group {sorted(set(sizes) - set(p.unbounded))} is unbounded")
    threads: list[Thread] = []
    for t in p.threads:
        if t.group in sizes and t.copy is not None:
            k = sizes[t.group]
            if k < 1:
                raise ValueError(f"a size of {t.group} below 1: {k}")
            threads += [replace(t, name=f"{t.group}[{i}]", copy=i) for i in range(k)]
        else:
            threads.append(t)
    return replace(p, threads=tuple(threads), unbounded=(),
                   sizes=tuple((g, sizes[g]) for g in p.unbounded))


def every(groups) -> str:
    """"reader threads", or "a and b threads": the threads of every size of `groups`."""
    groups = list(groups)
    names = groups[0] if len(groups) == 1 else ", ".join(groups[:-1]) + " and " + groups[-1]
    return f"{names} threads"


def describe(sizes: Mapping[str, int]) -> str:
    """`{"caller": 3}` as "3 caller threads", several groups joined with "and"."""
    parts = [f"{k} {g} thread{'s' if k != 1 else ''}" for g, k in sizes.items()]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
