"""Checks on expressions: names, types, queries and where a query may stand.

An expression is checked in a `Scope` (the locals of the fn or thread body it is
in, or none in an invariant or cover) and has type "int" or "bool".  Values are
vars and locals, typed by their initial value; `refs`, `done`, ... read the
state of a declared object, completion, ...; the queries that act (`try_get`,
`try_module_get`, v3 `refcount_dec_and_test`, ...) change the state, so they
stand only as the whole condition of an `if`, `while` or `await`, or (v3) as
the whole value assigned, negated with `not` or not (`top` says which place an
expression is in).  v3: `THIS_MODULE` names the module whose code it stands in.
"""
from __future__ import annotations

from typing import Optional

from modproof.spec import ast as A
from modproof.spec import vocabulary as V
from modproof.spec.diagnostics import Note
from modproof.spec.symbols import PRIMITIVES, QUERIES, Context, suggest
from modproof.spec.vocabulary import ARTICLE


class Scope:
    """The names visible in one fn or thread body: its locals, then the file's."""

    def __init__(self, owner_kind: str, locals_: dict[str, A.Local],
                 types: Optional[dict[str, Optional[str]]] = None, owner: Optional[str] = None):
        self.owner_kind = owner_kind  # "fn", "thread" or "property"
        self.locals = locals_
        # The type of each local, from its initial value (None: that value has an error).
        self.types = types if types is not None else {
            n: lit_type(d.value) for n, d in locals_.items()}
        self.owner = owner            # whose code the body is ("core" or a module); v3 THIS_MODULE
        self.atomic: Optional[A.Atomic] = None   # the atomic block being checked, if any
        self.later: set[str] = set()   # locals of the body declared after the one being checked
        self.kthread = False           # v3: the body of a kthread (kthread_should_stop())


PROPERTY = "property"   # the owner kind of an invariant's or a cover's scope

# Where an expression stands, for the queries that act (`top`): the whole condition of
# an if, a while or an await, the whole value assigned to a var or to a local; None:
# anywhere else (inside a larger expression, an assert, an invariant, ...).
IF, WHILE, AWAIT, TO_VAR, TO_LOCAL = "if", "while", "await", "var", "local"


def lit_type(lit: A.Expr) -> str:
    return "bool" if isinstance(lit, A.BoolLit) else "int"


def check_expr(ctx: Context, e: A.Expr, scope: Scope, want: Optional[str], what: str,
               top: Optional[str]) -> None:
    """Report errors in `e`, and that it is not of type `want` (when known);
    `what` names it in the message ("an if condition")."""
    got = expr_type(ctx, e, scope, top)
    if want is not None and got is not None and got != want:
        ctx.error(e.span, f"{what} must be {want}, but this expression is {got}")


def expr_type(ctx: Context, e: A.Expr, scope: Scope, top: Optional[str] = None) -> Optional[str]:
    """The type of `e` ("int"/"bool"), or None after reporting an error in it."""
    if isinstance(e, A.IntLit):
        return "int"
    if isinstance(e, A.BoolLit):
        return "bool"
    if isinstance(e, A.Name):
        return _name_type(ctx, e, scope)
    if isinstance(e, A.Not):
        # v3: `not try_get(o)` is still the whole condition
        check_expr(ctx, e.operand, scope, "bool", "the operand of 'not'", top=top)
        return "bool"
    if isinstance(e, A.Minus):
        check_expr(ctx, e.operand, scope, "int", "the operand of unary '-'", top=None)
        return "int"
    if isinstance(e, A.Binary):
        return _binary_type(ctx, e, scope)
    if isinstance(e, A.Query):
        return _query_type(ctx, e, scope, top)
    raise AssertionError(f"unknown expression {e!r}")


