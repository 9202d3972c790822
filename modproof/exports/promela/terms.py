"""The term algebra of the Promela export: symbolic values over the state before a step.

The atomic-path enumerator (`paths.py`) executes an `atomic` block with `await`
symbolically: every value it computes is a term over the Promela variables as
they were before the step.  `simplify` decides what it can (constants, `x and
not x`, comparisons with constants outside 32 bits), and `emit` writes a term as
a Promela expression.

Terms are tuples:

    ("c", value)                  constant (mathematical int or bool)
    ("v", name, typ)              a Promela variable; typ "int", "bool" or "done"
                                  ("done": a saturable done counter, -1 for UINT_MAX)
    ("not", a) ("ite", c, a, b)
    ("and", a, b) ("or", a, b)    a connective
    ("cmp", op, a, b)             a comparison; op is its symbol, == != < <= > >=
    ("add", a, b) ("sub", a, b)   arithmetic

The binary operators are those of `vocabulary.OPERATORS`, the one table of
them: `binary(op, a, b)` builds a term for any of them (a connective or an
arithmetic operator is tagged with its name in lower case, a comparison carries
its symbol), and the simplifier and the emitter take each operator's meaning,
symbol and short-circuit value from there, and negations from
`vocabulary.NEGATIONS`.

`Symbolic` and `TermValues` make terms a value algebra of the vocabulary
(like `vocabulary.Values`), so that a primitive's meaning, `Primitive.effect`,
and a query's run over terms: the export reads what a primitive checks and
does from its one definition.

Promela's `int` is 32 bits; modproof's integers are mathematical.  A constant
that does not fit, and a saturable `done` counter used as a number (not
compared), raise `PromelaUnsupported` when emitted.
"""
from __future__ import annotations

from modproof.spec import vocabulary as V
from modproof.spec.vocabulary import UINT_MAX

INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
SAT = -1            # how Promela stores done == UINT_MAX


class PromelaUnsupported(ValueError):
    """The program uses something this translation cannot express exactly."""


Term = tuple

TRUE, FALSE = ("c", True), ("c", False)

# The operators of vocabulary.OPERATORS by the tag of their terms.
CONNECTIVES = {o.name.lower(): o for o in V.OPERATORS if o.operands == "bool"}    # and, or
ARITHMETIC = {o.name.lower(): o for o in V.OPERATORS if o.result == "int"}        # add, sub
COMPARISONS = {o.symbol: o for o in V.OPERATORS if o.result == "bool" and o.operands != "bool"}
# Promela spells comparisons and arithmetic as modproof does, the connectives not.
_PROMELA_CONNECTIVE = {"and": "&&", "or": "||"}
assert set(_PROMELA_CONNECTIVE) == set(CONNECTIVES)
assert all(o.absorbing is not None for o in CONNECTIVES.values())
assert set(V.NEGATIONS) == set(COMPARISONS)
assert not (set(CONNECTIVES) | set(ARITHMETIC)) & {"c", "v", "not", "cmp", "ite"}
# (a, b): `x a y` implies `x b y`, whatever x and y (x > y implies x != y and x >= y).
IMPLIES = frozenset((a, b) for a, oa in COMPARISONS.items() for b, ob in COMPARISONS.items()
                    if a != b and all(ob.apply(x, y) for x, y in ((0, 1), (1, 1), (1, 0))
                                      if oa.apply(x, y)))


def binary(op, a: Term, b: Term) -> Term:
    """The term `a op b`, for `op` a binary operator (its symbol, or an ast.BinOp)."""
    o = V.binary(op)
    if o.result == "bool" and o.operands != "bool":
        return ("cmp", o.symbol, a, b)
    return (o.name.lower(), a, b)


def const(v) -> Term:
    return ("c", v)


def fits(v) -> bool:
    """Does constant `v` fit Promela's 32-bit int (bools always do)?"""
    return isinstance(v, bool) or INT_MIN <= v <= INT_MAX


def _small(t: Term) -> bool:
    """Is `t` an int32 value in every state (under the documented no-overflow assumption)?"""
    k = t[0]
    if k == "c":
        return fits(t[1])
    if k == "v":
        return t[2] != "done"
    return all(_small(x) for x in t[1:] if isinstance(x, tuple))


