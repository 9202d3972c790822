"""Promela export: the lowered `Program` as a Promela model for Spin.

The translation works on the Step CFGs of `modproof.spec.model` (never on the
AST) and is meant to have exactly the reference semantics of
`modproof.spec.semantics`, so that `spin -a` + `pan` is an independent third
opinion next to the explicit engine and the Z3 encoding.  docs/promela.md
describes the design; in short:

* Every thread is one `proctype`, started by `init` in one atomic step after the
  invariants were asserted on the initial state.  Every `Step` is one labelled
  `atomic { ... }` (label `S<id>`) whose first statement is the step's
  enabledness guard, so a blocked step does nothing, and whose body never blocks
  after the guard: Spin's interleaving points are modproof's steps.  The body
  ends in `goto S<successor>`, or `goto end_done` (a valid end state where the
  finished thread sits for ever; a thread blocked anywhere else is an invalid
  end state, i.e. `deadlock`).
* Every check is an `assert` on a line of its own, with a comment
  `/* CHECK: what */`; the line that `spin -t` names maps back to the check.
  `code-after-unload` is the first statement after the guard.
* `atomic` blocks without `await` are translated statement by statement; blocks
  with `await` (enabled only when some path through them passes all its awaits)
  become one guarded option per path, with the path condition computed by
  symbolic execution over the state before the step.
* `done` after `complete_all` (UINT_MAX) is stored as -1; comparisons that may
  see it are split on `done == -1` and decided with the mathematical value.

Promela's `int` is 32 bits; modproof's integers are mathematical.  Constants
that do not fit and `done(C)` of a saturable completion used as a number (not
compared) raise `PromelaUnsupported`; arithmetic that overflows at run time
wraps silently in Spin (docs/promela.md).
"""
from __future__ import annotations

import re
from typing import Optional

from modproof.spec.ast import BinOp, QueryKind
from modproof.spec.model import (
    CHECKS, CORE, DONE, UINT_MAX, AAssert, AAssign, AAwait, AChoose, AIf, AOp, AWhile, Bin, Const,
    LocalRef, Neg, Program, Q, Step, StepKind, Thread, VarRef, atomic_statements, has_await,
)

INT_MIN, INT_MAX = -(2 ** 31), 2 ** 31 - 1
SAT = -1            # how Promela stores done == UINT_MAX
MAX_PATHS = 4096    # paths through one atomic block with `await`
MAX_UNROLL = 64     # iterations of one loop on one such path

CHECK_COMMENT = re.compile(r"/\*\s*([a-z]+(?:-[a-z]+)*):")


class PromelaUnsupported(ValueError):
    """The program uses something this translation cannot express exactly."""


# --------------------------------------------------------------------------- terms
# A small symbolic expression language over the Promela state before a step:
#   ("c", value)                  constant (mathematical int or bool)
#   ("v", name, typ)              a Promela variable; typ "int", "bool" or "done"
#                                 ("done": a saturable done counter, -1 for UINT_MAX)
#   ("not", a) ("and", a, b) ("or", a, b)
#   ("cmp", op, a, b)             op in == != < <= > >=
#   ("add", a, b) ("sub", a, b) ("ite", c, a, b)

Term = tuple

_CMP = {BinOp.EQ: "==", BinOp.NE: "!=", BinOp.LT: "<", BinOp.LE: "<=", BinOp.GT: ">",
        BinOp.GE: ">="}
_PYCMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
          "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_NEGCMP = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
TRUE, FALSE = ("c", True), ("c", False)


def _c(v) -> Term:
    return ("c", v)


def _fits(v) -> bool:
    return isinstance(v, bool) or INT_MIN <= v <= INT_MAX


