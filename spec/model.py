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
from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

from modproof.spec.ast import BinOp, QueryKind, Span

CORE = -1          # owner index of the built-in kernel
DONE = -1          # pc of a thread that has taken its final step
UINT_MAX = 4294967295  # done-count after complete_all (LANGUAGE.md, Fine points)

# Module states.
LOADED, UNLOADING, GONE = 0, 1, 2
MODULE_STATE_NAMES = ("loaded", "unloading", "gone")


class StepKind(enum.Enum):
    GET = "get"
    PUT = "put"
    COMPLETE = "complete"
    COMPLETE_ALL = "complete_all"
    WAIT = "wait"
    REINIT = "reinit"
    LOCK = "lock"
    UNLOCK = "unlock"
    MODULE_GET = "module_get"
    MODULE_PUT = "module_put"
    UNLOAD = "unload"                 # blocks until refs == 0; then module -> unloading
    UNLOAD_FREE = "unload_free"       # the last phase of unload: module -> gone
    MODULE_PUT_AND_EXIT = "module_put_and_exit"
    COMPLETE_AND_EXIT = "complete_and_exit"
    ASSIGN = "assign"
    ASSERT = "assert"
    AWAIT = "await"
    BRANCH = "branch"                 # the test of an `if` or a `while`
    CHOOSE = "choose"
    ATOMIC = "atomic"
    CALL = "call"
    RETURN = "return"


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

    Successors: `next` always; `alt` is the second successor of BRANCH (test
    false), of PUT with a release function (the count reached zero: entry of the
    inlined release body) and of UNLOAD (the module was not loaded: skip);
    for UNLOAD, `next` is where a real unload goes (the exit body or the free
    step). CHOOSE uses `branches`. A successor of DONE ends the thread.
    """

    id: int
    kind: StepKind
    owner: int
    span: Span
    text: str                       # the statement as written, on one line
    next: int = DONE
    alt: int = DONE
    branches: tuple[int, ...] = ()
    operand: int = -1               # object/completion/module/mutex index
    expr: Optional[Expr] = None     # ASSIGN value, ASSERT/AWAIT/BRANCH condition
    target: Optional[LValue] = None  # ASSIGN
    body: tuple[AStmt, ...] = ()    # ATOMIC
    fn: Optional[str] = None        # CALL/RETURN: the function; PUT: release; UNLOAD: exit
    inits: tuple[tuple[int, Union[int, bool]], ...] = ()  # locals set afresh by this call
    frame: tuple[str, ...] = ()     # enclosing functions, outermost first (for display)
    synthetic: bool = False         # the implicit final return of a body (no statement of its own)
    idle: bool = False              # a worker waiting for work here is not part of a deadlock
    uses: tuple[tuple[str, int], ...] = ()  # ("object"|"completion", index) the step touches

    def successors(self) -> tuple[int, ...]:
        if self.kind is StepKind.CHOOSE:
            return self.branches
        if self.kind in (StepKind.MODULE_PUT_AND_EXIT, StepKind.COMPLETE_AND_EXIT):
            return (DONE,)
        if self.kind is StepKind.BRANCH or self.kind is StepKind.UNLOAD:
            return (self.next, self.alt)
        if self.kind is StepKind.PUT and self.fn is not None:
            return (self.alt, self.next)
        return (self.next,)


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


@dataclass(frozen=True)
class Module:
    name: str
    refs: int
    exit: Optional[str]
    span: Span


@dataclass(frozen=True)
class Obj:
    name: str
    refs: int
    release: Optional[str]
    span: Span
    storage: int = CORE    # v2: the module whose memory holds it (CORE: never freed)


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
    deferred_release: bool = False   # lowered with --deferred-release (release workers)
    # v2: some hidden vars belong to a thread (RCU: rcu_depth(T), gp_wait(S,T), ...), so
    # a state is more than pcs, locals and mutex holders per thread (NOTE(keyed-vars)).
    keyed_by_thread: bool = False
    # Functions that no thread ever runs (name, line, col): nothing in them is checked.
    never_run: tuple[tuple[str, int, int], ...] = field(default=(), compare=False)

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
        return tuple(tuple(g) for g in groups.values() if len(g) > 1)


CHECKS = (
    "code-after-unload",
    "use-after-unload",        # v2: storage declared `in MOD` used after MOD is gone
    "get-after-release",
    "put-after-release",
    "module-refcount-underflow",
    "module-get-after-unload",
    "unlock-not-held",
    "assertion",
    "invariant",
    "deadlock",
)
