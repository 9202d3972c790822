"""Checks on the body of a fn or thread: its locals and its statements.

`check_body` reports what is wrong in one body (a local after a statement, a
primitive whose argument is not of the kind it needs, a statement that may not
stand inside `atomic`, a call of something that is not a function, ...; the
expressions in it through `modproof.spec.check_exprs`) and returns what the
call-graph checks need of it: its calls, and how deep its blocks nest.

Version 3 adds: locals initialised from expressions (each may read the locals
declared before it), `break` and `continue` (in a loop of the same body, not
inside `atomic`), `return E` in a module's init function, `THIS_MODULE`, and
the operations that return whether they released (`kref_put`,
`kref_put_mutex`, `kref_put_lock`): statements, whole conditions of `if` and
`while`, or whole values assigned to a local.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Union

from modproof.spec import ast as A
from modproof.spec import check_memory
from modproof.spec import vocabulary as V
from modproof.spec.callgraph import CallEdge
from modproof.spec.check_exprs import (
    AWAIT, IF, TO_LOCAL, TO_VAR, WHILE, Scope, check_expr, expr_type, lvalue_type, resolve,
)
from modproof.spec.diagnostics import Note
from modproof.spec.symbols import PRIMITIVES, QUERIES, RESERVED, Context, suggest
from modproof.spec.vocabulary import ARTICLE


class BodyFacts(NamedTuple):
    calls: list[CallEdge]   # every call, and every put or unload that runs a release or exit function
    depth: int              # of its deepest block (the body itself is 1)


def init_of(ctx: Context, fn: str) -> Optional[A.ModuleDecl]:
    """The module whose init function `fn` is, if any (v3)."""
    for m in ctx.sym.modules:
        if m.init == fn:
            return m
    return None


def operation_of(e: A.Expr) -> tuple[Optional[A.Query], bool]:
    """v3: an operation used as a condition or value (`kref_put(o)`), under any
    number of `not`s: the query node and whether the `not`s negate it."""
    neg = False
    while isinstance(e, A.Not):
        e, neg = e.operand, not neg
    if isinstance(e, A.Query) and e.kind is None and V.is_operation(e.name):
        return e, neg
    return None, False


def check_body(ctx: Context, d: Union[A.FnDecl, A.ThreadDecl]) -> BodyFacts:
    """Report the mistakes in the body of `d`; its calls and block depth."""
    kind = "fn" if isinstance(d, A.FnDecl) else "thread"
    owner = d.owner if isinstance(d, A.FnDecl) else (d.owner or "core")
    scope = Scope(kind, {}, {}, owner)
    scope.kthread = isinstance(d, A.ThreadDecl) and d.kthread
    scope.later = {s.name for s in d.body if isinstance(s, A.Local)}
    seen_other = False
    for s in d.body:
        if isinstance(s, A.Local):
            if seen_other:
                ctx.error(s.span, f"'local {s.name}' must come before the other statements "
                          f"of the {'function' if kind == 'fn' else 'thread'} body")
            _check_local(ctx, s, scope)
        else:
            seen_other = True
    scope.later = set()
    body = _Body(ctx, scope, d)
    body.block(d.body, in_atomic=None, top=True)
    return BodyFacts(body.calls, body.deepest)


def _check_local(ctx: Context, s: A.Local, scope: Scope) -> None:
    """A local's name, and its initial value (v3: an expression over the file's vars
    and the locals declared before it, evaluated as NOTE(local-inits) says)."""
    if acts(s.value):
        ctx.error(s.value.span, "a local's initial value may not take or drop a reference; "
                  f"declare it and assign it: 'local {s.name} = false' then "
                  f"'{s.name} = {_text(s.value)}'")
        ty: Optional[str] = "bool"
    else:
        ty = expr_type(ctx, s.value, scope, None)
    scope.later.discard(s.name)
    if s.name in RESERVED or s.name == "core":
        ctx.error(s.name_span, f"'{s.name}' is a keyword or built-in name and cannot be declared")
        ctx.refused.add(s.name)
        return
    if s.name in ctx.sym.decls:
        ctx.error(s.name_span, f"local '{s.name}' reuses the name of a top-level declaration",
                  Note(ctx.sym.decls[s.name].name_span, f"'{s.name}' is declared here"))
        return
    if s.name in scope.locals:
        ctx.error(s.name_span, f"local '{s.name}' is already declared in this body",
                  Note(scope.locals[s.name].name_span, "first declaration"))
        return
    scope.locals[s.name] = s
    scope.types[s.name] = ty


def acts(e: A.Expr) -> bool:
    """Whether `e`, under its `not`s, is a query that acts or an operation."""
    while isinstance(e, A.Not):
        e = e.operand
    if not isinstance(e, A.Query):
        return False
    if e.kind is None:
        return V.is_operation(e.name)
    return V.query(e.kind).act is not None


def _text(e: A.Expr) -> str:
    from modproof.spec.printer import expr_to_source
    return expr_to_source(e)


class _Body:
    """The walk over the statements of one body; `in_atomic` is the innermost
    `atomic` block a statement is in, `top` whether it is in the body itself."""

    def __init__(self, ctx: Context, scope: Scope, decl: Union[A.FnDecl, A.ThreadDecl]):
        self.ctx = ctx
        self.scope = scope
        self.decl = decl
        self.calls: list[CallEdge] = []
        self.depth = 0     # of the block being checked
        self.deepest = 0
        self.loops = 0     # loops around the statement being checked (v3: break, continue)
        # v3: the module whose init function this body is (it returns its result)
        self.init_of = init_of(ctx, decl.name) if isinstance(decl, A.FnDecl) else None

    def block(self, body: tuple[A.Stmt, ...], in_atomic: Optional[A.Atomic], top: bool = False) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)
        for s in body:
            self.stmt(s, in_atomic, top)
        self.depth -= 1

    def atomic_forbidden(self, span: A.Span, what: str, atomic: A.Atomic) -> None:
        self.ctx.error(span, f"{what} is not allowed inside 'atomic'",
                       Note(atomic.span, "the atomic block starts here"))

    def cond(self, e: A.Expr, what: str, where: str, in_atomic: Optional[A.Atomic]) -> None:
        """A whole condition (or value) of an if, while, await or assignment: a query
        that acts may stand there, and (v3) an operation, which this walk checks."""
        op, neg = operation_of(e)
        if op is not None and op.name not in self.ctx.sym.decls and where == TO_LOCAL and neg:
            self.ctx.error(e.span, f"store the result of '{op.name}' as it is, then negate it where "
                           "it is used")
            return
        if op is not None and op.name not in self.ctx.sym.decls and where in (IF, WHILE, TO_LOCAL):
            self.operation(op.name, op.arg, op.arg_span, op.extra, op.extra_spans, op.span,
                           in_atomic)
            return
        if op is not None and where == TO_VAR and op.name not in self.ctx.sym.decls:
            self.ctx.error(op.span, f"the result of '{op.name}' is known only when the release "
                           "function has returned: store it in a local, not a shared var")
            return
        self.scope.atomic = in_atomic
        check_expr(self.ctx, e, self.scope, "bool" if where != TO_VAR and where != TO_LOCAL
                   else None, what, top=where)
        self.scope.atomic = None

    def stmt(self, s: A.Stmt, in_atomic: Optional[A.Atomic], top: bool) -> None:
        ctx, scope = self.ctx, self.scope
        if isinstance(s, A.Local):
            if not top:
                ctx.error(s.span, f"'local {s.name}' may only stand at the start of a fn or thread body")
        elif isinstance(s, A.PrimStmt):
            self.primitive(s, in_atomic)
        elif isinstance(s, A.CallStmt) and ctx.sym.builtin(s):
            self.builtin(s, in_atomic)
        elif isinstance(s, A.CallStmt) and ctx.sym.operation(s):
            self.operation(s.fn, s.arg, s.arg_span, s.extra, s.extra_spans, s.span, in_atomic)
        elif isinstance(s, A.CallStmt):
            self.call(s, in_atomic)
        elif isinstance(s, A.Assign) and self.result_call(s, in_atomic):
            pass
        elif isinstance(s, A.Assign):
            ty = lvalue_type(ctx, s.target, s.target_span, scope)
            where = TO_LOCAL if s.target in scope.types else TO_VAR
            if acts(s.value):
                if ty is not None and ty != "bool":
                    ctx.error(s.value.span, f"the assigned value must be {ty}, but this "
                              "expression is bool")
                self.cond(s.value, "the assigned value", where, in_atomic)
            else:
                check_expr(ctx, s.value, scope, ty, "the assigned value", top=None)
        elif isinstance(s, A.Assert):
            check_expr(ctx, s.cond, scope, "bool", "an assert", top=None)
        elif isinstance(s, A.Await):
            self.cond(s.cond, "an await", AWAIT, in_atomic)
        elif isinstance(s, A.Return):
            self.ret(s, in_atomic)
        elif isinstance(s, A.If):
            self.cond(s.cond, "an if condition", IF, in_atomic)
            self.block(s.then, in_atomic)
            if s.orelse is not None:
                self.block(s.orelse, in_atomic)
        elif isinstance(s, A.While):
            self.cond(s.cond, "a while condition", WHILE, in_atomic)
            self.loops += 1
            self.block(s.body, in_atomic)
            self.loops -= 1
        elif isinstance(s, A.Choose):
            for b in s.branches:
                self.block(b, in_atomic)
        elif isinstance(s, A.Atomic):
            outer = self.loops
            self.loops = 0      # a jump cannot leave the atomic block
            self.block(s.body, in_atomic or s)
            self.loops = outer
        elif isinstance(s, (A.Break, A.Continue)):
            word = "break" if isinstance(s, A.Break) else "continue"
            if in_atomic is not None:
                self.atomic_forbidden(s.span, f"'{word}'", in_atomic)
            elif self.loops == 0:
                ctx.error(s.span, f"'{word}' outside a loop: it stands in the body of a 'while' "
                          "of the same function or thread (a called function's loop does not count)")
        else:
            raise AssertionError(f"unknown statement {s!r}")

    def result_call(self, s: A.Assign, in_atomic: Optional[A.Atomic]) -> bool:
        """NOTE(results): `x = f(...)` of a function declared `-> T`; whether `s` is one."""
        ctx = self.ctx
        e = s.value
        if not (isinstance(e, A.Query) and e.kind is None and e.name in ctx.sym.fns):
            return False
        fn = ctx.sym.fns[e.name]
        if in_atomic is not None:
            self.atomic_forbidden(s.span, f"the call '{e.name}()'", in_atomic)
        if fn.returns is None:
            ctx.error(e.span, f"function '{e.name}' returns no value: declare it "
                      f"'fn {e.name}(...) -> int' (or bool) and end it with 'return VALUE'",
                      Note(fn.name_span, f"'{e.name}' is declared here"))
            return True
        ty = lvalue_type(ctx, s.target, s.target_span, self.scope)
        if ty is not None and ty != fn.returns:
            ctx.error(e.span, f"the assigned value must be {ty}, but '{e.name}' returns {fn.returns}")
        call = A.CallStmt(e.name, e.arg or None, fn_span=e.span, span=e.span, extra=e.extra,
                          extra_spans=e.extra_spans, arg_span=e.arg_span)
        check_memory.call_args(ctx, call, fn, self.scope)
        self.calls.append(CallEdge(e.name, s.span, "'{f}' calls '{g}'", self.depth))
        return True

    def ret(self, s: A.Return, in_atomic: Optional[A.Atomic]) -> None:
        """`return`, and (v3) `return E` in a module's init function or in a function
        that returns a value (NOTE(results))."""
        ctx = self.ctx
        if in_atomic is not None:
            self.atomic_forbidden(s.span, "'return'", in_atomic)
        returns = getattr(self.decl, "returns", None)
        if returns is not None and self.init_of is None:
            if s.value is None:
                ctx.error(s.span, f"function '{self.decl.name}' returns {returns}: write "
                          "'return VALUE'")
            else:
                check_expr(ctx, s.value, self.scope, returns,
                           f"the result of '{self.decl.name}'", top=None)
            return
        m = self.init_of
        if m is None and s.value is not None:
            what = "a thread" if isinstance(self.decl, A.ThreadDecl) else f"function '{self.decl.name}'"
            ctx.error(s.value.span, f"'return' takes no value in {what}: only a module's init "
                      "function returns one (its result: 0, or a negative error code)")
            return
        if m is not None and s.value is None:
            ctx.error(s.span, f"'{self.decl.name}' is the init function of module '{m.name}': "
                      "it returns its result, 'return 0' on success or a negative error code "
                      "such as 'return -12' (-ENOMEM) on failure",
                      Note(m.init_span, "the init function is named here"))
            return
        if m is not None:
            check_expr(ctx, s.value, self.scope, "int", "the result of an init function",
                       top=None)

    def primitive(self, s: A.PrimStmt, in_atomic: Optional[A.Atomic]) -> None:
        """Its argument, its place (some may not stand inside `atomic`), and the
        release or exit function it may run, which is a call."""
        ctx = self.ctx
        prim = V.primitive(s.kind)
        need = prim.operand
        if s.arg is None:
            ctx.error(s.span, f"'{s.kind.value}' needs one argument, {ARTICLE[need]}")
            return
        if s.extra:
            ctx.error(s.extra_spans[0], f"'{s.kind.value}' takes one argument, {ARTICLE[need]}")
        arg = resolve(ctx, self.scope, s.arg, need, s.arg_span, f"'{s.kind.value}' needs {ARTICLE[need]}")
        ok = arg is not None
        if in_atomic is not None:
            if prim.not_in_atomic is not None:
                self.atomic_forbidden(s.span, f"'{s.kind.value}' ({prim.not_in_atomic})", in_atomic)
            elif prim.calls == "release" and ok:
                obj = ctx.sym.decls[arg]
                if obj.release is not None and not obj.deferred:   # (deferred: it only queues)
                    ctx.error(s.span, f"'put({s.arg})' is not allowed inside 'atomic': "
                              f"it may call the release function '{obj.release}'",
                              Note(in_atomic.span, "the atomic block starts here"),
                              Note(obj.span, f"'{s.arg}' has release function '{obj.release}'"))
        if not ok:
            return
        if prim.calls == "release":
            obj = ctx.sym.decls[arg]
            # A deferred release runs on a worker of its own, not in this body: no call.
            if obj.release is not None and not obj.deferred:
                self.calls.append(CallEdge(obj.release, s.span,
                                           f"put({s.arg}) in '{{f}}' runs release function '{{g}}'",
                                           self.depth))
        elif prim.calls == "exit":
            mod = ctx.sym.decls[arg]
            if mod.init is not None and mod.exit is None:
                ctx.error(s.span, f"module '{arg}' has an init function and no exit function: the "
                          "kernel never unloads it (delete_module() fails with -EBUSY); give it "
                          "an exit function, or do not unload it", *ctx.decl_note(arg))
            if mod.exit is not None:
                self.calls.append(CallEdge(mod.exit, s.span,
                                           f"unload({s.arg}) in '{{f}}' runs exit function '{{g}}'",
                                           self.depth))

    def operation(self, name: str, arg: Optional[str], arg_span: A.Span, extra: tuple,
                  extra_spans: tuple, span: A.Span, in_atomic: Optional[A.Atomic]) -> None:
        """v3: kref_put(O), kref_put_mutex(O, M), kref_put_lock(O, M), as a statement,
        a whole condition or a value assigned to a local (NOTE(returning-put))."""
        ctx = self.ctx
        op = V.operation(name)
        need = op.operands
        wanted = " and ".join(ARTICLE[k] for k in need)
        args = ((arg,) if arg is not None else ()) + tuple(extra)
        spans = ((arg_span,) if arg is not None else ()) + tuple(extra_spans)
        if in_atomic is not None:
            self.atomic_forbidden(span, f"'{name}' (it may call the release function"
                                  + (" and it locks" if op.locks else "") + ")", in_atomic)
        if len(args) != len(need):
            ctx.error(span, f"'{name}' takes {len(need)} argument{'s' if len(need) > 1 else ''}: "
                      f"{wanted}, as in {name}({', '.join(('o', 'm')[:len(need)])})")
            return
        got = [resolve(ctx, self.scope, a, k, sp, f"'{name}' needs {wanted}")
               for a, k, sp in zip(args, need, spans)]
        if got[0] is None:
            return
        obj = ctx.sym.decls[got[0]]
        if obj.release is not None and not obj.deferred:
            self.calls.append(CallEdge(obj.release, span,
                                       f"{name}({got[0]}) in '{{f}}' runs release function '{{g}}'",
                                       self.depth))
        if op.locks and len(got) > 1 and got[1] is not None and obj.release is not None:
            if obj.deferred:
                ctx.error(span, f"'{name}({got[0]}, {got[1]})' calls the release function with "
                          f"'{got[1]}' held, but '{got[0]}' has a deferred release, which runs on a "
                          "worker of its own", Note(obj.span, f"'{got[0]}' is declared here"))
            elif not _unlocks(ctx, obj.release, got[1]):
                ctx.error(span, f"'{name}({got[0]}, {got[1]})' calls release function "
                          f"'{obj.release}' with '{got[1]}' held, and '{obj.release}' never unlocks "
                          f"it: as in the kernel, the release function of {name} must unlock the "
                          "lock", Note(ctx.sym.fns[obj.release].name_span,
                                       f"'{obj.release}' is declared here")
                          if obj.release in ctx.sym.fns else Note(obj.span, "declared here"))

    def builtin(self, s: A.CallStmt, in_atomic: Optional[A.Atomic]) -> None:
        """A v2 built-in call (`queue_work(w)`, `rcu_barrier()`, ...): its argument."""
        ctx = self.ctx
        b = V.builtin(s.fn)
        need = b.operand
        if in_atomic is not None:
            self.atomic_forbidden(s.span, f"'{s.fn}'", in_atomic)
        if s.extra:
            ctx.error(s.extra_spans[0], f"'{s.fn}' takes "
                      + ("no argument" if need is None else "one argument"))
            return
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
            if got == "fn":
                check_memory.check_no_params(ctx, s.arg, s.arg_span, f"the callback of {s.fn}")
            return
        other = V.builtin(b.counterpart) if b.counterpart else None
        if other is not None and got == other.operand:
            # queue_work(dw) for a delayed work item, queue_delayed_work(w) for a work item
            ctx.error(s.span, f"'{s.fn}' needs {wanted}: '{s.arg}' is {ARTICLE[got]}; "
                      f"for it, write {other.name}({s.arg})", *ctx.decl_note(s.arg))
            return
        takers = words_for(got) if got is not None else []
        hint = (f" (the statements that take {ARTICLE[got]} are {', '.join(takers)})"
                if takers else "")
        if len(kinds) == 1 and not hint:
            ctx.expect_kind(s.arg, need, s.span, f"'{s.fn}' needs {wanted}")
        elif got is None:
            if s.arg not in ctx.refused:
                names = [n for k in kinds for n in ctx.names_of_kind(k)]
                ctx.error(s.span, f"'{s.fn}' needs {wanted}: '{s.arg}' is not declared"
                          f"{suggest(s.arg, names)}")
        else:
            ctx.error(s.span, f"'{s.fn}' needs {wanted}: '{s.arg}' is {ARTICLE.get(got, got)}{hint}",
                      *ctx.decl_note(s.arg))

    def call(self, s: A.CallStmt, in_atomic: Optional[A.Atomic]) -> None:
        """`f()`: `f` must be a declared function; the hints for a query, a kernel
        primitive or a misspelling called as one."""
        ctx = self.ctx
        if in_atomic is not None:
            self.atomic_forbidden(s.span, f"the call '{s.fn}()'", in_atomic)
        got = ctx.sym.kind(s.fn)
        if got is None and s.fn in ctx.refused:
            return   # a call through a path already reported (spec/check_memory.py)
        use_arg = ", ".join(((s.arg or "x"),) + s.extra)
        if got is None and s.fn in QUERIES:
            if V.query(s.fn).act is not None:
                ctx.error(s.fn_span, f"'{s.fn}' is a query, not a statement: it stands as the "
                          "whole condition of an 'if', 'while' or 'await', as in "
                          f"'if {s.fn}({s.arg or 'x'}) {{ ... }}', or as a value assigned, as in "
                          f"'ok = {s.fn}({s.arg or 'x'})'")
            else:
                use = f"{s.fn}({s.arg or 'x'})"
                if V.query(s.fn).type == "int":
                    use += " > 0"
                ctx.error(s.fn_span, f"'{s.fn}' is a query, not a statement: use it in an "
                          f"expression, as in 'assert {use}'")
            return
        if got is None and s.fn == V.KTHREAD_SHOULD_STOP:
            ctx.error(s.fn_span, f"'{s.fn}' is a query, not a statement: it stands in a "
                      f"kthread's conditions, as in 'while not {s.fn}() {{ ... }}'")
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
        if got is None and V.kernel_operation(s.fn) is not None:
            o = V.operation(V.kernel_operation(s.fn))
            given = ((s.arg or "o"),) + s.extra
            given += ("o", "m")[len(given):len(o.operands)]   # each argument it needs
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}'; modproof writes it "
                      f"'{o.name}', as in {o.name}({', '.join(given)})")
            return
        if got is None and V.kernel_query_form(s.fn) is not None:
            form = V.kernel_query_form(s.fn).format(s.arg or "x")
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}'; modproof writes it as "
                      f"the condition '{form}' (in an 'if', 'while' or 'await', or assigned)")
            return
        if got is None and s.fn in V.KERNEL_DECLARATIONS:
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}': {V.KERNEL_DECLARATIONS[s.fn]}")
            return
        if got is None:
            ctx.error(s.fn_span, f"call of undeclared function '{s.fn}'{self.unknown_hint(s)}")
            return
        if got != "fn":
            ctx.error(s.fn_span, f"'{s.fn}' is {ARTICLE.get(got, got)}, not a function, "
                      "and cannot be called", *ctx.decl_note(s.fn))
            return
        check_memory.call_args(ctx, s, ctx.sym.fns[s.fn], self.scope)
        m = init_of(ctx, s.fn)
        if m is not None:
            ctx.error(s.fn_span, f"'{s.fn}' is the init function of module '{m.name}': only "
                      f"insmod runs it (its code is __init), when {m.name} is loaded",
                      Note(m.init_span, "the init function is named here"))
        self.calls.append(CallEdge(s.fn, s.span, "'{f}' calls '{g}'", self.depth))

    def unknown_hint(self, s: A.CallStmt) -> str:
        """The hint for a call of an undeclared function: a close spelling among the
        functions and every primitive, built-in and operation; else the words that
        take what its argument is (v3: with the versions that added them)."""
        ctx = self.ctx
        words = (list(ctx.sym.fns) + sorted(PRIMITIVES) + [b.name for b in V.ALL_BUILTINS]
                 + [o.name for o in V.OPERATIONS])
        close = suggest(s.fn, words)
        if close:
            return close
        kind = ctx.sym.kind(s.arg) if s.arg is not None else None
        if kind is None and s.arg == V.THIS_MODULE:
            kind = "module"
        if kind is None and s.arg is None:
            return ""
        names = words_for(kind) if kind is not None else sorted(PRIMITIVES)
        if not names:
            return ""
        what = f"{ARTICLE[kind]}" if kind is not None else "an argument"
        return f" (the statements that take {what} are {', '.join(names)})"


def words_for(kind: str) -> list[str]:
    """The statements that take an argument of `kind`: the primitives (v1), the
    built-ins (v2) and the operations (v3)."""
    out = [p.name for p in V.PRIMITIVES if p.operand == kind]
    out += [b.name for b in V.ALL_BUILTINS if kind in (b.operand,) + b.also]
    out += [o.name for o in V.OPERATIONS if o.operands[0] == kind]
    return out


def _unlocks(ctx: Context, fn: str, mutex: str, seen: Optional[set] = None) -> bool:
    """Whether function `fn`, or a function it calls, has an `unlock(mutex)` (v3:
    the release function of kref_put_mutex must drop the lock)."""
    seen = set() if seen is None else seen
    if fn in seen or fn not in ctx.sym.fns:
        return False
    seen.add(fn)
    stack = list(ctx.sym.fns[fn].body)
    while stack:
        s = stack.pop()
        if isinstance(s, A.PrimStmt) and s.kind is A.Prim.UNLOCK and s.arg == mutex:
            return True
        if isinstance(s, A.CallStmt) and s.fn in ctx.sym.fns and _unlocks(ctx, s.fn, mutex, seen):
            return True
        for b in A.blocks_of(s):
            stack.extend(b)
    return False
