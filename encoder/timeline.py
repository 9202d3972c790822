"""Time-indexed Z3 constants: the one naming helper, and formulas moved in time.

An encoding names one Z3 constant per state variable and time through
`Timeline.name` (`refs(md_kobj)@3`, `moved(admin)@3`, `pc(reader)=2@3`).  A
formula about times t-1, t and t+1 is built once and moved to other times by
substitution (NOTE(templates)).
"""
from __future__ import annotations

import functools
from typing import Optional

import z3


def built_once(method):
    """NOTE(templates): a formula about times t-1, t and t+1 is built once, at
    t = 1, and moved to any other t by substituting its constants (one call into
    Z3 instead of rebuilding it in Python).  t = 0 is built directly: there is no
    step before it."""
    name = method.__name__

    @functools.wraps(method)
    def at_time(self: "Timeline", *args):
        *key, t = args
        cache_key = (name, *key, min(t, 1))
        built = self._templates.get(cache_key)
        if built is None:
            built = self._templates[cache_key] = method(self, *key, min(t, 1))
        return built if t <= 1 else self._shift(built, t)

    return at_time


def is_true(e) -> bool:
    return z3.is_true(e)


def is_false(e) -> bool:
    return z3.is_false(e)


class Timeline:
    """Z3 constants by label and time in context `ctx`; `prefix` keeps the names of
    two encodings in one context apart (the k-induction path uses its own)."""

    def __init__(self, ctx: Optional[z3.Context], prefix: str):
        self.ctx = ctx if ctx is not None else z3.Context()
        self.prefix = prefix
        self.true = z3.BoolVal(True, self.ctx)
        self.false = z3.BoolVal(False, self.ctx)
        self._consts: dict[tuple[str, int], z3.ExprRef] = {}
        self._templates: dict[tuple, object] = {}
        self._base: list[tuple[str, int, z3.ExprRef]] = []   # constants at times 0, 1, 2
        self._pairs: dict[int, tuple[int, object, object]] = {}   # t -> (n, from, to)

    def name(self, label: str, t: int) -> str:
        """The one naming helper: `label` at time `t`."""
        return f"{self.prefix}{label}@{t}"

    def const(self, label: str, t: int, is_bool: bool) -> z3.ExprRef:
        c = self._consts.get((label, t))
        if c is None:
            n = self.name(label, t)
            c = z3.Bool(n, self.ctx) if is_bool else z3.Int(n, self.ctx)
            self._consts[(label, t)] = c
            if t <= 2:
                self._base.append((label, t, c))
        return c

    def _shift(self, template, t: int):
        """`template` (built at time 1) at time `t` (NOTE(templates))."""
        n, src, dst = self._pairs.get(t, (0, None, None))
        if n < len(self._base):
            base = list(self._base)   # making the targets may add constants at times <= 2
            n = len(base)
            src, dst = (z3.Ast * n)(), (z3.Ast * n)()
            for k, (label, t0, c) in enumerate(base):
                src[k] = c.as_ast()
                dst[k] = self.const(label, t - 1 + t0, z3.is_bool(c)).as_ast()
            self._pairs[t] = (n, src, dst)

        def move(e: z3.BoolRef) -> z3.BoolRef:
            # z3.substitute would check every pair's sort on every call: built right here.
            return z3.BoolRef(z3.Z3_substitute(self.ctx.ref(), e.as_ast(), n, src, dst), self.ctx)

        if isinstance(template, dict):
            return {k: move(v) for k, v in template.items()}
        return move(template)

    # ------------------------------------------------------------------ Boolean helpers

    def val(self, v) -> z3.ExprRef:
        if isinstance(v, bool):
            return z3.BoolVal(v, self.ctx)
        return z3.IntVal(v, self.ctx)

    def or_(self, xs) -> z3.BoolRef:
        xs = [x for x in xs if not is_false(x)]
        if any(is_true(x) for x in xs):
            return self.true
        if not xs:
            return self.false
        return xs[0] if len(xs) == 1 else z3.Or(xs)

    def and_(self, xs) -> z3.BoolRef:
        xs = [x for x in xs if not is_true(x)]
        if any(is_false(x) for x in xs):
            return self.false
        if not xs:
            return self.true
        return xs[0] if len(xs) == 1 else z3.And(xs)
