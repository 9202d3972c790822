"""Expressions, conditions and primitives as Z3 terms.

The meaning comes from the vocabulary (`spec/vocabulary.py`): operators apply
their `Operator.apply`, queries their `Query.value` / `Query.act`, and
primitives their `Primitive.effect`, here with Z3 terms where the reference
semantics uses Python values.  `read(key)` gives a state variable as the
encoding keys it, `("refs", obj)`, `("var", index)`, `("loc", thread, slot)`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional

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


class Test(NamedTuple):
    """A condition as a step evaluates it (NOTE(acting-condition) in spec/semantics.py):
    its value, the writes when it holds and when it does not, and the condition under
    which it fails with `check` instead (None: it cannot)."""

    cond: z3.BoolRef
    on_true: dict
    on_false: dict
    fails: Optional[z3.BoolRef] = None
    check: Optional[str] = None


def test(e: M.Expr, read: Read, thread: int, alg: Z3Values) -> Test:
    """A condition as a step evaluates it.  A query that acts (`try_get`,
    `refcount_dec_and_test`, ...), under any number of `not`s, writes what its
    vocabulary entry says for the value it takes."""
    neg = False
    inner = e
    while isinstance(inner, M.Neg):
        inner, neg = inner.operand, not neg
    if isinstance(inner, M.Q):
        q = V.query(inner.kind)
        if q.act is not None:
            act = q.acts(_tables(read), inner.index, alg)
            t_upd = {(table, inner.index): v for table, v in act.on_true.items()}
            f_upd = {(table, inner.index): v for table, v in act.on_false.items()}
            value = _bool(act.value, alg)
            fails = None if act.fails is False else _bool(act.fails, alg)
            if neg:
                return Test(z3.Not(value), f_upd, t_upd, fails, q.check)
            return Test(value, t_upd, f_upd, fails, q.check)
    return Test(expr(e, read, thread, alg), {}, {})


def _bool(v, alg: Z3Values) -> z3.BoolRef:
    return alg.const(v) if isinstance(v, bool) else v


def prim(kind: M.StepKind, x: int, read: Read, thread: int, alg: Z3Values
         ) -> tuple[Optional[z3.BoolRef], Optional[tuple[z3.BoolRef, str]], dict]:
    """A primitive as its vocabulary entry says: (enabled, or None when always;
    (violation condition, check) or None; writes when it does not violate)."""
    p = M.PRIMITIVE_OF[kind]
    eff = p.effect(_tables(read), x, thread, alg)
    enabled = None if eff.enabled is True else eff.enabled
    viol = None if eff.fails is False else (eff.fails, p.check)
    return enabled, viol, {(table, x): v for table, v in eff.writes.items()}


def refused(kind: M.StepKind, x: int, read: Read, alg: Z3Values) -> z3.BoolRef:
    """The kernel call of a step of `kind` fails at once (vocabulary.Primitive.refused)."""
    r = M.PRIMITIVE_OF[kind].refuses(_tables(read), x, alg)
    return alg.const(r) if isinstance(r, bool) else r


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