def _name_type(ctx: Context, e: A.Name, scope: Scope) -> Optional[str]:
    if e.id in scope.types:
        return scope.types[e.id]
    got = ctx.sym.kind(e.id)
    if got == "var":
        return lit_type(ctx.sym.decls[e.id].value)
    if got is None:
        if e.id in ctx.refused:
            return None
        if e.id in scope.later:
            ctx.error(e.span, f"local '{e.id}' is used before its declaration (a local's "
                      "initial value may read only the locals declared before it)")
        elif scope.owner_kind == PROPERTY and e.id in ctx.all_locals:
            ctx.error(e.span, f"invariants and covers may not use locals ('{e.id}' is a local)",
                      Note(ctx.all_locals[e.id].name_span, "the local is declared here"))
        elif e.id in ctx.all_locals:
            ctx.error(e.span, f"'{e.id}' is a local of another body, not visible here")
        else:
            names = ctx.names_of_kind("var") + list(scope.locals)
            ctx.error(e.span, f"undeclared name '{e.id}'{suggest(e.id, names)}")
    else:
        hint = {"object": f"; did you mean refs({e.id})?", "module": f"; did you mean loaded({e.id})?",
                "completion": f"; did you mean done({e.id})?",
                "mutex": f"; did you mean locked({e.id})?"}.get(got, "")
        ctx.error(e.span, f"'{e.id}' is {ARTICLE.get(got, got)}, not a value{hint}",
                  *ctx.decl_note(e.id))
    return None


def _binary_type(ctx: Context, e: A.Binary, scope: Scope) -> str:
    """The operator's result type, after checking its operands against its entry in
    the vocabulary: both of one type ("same"), or both "int" or "bool"."""
    op = V.binary(e.op)
    if op.operands == "same":
        lt = expr_type(ctx, e.left, scope)
        rt = expr_type(ctx, e.right, scope)
        if lt is not None and rt is not None and lt != rt:
            ctx.error(e.span, f"'{op.symbol}' compares values of one type, but the left side is "
                      f"{lt} and the right side is {rt}")
    else:
        what = f"an operand of '{op.symbol}'"
        check_expr(ctx, e.left, scope, op.operands, what, top=None)
        check_expr(ctx, e.right, scope, op.operands, what, top=None)
    return op.result


def _query_type(ctx: Context, e: A.Query, scope: Scope, top: Optional[str]) -> Optional[str]:
    if e.kind is None and e.name == V.KTHREAD_SHOULD_STOP and e.name not in ctx.sym.decls:
        return _should_stop_type(ctx, e, scope)
    if e.kind is None:
        _unknown_query(ctx, e, scope)
        return None
    query = V.query(e.kind)
    if query.act is not None:
        name = e.kind.value
        does = "takes a reference" if query.name.startswith("try_") else "drops a reference"
        if scope.owner_kind == PROPERTY:
            ctx.error(e.span, f"'{name}' {does} and may not appear in invariants or covers")
        elif top is None:
            ctx.error(e.span, f"'{name}' {does}: it may only stand as the whole condition of an "
                      f"'if', 'while' or 'await', or as the whole value assigned, as in "
                      f"'ok = {name}({e.arg})'")
        elif top == AWAIT and not query.awaitable:
            ctx.error(e.span, f"'{name}' decrements the count whether it is true or not: it "
                      "cannot stand in 'await', which does nothing until its condition holds "
                      f"(write 'if {name}({e.arg}) {{ ... }}')")
    need = query.operand
    if e.extra:
        ctx.error(e.extra_spans[0], f"'{e.kind.value}' takes one argument, {ARTICLE[need]}")
    resolve(ctx, scope, e.arg, need, e.arg_span, f"'{e.kind.value}' needs {ARTICLE[need]}")
    return query.type


def _should_stop_type(ctx: Context, e: A.Query, scope: Scope) -> Optional[str]:
    """v3 (NOTE(kthread)): `kthread_should_stop()` asks whether kthread_stop() of the
    kthread whose code runs it has begun: in a kthread's body, or in a function (the
    lowering checks that only kthreads call it)."""
    if e.arg or e.extra:
        ctx.error(e.span, f"'{e.name}' takes no argument: it asks about the kthread that "
                  f"runs it, as in 'while not {e.name}() {{ ... }}'")
    elif scope.owner_kind == PROPERTY:
        ctx.error(e.span, f"'{e.name}()' asks about the kthread that runs it: it cannot "
                  "stand in an invariant or a cover")
    elif scope.owner_kind == "thread" and not scope.kthread:
        ctx.error(e.span, f"'{e.name}()' in a thread that is not a kthread: declare it "
                  "'kthread NAME { ... }' and start it with kthread_run(NAME)")
    return "bool"