def _small(t: Term) -> bool:
    """Is `t` an int32 value in every state (under the documented no-overflow assumption)?"""
    k = t[0]
    if k == "c":
        return _fits(t[1])
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
            return _c(not a[1])
        if a[0] == "not":
            return a[1]
        if a[0] == "cmp":
            return ("cmp", _NEGCMP[a[1]], a[2], a[3])
        return ("not", a)
    if k in ("and", "or"):
        a, b = simplify(t[1]), simplify(t[2])
        unit, zero = (True, False) if k == "and" else (False, True)
        if a == _c(zero) or b == _c(zero):
            return _c(zero)
        if a == _c(unit):
            return b
        if b == _c(unit):
            return a
        # Flatten, drop repeated operands, and decide x and not x / x or not x.
        ops: list = []
        for x in _operands(k, a) + _operands(k, b):
            if simplify(("not", x)) in ops:
                return _c(zero)
            if x not in ops:
                ops.append(x)
        out = ops[0]
        for x in ops[1:]:
            out = (k, out, x)
        return out
    if k == "cmp":
        op, a, b = t[1], simplify(t[2]), simplify(t[3])
        if a[0] == "c" and b[0] == "c":
            return _c(_PYCMP[op](a[1], b[1]))
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
                    return _c(_PYCMP[op](0, k))
                if k > n * INT_MAX or k < n * INT_MIN:
                    return _c(_PYCMP[op](0, k))   # every possible sum orders like 0
                if _fits(k):
                    total = None
                    for c, x in terms:
                        total = (x if c > 0 else ("sub", _c(0), x)) if total is None else \
                            ("add" if c > 0 else "sub", total, x)
                    return ("cmp", op, total, _c(k))
        return ("cmp", op, a, b)
    if k in ("add", "sub"):
        a, b = simplify(t[1]), simplify(t[2])
        if a[0] == "c" and b[0] == "c":
            return _c(a[1] + b[1] if k == "add" else a[1] - b[1])
        if b == _c(0):
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


def _operands(k: str, t: Term) -> list:
    return _operands(k, t[1]) + _operands(k, t[2]) if t[0] == k else [t]


def _linear(t: Term):
    """`t` as ([(+1 or -1, int32 term)], constant), or None when it is not a sum."""
    if t[0] == "c" and not isinstance(t[1], bool):
        return [], t[1]
    if t[0] in ("add", "sub"):
        a, b = _linear(t[1]), _linear(t[2])
        if a is None or b is None:
            return None
        if t[0] == "add":
            return a[0] + b[0], a[1] + b[1]
        return a[0] + [(-c, x) for c, x in b[0]], a[1] - b[1]
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
        if not _fits(v):
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
    if k == "and":
        return f"({_emit(t[1])} && {_emit(t[2])})"
    if k == "or":
        return f"({_emit(t[1])} || {_emit(t[2])})"
    if k == "cmp":
        leaves = _done_leaves(t, [])
        if leaves:
            # Split on the first saturable counter: -1 stands for UINT_MAX.
            d = leaves[0]
            sat = simplify(_subst(t, d, _c(UINT_MAX)))
            plain = simplify(_subst(t, d, ("v", d, "int")))
            if sat == plain:
                return _emit(sat)
            if (sat, plain) == (TRUE, FALSE):
                return f"({d} == {SAT})"
            if (sat, plain) == (FALSE, TRUE):
                return f"({d} != {SAT})"
            return f"(({d} == {SAT}) -> {_emit(sat)} : {_emit(plain)})"
        return f"({_emit(t[2])} {t[1]} {_emit(t[3])})"
    if k in ("add", "sub"):
        return f"({_emit(t[1])} {'+' if k == 'add' else '-'} {_emit(t[2])})"
    if k == "ite":
        return f"({_emit(t[1])} -> {_emit(t[2])} : {_emit(t[3])})"
    raise AssertionError(t)


# --------------------------------------------------------------------------- the translation


