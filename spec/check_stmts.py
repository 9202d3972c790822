"""Checks on the body of a fn or thread: its locals and its statements.

`check_body` reports what is wrong in one body (a local after a statement, a
primitive whose argument is not of the kind it needs, a statement that may not
stand inside `atomic`, a call of something that is not a function, ...; the
expressions in it through `modproof.spec.check_exprs`) and returns what the
call-graph checks need of it: its calls, and how deep its blocks nest.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Union

from modproof.spec import ast as A
from modproof.spec import vocabulary as V
from modproof.spec.callgraph import CallEdge
from modproof.spec.check_exprs import Scope, check_expr, lvalue_type
from modproof.spec.diagnostics import Note
from modproof.spec.symbols import PRIMITIVES, QUERIES, RESERVED, Context, suggest
from modproof.spec.vocabulary import ARTICLE


class BodyFacts(NamedTuple):
    calls: list[CallEdge]   # every call, and every put or unload that runs a release or exit function
    depth: int              # of its deepest block (the body itself is 1)


def check_body(ctx: Context, d: Union[A.FnDecl, A.ThreadDecl]) -> BodyFacts:
    """Report the mistakes in the body of `d`; its calls and block depth."""
    kind = "fn" if isinstance(d, A.FnDecl) else "thread"
    locals_: dict[str, A.Local] = {}
    seen_other = False
    for s in d.body:
        if isinstance(s, A.Local):
            if seen_other:
                ctx.error(s.span, f"'local {s.name}' must come before the other statements "
                          f"of the {'function' if kind == 'fn' else 'thread'} body")
            _check_local(ctx, s, locals_)
        else:
            seen_other = True
    body = _Body(ctx, Scope(kind, locals_))
    body.block(d.body, in_atomic=None, top=True)
    return BodyFacts(body.calls, body.deepest)


def _check_local(ctx: Context, s: A.Local, locals_: dict[str, A.Local]) -> None:
    if s.name in RESERVED or s.name == "core":
        ctx.error(s.name_span, f"'{s.name}' is a keyword or built-in name and cannot be declared")
        ctx.refused.add(s.name)
        return
    if s.name in ctx.sym.decls:
        ctx.error(s.name_span, f"local '{s.name}' reuses the name of a top-level declaration",
                  Note(ctx.sym.decls[s.name].name_span, f"'{s.name}' is declared here"))
        return
    if s.name in locals_:
        ctx.error(s.name_span, f"local '{s.name}' is already declared in this body",
                  Note(locals_[s.name].name_span, "first declaration"))
        return
    locals_[s.name] = s


class _Body:
    """The walk over the statements of one body; `in_atomic` is the innermost
    `atomic` block a statement is in, `top` whether it is in the body itself."""

    def __init__(self, ctx: Context, scope: Scope):
        self.ctx = ctx
        self.scope = scope
        self.calls: list[CallEdge] = []
        self.depth = 0     # of the block being checked
        self.deepest = 0

    def block(self, body: tuple[A.Stmt, ...], in_atomic: Optional[A.Atomic], top: bool = False) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        for s in body:
            self.stmt(s, in_atomic, top)
        self.depth -= 1

    def atomic_forbidden(self, span: A.Span, what: str, atomic: A.Atomic) -> None:
        self.ctx.error(span, f"{what} is not allowed inside 'atomic'",
                       Note(atomic.span, "the atomic block starts here"))

    def stmt(self, s: A.Stmt, in_atomic: Optional[A.Atomic], top: bool) -> None:
        ctx, scope = self.ctx, self.scope
        if isinstance(s, A.Local):
            if not top:
                ctx.error(s.span, f"'local {s.name}' may only stand at the start of a fn or thread body")
        elif isinstance(s, A.PrimStmt):
            self.primitive(s, in_atomic)
        elif isinstance(s, A.CallStmt) and ctx.sym.builtin(s):
            self.builtin(s, in_atomic)
        elif isinstance(s, A.CallStmt):
            self.call(s, in_atomic)
        elif isinstance(s, A.Assign):
            ty = lvalue_type(ctx, s.target, s.target_span, scope)
            check_expr(ctx, s.value, scope, ty, "the assigned value", top=False)
        elif isinstance(s, A.Assert):
            check_expr(ctx, s.cond, scope, "bool", "an assert", top=False)
        elif isinstance(s, A.Await):
            check_expr(ctx, s.cond, scope, "bool", "an await", top=True)
        elif isinstance(s, A.Return):
            if in_atomic is not None:
                self.atomic_forbidden(s.span, "'return'", in_atomic)
        elif isinstance(s, A.If):
            check_expr(ctx, s.cond, scope, "bool", "an if condition", top=True)
            self.block(s.then, in_atomic)
            if s.orelse is not None:
                self.block(s.orelse, in_atomic)
        elif isinstance(s, A.While):
            check_expr(ctx, s.cond, scope, "bool", "a while condition", top=True)
            self.block(s.body, in_atomic)
        elif isinstance(s, A.Choose):
            for b in s.branches:
                self.block(b, in_atomic)
        elif isinstance(s, A.Atomic):
            self.block(s.body, in_atomic or s)
        else:
            raise AssertionError(f"unknown statement {s!r}")

    def primitive(self, s: A.PrimStmt, in_atomic: Optional[A.Atomic]) -> None:
        """Its argument, its place (some may not stand inside `atomic`), and the
        release or exit function it may run, which is a call."""
        ctx = self.ctx
        prim = V.primitive(s.kind)
        need = prim.operand
        if s.arg is None:
            ctx.error(s.span, f"'{s.kind.value}' needs one argument, {ARTICLE[need]}")
            return
        ok = ctx.expect_kind(s.arg, need, s.arg_span, f"'{s.kind.value}' needs {ARTICLE[need]}")
        if in_atomic is not None:
            if prim.not_in_atomic is not None:
                self.atomic_forbidden(s.span, f"'{s.kind.value}' ({prim.not_in_atomic})", in_atomic)
            elif prim.calls == "release" and ok:
                obj = ctx.sym.decls[s.arg]
                if obj.release is not None and not obj.deferred:   # (deferred: it only queues)
                    ctx.error(s.span, f"'put({s.arg})' is not allowed inside 'atomic': "
                              f"it may call the release function '{obj.release}'",
                              Note(in_atomic.span, "the atomic block starts here"),
                              Note(obj.span, f"'{s.arg}' has release function '{obj.release}'"))
        if not ok:
            return
        if prim.calls == "release":
            obj = ctx.sym.decls[s.arg]
            # A deferred release runs on a worker of its own, not in this body: no call.
            if obj.release is not None and not obj.deferred:
                self.calls.append(CallEdge(obj.release, s.span,
                                           f"put({s.arg}) in '{{f}}' runs release function '{{g}}'",
                                           self.depth))
        elif prim.calls == "exit":
            mod = ctx.sym.decls[s.arg]
            if mod.exit is not None:
                self.calls.append(CallEdge(mod.exit, s.span,
                                           f"unload({s.arg}) in '{{f}}' runs exit function '{{g}}'",
                                           self.depth))

    def builtin(self, s: A.CallStmt, in_atomic: Optional[A.Atomic]) -> None:
        """A v2 built-in call (`queue_work(w)`, `rcu_barrier()`, ...): its argument."""
        ctx = self.ctx
        b = V.builtin(s.fn)
        need = b.operand
        if in_atomic is not None:
            self.atomic_forbidden(s.span, f"'{s.fn}'", in_atomic)
        if need is None:
            if s.arg is not None:
                ctx.error(s.span, f"'{s.fn}' takes no argument")
            return
        kinds = (need,) + b.also
        wanted = " or ".join(ARTICLE[k] for k in kinds)
        if s.arg is None:
            ctx.error(s.span, f"'{s.fn}' needs one argument, {wanted}")
            return
        got = ctx.sym.kind(s.arg)
        if got in kinds:
            return
        other = V.builtin(b.counterpart) if b.counterpart else None
        if other is not None and got == other.operand:
            # queue_work(dw) for a delayed work item, queue_delayed_work(w) for a work item
            ctx.error(s.span, f"'{s.fn}' needs {wanted}: '{s.arg}' is {ARTICLE[got]}; "
                      f"for it, write {other.name}({s.arg})", *ctx.decl_note(s.arg))
            return
        if len(kinds) == 1:
            ctx.expect_kind(s.arg, need, s.span, f"'{s.fn}' needs {wanted}")
        elif got is None:
            if s.arg not in ctx.refused:
                names = [n for k in kinds for n in ctx.names_of_kind(k)]
                ctx.error(s.span, f"'{s.fn}' needs {wanted}: '{s.arg}' is not declared"
                          f"{suggest(s.arg, names)}")
        else:
            ctx.error(s.span, f"'{s.fn}' needs {wanted}: '{s.arg}' is {ARTICLE.get(got, got)}",
                      *ctx.decl_note(s.arg))

    def call(self, s: A.CallStmt, in_atomic: Optional[A.Atomic]) -> None:
        """`f()`: `f` must be a declared function; the hints for a query, a kernel
        primitive or a misspelling called as one."""
        ctx = self.ctx
        if in_atomic is not None:
            self.atomic_forbidden(s.span, f"the call '{s.fn}()'", in_atomic)
        got = ctx.sym.kind(s.fn)
        if got is None and s.fn in QUERIES:
            if V.query(s.fn).takes is not None:
                ctx.error(s.fn_span, f"'{s.fn}' is a query, not a statement: it stands as the "
                          "whole condition of an 'if', 'while' or 'await', as in "
                          f"'if {s.fn}({s.arg or 'x'}) {{ ... }}'")
            else:
                use = f"{s.fn}({s.arg or 'x'})"
                if V.query(s.fn).type == "int":
                    use += " > 0"
                ctx.error(s.fn_span, f"'{s.fn}' is a query, not a statement: use it in an "
                          f"expression, as in 'assert {use}'")
            return
        if got is None and V.kernel_primitive(s.fn) is not None:
            prim = V.kernel_primitive(s.fn)
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}'; the primitive for it "
                      f"is '{prim}', as in {prim}({s.arg or 'x'})")
            return
        if got is None and V.kernel_builtin(s.fn) is not None:
            b = V.builtin(V.kernel_builtin(s.fn))
            use = f"{b.name}({s.arg or 'x'})" if b.operand else f"{b.name}()"
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}'; the built-in for it "
                      f"is '{b.name}', as in {use}")
            return
        if got is None:
            hint = ""
            kind = ctx.sym.kind(s.arg) if s.arg is not None else None
            takers = [b.name for b in V.BUILTINS if kind in (b.operand,) + b.also]
            if kind in ("work", "delayed_work", "workqueue", "timer"):
                hint = f" (the built-ins for {ARTICLE[kind]} are " + ", ".join(takers) + ")"
            elif s.arg is not None:
                hint = " (the primitives are " + ", ".join(sorted(PRIMITIVES)) + ")"
            builtins = [b.name for b in V.BUILTINS]
            hint = suggest(s.fn, list(ctx.sym.fns) + sorted(PRIMITIVES) + builtins) or hint
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}'{hint}")
            return
        if got != "fn":
            ctx.error(s.fn_span, f"'{s.fn}' is {ARTICLE.get(got, got)}, not a function, "
                      "and cannot be called", *ctx.decl_note(s.fn))
            return
        if s.arg is not None:
            ctx.error(s.span, f"function '{s.fn}' takes no arguments")
        self.calls.append(CallEdge(s.fn, s.span, "'{f}' calls '{g}'", self.depth))