def resolve(ctx: Context, scope: Scope, name: str, kind: str, span: A.Span, what: str
            ) -> Optional[str]:
    """The name of the `kind` that `name` names, or None after reporting why it names
    none.  v3: THIS_MODULE (unless the file declares that name) is the module whose
    code the body is; in core code, or outside code, it is an error."""
    if name == V.THIS_MODULE and kind == "module" and ctx.sym.kind(name) is None:
        owner = scope.owner
        if owner is None:
            ctx.error(span, "THIS_MODULE stands only in a module's code (a function or thread "
                      "'in MOD'); here there is no code that owns it")
            return None
        if owner == "core":
            ctx.error(span, "THIS_MODULE in core code: built-in code belongs to no module "
                      "(in the kernel THIS_MODULE is NULL there, and try_module_get(NULL) "
                      "and module_put(NULL) do nothing: leave the call out)")
            return None
        return owner if ctx.sym.kind(owner) == "module" else None
    return name if ctx.expect_kind(name, kind, span, what) else None


def _unknown_query(ctx: Context, e: A.Query, scope: Scope) -> None:
    """Report `name(arg)` in an expression where `name` is no query: a function, a
    statement, the kernel's name for a query, or a misspelling.  v3: an operation
    (`kref_put(o)`) reaches here only where it may not stand (the statement checks
    take those that stand as a whole condition or value)."""
    queries = ", ".join(q.value for q in A.QueryKind)
    if V.is_operation(e.name) and e.name not in ctx.sym.decls:
        where = "in an invariant or cover" if scope.owner_kind == PROPERTY else "here"
        ctx.error(e.span, f"'{e.name}' cannot stand {where}: it is a statement, the whole "
                  "condition of an 'if' or 'while', or the whole value assigned to a local "
                  f"(as in 'released = {e.name}({', '.join((e.arg,) + e.extra)})')")
    elif e.name in ctx.sym.fns:
        ctx.error(e.span, f"'{e.name}' is a function: a call is a statement of its own, or "
                  f"(v3) the whole value assigned, as in 'x = {e.name}(...)', of a function "
                  f"declared '-> int' or '-> bool' (the queries are {queries})")
    elif e.name in PRIMITIVES or V.is_builtin(e.name):
        ctx.error(e.span, f"'{e.name}' is a statement, not a query: it cannot stand in "
                  f"an expression (the queries are {queries})")
    elif V.kernel_query_form(e.name) is not None:
        ctx.error(e.span, f"unknown query '{e.name}'; modproof writes it "
                  + V.kernel_query_form(e.name).format(e.arg))
    else:
        close = suggest(e.name, QUERIES)
        ctx.error(e.span, f"unknown query '{e.name}'{close or '; the queries are ' + queries}")


def lvalue_type(ctx: Context, name: str, span: A.Span, scope: Scope) -> Optional[str]:
    """The type of the var or local assigned to, or None after reporting that
    `name` cannot be assigned to."""
    if name in scope.types:
        return scope.types[name]
    got = ctx.sym.kind(name)
    if got == "var":
        return lit_type(ctx.sym.decls[name].value)
    if got is None:
        if name in ctx.refused:
            return None
        if name in ctx.all_locals:
            ctx.error(span, f"'{name}' is a local of another body, not visible here")
        else:
            names = ctx.names_of_kind("var") + list(scope.locals)
            ctx.error(span, f"assignment to undeclared variable '{name}'{suggest(name, names)}")
    else:
        ctx.error(span, f"cannot assign to '{name}': it is {ARTICLE.get(got, got)}, "
                  "not a var or local", *ctx.decl_note(name))
    return None
