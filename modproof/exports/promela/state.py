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
atomic block with `await` (`paths.py`).

What a primitive or a query checks, needs and does is its vocabulary entry's
meaning (`Primitive.effect`, `Primitive.refused`, `Query.value`, `Query.act`),
run over terms.  Only how Promela writes a primitive is here, in `WRITING`: the
effect as Promela statements (a saturated `done` is -1 there, and stays -1),
the enabledness guard of a primitive that blocks, and its check in words.  The
table is keyed by the vocabulary's names and checked against it on import: a
primitive the export does not know raises, never emits nothing.  A query that
acts writes counts only (never a `done`), so its writes are emitted from its
meaning as they are (`Layout.act_parts`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional

from modproof.exports.promela.terms import (
    SAT, TRUE, Symbolic, Term, TermValues, binary, const, emit, lift,
)
from modproof.spec import vocabulary as V
from modproof.spec.model import (
    PRIMITIVE_OF, UINT_MAX, AOp, Bin, Const, LocalRef, Neg, Program, Q, StepKind, Thread, VarRef,
    atomic_statements,
)

# The Promela macros of the module states (LOADED, UNLOADING, GONE), by value.
MODULE_STATES = tuple(n.upper() for n in V.MODULE_STATE_NAMES)


class Effect(NamedTuple):
    """A primitive's vocabulary meaning (vocabulary.Effect) over terms: `enabled`
    and `fails` are terms, `writes` maps each Promela variable it changes to its
    new value."""

    enabled: Term
    fails: Term
    writes: dict[str, Term]


class Act(NamedTuple):
    """A query that acts (`try_get`, `refcount_dec_and_test`, ...; negated with
    `not` too) as the whole condition of a test (NOTE(acting-condition) in
    spec/semantics.py): `cond`, when it holds; `fails`, when it violates `check`
    instead (FALSE: never), with `what` in words; and for each value of the
    condition the Promela variables it writes with their new values (over the
    environment it was built from) and the same as Promela statements over the
    current state."""

    cond: Term
    fails: Term
    check: Optional[str]
    what: str
    true_writes: dict[str, Term]
    true_text: tuple[str, ...]
    false_writes: dict[str, Term]
    false_text: tuple[str, ...]


class Touch(NamedTuple):
    """A place where a step may touch storage that lives in module `home`: thing
    `index` of `kind` ("object" or "completion"), reached when `reach` holds."""

    reach: Term
    home: int
    kind: str
    index: int


# The Promela macro GONE, as a term: the simplifier treats it as an unknown int.
GONE_TERM = ("v", MODULE_STATES[V.GONE], "int")


def _ident(prefix: str, i: int, name: str) -> str:
    """A Promela identifier for entry `i` named `name`: v3 fields of struct memory are
    named by their path (devs[0].kref), made an identifier with the index to keep
    it unique."""
    if name.isidentifier():
        return f"{prefix}_{name}"
    return f"{prefix}{i}_" + "".join(ch if ch.isalnum() else "_" for ch in name)


class Layout:
    """Where a program's state lives in Promela, and its expressions and primitives
    over it."""

    def __init__(self, p: Program):
        self.p = p
        self.saturable = self._saturable()

    # ------------------------------------------------------------------ naming

    def obj(self, i): return _ident("refs", i, self.p.objects[i].name)
    def comp(self, i): return _ident("done", i, self.p.completions[i].name)
    def mrefs(self, i): return f"mrefs_{self.p.modules[i].name}"
    def mstate(self, i): return f"mstate_{self.p.modules[i].name}"
    def holder(self, i): return _ident("holder", i, self.p.mutexes[i].name)
    def var(self, i):
        # v2 hidden vars are named like pending(w): Promela names are identifiers.
        name = self.p.vars[i].name
        if name.isidentifier():
            return f"v_{name}"
        return f"h{i}_" + "".join(ch if ch.isalnum() else "_" for ch in name)

    def name(self, table: str, x: int) -> str:
        """The Promela variable of entry `x` of the vocabulary's state table `table`."""
        return getattr(self, _TABLE_NAMES[table])(x)

    @staticmethod
    def local(th: Thread, slot: int) -> str:
        sl = th.locals[slot]
        # v3 (NOTE(per-copy)): a copy's own memory is locals named by their path
        name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in sl.name)
        return f"l{slot}_{(sl.fn + '_') if sl.fn else ''}{name}"

    def _saturable(self) -> set[int]:
        """Completions whose done count can be UINT_MAX: from the start, or as the
        operand of a primitive that saturates it (SATURATING: complete_all)."""
        out = {i for i, c in enumerate(self.p.completions) if c.done == UINT_MAX}
        for th in self.p.threads:
            for st in th.steps:
                if st.kind in SATURATING:
                    out.add(st.operand)
                for a in atomic_statements(st.body):
                    if isinstance(a, AOp) and a.kind in SATURATING:
                        out.add(a.operand)
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
            q = V.query(e.kind)
            if q.value is None:
                raise AssertionError(f"{e.kind} is not a pure query")
            return lift(q.value(self.reader(env), e.index))
        raise AssertionError(e)

    def reader(self, env: dict):
        """read(table, index) as the vocabulary's meanings call it: the value in
        `env`, as a value of the term algebra."""
        return lambda table, x: Symbolic(env[self.name(table, x)])

    def live(self, e, th: Optional[Thread]) -> str:
        """`e` as a Promela expression over the current state."""
        return emit(self.term(e, self.env(th), th))

    # ------------------------------------------------------------------ touches (use-after-unload)

    def touches(self, e, env: dict, th: Optional[Thread]) -> list["Touch"]:
        """NOTE(touch) in spec/semantics.py: the queries of storage that lives in a
        module (`Q.home`) that evaluating `e` may reach, in the order C evaluates
        them (left to right; the right side of `and` (`or`) only when the left is
        true (false)), each with the condition over `env` under which it is
        reached.  The first of them whose module is gone is the step's touch."""
        out: list[Touch] = []
        self._touches(e, env, th, TRUE, out)
        return out

    def _touches(self, e, env: dict, th: Optional[Thread], reach: Term, out: list) -> None:
        if isinstance(e, Q):
            if e.home >= 0:
                out.append(Touch(reach, e.home, V.query(e.kind).operand, e.index))
        elif isinstance(e, Neg):
            self._touches(e.operand, env, th, reach, out)
        elif isinstance(e, Bin):
            self._touches(e.left, env, th, reach, out)
            op = V.binary(e.op)
            if op.absorbing is not None:   # and/or: the right side only when the left does not decide
                left = self.term(e.left, env, th)
                reach = ("and", reach, ("not", left) if op.absorbing else left)
            self._touches(e.right, env, th, reach, out)

    def prim_touch(self, kind: StepKind, x: int) -> Optional["Touch"]:
        """The storage primitive `kind` acts on, when it lives in a module; else None."""
        prim = PRIMITIVE_OF[kind]
        home = self.p.home(prim.operand, x)
        return Touch(TRUE, home, prim.operand, x) if home >= 0 else None

    def gone(self, home: int, env: dict) -> Term:
        """Module `home` is gone, over `env` (GONE is the Promela macro, kept by name)."""
        return ("cmp", "==", env[self.mstate(home)], GONE_TERM)

    def touch_what(self, touch: "Touch") -> str:
        """The thing a touch reaches, in words."""
        things = self.p.objects if touch.kind == "object" else self.p.completions
        return f"{touch.kind} {things[touch.index].name} (in module {self.p.modules[touch.home].name})"

    # ------------------------------------------------------------------ primitives

    def effect(self, kind: StepKind, x: int, t: int, env: dict) -> Effect:
        """What primitive `kind` on operand `x` by thread `t` does from `env`: its
        vocabulary entry's meaning, over terms."""
        e = PRIMITIVE_OF[kind].effect(self.reader(env), x, t, TermValues)
        return Effect(lift(e.enabled), lift(e.fails),
                      {self.name(table, x): lift(v) for table, v in e.writes.items()})

    def check_of(self, kind: StepKind, x: int, t: int) -> Optional[tuple[str, Term, str]]:
        """(check, term that must hold, what) for primitive `kind`, over the identity env."""
        return self.check(kind, x, t, self.env(None))

    def check(self, kind: StepKind, x: int, t: int, env: dict) -> Optional[tuple[str, Term, str]]:
        """(check, term that must hold, what) for primitive `kind` from `env`: its
        `Primitive.check`, which holds where its meaning does not fail; None when
        it has no check."""
        prim = PRIMITIVE_OF[kind]
        if prim.check is None:
            return None
        return (prim.check, ("not", self.effect(kind, x, t, env).fails),
                WRITING[prim.name].what(self, x, t))

    def effect_text(self, kind: StepKind, x: int, t: int) -> list[str]:
        """Promela statements for the effect of primitive `kind` (its check passed)."""
        return WRITING[PRIMITIVE_OF[kind].name].effect(self, x, t)

    def guard_text(self, kind: StepKind, x: int) -> str:
        """The enabledness guard of a step of primitive `kind`, which blocks."""
        guard = WRITING[PRIMITIVE_OF[kind].name].guard
        if guard is None:
            raise AssertionError(f"{kind.value} does not block")
        return guard(self, x)

    def in_atomic(self, a: AOp) -> V.Primitive:
        """The primitive of `a`, a statement of an atomic body.  Raises for one that
        cannot stand there (the checker keeps them out): its step would end the
        thread or take an edge of its own (unload's exit, a put's release).  With
        a deferred release (--deferred-release, or `release FN deferred`) a put of
        an object with a release function is such a statement (spec/v2.py,
        deferred_put): it only queues the release."""
        prim = PRIMITIVE_OF[a.kind]
        if prim.ends_thread or prim.calls == "exit" or (
                prim.calls == "release" and self.p.objects[a.operand].release is not None
                and not self.p.objects[a.operand].deferred):
            raise AssertionError(f"{a.kind.value} inside atomic, at line {a.span.line}")
        return prim

    def act_parts(self, e, env: dict) -> Optional[Act]:
        """For a query that acts (`Query.act`), under any number of `not`s: its
        parts over `env` (see `Act`).  None for any other expression."""
        neg = False
        while isinstance(e, Neg):
            e, neg = e.operand, not neg
        if not isinstance(e, Q) or V.query(e.kind).act is None:
            return None
        q = V.query(e.kind)
        act = q.acts(self.reader(env), e.index, TermValues)
        here = q.acts(self.reader(self.env(None)), e.index, TermValues)

        def writes(m) -> dict:
            return {self.name(table, e.index): lift(v) for table, v in m.items()}

        def text(m) -> tuple:
            return tuple(f"{self.name(table, e.index)} = {emit(lift(v))}" for table, v in m.items())

        thing = (self.p.objects if q.operand == "object" else self.p.modules)[e.index].name
        parts = Act(lift(act.value), lift(act.fails), q.check,
                    q.message.format(name=q.name, arg=thing) if q.check else "",
                    writes(act.on_true), text(here.on_true), writes(act.on_false), text(here.on_false))
        if neg:
            parts = parts._replace(cond=("not", parts.cond),
                                   true_writes=parts.false_writes, true_text=parts.false_text,
                                   false_writes=parts.true_writes, false_text=parts.true_text)
        return parts

    def refused(self, kind: StepKind, x: int, env: dict) -> Term:
        """When the kernel call of a step of `kind` fails at once (Primitive.refused)."""
        return lift(PRIMITIVE_OF[kind].refuses(self.reader(env), x, TermValues))


