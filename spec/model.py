"""The lowered program model: what every engine executes or encodes.

A `Program` is a set of threads over shared state.  Each thread is a control-flow
graph of atomic `Step`s with integer ids; function calls (including the release
call of a `put` and the exit call of an `unload`) are inlined, which is finite
because calls do not recurse.  Each step carries the owner whose code it is
(`CORE` or a module index), so `code-after-unload` is a property of the step
alone.  Nothing here knows about Z3 or about concrete states: this is data,
frozen and hashable.

Shared state, indexed by the tuples of the `Program`:
objects (counts), completions (done counts), modules (refcount and state),
mutexes (holder), vars; per thread: the pc and the local slots.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Iterator, Optional, Union

from modproof.spec import vocabulary as V
from modproof.spec.ast import BinOp, QueryKind, Span
from modproof.spec.vocabulary import (  # noqa: F401  (re-exported: the model's constants)
    CHECKS, COMING, CORE, GONE, LOADED, MODULE_STATE_NAMES, UINT_MAX, UNLOADING,
)

DONE = -1          # pc of a thread that has taken its final step

# The kinds of step: one per primitive (vocabulary.PRIMITIVES), then the shapes
# the lowering makes of the other statements (vocabulary.STEP_SHAPES).
StepKind = enum.Enum("StepKind", [(n.upper(), n) for n in V.STEP_KIND_NAMES],
                     module=__name__, qualname="StepKind")
PRIMITIVE_OF = {StepKind(p.name): p for p in V.PRIMITIVES + V.INTERNAL_PRIMITIVES}  # kind -> its entry
# Kinds whose kernel call can fail at once, taking the step's `not_loaded` edge.
REFUSING_KINDS = frozenset(k for k, p in PRIMITIVE_OF.items() if p.refused is not None)
ENDS_THREAD = frozenset(k for k, p in PRIMITIVE_OF.items() if p.ends_thread)
BLOCKING_KINDS = frozenset(StepKind(n) for n in V.BLOCKING_STEP_KINDS)   # every other step is always enabled


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Const:
    value: Union[int, bool]


@dataclass(frozen=True)
class VarRef:
    index: int  # into Program.vars


@dataclass(frozen=True)
class LocalRef:
    slot: int  # into Thread.locals


@dataclass(frozen=True)
class Neg:
    operand: "Expr"


@dataclass(frozen=True)
class Bin:
    op: BinOp
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class Q:
    """A query; TRY_GET and TRY_MODULE_GET appear only as a whole condition."""

    kind: QueryKind
    index: int  # into objects, modules, completions or mutexes, by kind
    home: int = CORE   # the module whose memory holds what it reads (v2 storage `in MOD`)


Expr = Union[Const, VarRef, LocalRef, Neg, Bin, Q]
LValue = Union[VarRef, LocalRef]


# --------------------------------------------------------------------------- atomic bodies
# Inside `atomic` the statements are kept structured: the whole block is one step.


@dataclass(frozen=True)
class AOp:
    """A primitive on one operand: get, put (no release), complete, complete_all,
    reinit, unlock, module_get, module_put."""

    kind: StepKind
    operand: int
    span: Span = field(compare=False)


@dataclass(frozen=True)
class AAssign:
    target: LValue
    value: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class AAssert:
    cond: Expr
    span: Span = field(compare=False)
    message: str = field(default="", compare=False)   # the violation in words ("" for a user's assert)
    # the check it stands for: a lowering's assert may be another check than
    # `assertion` (v3: use-after-free, double-free, sleep-in-atomic)
    check: str = "assertion"

    def __post_init__(self) -> None:
        if self.check not in V.STEP_CHECKS:
            raise ValueError(f"an assert stands for a step check, not {self.check!r}")


@dataclass(frozen=True)
class AAwait:
    cond: Expr
    span: Span = field(compare=False)


@dataclass(frozen=True)
class AIf:
    cond: Expr
    then: tuple["AStmt", ...]
    orelse: tuple["AStmt", ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class AWhile:
    cond: Expr
    body: tuple["AStmt", ...]
    span: Span = field(compare=False)


@dataclass(frozen=True)
class AChoose:
    branches: tuple[tuple["AStmt", ...], ...]
    span: Span = field(compare=False)


AStmt = Union[AOp, AAssign, AAssert, AAwait, AIf, AWhile, AChoose]


def atomic_statements(body: tuple[AStmt, ...]) -> Iterator[AStmt]:
    """Every statement of an atomic body, the nested ones too, each before the ones
    inside it.  Iterative: bodies may nest as deep as the checker allows."""
    stack = [iter(body)]
    while stack:
        a = next(stack[-1], None)
        if a is None:
            stack.pop()
            continue
        yield a
        if isinstance(a, AIf):
            stack.append(iter(a.then + a.orelse))
        elif isinstance(a, AWhile):
            stack.append(iter(a.body))
        elif isinstance(a, AChoose):
            stack.append(iter(tuple(s for b in a.branches for s in b)))


def atomic_reads(a: AStmt) -> tuple:
    """The expressions statement `a` of an atomic body evaluates itself (not the ones
    of the statements inside it)."""
    if isinstance(a, AAssign):
        return (a.value,)
    if isinstance(a, (AAssert, AAwait, AIf, AWhile)):
        return (a.cond,)
    return ()


def has_await(body: tuple[AStmt, ...]) -> bool:
    """Some `await`, at any depth, in this atomic body."""
    return any(isinstance(a, AAwait) for a in atomic_statements(body))


# --------------------------------------------------------------------------- steps and threads


@dataclass(frozen=True)
class Step:
    """One atomic step of a thread.

    Edges, by name (DONE as a target ends the thread):

    ============  ====================================================================
    `next`        the way on; for BRANCH where a true test goes, for PUT where it goes
                  when the count stays above zero, for UNLOAD where a real unload goes
                  (the exit body or the free step)
    `on_false`    BRANCH: where a false test goes
    `release`     PUT of an object with a release function: the entry of the inlined
                  release body, taken when the put drops the count to zero; v3
                  (NOTE(returning-put)): also a PUT whose result is used, where the
                  put that reaches zero goes
    `not_loaded`  UNLOAD and REF_MODULE: where it goes when the kernel call fails at
                  once (vocabulary.Primitive.refused: the module is not live, or
                  not there)
    `branches`    CHOOSE: the entry of each branch
    ============  ====================================================================

    `target` is the variable an ASSIGN writes; v3: a BRANCH also stores its test's
    value there, and a PUT whether it dropped the count to zero.  `inits` are the
    locals a call sets, each to its expression, in order, after the step's own
    effect (v3: NOTE(local-inits)).

    Every other field is set only for the kinds that use it (checked on creation).
    """

    id: int
    kind: StepKind
    owner: int
    span: Span
    text: str                       # the statement as written, on one line
    next: int = DONE
    on_false: Optional[int] = None
    release: Optional[int] = None
    not_loaded: Optional[int] = None
    branches: tuple[int, ...] = ()
    operand: int = -1               # object/completion/module/mutex index
    expr: Optional[Expr] = None     # ASSIGN value, ASSERT/AWAIT/BRANCH condition
    target: Optional[LValue] = None  # ASSIGN; v3: BRANCH (its test) and PUT (reached zero)
    body: tuple[AStmt, ...] = ()    # ATOMIC
    fn: Optional[str] = None        # CALL/RETURN: the function; PUT: release; UNLOAD: exit
    inits: tuple[tuple[int, "Expr"], ...] = ()  # locals set afresh by this call, in order
    frame: tuple[str, ...] = ()     # enclosing functions, outermost first (for display)
    synthetic: bool = False         # the implicit final return of a body (no statement of its own)
    idle: bool = False              # a worker waiting for work here is not part of a deadlock
    uses: tuple[tuple[str, int], ...] = ()  # ("object"|"completion", index) the step touches

    def __post_init__(self) -> None:
        k = self.kind
        if (self.on_false is not None) != (k is StepKind.BRANCH):
            raise ValueError(f"a {k.value} step {'needs' if k is StepKind.BRANCH else 'has no'} on_false")
        if (self.not_loaded is not None) != (k in REFUSING_KINDS):
            raise ValueError(f"a {k.value} step {'needs' if k in REFUSING_KINDS else 'has no'} not_loaded")
        if self.release is not None and k is not StepKind.PUT:
            raise ValueError(f"a {k.value} step has no release edge")
        if self.target is not None and k not in (StepKind.ASSIGN, StepKind.BRANCH, StepKind.PUT):
            raise ValueError(f"a {k.value} step has no target")
        if k is StepKind.PUT and self.fn is not None and self.release is None:
            raise ValueError("a put of an object with a release function needs its release edge")
        if bool(self.branches) != (k is StepKind.CHOOSE):
            raise ValueError(f"a {k.value} step {'needs' if k is StepKind.CHOOSE else 'has no'} branches")

    def edges(self) -> tuple[tuple[str, int], ...]:
        """(name, target) of every edge, in reading order (the order steps are numbered in)."""
        k = self.kind
        if k is StepKind.CHOOSE:
            return tuple((f"branch {i + 1}", b) for i, b in enumerate(self.branches))
        if k in ENDS_THREAD:
            return (("next", DONE),)
        if k is StepKind.BRANCH:
            return (("next", self.next), ("on_false", self.on_false))
        if k in REFUSING_KINDS:
            return (("next", self.next), ("not_loaded", self.not_loaded))
        if self.release is not None:
            return (("release", self.release), ("next", self.next))
        return (("next", self.next),)

    def successors(self) -> tuple[int, ...]:
        return tuple(target for _, target in self.edges())

    def renumbered(self, new: dict[int, int]) -> "Step":
        """This step with id and every edge target mapped through `new` (DONE stays)."""
        def m(x: Optional[int]) -> Optional[int]:
            return None if x is None else new[x]
        return replace(self, id=new[self.id], next=m(self.next), on_false=m(self.on_false),
                       release=m(self.release), not_loaded=m(self.not_loaded),
                       branches=tuple(new[b] for b in self.branches))


@dataclass(frozen=True)
class LocalSlot:
    name: str
    fn: Optional[str]   # None: a local of the thread body
    init: Union[int, bool]


@dataclass(frozen=True)
class Thread:
    name: str            # "reader", or "reader[2]" for a copy of `thread reader[K]`
    group: str           # the declared name
    copy: Optional[int]  # index of the copy, None for a single thread
    owner: int
    entry: int
    steps: tuple[Step, ...]
    locals: tuple[LocalSlot, ...]
    span: Span
    # Must it finish (the hang check)?  A user thread that can end and is not a
    # `service` loop; never a v2 worker (NOTE(hang) in explicit/hang.py).
    must_finish: bool = False
    service: bool = False   # declared `service`: like an idle worker, never part of a deadlock

    def pcs_on_cycles(self) -> frozenset:
        """The pcs that lie on a cycle of this thread's control flow: the members of its
        strongly connected components with an edge inside (Kosaraju, iteratively)."""
        succ = {st.id: [n for n in st.successors() if n != DONE] for st in self.steps}
        pred: dict[int, list[int]] = {n: [] for n in succ}
        for n, ms in succ.items():
            for m in ms:
                pred[m].append(n)
        order, seen = [], set()
        for root in succ:
            if root in seen:
                continue
            seen.add(root)
            stack = [(root, iter(succ[root]))]
            while stack:
                n, it = stack[-1]
                m = next(it, None)
                if m is None:
                    order.append(n)
                    stack.pop()
                elif m not in seen:
                    seen.add(m)
                    stack.append((m, iter(succ[m])))
        comp: dict[int, int] = {}
        for root in reversed(order):
            if root in comp:
                continue
            comp[root] = root
            stack = [root]
            while stack:
                n = stack.pop()
                for m in pred[n]:
                    if m not in comp:
                        comp[m] = root
                        stack.append(m)
        return frozenset(n for n, ms in succ.items() for m in ms if comp[m] == comp[n])


@dataclass(frozen=True)
class Module:
    name: str
    refs: int               # the refcount at the start (v3: with the pins of dependent modules)
    exit: Optional[str]
    span: Span
    init: Optional[str] = None      # v3: its init function, run by the loader thread insmod(NAME)
    depends: tuple[int, ...] = ()   # v3: the modules whose symbols it uses
    start: int = LOADED             # its state at the start: LOADED, or COMING (NOTE(module-init))


@dataclass(frozen=True)
class Obj:
    name: str
    refs: int
    release: Optional[str]
    span: Span
    storage: int = CORE    # v2: the module whose memory holds it (CORE: never freed)
    deferred: bool = False  # its release runs on worker release(NAME) (`deferred`, --deferred-release)


@dataclass(frozen=True)
class Completion:
    name: str
    done: int
    span: Span
    storage: int = CORE


@dataclass(frozen=True)
class Mutex:
    name: str
    span: Span


@dataclass(frozen=True)
class Var:
    name: str
    init: Union[int, bool]
    span: Span


@dataclass(frozen=True)
class Prop:
    """An invariant or a cover."""

    name: str
    expr: Expr
    text: str
    span: Span


@dataclass(frozen=True)
class Expect:
    verdict: str            # "proved" or "violated"
    check: Optional[str]
    span: Span
    bound: Optional[int] = None   # `expect proved up to N`: a proof up to N steps is accepted

    @property
    def text(self) -> str:
        """As written: "proved", "proved up to N" or "violated CHECK"."""
        if self.verdict != "proved":
            return f"violated {self.check}"
        return "proved" if self.bound is None else f"proved up to {self.bound}"


@dataclass(frozen=True)
class Program:
    modules: tuple[Module, ...]
    objects: tuple[Obj, ...]
    completions: tuple[Completion, ...]
    mutexes: tuple[Mutex, ...]
    vars: tuple[Var, ...]
    threads: tuple[Thread, ...]
    invariants: tuple[Prop, ...]
    covers: tuple[Prop, ...]
    expect: Optional[Expect]
    path: str = field(default="<input>", compare=False)
    source: str = field(default="", compare=False, repr=False)
    deferred_release: bool = False   # lowered with --deferred-release (every release on a worker;
                                     # an object declared `release FN deferred` is, in any case)
    # v2: some hidden vars belong to a thread (RCU: rcu_depth(T), gp_wait(S,T), ...), so
    # a state is more than pcs, locals and mutex holders per thread (NOTE(keyed-vars)).
    keyed_by_thread: bool = False
    # Functions that no thread ever runs (name, line, col): nothing in them is checked.
    never_run: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)
    # NOTE(unbounded): the groups declared `thread NAME[*]`, each lowered as one copy
    # NAME[0] (a template: spec/sizes.py makes the program with K copies of it).
    unbounded: tuple[str, ...] = ()
    # The sizes of a program spec/sizes.py made from a template: (group, K) per group.
    sizes: tuple[tuple[str, int], ...] = ()
    # Why the model may miss executions the kernel has (an approximation on the side of
    # fewer executions): a violation found is real, a proof is not (prove.checked).
    proof_gaps: tuple[str, ...] = field(default=(), compare=False)

    def home(self, kind: str, index: int) -> int:
        """The module whose memory holds thing `index` of `kind` (CORE: never freed)."""
        if kind == "object":
            return self.objects[index].storage
        if kind == "completion":
            return self.completions[index].storage
        return CORE

    def may_run_forever(self) -> bool:
        """Some thread's control flow has a cycle; else every execution is finite
        (each thread takes at most as many steps as it has) and nothing can hang."""
        for th in self.threads:
            color: dict[int, int] = {}
            for root in range(len(th.steps)):
                if root in color:
                    continue
                color[root] = 1
                stack = [(root, iter(th.steps[root].successors()))]
                while stack:
                    n, it = stack[-1]
                    nxt = next(it, None)
                    if nxt is None:
                        color[n] = 2
                        stack.pop()
                    elif nxt == DONE:
                        continue
                    elif color.get(nxt) == 1:
                        return True
                    elif nxt not in color:
                        color[nxt] = 1
                        stack.append((nxt, iter(th.steps[nxt].successors())))
        return False

    def owner_name(self, owner: int) -> str:
        return "core" if owner == CORE else self.modules[owner].name

    def step_count(self) -> int:
        return sum(len(t.steps) for t in self.threads)

    def copy_groups(self) -> tuple[tuple[int, ...], ...]:
        """The thread indices of each `thread NAME[K]` with K >= 2, copies in order:
        the threads the engines may treat as interchangeable."""
        groups: dict[str, list[int]] = {}
        for i, t in enumerate(self.threads):
            if t.copy is not None:
                groups.setdefault(t.group, []).append(i)
        # v3 (NOTE(memory)): copies that use `self` differ (devs[0], devs[1]): they are
        # interchangeable only together with their memory, which no engine permutes yet.
        same = lambda g: all(self.threads[i].steps == self.threads[g[0]].steps  # noqa: E731
                             and self.threads[i].locals == self.threads[g[0]].locals for i in g)
        return tuple(tuple(g) for g in groups.values() if len(g) > 1 and same(g))
