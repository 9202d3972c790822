"""The abstract syntax of `.mproof` files (LANGUAGE.md, version 1).

Every node is a frozen dataclass with tuples for children and a `span` that
does not take part in equality, so tests compare structure and a round trip
through the printer gives an equal tree.  The Transformer in
`modproof.grammar.parser` only builds these nodes; every check lives in
`modproof.spec.check`.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Optional, Union

from modproof.spec import vocabulary as V


@dataclass(frozen=True)
class Span:
    """A region of a source file; lines and columns count from 1, `end_col` is exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NO_SPAN = Span("<none>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# --------------------------------------------------------------------------- expressions


# The operators and queries are the vocabulary's (modproof.spec.vocabulary):
# BinOp.ADD.value == "+", QueryKind.REFS.value == "refs".
BinOp = enum.Enum("BinOp", [(o.name, o.symbol) for o in V.OPERATORS],
                  module=__name__, qualname="BinOp")
QueryKind = enum.Enum("QueryKind", [(q.name.upper(), q.name) for q in V.QUERIES],
                      module=__name__, qualname="QueryKind")


@dataclass(frozen=True)
class IntLit:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span = _span()


@dataclass(frozen=True)
class Name:
    """A reference to a `var` or a `local`."""

    id: str
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Minus:
    """v3: unary minus, `-x` (`-1` is Minus(IntLit(1)) in an expression)."""

    operand: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Binary:
    op: BinOp
    left: "Expr"
    right: "Expr"
    span: Span = _span()


@dataclass(frozen=True)
class Query:
    """`refs(o)`, `loaded(m)`, `try_get(o)`, ...; an unknown query name is kept as `None`
    (v3: so is an operation used as a condition, `kref_put(o)`, `kref_put_mutex(o, m)`)."""

    kind: Optional[QueryKind]
    name: str  # the query as spelled (kept for error messages about unknown queries)
    arg: str
    arg_span: Span = _span()
    span: Span = _span()
    extra: tuple[str, ...] = ()           # v3: the arguments after the first
    extra_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


Expr = Union[IntLit, BoolLit, Name, Not, Minus, Binary, Query]
Literal = Union[IntLit, BoolLit]


# --------------------------------------------------------------------------- statements


# Primitive statements `NAME(ARG)`, one member per entry of vocabulary.PRIMITIVES.
Prim = enum.Enum("Prim", [(p.name.upper(), p.name) for p in V.PRIMITIVES],
                 module=__name__, qualname="Prim")


@dataclass(frozen=True)
class PrimStmt:
    kind: Prim
    arg: Optional[str]  # None when written without an argument (an error the checker reports)
    arg_span: Span = _span()
    span: Span = _span()
    extra: tuple[str, ...] = ()   # arguments after the first (an error the checker reports)
    extra_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class CallStmt:
    """`FN()`, a v2 built-in `NAME(ARG)`, v3 `kref_put_mutex(O, M)`: `arg` is the first
    argument (a function call has none: kept to report one), `extra` the others."""

    fn: str
    arg: Optional[str] = None
    fn_span: Span = _span()
    span: Span = _span()
    extra: tuple[str, ...] = ()
    extra_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)
    arg_span: Span = _span()


@dataclass(frozen=True)
class Assign:
    target: str
    value: Expr
    target_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class Assert:
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Await:
    cond: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Return:
    span: Span = _span()
    value: Optional["Expr"] = None   # v3: `return E` in a module's init function


@dataclass(frozen=True)
class Local:
    name: str
    value: "Expr"        # v3: any expression (v1: a literal)
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class Break:
    """v3: leave the innermost loop (a jump: no step)."""

    span: Span = _span()


@dataclass(frozen=True)
class Continue:
    """v3: go back to the test of the innermost loop (a jump: no step)."""

    span: Span = _span()


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple["Stmt", ...]
    orelse: Optional[tuple["Stmt", ...]]
    span: Span = _span()