def _ident(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", s).strip("_") or "x"


def _comment(s: str) -> str:
    return " ".join(s.replace("*/", "* /").split())


def _lit(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if not _fits(v):
        raise PromelaUnsupported(f"the integer {v} does not fit Promela's 32-bit int")
    return str(v)


class _Gen:
    def __init__(self, p: Program, only: Optional[str] = None):
        self.p = p
        self.only = only
        self.in_init = False
        self.saturable = self._saturable()
        self.lines: list[str] = []

    # ------------------------------------------------------------------ naming

    def obj(self, i): return f"refs_{self.p.objects[i].name}"
    def comp(self, i): return f"done_{self.p.completions[i].name}"
    def mrefs(self, i): return f"mrefs_{self.p.modules[i].name}"
    def mstate(self, i): return f"mstate_{self.p.modules[i].name}"
    def holder(self, i): return f"holder_{self.p.mutexes[i].name}"
    def var(self, i):
        # v2 hidden vars are named like pending(w): Promela names are identifiers.
        name = self.p.vars[i].name
        if name.isidentifier():
            return f"v_{name}"
        return f"h{i}_" + "".join(ch if ch.isalnum() else "_" for ch in name)

    @staticmethod
    def local(th: Thread, slot: int) -> str:
        sl = th.locals[slot]
        return f"l{slot}_{(sl.fn + '_') if sl.fn else ''}{sl.name}"

    def _saturable(self) -> set[int]:
        """Completions whose done count can be UINT_MAX."""
        out = {i for i, c in enumerate(self.p.completions) if c.done == UINT_MAX}

        def walk(body):
            for a in atomic_statements(body):
                if isinstance(a, AOp) and a.kind is StepKind.COMPLETE_ALL:
                    out.add(a.operand)
        for th in self.p.threads:
            for st in th.steps:
                if st.kind is StepKind.COMPLETE_ALL:
                    out.add(st.operand)
                walk(st.body)
        return out

    # ------------------------------------------------------------------ expressions

    def env(self, th: Optional[Thread]) -> dict:
        """The identity environment: every location is its own Promela variable."""
        p = self.p
        e = {}
        for i in range(len(p.objects)):
            e[self.obj(i)] = ("v", self.obj(i), "int")
        for i in range(len(p.completions)):
            e[self.comp(i)] = ("v", self.comp(i), "done" if i in self.saturable else "int")
        for i in range(len(p.modules)):
            e[self.mrefs(i)] = ("v", self.mrefs(i), "int")
            e[self.mstate(i)] = ("v", self.mstate(i), "int")
        for i in range(len(p.mutexes)):
            e[self.holder(i)] = ("v", self.holder(i), "int")
        for i, v in enumerate(p.vars):
            e[self.var(i)] = ("v", self.var(i), "bool" if isinstance(v.init, bool) else "int")
        if th is not None:
            for s, sl in enumerate(th.locals):
                e[self.local(th, s)] = ("v", self.local(th, s),
                                        "bool" if isinstance(sl.init, bool) else "int")
        return e

    def lvalue(self, th: Thread, target) -> str:
        if isinstance(target, LocalRef):
            return self.local(th, target.slot)
        return self.var(target.index)

    def term(self, e, env: dict, th: Optional[Thread]) -> Term:
        if isinstance(e, Const):
            return _c(e.value)
        if isinstance(e, VarRef):
            return env[self.var(e.index)]
        if isinstance(e, LocalRef):
            return env[self.local(th, e.slot)]
        if isinstance(e, Neg):
            return ("not", self.term(e.operand, env, th))
        if isinstance(e, Bin):
            a, b = self.term(e.left, env, th), self.term(e.right, env, th)
            if e.op is BinOp.AND:
                return ("and", a, b)
            if e.op is BinOp.OR:
                return ("or", a, b)
            if e.op is BinOp.ADD:
                return ("add", a, b)
            if e.op is BinOp.SUB:
                return ("sub", a, b)
            return ("cmp", _CMP[e.op], a, b)
        if isinstance(e, Q):
            k, i = e.kind, e.index
            if k is QueryKind.REFS:
                return env[self.obj(i)]
            if k is QueryKind.MODULE_REFS:
                return env[self.mrefs(i)]
            if k is QueryKind.LOADED:
                return ("cmp", "!=", env[self.mstate(i)], _c(2))
            if k is QueryKind.DONE:
                return env[self.comp(i)]
            if k is QueryKind.LOCKED:
                return ("cmp", "!=", env[self.holder(i)], _c(-1))
            raise AssertionError(f"{k} is not a pure query")
        raise AssertionError(e)

    def live(self, e, th: Optional[Thread]) -> str:
        """`e` as a Promela expression over the current state."""
        return emit(self.term(e, self.env(th), th))

    # ------------------------------------------------------------------ primitives

    def check_of(self, kind: StepKind, x: int, t: int) -> Optional[tuple[str, Term, str]]:
        """(check, term that must hold, what) for primitive `kind`, over the identity env."""
        return self._check(kind, x, t, self.env(None))

    def _check(self, kind, x, t, env):
        p = self.p
        if kind is StepKind.GET:
            return ("get-after-release", ("cmp", "!=", env[self.obj(x)], _c(0)),
                    f"get({p.objects[x].name}) needs a count above 0")
        if kind is StepKind.PUT:
            return ("put-after-release", ("cmp", "!=", env[self.obj(x)], _c(0)),
                    f"put({p.objects[x].name}) needs a count above 0")
        if kind is StepKind.UNLOCK:
            return ("unlock-not-held", ("cmp", "==", env[self.holder(x)], _c(t)),
                    f"unlock({p.mutexes[x].name}) by {p.threads[t].name} needs it to hold the mutex")
        if kind is StepKind.MODULE_GET:
            return ("module-get-after-unload", ("cmp", "!=", env[self.mstate(x)], _c(2)),
                    f"module_get({p.modules[x].name}) on a module that is not gone")
        if kind in (StepKind.MODULE_PUT, StepKind.MODULE_PUT_AND_EXIT):
            return ("module-refcount-underflow", ("cmp", "!=", env[self.mrefs(x)], _c(0)),
                    f"module_put({p.modules[x].name}) needs a refcount above 0")
        return None

    def effect(self, kind: StepKind, x: int, t: int) -> list[str]:
        """Promela statements for the effect of primitive `kind` (its check passed)."""
        if kind is StepKind.GET:
            return [f"{self.obj(x)} = {self.obj(x)} + 1"]
        if kind is StepKind.PUT:
            return [f"{self.obj(x)} = {self.obj(x)} - 1"]
        if kind in (StepKind.COMPLETE, StepKind.COMPLETE_AND_EXIT):
            d = self.comp(x)
            if x in self.saturable:
                return [f"{d} = (({d} == {SAT}) -> {SAT} : {d} + 1)"]
            return [f"{d} = {d} + 1"]
        if kind is StepKind.COMPLETE_ALL:
            return [f"{self.comp(x)} = {SAT} /* UINT_MAX */"]
        if kind is StepKind.REINIT:
            return [f"{self.comp(x)} = 0"]
        if kind is StepKind.WAIT:
            d = self.comp(x)
            if x in self.saturable:
                return [f"{d} = (({d} == {SAT}) -> {SAT} : {d} - 1)"]
            return [f"{d} = {d} - 1"]
        if kind is StepKind.LOCK:
            return [f"{self.holder(x)} = {t}"]
        if kind is StepKind.UNLOCK:
            return [f"{self.holder(x)} = -1"]
        if kind is StepKind.MODULE_GET:
            return [f"{self.mrefs(x)} = {self.mrefs(x)} + 1"]
        if kind in (StepKind.MODULE_PUT, StepKind.MODULE_PUT_AND_EXIT):
            return [f"{self.mrefs(x)} = {self.mrefs(x)} - 1"]
        raise AssertionError(kind)

    def sym_effect(self, kind: StepKind, x: int, t: int, env: dict) -> None:
        """The effect of primitive `kind` on the symbolic environment `env`."""
        def bump(name, d):
            env[name] = ("add" if d > 0 else "sub", env[name], _c(1))
        if kind is StepKind.GET:
            bump(self.obj(x), 1)
        elif kind is StepKind.PUT:
            bump(self.obj(x), -1)
        elif kind is StepKind.COMPLETE:
            d = self.comp(x)
            if x in self.saturable:
                env[d] = ("ite", ("cmp", "==", env[d], _c(UINT_MAX)), _c(UINT_MAX),
                          ("add", env[d], _c(1)))
            else:
                bump(d, 1)
        elif kind is StepKind.COMPLETE_ALL:
            env[self.comp(x)] = _c(UINT_MAX)
        elif kind is StepKind.REINIT:
            env[self.comp(x)] = _c(0)
        elif kind is StepKind.WAIT:  # v2 wait_timeout: after an await that done > 0
            d = self.comp(x)
            if x in self.saturable:
                env[d] = ("ite", ("cmp", "==", env[d], _c(UINT_MAX)), _c(UINT_MAX),
                          ("sub", env[d], _c(1)))
            else:
                bump(d, -1)
        elif kind is StepKind.UNLOCK:
            env[self.holder(x)] = _c(-1)
        elif kind is StepKind.MODULE_GET:
            bump(self.mrefs(x), 1)
        elif kind is StepKind.MODULE_PUT:
            bump(self.mrefs(x), -1)
        else:
            raise AssertionError(f"{kind} inside atomic")

    def try_parts(self, e, env: dict) -> Optional[tuple[Term, str, str]]:
        """For a try_ query: (success condition over env, its Promela effect, env key)."""
        if isinstance(e, Q) and e.kind is QueryKind.TRY_GET:
            n = self.obj(e.index)
            return ("cmp", "!=", env[n], _c(0)), f"{n} = {n} + 1", n
        if isinstance(e, Q) and e.kind is QueryKind.TRY_MODULE_GET:
            n = self.mrefs(e.index)
            return ("cmp", "==", env[self.mstate(e.index)], _c(0)), f"{n} = {n} + 1", n
        return None

    # ------------------------------------------------------------------ output helpers

    def out(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def assertion(self, indent: int, cond: str, check: str, what: str) -> None:
        if self.only is None or check == self.only:
            self.out(indent, f"assert({cond}); /* {check}: {_comment(what)} */")
            return
        # Another check than the one asked for: its violation ends the execution
        # without a report (all threads escape to their valid end state).
        leave = "" if self.in_init else "; goto end_done"
        self.out(indent, f"if :: !({cond}) -> stop = true{leave} :: else -> skip fi; "
                         f"/* {check} (silenced): {_comment(what)} */")

    def jump(self, indent: int, target: int, changes_globals: bool) -> None:
        if changes_globals and self.p.invariants:
            self.out(indent, "check_invariants();")
        self.out(indent, "goto end_done" if target == DONE else f"goto S{target}")

    # ------------------------------------------------------------------ the file

    def program(self) -> str:
        p = self.p
        o = self.out
        o(0, f"/* Promela model of {_comment(p.path)}, generated by modproof")
        o(0, "   (modproof.exports.promela) from the lowered program: one proctype per thread,")
        o(0, "   one labelled atomic block per step (label S<step id>), guard first.")
        o(0, "   Each assert names the modproof check it stands for in its comment:")
        o(0, "     code-after-unload, get-after-release, put-after-release,")
        o(0, "     module-refcount-underflow, module-get-after-unload, unlock-not-held,")
        o(0, "     assertion, invariant; deadlock is Spin's 'invalid end state'")
        o(0, "     (a finished thread waits at its valid end label end_done).")
        o(0, "   done == -1 stands for UINT_MAX (after complete_all); ints are 32-bit here.")
        o(0, "   Run: spin -a model.pml && cc -DSAFETY -o pan pan.c && ./pan -m100000")
        o(0, "        spin -t -p model.pml    # replay a trail */")
        o(0, "")
        o(0, "#define LOADED    0")
        o(0, "#define UNLOADING 1")
        o(0, "#define GONE      2")
        o(0, "")
        if self.only is not None:
            o(0, f"/* Only {self.only} is reported: any other violation sets stop, which ends")
            o(0, "   the execution (every thread escapes to its valid end state). */")
            o(0, "bool stop = false;")
            o(0, "")
        for i, m in enumerate(p.modules):
            o(0, f"int  {self.mrefs(i)} = {_lit(m.refs)};  /* module {m.name} refcount */")
            o(0, f"byte {self.mstate(i)} = LOADED;  /* module {m.name}: LOADED, UNLOADING, GONE */")
        for i, ob in enumerate(p.objects):
            o(0, f"int  {self.obj(i)} = {_lit(ob.refs)};  /* object {ob.name} */")
        for i, c in enumerate(p.completions):
            init = SAT if c.done == UINT_MAX else c.done
            sat = ", -1 is UINT_MAX" if i in self.saturable else ""
            o(0, f"int  {self.comp(i)} = {_lit(init)};  /* completion {c.name}{sat} */")
        for i, mu in enumerate(p.mutexes):
            o(0, f"int  {self.holder(i)} = -1;  /* mutex {mu.name}: holder thread, -1 free */")
        for i, v in enumerate(p.vars):
            typ = "bool" if isinstance(v.init, bool) else "int "
            o(0, f"{typ} {self.var(i)} = {_lit(v.init)};")
        o(0, "")
        if p.invariants:
            o(0, "inline check_invariants() {")
            for inv in p.invariants:
                self.assertion(1, self.live(inv.expr, None), "invariant", f"{inv.name}: {inv.text}")
            o(0, "}")
            o(0, "")
        for t, th in enumerate(p.threads):
            self.thread(t, th)
        o(0, "init {")
        o(1, "atomic {")
        if p.invariants:
            o(2, "/* the initial state */")
            self.in_init = True
            for inv in p.invariants:
                self.assertion(2, self.live(inv.expr, None), "invariant", f"{inv.name}: {inv.text}")
            self.in_init = False
        for t, th in enumerate(p.threads):
            o(2, f"run {self.proc(t, th)}();")
        o(1, "}")
        o(0, "}")
        return "\n".join(self.lines) + "\n"

    @staticmethod
    def proc(t: int, th: Thread) -> str:
        return f"T{t}_{_ident(th.name)}"

    def thread(self, t: int, th: Thread) -> None:
        o = self.out
        owner = self.p.owner_name(th.owner)
        o(0, f"/* thread {th.name} (index {t}), its body owned by {owner} */")
        o(0, f"proctype {self.proc(t, th)}() {{")
        for s, sl in enumerate(th.locals):
            typ = "bool" if isinstance(sl.init, bool) else "int "
            where = f"fn {sl.fn}" if sl.fn else "thread body"
            o(1, f"{typ} {self.local(th, s)} = {_lit(sl.init)};  /* local of {where} */")
        if th.steps and th.entry != 0:
            o(1, f"goto S{th.entry};")
        for n, st in enumerate(th.steps):
            self.step(t, th, st)
            if n == 0 and self.only is not None:
                # Spin wants "Label: { ... } unless { ... }": the first label outside.
                self.lines.insert(self._step_start + 1, "    {")
        if self.only is not None:
            o(1, "} unless { stop -> goto end_done }")
        o(0, "end_done:  /* the thread has taken its final step */")
        o(1, "false")
        o(0, "}")
        o(0, "")

    # ------------------------------------------------------------------ steps

    def step(self, t: int, th: Thread, st: Step) -> None:
        p = self.p
        o = self.out
        owner = p.owner_name(st.owner)
        where = f" in {'/'.join(st.frame)}" if st.frame else ""
        self._step_start = len(self.lines)
        if st.idle:
            # A v2 worker waiting for work here is at a valid end state (not a deadlock).
            o(0, f"end_idle_{st.id}:")
        o(0, f"S{st.id}:  /* {st.kind.value} '{_comment(st.text)}'{where}, owner {owner}, "
             f"line {st.span.line} */")
        k, x = st.kind, st.operand

        if k is StepKind.ATOMIC and has_await(st.body):
            self.atomic_paths(t, th, st)
            return

        guard = None
        if k is StepKind.WAIT:
            guard = f"{self.comp(x)} != 0"
        elif k is StepKind.LOCK:
            guard = f"{self.holder(x)} == -1"
        elif k is StepKind.UNLOAD:
            guard = f"({self.mstate(x)} != LOADED || {self.mrefs(x)} == 0)"
        elif k is StepKind.AWAIT:
            tp = self.try_parts(st.expr, self.env(th))
            guard = emit(tp[0]) if tp else self.live(st.expr, th)

        o(1, "atomic {")
        if guard is not None:
            o(2, f"{guard} ->")
        self.owner_check(2, t, th, st)
        i = 2
        if k in (StepKind.GET, StepKind.PUT, StepKind.UNLOCK, StepKind.MODULE_GET,
                 StepKind.MODULE_PUT, StepKind.MODULE_PUT_AND_EXIT):
            chk, cond, what = self.check_of(k, x, t)
            self.assertion(i, emit(cond), chk, f"{th.name}: {what}")
        if k in (StepKind.GET, StepKind.COMPLETE, StepKind.COMPLETE_ALL, StepKind.REINIT,
                 StepKind.WAIT, StepKind.LOCK, StepKind.UNLOCK, StepKind.MODULE_GET,
                 StepKind.MODULE_PUT):
            for e in self.effect(k, x, t):
                o(i, e + ";")
            self.jump(i, st.next, True)
        elif k is StepKind.PUT:
            for e in self.effect(k, x, t):
                o(i, e + ";")
            if st.fn is not None:
                o(i, "if")
                o(i, f":: {self.obj(x)} == 0 ->  /* calls the release function {st.fn} */")
                self.inits(i + 1, th, st)
                self.jump(i + 1, st.release, True)
                o(i, ":: else ->")
                self.jump(i + 1, st.next, True)
                o(i, "fi")
            else:
                self.jump(i, st.next, True)
        elif k in (StepKind.MODULE_PUT_AND_EXIT, StepKind.COMPLETE_AND_EXIT):
            for e in self.effect(k, x, t):
                o(i, e + ";")
            self.jump(i, DONE, True)
        elif k is StepKind.UNLOAD:
            o(i, "if")
            o(i, f":: {self.mstate(x)} == LOADED ->")
            o(i + 1, f"{self.mstate(x)} = UNLOADING;")
            self.inits(i + 1, th, st)
            self.jump(i + 1, st.next, True)
            o(i, ":: else ->  /* unloading or gone already: rmmod does nothing */")
            self.jump(i + 1, st.not_loaded, False)
            o(i, "fi")
        elif k is StepKind.UNLOAD_FREE:
            o(i, f"{self.mstate(x)} = GONE;")
            self.jump(i, st.next, True)
        elif k is StepKind.ASSIGN:
            o(i, f"{self.lvalue(th, st.target)} = {self.live(st.expr, th)};")
            self.jump(i, st.next, isinstance(st.target, VarRef))
        elif k is StepKind.ASSERT:
            self.assertion(i, self.live(st.expr, th), "assertion", f"{th.name}: {st.text}")
            self.jump(i, st.next, False)
        elif k is StepKind.AWAIT:
            tp = self.try_parts(st.expr, self.env(th))
            if tp:
                o(i, tp[1] + ";")
            self.jump(i, st.next, tp is not None)
        elif k is StepKind.BRANCH:
            tp = self.try_parts(st.expr, self.env(th))
            o(i, "if")
            if tp:
                o(i, f":: {emit(tp[0])} ->")
                o(i + 1, tp[1] + ";")
                self.jump(i + 1, st.next, True)
            else:
                o(i, f":: {self.live(st.expr, th)} ->")
                self.jump(i + 1, st.next, False)
            o(i, ":: else ->")
            self.jump(i + 1, st.on_false, False)
            o(i, "fi")
        elif k is StepKind.CHOOSE:
            o(i, "if")
            for b in st.branches:
                o(i, ":: true ->")
                self.jump(i + 1, b, False)
            o(i, "fi")
        elif k is StepKind.CALL:
            self.inits(i, th, st)
            self.jump(i, st.next, False)
        elif k is StepKind.RETURN:
            self.jump(i, st.next, False)
        elif k is StepKind.ATOMIC:
            self.atomic_body(i, t, th, st.body)
            self.jump(i, st.next, True)
        else:
            raise AssertionError(k)
        o(1, "}")

    def owner_check(self, indent: int, t: int, th: Thread, st: Step) -> None:
        if st.owner != CORE:
            m = self.p.modules[st.owner].name
            self.assertion(indent, f"{self.mstate(st.owner)} != GONE", "code-after-unload",
                           f"{th.name} executes '{st.text}' in module {m}")
        for kind, x in st.uses:  # v2: storage that lives in a module's memory
            thing = self.p.objects[x] if kind == "object" else self.p.completions[x]
            if thing.storage != CORE:
                self.assertion(indent, f"{self.mstate(thing.storage)} != GONE", "use-after-unload",
                               f"{th.name} uses {kind} {thing.name} in '{st.text}'")

    def inits(self, indent: int, th: Thread, st: Step) -> None:
        for slot, v in st.inits:
            self.out(indent, f"{self.local(th, slot)} = {_lit(v)};  /* fresh local of {st.fn} */")

    # ------------------------------------------------------------------ atomic without await

    def option_on(self, i: int, cond, th: Thread) -> None:
        """The `:: COND ->` line of an if/do option, with a try_ query's side effect."""
        tp = self.try_parts(cond, self.env(th))
        if tp:
            self.out(i, f":: {emit(tp[0])} ->")
            self.out(i + 1, tp[1] + ";")
        else:
            self.out(i, f":: {self.live(cond, th)} ->")

    def atomic_body(self, i: int, t: int, th: Thread, body) -> None:
        o = self.out
        if not body:
            o(i, "skip;")
        for a in body:
            if isinstance(a, AOp):
                chk = self.check_of(a.kind, a.operand, t)
                if chk:
                    self.assertion(i, emit(chk[1]), chk[0], f"{th.name}: {chk[2]} (in atomic, "
                                   f"line {a.span.line})")
                for e in self.effect(a.kind, a.operand, t):
                    o(i, e + ";")
            elif isinstance(a, AAssign):
                o(i, f"{self.lvalue(th, a.target)} = {self.live(a.value, th)};")
            elif isinstance(a, AAssert):
                self.assertion(i, self.live(a.cond, th), "assertion",
                               f"{th.name}: assert at line {a.span.line} (in atomic)")
            elif isinstance(a, AIf):
                o(i, "if")
                self.option_on(i, a.cond, th)
                self.atomic_body(i + 1, t, th, a.then)
                o(i, ":: else ->")
                self.atomic_body(i + 1, t, th, a.orelse)
                o(i, "fi;")
            elif isinstance(a, AWhile):
                o(i, "do")
                self.option_on(i, a.cond, th)
                self.atomic_body(i + 1, t, th, a.body)
                o(i, ":: else -> break")
                o(i, "od;")
            elif isinstance(a, AChoose):
                o(i, "if")
                for b in a.branches:
                    o(i, ":: true ->")
                    self.atomic_body(i + 1, t, th, b)
                o(i, "fi;")
            else:
                raise AssertionError(f"{a!r} inside atomic")

    # ------------------------------------------------------------------ atomic with await

    def atomic_paths(self, t: int, th: Thread, st: Step) -> None:
        """One guarded option per path through the block: the guard is the path's
        condition over the state before the step (all its awaits hold, its tests go
        its way), so the step is enabled exactly when some path is, with no partial
        effects; the option then runs the path's effects and ends in its check or
        its jump."""
        o = self.out
        paths = []
        self._paths(t, th, list(st.body), self.env(th), TRUE, [], {}, paths)
        o(1, f"atomic {{  /* {len(paths)} path(s) through the block */")
        if not paths:
            o(2, "false  /* no path passes its awaits */")
            o(1, "}")
            return
        o(2, "if")
        for cond, code, viol in paths:
            o(2, f":: {emit(cond)} ->")
            self.owner_check(3, t, th, st)
            for line in code:
                o(3, line + ";")
            if viol is None:
                self.jump(3, st.next, True)
            else:
                chk, cond_text, what = viol
                self.assertion(3, cond_text, chk, what)
        o(2, "fi")
        o(1, "}")

    def _paths(self, t, th, pending, env, cond, code, unroll, out) -> None:
        """Symbolic execution of `pending` from `env` under path condition `cond`;
        appends (condition, Promela statements, violation-or-None) to `out`."""
        while True:
            cond = simplify(cond)
            if cond == FALSE:
                return
            if len(out) > MAX_PATHS:
                raise PromelaUnsupported(f"more than {MAX_PATHS} paths through an atomic block")
            if not pending:
                out.append((cond, code, None))
                return
            a, pending = pending[0], pending[1:]
            if isinstance(a, AOp):
                chk = self._check(a.kind, a.operand, t, env)
                if chk:
                    name, ok, what = chk
                    ident = self.env(th)
                    live_ok = emit(self._check(a.kind, a.operand, t, ident)[1])
                    bad = simplify(("and", cond, ("not", ok)))
                    if bad != FALSE:
                        out.append((bad, list(code), (name, live_ok, f"{th.name}: {what} "
                                                      f"(in atomic, line {a.span.line})")))
                    cond = ("and", cond, ok)
                env = dict(env)
                self.sym_effect(a.kind, a.operand, t, env)
                code = code + [e for e in self.effect(a.kind, a.operand, t)]
            elif isinstance(a, AAssign):
                v = self.term(a.value, env, th)
                code = code + [f"{self.lvalue(th, a.target)} = {self.live(a.value, th)}"]
                env = dict(env)
                env[self.lvalue(th, a.target)] = v
            elif isinstance(a, AAssert):
                ok = self.term(a.cond, env, th)
                bad = simplify(("and", cond, ("not", ok)))
                if bad != FALSE:
                    out.append((bad, list(code), ("assertion", self.live(a.cond, th),
                                                  f"{th.name}: assert at line {a.span.line} "
                                                  "(in atomic)")))
                cond = ("and", cond, ok)
            elif isinstance(a, AAwait):
                tp = self.try_parts(a.cond, env)
                if tp:
                    cond = ("and", cond, tp[0])
                    env = dict(env)
                    env[tp[2]] = ("add", env[tp[2]], _c(1))
                    code = code + [tp[1]]
                else:
                    cond = ("and", cond, self.term(a.cond, env, th))
            elif isinstance(a, (AIf, AWhile)):
                tp = self.try_parts(a.cond, env)
                if isinstance(a, AIf):
                    yes, no = list(a.then) + pending, list(a.orelse) + pending
                else:
                    n = unroll.get(id(a), 0) + 1
                    if n > MAX_UNROLL:
                        raise PromelaUnsupported(
                            f"a loop at line {a.span.line} inside an atomic block with await "
                            f"may run more than {MAX_UNROLL} times; only loops with a trip "
                            "count known from the block itself are translated")
                    yes, no = list(a.body) + [a] + pending, pending
                    unroll = dict(unroll)
                    unroll[id(a)] = n
                if tp:
                    env2 = dict(env)
                    env2[tp[2]] = ("add", env[tp[2]], _c(1))
                    self._paths(t, th, yes, env2, ("and", cond, tp[0]), code + [tp[1]], unroll, out)
                    cond = ("and", cond, ("not", tp[0]))
                else:
                    c = self.term(a.cond, env, th)
                    self._paths(t, th, yes, env, ("and", cond, c), code, unroll, out)
                    cond = ("and", cond, ("not", c))
                pending = no
            elif isinstance(a, AChoose):
                for b in a.branches[1:]:
                    self._paths(t, th, list(b) + pending, env, cond, code, unroll, out)
                pending = list(a.branches[0]) + pending
                # branch 0 continues in this loop; order of options does not matter
            else:
                raise AssertionError(a)


def program_to_promela(program: Program, only: Optional[str] = None) -> str:
    """The Promela model of `program` (see the module docstring and docs/promela.md).

    With `only` (a check name), only that check is reported: the assertions of
    the others, when violated, end the execution silently, as a violation ends
    it in modproof.  Then Spin answers whether `only` is reachable as the first
    violation of some execution; for a check other than deadlock, run pan with
    -E (no invalid-end-state reports)."""
    if only is not None and only not in CHECKS:
        raise ValueError(f"unknown check {only!r}")
    return _Gen(program, only).program()


def check_of_line(model: str, line: int) -> Optional[str]:
    """The modproof check that the assertion on 1-based `line` of `model` stands for."""
    lines = model.splitlines()
    if not 1 <= line <= len(lines):
        return None
    m = CHECK_COMMENT.search(lines[line - 1])
    return m.group(1) if m else None