def simplify(t: Term) -> Term:
    k = t[0]
    if k in ("c", "v"):
        return t
    if k == "not":
        a = simplify(t[1])
        if a[0] == "c":
            return const(not a[1])
        if a[0] == "not":
            return a[1]
        if a[0] == "cmp":
            return ("cmp", V.NEGATIONS[a[1]], a[2], a[3])
        return ("not", a)
    if k in CONNECTIVES:
        a, b = simplify(t[1]), simplify(t[2])
        zero = CONNECTIVES[k].absorbing      # decides alone: false for and, true for or
        unit = not zero
        if a == const(zero) or b == const(zero):
            return const(zero)
        if a == const(unit):
            return b
        if b == const(unit):
            return a
        # Flatten, drop repeated operands, and decide x and not x / x or not x.
        ops: list = []
        for x in _operands(k, a) + _operands(k, b):
            if simplify(("not", x)) in ops:
                return const(zero)
            if x not in ops:
                ops.append(x)
        # Of two comparisons of the same operands where one implies the other, a
        # conjunction needs only the stronger (x > 0 and x != 0 is x > 0), a
        # disjunction only the weaker.
        ops = [x for x in ops if not any(_redundant(x, y, zero) for y in ops)]
        out = ops[0]
        for x in ops[1:]:
            out = (k, out, x)
        return out
    if k == "cmp":
        op, a, b = t[1], simplify(t[2]), simplify(t[3])
        compare = COMPARISONS[op].apply
        if a[0] == "c" and b[0] == "c":
            return const(compare(a[1], b[1]))
        if not (_small(a) and _small(b)):
            # A constant outside int32 (UINT_MAX, say) in a linear comparison: move
            # all constants to one side, sum(terms) OP K.  With each of the n terms
            # an int32 value the sum lies in [n*INT_MIN, n*INT_MAX]; a K outside
            # that decides the comparison, a K inside int32 is emitted as is.
            la, lb = _linear(a), _linear(b)
            if la is not None and lb is not None:
                terms = la[0] + [(-c, x) for c, x in lb[0]]
                k = lb[1] - la[1]
                n = len(terms)
                if n == 0:
                    return const(compare(0, k))
                if k > n * INT_MAX or k < n * INT_MIN:
                    return const(compare(0, k))   # every possible sum orders like 0
                if fits(k):
                    total = None
                    for c, x in terms:
                        total = (x if c > 0 else binary("-", const(0), x)) if total is None else \
                            binary("+" if c > 0 else "-", total, x)
                    return ("cmp", op, total, const(k))
        return ("cmp", op, a, b)
    if k in ARITHMETIC:
        a, b = simplify(t[1]), simplify(t[2])
        if a[0] == "c" and b[0] == "c":
            return const(ARITHMETIC[k].apply(a[1], b[1]))
        if b == const(0):
            return a
        return (k, a, b)
    if k == "ite":
        c = simplify(t[1])
        if c[0] == "c":
            return simplify(t[2] if c[1] else t[3])
        a, b = simplify(t[2]), simplify(t[3])
        if a == b:
            return a
        return ("ite", c, a, b)
    raise AssertionError(t)


class Symbolic:
    """A term as a value of the vocabulary's algebra: Python's comparison and
    arithmetic operators on it build terms (`a == 0` is ("cmp", "==", a, ("c", 0))),
    as they build Z3 terms on Z3 values."""

    __slots__ = ("term",)
    __hash__ = None

    def __init__(self, term: Term):
        self.term = term

    def __repr__(self) -> str:
        return f"Symbolic({self.term!r})"


def lift(v) -> Term:
    """The term of a value of the algebra: a Symbolic, or a Python int or bool."""
    return v.term if isinstance(v, Symbolic) else const(v)


# One method per comparison and arithmetic operator of vocabulary.OPERATORS, named
# as Python names the function behind its `apply` (__eq__, __lt__, __add__, ...).
for _o in (*COMPARISONS.values(), *ARITHMETIC.values()):
    setattr(Symbolic, f"__{_o.apply.__name__}__",
            lambda self, other, _o=_o: Symbolic(binary(_o.symbol, self.term, lift(other))))