@dataclass(frozen=True)
class While:
    cond: Expr
    body: tuple["Stmt", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Choose:
    branches: tuple[tuple["Stmt", ...], ...]
    span: Span = _span()


@dataclass(frozen=True)
class Atomic:
    body: tuple["Stmt", ...]
    span: Span = _span()


@dataclass(frozen=True)
class For:
    """v3: `for VAR in ARRAY { ... }`: the body once per element of an array of struct
    memory, in index order, VAR naming the element (a list walk: a notifier chain)."""

    var: str
    array: str
    body: tuple["Stmt", ...]
    var_span: Span = _span()
    array_span: Span = _span()
    span: Span = _span()


Stmt = Union[PrimStmt, CallStmt, Assign, Assert, Await, Return, Local, If, While, Choose, Atomic,
             Break, Continue, For]


def blocks_of(s: "Stmt") -> tuple[tuple["Stmt", ...], ...]:
    """The blocks directly inside statement `s`, in source order (none for a simple one)."""
    if isinstance(s, If):
        return (s.then,) if s.orelse is None else (s.then, s.orelse)
    if isinstance(s, (While, Atomic, For)):
        return (s.body,)
    if isinstance(s, Choose):
        return s.branches
    return ()


def map_blocks(s: "Stmt", fn) -> "Stmt":
    """`s` with each block directly inside it (blocks_of) replaced by fn(block)."""
    if isinstance(s, If):
        return replace(s, then=fn(s.then), orelse=None if s.orelse is None else fn(s.orelse))
    if isinstance(s, (While, Atomic, For)):
        return replace(s, body=fn(s.body))
    if isinstance(s, Choose):
        return replace(s, branches=tuple(fn(b) for b in s.branches))
    return s


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class ModuleDecl:
    name: str
    refs: int = 0
    exit: Optional[str] = None
    name_span: Span = _span()
    exit_span: Span = _span()
    span: Span = _span()
    init: Optional[str] = None          # v3: `init FN`, run by insmod
    init_span: Span = _span()
    depends: tuple[str, ...] = ()       # v3: `depends N, ...`: the modules whose symbols it uses
    depends_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class ObjectDecl:
    name: str
    refs: int = 1
    release: Optional[str] = None
    name_span: Span = _span()
    release_span: Span = _span()
    span: Span = _span()
    storage: Optional[str] = None     # v2: `in MOD`, the object lives in MOD's memory
    storage_span: Span = _span()
    deferred: bool = False            # `release FN deferred`: FN runs on a worker of its own


@dataclass(frozen=True)
class CompletionDecl:
    name: str
    done: int = 0
    name_span: Span = _span()
    span: Span = _span()
    storage: Optional[str] = None     # v2: `in MOD`
    storage_span: Span = _span()


@dataclass(frozen=True)
class MutexDecl:
    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class VarDecl:
    name: str
    value: Literal
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class Param:
    """v3: a function parameter: `struct S *NAME` (`struct_` S), or `TYPE NAME` with TYPE
    int, bool, object, completion or mutex (NOTE(memory) in spec/memory.py)."""

    type: str                   # "struct", "int", "bool", "object", "completion", "mutex"
    name: str
    struct: Optional[str] = None
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class FnDecl:
    name: str
    owner: str
    body: tuple[Stmt, ...]
    name_span: Span = _span()
    owner_span: Span = _span()
    span: Span = _span()
    params: tuple[Param, ...] = ()      # v3
    returns: Optional[str] = None       # v3, NOTE(results): `-> int` or `-> bool`
    returns_span: Span = _span()


@dataclass(frozen=True)
class FieldInit:
    """v3: `.NAME = VALUE` in an initializer (unpacks as name, value, span)."""

    name: str
    value: str
    span: Span = _span()

    def __iter__(self):
        return iter((self.name, self.value, self.span))


@dataclass(frozen=True)
class FnField:
    """v3: `fn NAME` in a struct: a function reference (an ops table's method)."""

    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class ModuleField:
    """v3: `module NAME` in a struct: a module reference (an ops table's `.owner`)."""

    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class StructDecl:
    """v3: `struct NAME { FIELD ... }`: a type of memory; its fields are object,
    completion, mutex and var declarations (NOTE(memory))."""

    name: str
    fields: tuple
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class InstanceDecl:
    """v3: `struct S NAME` (memory allocated from the start), `struct S *NAME` (not
    allocated until kzalloc(NAME)), either with `[N]`: N of them (NOTE(memory))."""

    struct: str
    name: str
    pointer: bool = False
    count: Optional[int] = None
    struct_span: Span = _span()
    name_span: Span = _span()
    span: Span = _span()
    # `= { .open = drv_open, .owner = drv }`: (field, value, span) of an ops table
    inits: tuple[tuple[str, str, Span], ...] = ()
    # an array's `= { { ... }, { ... } }`: the inits of each element, in order
    element_inits: tuple[tuple[tuple[str, str, Span], ...], ...] = ()
    # `NAME[*]`: one element per copy of the thread that uses it (NOTE(per-copy))
    per_copy: bool = False

    def inits_of(self, k: Optional[int]) -> tuple[tuple[str, str, Span], ...]:
        """The initializer of element `k` (None: of the one memory)."""
        if k is not None and self.element_inits:
            return self.element_inits[k] if k < len(self.element_inits) else ()
        return self.inits

    def elements(self) -> tuple[str, ...]:
        """The names of its memory: `p`, or `devs[0]`, `devs[1]`, ...; `files[self]` for
        an array with one element per copy (`[*]`, NOTE(per-copy))."""
        if self.per_copy:
            return (f"{self.name}[self]",)
        if self.count is None:
            return (self.name,)
        return tuple(f"{self.name}[{i}]" for i in range(self.count))


@dataclass(frozen=True)
class ThreadDecl:
    name: str
    count: Optional[int]  # None for `thread NAME` and `thread NAME[*]`, K for `thread NAME[K]`
    owner: Optional[str]  # None means the default, core
    body: tuple[Stmt, ...]
    name_span: Span = _span()
    owner_span: Span = _span()
    count_span: Span = _span()
    span: Span = _span()
    service: bool = False  # a service loop: runs for ever by design, never reported as hung
    unbounded: bool = False  # `thread NAME[*]`: copies for every K >= 1 (count is None)
    # v3: `kthread NAME [in OWNER] { ... }`, a thread started at run time by
    # kthread_create/kthread_run (NOTE(kthread) in spec/v3_kthread.py)
    kthread: bool = False


@dataclass(frozen=True)
class WorkqueueDecl:
    """v2: `workqueue NAME`."""

    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class WorkDecl:
    """v2: `work NAME runs FN [on WQ]`."""

    name: str
    fn: str
    queue: Optional[str] = None
    name_span: Span = _span()
    fn_span: Span = _span()
    queue_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class DelayedWorkDecl:
    """v2: `delayed_work NAME runs FN [on WQ]` (a work item with a timer of its own)."""

    name: str
    fn: str
    queue: Optional[str] = None
    name_span: Span = _span()
    fn_span: Span = _span()
    queue_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class TimerDecl:
    """v2: `timer NAME runs FN`."""

    name: str
    fn: str
    name_span: Span = _span()
    fn_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class SpinlockDecl:
    """v3: `spinlock NAME` (spec/v3_ctx.py)."""

    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class RwsemDecl:
    """v3: `rwsem NAME`, a struct rw_semaphore (spec/v3_ctx.py)."""

    name: str
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class IrqDecl:
    """v3: `irq NAME runs FN`, an interrupt line and its handler (spec/v3_ctx.py)."""

    name: str
    fn: str
    name_span: Span = _span()
    fn_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class InvariantDecl:
    name: str
    expr: Expr
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class CoverDecl:
    name: str
    expr: Expr
    name_span: Span = _span()
    span: Span = _span()


@dataclass(frozen=True)
class ExpectDecl:
    """`expect proved` (check None), `expect proved up to N` (bound N: a proof of
    the executions of up to N steps is accepted) or `expect violated CHECK`."""

    verdict: str  # "proved" or "violated"
    check: Optional[str] = None
    check_span: Span = _span()
    span: Span = _span()
    bound: Optional[int] = None
    bound_span: Span = _span()


Decl = Union[
    ModuleDecl, ObjectDecl, CompletionDecl, MutexDecl, VarDecl, FnDecl, ThreadDecl,
    InvariantDecl, CoverDecl, ExpectDecl, WorkqueueDecl, WorkDecl, TimerDecl, DelayedWorkDecl,
    StructDecl, InstanceDecl,
    SpinlockDecl, RwsemDecl, IrqDecl,
]


@dataclass(frozen=True)
class SpecFile:
    """A parsed file: its declarations in source order."""

    decls: tuple[Decl, ...]
    path: str = field(default="<input>", compare=False)
    source: str = field(default="", compare=False, repr=False)
