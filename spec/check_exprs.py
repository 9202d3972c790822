"""Checks on expressions: names, types, queries and where a query may stand.

An expression is checked in a `Scope` (the locals of the fn or thread body it is
in, or none in an invariant or cover) and has type "int" or "bool".  Values are
vars and locals, typed by their initial literal; `refs`, `done`, ... read the
state of a declared object, completion, ...; `try_get` and `try_module_get` take
a reference, so they stand only as the whole condition of an `if`, `while` or
`await` (`top`).
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

    def __init__(self, owner_kind: str, locals_: dict[str, A.Local]):
        self.owner_kind = owner_kind  # "fn", "thread" or "property"
        self.locals = locals_


PROPERTY = "property"   # the owner kind of an invariant's or a cover's scope


def lit_type(lit: A.Literal) -> str:
    return "bool" if isinstance(lit, A.BoolLit) else "int"


def check_expr(ctx: Context, e: A.Expr, scope: Scope, want: Optional[str], what: str,
               top: bool) -> None:
    """Report errors in `e`, and that it is not of type `want` (when known);
    `what` names it in the message ("an if condition")."""
    got = expr_type(ctx, e, scope, top)
    if want is not None and got is not None and got != want:
        ctx.error(e.span, f"{what} must be {want}, but this expression is {got}")


def expr_type(ctx: Context, e: A.Expr, scope: Scope, top: bool = False) -> Optional[str]:
    """The type of `e` ("int"/"bool"), or None after reporting an error in it."""
    if isinstance(e, A.IntLit):
        return "int"
    if isinstance(e, A.BoolLit):
        return "bool"
    if isinstance(e, A.Name):
        return _name_type(ctx, e, scope)
    if isinstance(e, A.Not):
        check_expr(ctx, e.operand, scope, "bool", "the operand of 'not'", top=False)
        return "bool"
    if isinstance(e, A.Binary):
        return _binary_type(ctx, e, scope)
    if isinstance(e, A.Query):
        return _query_type(ctx, e, scope, top)
    raise AssertionError(f"unknown expression {e!r}")


def _name_type(ctx: Context, e: A.Name, scope: Scope) -> Optional[str]:
    if e.id in scope.locals:
        return lit_type(scope.locals[e.id].value)
    got = ctx.sym.kind(e.id)
    if got == "var":
        return lit_type(ctx.sym.decls[e.id].value)
    if got is None:
        if e.id in ctx.refused:
            return None
        if scope.owner_kind == PROPERTY and e.id in ctx.all_locals:
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
        check_expr(ctx, e.left, scope, op.operands, what, top=False)
        check_expr(ctx, e.right, scope, op.operands, what, top=False)
    return op.result


def _query_type(ctx: Context, e: A.Query, scope: Scope, top: bool) -> Optional[str]:
    if e.kind is None:
        _unknown_query(ctx, e)
        return None
    query = V.query(e.kind)
    if query.takes is not None:
        if scope.owner_kind == PROPERTY:
            ctx.error(e.span, f"'{e.kind.value}' takes a reference and may not appear in "
                      "invariants or covers")
        elif not top:
            ctx.error(e.span, f"'{e.kind.value}' may only stand as the whole condition of an "
                      "'if', 'while' or 'await'")
    need = query.operand
    ctx.expect_kind(e.arg, need, e.arg_span, f"'{e.kind.value}' needs {ARTICLE[need]}")
    return query.type


def _unknown_query(ctx: Context, e: A.Query) -> None:
    """Report `name(arg)` in an expression where `name` is no query: a function, a
    statement, the kernel's name for a query, or a misspelling."""
    queries = ", ".join(q.value for q in A.QueryKind)
    if e.name in ctx.sym.fns:
        ctx.error(e.span, f"'{e.name}' is a function: a call is a statement of its own, "
                  f"not part of an expression (the queries are {queries})")
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
    if name in scope.locals:
        return lit_type(scope.locals[name].value)
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
