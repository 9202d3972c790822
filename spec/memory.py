"""v3: struct memory, its instances, function parameters and `self`.

NOTE(memory): a `struct S { ... }` declares a type of memory whose fields are
object (a kref), completion, mutex and var declarations.  Each instance
(`struct S p`, allocated from the start; `struct S *p`, allocated by
`kzalloc(p)`; `[N]` for N of them, `devs[0]` ...) is laid out as ordinary
declarations named by their path: the object `p.kref`, the var `devs[1].open`.
Nothing downstream knows about structs: the checker and the lowering resolve
every path to one of those names, and each instance has one hidden var,
`memory(p)`: 0 not allocated, 1 live, 2 freed.

Paths are one field deep (`p.x`, `p->x`, `devs[i].x`); an index is a number or
`self`, the copy's own index in `thread NAME[K]`.  A function's parameters are
bound at each call (calls are inlined): a `struct S *` or an object, completion
or mutex parameter names what the caller passed, statically; an int or bool
parameter is a local of the function, set by the call step
(NOTE(local-inits)).  A release function of a kref field that takes a
`struct S *` parameter gets the instance the kref lives in (container_of).

NOTE(touch-memory): a statement that touches a field of memory (reads or
writes a var field, acts on an object, completion or mutex field, or queries
one) is judged first: the memory must be live, else `use-after-free` (freed) or
`null-deref` (never allocated: the pointer is NULL).  An assignment is judged in
the same step (one atomic step: the check, then the assignment); every other
statement by a step of its own just before it.  That step only reads
`memory(X)`, so it commutes with every step of other threads but a kfree or
kzalloc of X: an execution that frees X between the check and the statement
can be reordered to free it before the check, which then fails.  No violation
is lost; a witness may show the check one step earlier than the statement.

NOTE(per-copy): an array declared `NAME[*]` has one element per copy of the one
thread group that names it (`files[self]`); its fields and its state are locals
of each copy, named `files[self].x` and `memory(files[self])`, so the copies
stay interchangeable (symmetry, the counter abstraction of `thread NAME[*]`).
No other thread can reach it, so its struct holds only vars.

`kzalloc(p)` allocates p: its fields take their declared values (zeroed memory
then the initialisation the driver writes); kzalloc of live memory would leak
it, and modproof keeps one allocation per instance: it is reported as an
assertion (a leak).  `kfree(p)` frees live memory, does nothing for memory never
allocated (kfree(NULL)), and violates `double-free` for freed memory.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Optional

from modproof.spec import ast as A
from modproof.spec import vocabulary as V

NOT_ALLOCATED, LIVE, FREED = 0, 1, 2
STATE_NAMES = {NOT_ALLOCATED: "not allocated", LIVE: "live", FREED: "freed"}
SELF = "self"
NULL = "NULL"   # what an ops table's fn or module field holds when its initializer sets none
PARAM_TYPES = ("int", "bool", "object", "completion", "mutex", "fn")
FIELD_KIND = {A.ObjectDecl: "object", A.CompletionDecl: "completion", A.MutexDecl: "mutex",
              A.VarDecl: "var"}

_PATH = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([A-Za-z0-9_]+)\])?(?:\.([A-Za-z_][A-Za-z0-9_]*))?$")


def memory_var(element: str) -> str:
    """The hidden var that holds the state of `element`'s memory."""
    return f"memory({element})"


def split(path: str) -> Optional[tuple[str, Optional[str], Optional[str]]]:
    """(base, index, field) of a path one field deep, None for a deeper one."""
    m = _PATH.match(path)
    if m is None:
        return None
    return m.group(1), m.group(2), m.group(3)


def is_path(name: Optional[str]) -> bool:
    return name is not None and ("." in name or "[" in name)


def join(base: str, index, field: Optional[str]) -> str:
    out = base if index is None else f"{base}[{index}]"
    return out if field is None else f"{out}.{field}"


# --------------------------------------------------------------------------- rewriting