# Where each state table of the vocabulary lives: the Layout method naming its entries.
_TABLE_NAMES = {"refs": "obj", "done": "comp", "mrefs": "mrefs", "mstate": "mstate",
                "holder": "holder", "var": "var"}
assert set(_TABLE_NAMES) == set(V.STATE_TABLES)


def _saturates(prim: V.Primitive) -> bool:
    """Does `prim` set a done count of 0 to UINT_MAX (as complete_all does)?"""
    return "done" in prim.writes and \
        prim.effect(lambda table, x: 0, 0, 0).writes["done"] == UINT_MAX


SATURATING = frozenset(k for k, prim in PRIMITIVE_OF.items() if _saturates(prim))


# --------------------------------------------------------------------------- how Promela writes them


@dataclass(frozen=True)
class Writing:
    """How Promela writes a primitive (its meaning is the vocabulary's)."""

    effect: Callable[[Layout, int, int], list[str]]   # (layout, x, thread): its check passed
    guard: Optional[Callable[[Layout, int], str]] = None        # when it blocks: its guard
    what: Optional[Callable[[Layout, int, int], str]] = None    # when it has a check: in words


def _add_one(lay: Layout, table: str, x: int, sign: str) -> str:
    n = lay.name(table, x)
    return f"{n} = {n} {sign} 1"


