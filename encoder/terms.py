"""Expressions, conditions and primitives as Z3 terms.

The meaning comes from the vocabulary (`spec/vocabulary.py`): operators apply
their `Operator.apply`, queries their `Query.value` / `Query.takes`, and
primitives their `Primitive.effect`, here with Z3 terms where the reference
semantics uses Python values.  `read(key)` gives a state variable as the
encoding keys it, `("refs", obj)`, `("var", index)`, `("loc", thread, slot)`.
"""
from __future__ import annotations

from typing import Callable, Optional

import z3

from modproof.spec import model as M
from modproof.spec import vocabulary as V

Key = tuple
Read = Callable[[Key], z3.ExprRef]


class Z3Values:
    """The vocabulary's value algebra over Z3 terms of one context."""

    def __init__(self, ctx: z3.Context):
        self.ctx = ctx

    @staticmethod
    def ite(c, a, b):
        return z3.If(c, a, b)

    def const(self, v):
        return z3.BoolVal(v, self.ctx) if isinstance(v, bool) else z3.IntVal(v, self.ctx)


def _tables(read: Read):
    """The vocabulary's read(table, index) over the encoding's keys."""
    return lambda table, x: read((table, x))


def expr(e: M.Expr, read: Read, thread: int, alg: Z3Values) -> z3.ExprRef:
    """The value of a pure expression."""
    if isinstance(e, M.Const):
        return alg.const(e.value)
    if isinstance(e, M.VarRef):
        return read(("var", e.index))
    if isinstance(e, M.LocalRef):
        return read(("loc", thread, e.slot))
    if isinstance(e, M.Neg):
        return z3.Not(expr(e.operand, read, thread, alg))
    if isinstance(e, M.Bin):
        a = expr(e.left, read, thread, alg)
        b = expr(e.right, read, thread, alg)
        return V.binary(e.op).apply(a, b)
    if isinstance(e, M.Q):
        q = V.query(e.kind)
        if q.value is None:
            raise AssertionError(f"{e.kind} is not a pure query")
        return q.value(_tables(read), e.index)
    raise AssertionError(f"cannot encode {e!r}")


def test(e: M.Expr, read: Read, thread: int, alg: Z3Values) -> tuple[z3.BoolRef, dict]:
    """A condition as a step evaluates it: (holds, writes when it holds).
    `try_get`/`try_module_get` as the whole condition take their reference."""
    if isinstance(e, M.Q):
        q = V.query(e.kind)
        if q.takes is not None:
            ok, writes = q.takes(_tables(read), e.index)
            return ok, {(table, e.index): v for table, v in writes.items()}
    return expr(e, read, thread, alg), {}


def prim(kind: M.StepKind, x: int, read: Read, thread: int, alg: Z3Values
         ) -> tuple[Optional[z3.BoolRef], Optional[tuple[z3.BoolRef, str]], dict]:
    """A primitive as its vocabulary entry says: (enabled, or None when always;
    (violation condition, check) or None; writes when it does not violate)."""
    p = M.PRIMITIVE_OF[kind]
    eff = p.effect(_tables(read), x, thread, alg)
    enabled = None if eff.enabled is True else eff.enabled
    viol = None if eff.fails is False else (eff.fails, p.check)
    return enabled, viol, {(table, x): v for table, v in eff.writes.items()}


def gone(home: int, read: Read) -> Optional[z3.BoolRef]:
    """The module whose memory holds something (`home`) is gone; None for core."""
    return None if home < 0 else read(("mstate", home)) == M.GONE


def touch(e: M.Expr, read: Read, thread: int, alg: Z3Values) -> Optional[z3.BoolRef]:
    """NOTE(touch): evaluating `e` reaches a query on storage of a gone module, with
    C's evaluation order (the right side of `and`/`or` only when the left does not
    decide); None when `e` queries no storage that can go."""
    if isinstance(e, M.Q):
        return gone(e.home, read)
    if isinstance(e, M.Neg):
        return touch(e.operand, read, thread, alg)
    if isinstance(e, M.Bin):
        a = touch(e.left, read, thread, alg)
        b = touch(e.right, read, thread, alg)
        if b is not None:
            op = V.binary(e.op)
            if op.absorbing is not None:
                left = expr(e.left, read, thread, alg)
                b = z3.And(left if op.absorbing is False else z3.Not(left), b)
        if a is None or b is None:
            return a if b is None else b
        return z3.Or(a, b)
    return None