def rewrite_expr(e: A.Expr, f: Callable[[str, A.Span], str]) -> A.Expr:
    """`e` with every name and query argument `n` replaced by f(n, span); f may
    also return an expression (an int parameter's literal, `self`)."""
    if isinstance(e, A.Name):
        got = f(e.id, e.span)
        if isinstance(got, str):
            return e if got == e.id else dataclasses.replace(e, id=got)
        return dataclasses.replace(got, span=e.span)
    if isinstance(e, A.Query):
        arg = _name(f(e.arg, e.arg_span), e.arg)
        if arg == NULL and e.kind is not None and e.kind.value == "try_module_get":
            return A.BoolLit(True, span=e.span)   # try_module_get(NULL) succeeds
        extra = tuple(_name(f(x, sp), x) for x, sp in zip(e.extra, e.extra_spans or
                                                          (e.span,) * len(e.extra)))
        return dataclasses.replace(e, arg=arg, extra=extra)
    if isinstance(e, (A.Not, A.Minus)):
        return dataclasses.replace(e, operand=rewrite_expr(e.operand, f))
    if isinstance(e, A.Binary):
        return dataclasses.replace(e, left=rewrite_expr(e.left, f), right=rewrite_expr(e.right, f))
    return e


def _name(got, old: str) -> str:
    return got if isinstance(got, str) else old


def rewrite(stmts: tuple, f: Callable) -> tuple:
    """The statements with every path rewritten by f (see rewrite_expr)."""
    return tuple(rewrite_stmt(s, f) for s in stmts)


def rewrite_stmt(s, f: Callable):
    R = dataclasses.replace
    if isinstance(s, (A.PrimStmt, A.CallStmt)):
        arg = s.arg if s.arg is None else _name(f(s.arg, s.arg_span), s.arg)
        spans = s.extra_spans or (s.span,) * len(s.extra)
        if isinstance(s, A.PrimStmt) and arg == NULL and s.kind.value in ("module_get", "module_put"):
            return A.Atomic((), span=s.span)   # module_put(NULL): nothing (an ops table without .owner)
        out = R(s, arg=arg, extra=tuple(_name(f(x, sp), x) for x, sp in zip(s.extra, spans)))
        if isinstance(s, A.CallStmt):   # through an ops table, or a function parameter
            out = R(out, fn=_name(f(s.fn, s.fn_span), s.fn))
        return out
    if isinstance(s, A.Assign):
        return R(s, target=_name(f(s.target, s.target_span), s.target),
                 value=rewrite_expr(s.value, f))
    if isinstance(s, A.Local):
        return R(s, value=rewrite_expr(s.value, f))
    if isinstance(s, (A.Assert, A.Await)):
        return R(s, cond=rewrite_expr(s.cond, f))
    if isinstance(s, A.Return):
        return s if s.value is None else R(s, value=rewrite_expr(s.value, f))
    if isinstance(s, A.If):
        return R(s, cond=rewrite_expr(s.cond, f), then=rewrite(s.then, f),
                 orelse=None if s.orelse is None else rewrite(s.orelse, f))
    if isinstance(s, A.While):
        return R(s, cond=rewrite_expr(s.cond, f), body=rewrite(s.body, f))
    if isinstance(s, A.Choose):
        return R(s, branches=tuple(rewrite(b, f) for b in s.branches))
    if isinstance(s, A.Atomic):
        return R(s, body=rewrite(s.body, f))
    if isinstance(s, A.For):
        return R(s, body=rewrite(s.body, f))
    return s


def substitute(binds: dict, copy: Optional[int], constants: Optional[dict] = None,
               per_copy: frozenset = frozenset()) -> Callable:
    """The rewriting of a body under `binds` (a memory, object, completion, mutex or fn
    parameter -> the name passed; int and bool parameters are locals) with `self` the
    copy's index (`per_copy` arrays keep `[self]`: NOTE(per-copy)), and an ops table's
    members resolved to their `constants`."""
    def f(name: str, span: A.Span):
        if name == SELF and copy is not None:
            return A.IntLit(copy, span=span)
        parts = split(name)
        if parts is None:
            return name
        base, index, field = parts
        base = binds.get(base, base)
        if index == SELF and copy is not None and base not in per_copy:
            index = str(copy)
        flat = join(base, index, field)
        if constants is not None and flat in constants:
            return constants[flat] or NULL
        return flat
    return f


