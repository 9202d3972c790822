"""The program's state in Promela: variable names, expressions as terms, primitives.

One global per counter: `refs_O`, `done_C`, `mrefs_M`, `mstate_M` (`LOADED`,
`UNLOADING`, `GONE`), `holder_X` (thread index, -1 when free), `v_NAME` (or
`h<i>_...` for a v2 hidden var, whose name is no identifier).  Thread locals,
the inlined functions' included, are locals of the thread's proctype
(`l<slot>_...`).  `done` after `complete_all` (UINT_MAX) is stored as -1, for
the completions that can reach it (`Layout.saturable`).

A `Layout` gives each location its name and translates expressions into terms
(`terms.py`) over an environment that maps each name to its current value: the
identity environment for the state before a step, a symbolic one inside an
atomic block with `await` (`paths.py`).  It also says what each primitive and
`try_` query checks and does, as terms and as Promela statements.
"""
from __future__ import annotations

from typing import Optional

from modproof.exports.promela.terms import SAT, Term, binary, const, emit
from modproof.spec.ast import QueryKind
from modproof.spec.model import (
    UINT_MAX, AOp, Bin, Const, LocalRef, Neg, Program, Q, StepKind, Thread, VarRef,
    atomic_statements,
)

class Layout:
    """Where a program's state lives in Promela, and its expressions and primitives
    over it."""

    def __init__(self, p: Program):
        self.p = p
        self.saturable = self._saturable()

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
            return const(e.value)
        if isinstance(e, VarRef):
            return env[self.var(e.index)]
        if isinstance(e, LocalRef):
            return env[self.local(th, e.slot)]
        if isinstance(e, Neg):
            return ("not", self.term(e.operand, env, th))
        if isinstance(e, Bin):
            return binary(e.op, self.term(e.left, env, th), self.term(e.right, env, th))
        if isinstance(e, Q):
            k, i = e.kind, e.index
            if k is QueryKind.REFS:
                return env[self.obj(i)]
            if k is QueryKind.MODULE_REFS:
                return env[self.mrefs(i)]
            if k is QueryKind.LOADED:
                return ("cmp", "!=", env[self.mstate(i)], const(2))
            if k is QueryKind.DONE:
                return env[self.comp(i)]
            if k is QueryKind.LOCKED:
                return ("cmp", "!=", env[self.holder(i)], const(-1))
            raise AssertionError(f"{k} is not a pure query")
        raise AssertionError(e)

    def live(self, e, th: Optional[Thread]) -> str:
        """`e` as a Promela expression over the current state."""
        return emit(self.term(e, self.env(th), th))

    # ------------------------------------------------------------------ primitives

    def check_of(self, kind: StepKind, x: int, t: int) -> Optional[tuple[str, Term, str]]:
        """(check, term that must hold, what) for primitive `kind`, over the identity env."""
        return self.check(kind, x, t, self.env(None))

    def check(self, kind, x, t, env):
        p = self.p
        if kind is StepKind.GET:
            return ("get-after-release", ("cmp", "!=", env[self.obj(x)], const(0)),
                    f"get({p.objects[x].name}) needs a count above 0")
        if kind is StepKind.PUT:
            return ("put-after-release", ("cmp", "!=", env[self.obj(x)], const(0)),
                    f"put({p.objects[x].name}) needs a count above 0")
        if kind is StepKind.UNLOCK:
            return ("unlock-not-held", ("cmp", "==", env[self.holder(x)], const(t)),
                    f"unlock({p.mutexes[x].name}) by {p.threads[t].name} needs it to hold the mutex")
        if kind is StepKind.MODULE_GET:
            return ("module-get-after-unload", ("cmp", "!=", env[self.mstate(x)], const(2)),
                    f"module_get({p.modules[x].name}) on a module that is not gone")
        if kind in (StepKind.MODULE_PUT, StepKind.MODULE_PUT_AND_EXIT):
            return ("module-refcount-underflow", ("cmp", "!=", env[self.mrefs(x)], const(0)),
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
            env[name] = ("add" if d > 0 else "sub", env[name], const(1))
        if kind is StepKind.GET:
            bump(self.obj(x), 1)
        elif kind is StepKind.PUT:
            bump(self.obj(x), -1)
        elif kind is StepKind.COMPLETE:
            d = self.comp(x)
            if x in self.saturable:
                env[d] = ("ite", ("cmp", "==", env[d], const(UINT_MAX)), const(UINT_MAX),
                          ("add", env[d], const(1)))
            else:
                bump(d, 1)
        elif kind is StepKind.COMPLETE_ALL:
            env[self.comp(x)] = const(UINT_MAX)
        elif kind is StepKind.REINIT:
            env[self.comp(x)] = const(0)
        elif kind is StepKind.WAIT:  # v2 wait_timeout: after an await that done > 0
            d = self.comp(x)
            if x in self.saturable:
                env[d] = ("ite", ("cmp", "==", env[d], const(UINT_MAX)), const(UINT_MAX),
                          ("sub", env[d], const(1)))
            else:
                bump(d, -1)
        elif kind is StepKind.UNLOCK:
            env[self.holder(x)] = const(-1)
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
            return ("cmp", "!=", env[n], const(0)), f"{n} = {n} + 1", n
        if isinstance(e, Q) and e.kind is QueryKind.TRY_MODULE_GET:
            n = self.mrefs(e.index)
            return ("cmp", "==", env[self.mstate(e.index)], const(0)), f"{n} = {n} + 1", n
        return None