class TermValues:
    """The vocabulary's value algebra (see vocabulary.Values) over terms."""

    @staticmethod
    def ite(c, a, b):
        # A test that simplifies to a constant is decided at once (whether a
        # completion that cannot saturate is at UINT_MAX, say): terms stay small.
        test = simplify(lift(c))
        if test[0] == "c":
            return a if test[1] else b
        return Symbolic(("ite", lift(c), lift(a), lift(b)))

    @staticmethod
    def const(v):
        return Symbolic(const(v))


def _redundant(x: Term, y: Term, zero: bool) -> bool:
    """Is operand `x` of a conjunction (`zero` False) or disjunction (`zero` True)
    redundant next to operand `y`?"""
    if x[0] != "cmp" or y[0] != "cmp" or x[2:] != y[2:]:
        return False
    return (x[1], y[1]) in IMPLIES if zero else (y[1], x[1]) in IMPLIES


def _operands(k: str, t: Term) -> list:
    return _operands(k, t[1]) + _operands(k, t[2]) if t[0] == k else [t]


def _linear(t: Term):
    """`t` as ([(+1 or -1, int32 term)], constant), or None when it is not a sum."""
    if t[0] == "c" and not isinstance(t[1], bool):
        return [], t[1]
    if t[0] in ARITHMETIC:
        a, b = _linear(t[1]), _linear(t[2])
        if a is None or b is None:
            return None
        sign = ARITHMETIC[t[0]].apply(0, 1)     # of the right operand: +1 for add, -1 for sub
        return a[0] + [(sign * c, x) for c, x in b[0]], a[1] + sign * b[1]
    if _small(t):
        return [(1, t)], 0
    return None


def _subst(t: Term, name: str, by: Term) -> Term:
    if t[0] == "v":
        return by if t[1] == name else t
    if t[0] == "c":
        return t
    return (t[0],) + tuple(_subst(x, name, by) if isinstance(x, tuple) else x for x in t[1:])


def _done_leaves(t: Term, acc: list) -> list:
    if t[0] == "v":
        if t[2] == "done" and t[1] not in acc:
            acc.append(t[1])
    elif t[0] != "c":
        for x in t[1:]:
            if isinstance(x, tuple):
                _done_leaves(x, acc)
    return acc


def emit(t: Term) -> str:
    """Promela text for term `t` (simplified first)."""
    return _emit(simplify(t))


def _emit(t: Term) -> str:
    k = t[0]
    if k == "c":
        v = t[1]
        if isinstance(v, bool):
            return "true" if v else "false"
        if not fits(v):
            raise PromelaUnsupported(f"the integer {v} does not fit Promela's 32-bit int")
        return str(v) if v >= 0 else f"({v})"
    if k == "v":
        if t[2] == "done":
            raise PromelaUnsupported(
                f"{t[1]} is used as a number, and complete_all may have set it to "
                f"{UINT_MAX}, which does not fit Promela's 32-bit int (only comparisons "
                "with done(...) are translated exactly)")
        return t[1]
    if k == "not":
        return f"!{_emit(t[1])}"
    if k in CONNECTIVES:
        return f"({_emit(t[1])} {_PROMELA_CONNECTIVE[k]} {_emit(t[2])})"
    if k == "cmp":
        leaves = _done_leaves(t, [])
        if leaves:
            # Split on the first saturable counter: -1 stands for UINT_MAX.
            d = leaves[0]
            sat = simplify(_subst(t, d, const(UINT_MAX)))
            plain = simplify(_subst(t, d, ("v", d, "int")))
            if sat == plain:
                return _emit(sat)
            if (sat, plain) == (TRUE, FALSE):
                return f"({d} == {SAT})"
            if (sat, plain) == (FALSE, TRUE):
                return f"({d} != {SAT})"
            return f"(({d} == {SAT}) -> {_emit(sat)} : {_emit(plain)})"
        return f"({_emit(t[2])} {t[1]} {_emit(t[3])})"
    if k in ARITHMETIC:
        return f"({_emit(t[1])} {ARITHMETIC[k].symbol} {_emit(t[2])})"
    if k == "ite":
        return f"({_emit(t[1])} -> {_emit(t[2])} : {_emit(t[3])})"
    raise AssertionError(t)