def _count(table: str, sign: str):
    """NAME = NAME + 1 (or - 1) on the `table` entry of the operand."""
    return lambda lay, x, t: [_add_one(lay, table, x, sign)]


def _done_count(sign: str):
    """As _count on the done count, which stays -1 (UINT_MAX) once saturated."""
    def text(lay: Layout, x: int, t: int) -> list[str]:
        d = lay.comp(x)
        if x in lay.saturable:
            return [f"{d} = (({d} == {SAT}) -> {SAT} : {d} {sign} 1)"]
        return [f"{d} = {d} {sign} 1"]
    return text


def _set(table: str, value: Callable[[int], object]):
    """NAME = VALUE(thread) on the `table` entry of the operand."""
    return lambda lay, x, t: [f"{lay.name(table, x)} = {value(t)}"]


def _needs(what: str, thing: str):
    """The words of a check: `what` ({} is the operand's name) of the `thing` table."""
    return lambda lay, x, t: what.format(getattr(lay.p, thing)[x].name)


_MODULE_PUT = Writing(_count("mrefs", "-"), what=_needs("module_put({}) needs a refcount above 0",
                                                        "modules"))

WRITING: dict[str, Writing] = {
    "get": Writing(_count("refs", "+"), what=_needs("get({}) needs a count above 0", "objects")),
    "put": Writing(_count("refs", "-"), what=_needs("put({}) needs a count above 0", "objects")),
    "complete": Writing(_done_count("+")),
    "complete_all": Writing(_set("done", lambda t: f"{SAT} /* UINT_MAX */")),
    "wait": Writing(_done_count("-"), guard=lambda lay, x: f"{lay.comp(x)} != 0"),
    "reinit": Writing(_set("done", lambda t: 0)),
    "lock": Writing(_set("holder", lambda t: t), guard=lambda lay, x: f"{lay.holder(x)} == {V.FREE}"),
    "unlock": Writing(_set("holder", lambda t: V.FREE), what=lambda lay, x, t: (
        f"unlock({lay.p.mutexes[x].name}) by {lay.p.threads[t].name} needs it to hold the mutex")),
    "module_get": Writing(_count("mrefs", "+"), what=_needs(
        "module_get({}) on a module that is not gone", "modules")),
    "module_put": _MODULE_PUT,
    # Its guard lets a module that is not loaded through: the step then takes its
    # not_loaded edge (rmmod does nothing), written by the generator.
    "unload": Writing(_set("mstate", lambda t: MODULE_STATES[V.UNLOADING]), guard=lambda lay, x: (
        f"({lay.mstate(x)} != {MODULE_STATES[V.LOADED]} || {lay.mrefs(x)} == 0)")),
    "module_put_and_exit": _MODULE_PUT,
    "complete_and_exit": Writing(_done_count("+")),
    "unload_free": Writing(_set("mstate", lambda t: MODULE_STATES[V.GONE])),
    # v3 (NOTE(module-init)): the loader's steps.
    # v3 (NOTE(memory)): kzalloc's resets of object and mutex fields.
    "kref_init": Writing(_set("refs", lambda t: 1)),
    "mutex_init": Writing(_set("holder", lambda t: V.FREE)),
    "module_live": Writing(_set("mstate", lambda t: MODULE_STATES[V.LOADED])),
    "module_going": Writing(_set("mstate", lambda t: MODULE_STATES[V.UNLOADING])),
    # Its guard lets a module that is going or gone through: not_loaded, as unload's.
    "ref_module": Writing(_count("mrefs", "+"), guard=lambda lay, x: (
        f"{lay.mstate(x)} != {MODULE_STATES[V.COMING]}")),
}


def _check_tables() -> None:
    """Every primitive and try_ query of the vocabulary is written, and written as
    its entry says: a guard exactly when it blocks, words exactly for its check."""
    prims = {prim.name: prim for prim in PRIMITIVE_OF.values()}
    if set(WRITING) != set(prims):
        raise AssertionError(f"WRITING and the vocabulary differ in {set(WRITING) ^ set(prims)}")
    for name, w in WRITING.items():
        if (w.guard is not None) != prims[name].blocks:
            raise AssertionError(f"{name}: a guard exactly when it blocks")
        if (w.what is not None) != (prims[name].check is not None):
            raise AssertionError(f"{name}: words exactly for its check")
    for q in V.QUERIES:
        if q.act is not None and (q.writes - {"refs", "mrefs"}):
            raise AssertionError(f"{q.name}: a query that acts writes counts only "
                                 "(Layout.act_parts emits its writes as they are)")


_check_tables()