def unroll(stmts: tuple, sizes: dict) -> tuple:
    """NOTE(for): every `for VAR in ARRAY { BODY }` replaced by BODY once per element,
    in index order, VAR naming the element (an unknown array: nothing, reported by
    the checker)."""
    out: list = []
    for s in stmts:
        if isinstance(s, A.For):
            for k in range(sizes.get(s.array, 0)):
                out.extend(unroll(rewrite(s.body, substitute({s.var: f"{s.array}[{k}]"}, None)),
                                  sizes))
            continue
        out.append(A.map_blocks(s, lambda b: unroll(b, sizes)))
    return tuple(out)


def freed_structs(spec, sym) -> frozenset:
    """The struct types some kfree() of the file may free: of its argument, memory named
    directly (or through an array's `[self]` or a `for`), or a `struct S *` parameter."""
    out = set()

    def walk(stmts, params: dict, loops: dict) -> None:
        for s in stmts:
            if isinstance(s, A.CallStmt) and s.fn == "kfree" and "kfree" not in sym.decls and s.arg:
                parts = split(s.arg)
                base = parts[0] if parts else s.arg
                if base in params:
                    out.add(params[base])
                elif base in loops:
                    out.add(loops[base])
                elif base in sym.decls and isinstance(sym.decls[base], A.InstanceDecl):
                    out.add(sym.decls[base].struct)
            if isinstance(s, A.For) and s.array in sym.decls and isinstance(sym.decls[s.array],
                                                                            A.InstanceDecl):
                walk(s.body, params, {**loops, s.var: sym.decls[s.array].struct})
                continue
            for b in A.blocks_of(s):
                walk(b, params, loops)

    for d in spec.decls:
        if isinstance(d, A.FnDecl):
            walk(d.body, {p.name: p.struct for p in d.params if p.type == "struct"}, {})
        elif isinstance(d, A.ThreadDecl):
            walk(d.body, {}, {})
    return frozenset(out)


def has_for(stmts: tuple) -> bool:
    return any(isinstance(s, A.For) or any(has_for(b) for b in A.blocks_of(s)) for s in stmts)


# --------------------------------------------------------------------------- what a statement touches


def touched(names, container: dict) -> tuple[str, ...]:
    """The memory (elements) the resolved `names` lie in, in order, once each."""
    out: dict[str, None] = {}
    for n in names:
        if n in container:
            out[container[n]] = None
    return tuple(out)


def expr_names(e: A.Expr, out: list) -> None:
    if isinstance(e, A.Name):
        out.append(e.id)
    elif isinstance(e, A.Query):
        out.append(e.arg)
        out.extend(e.extra)
    elif isinstance(e, (A.Not, A.Minus)):
        expr_names(e.operand, out)
    elif isinstance(e, A.Binary):
        expr_names(e.left, out)
        expr_names(e.right, out)


def stmt_names(s, user_call: bool = False) -> list[str]:
    """The names a statement itself uses (its condition only, for if and while; not
    the arguments of a call of a function or of kzalloc/kfree, which pass memory
    without touching it)."""
    out: list[str] = []
    if isinstance(s, A.PrimStmt):
        out.extend(x for x in (s.arg,) + s.extra if x is not None)
    elif isinstance(s, A.CallStmt):
        if not user_call and s.fn not in V.MEMORY_BUILTINS:
            out.extend(x for x in (s.arg,) + s.extra if x is not None)
    elif isinstance(s, A.Assign):
        out.append(s.target)
        expr_names(s.value, out)
    elif isinstance(s, (A.Assert, A.Await)):
        expr_names(s.cond, out)
    elif isinstance(s, (A.If, A.While)):
        expr_names(s.cond, out)
    elif isinstance(s, A.Return) and s.value is not None:
        expr_names(s.value, out)
    return out
