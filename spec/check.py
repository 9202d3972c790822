"""Static checks on a parsed file: names, kinds, types, placement rules, call cycles.

`check(spec)` returns a `Symbols` table for the lowering, or raises `SpecError`
with every mistake it found (not just the first).  The rules are LANGUAGE.md's;
each message says what is wrong in the user's terms and, where another place in
the file is involved, adds a `note:` pointing at it.

The passes, in order, each in a module of its own:

- `limits`: how deep blocks and expressions nest (the other passes recurse
  along the nesting, so a file nested too deep stops here);
- `symbols`: the declarations filed by name in `Symbols` (keywords, 'core' and
  duplicates refused), and the `Context` the later passes report through;
- this module: what each declaration names (an exit or release function, a
  storage module, an owner, a thread's copies), then its body or expression;
- `check_stmts` and `check_exprs`: the bodies of fns and threads, statement by
  statement, and every expression, in bodies and in invariants and covers;
- `callgraph`: call cycles, and nesting with every call inlined.
"""
from __future__ import annotations

from typing import Optional

from modproof.spec import ast as A
from modproof.spec import check_memory
from modproof.spec.callgraph import CallEdge, call_graph, cycle_errors, inlined_depth_errors
from modproof.spec.check_exprs import PROPERTY, Scope, check_expr
from modproof.spec.check_stmts import check_body
from modproof.spec.diagnostics import Note, SpecError
from modproof.spec.limits import (MAX_BLOCK_DEPTH, MAX_COPIES, MAX_EXPR_DEPTH, MAX_INLINED_DEPTH,
                                  nesting_errors)
from modproof.spec.symbols import (KIND_OF, PRIMITIVES, QUERIES, RESERVED, Context, Symbols,
                                   collect, suggest)
from modproof.spec.vocabulary import ARTICLE

# What other modules import from here (the tables are defined in `symbols`, the limits in `limits`).
__all__ = ["check", "Symbols", "KIND_OF", "PRIMITIVES", "QUERIES", "RESERVED", "ARTICLE",
           "MAX_BLOCK_DEPTH", "MAX_COPIES", "MAX_EXPR_DEPTH", "MAX_INLINED_DEPTH",
           "nesting_errors"]


def check(spec: A.SpecFile) -> Symbols:
    """Check `spec`; return its symbol table or raise SpecError with every mistake found."""
    too_deep = nesting_errors(spec)
    if too_deep:   # the later passes recurse along the nesting: stop here
        raise SpecError(too_deep)
    ctx = collect(spec)
    check_memory.check_structs(ctx)
    calls: dict[str, list[CallEdge]] = {}   # of each fn and thread
    body_depth: dict[str, int] = {}         # deepest block of each body
    for d in spec.decls:
        _check_decl(ctx, d)
        if isinstance(d, (A.FnDecl, A.ThreadDecl)):
            body = check_body(ctx, check_memory.for_checking(ctx, d))
            calls[d.name] = body.calls
            body_depth[d.name] = max(body_depth.get(d.name, 0), body.depth)
    graph = call_graph(calls, ctx.sym.fns)
    cycles = cycle_errors(graph, ctx.sym.fns)
    if cycles:
        ctx.diags += cycles
    else:   # inlining is defined only for calls that do not recurse
        ctx.diags += inlined_depth_errors(graph, body_depth, spec.decls)
    if ctx.diags:
        raise SpecError(ctx.diags)
    return ctx.sym


def _check_decl(ctx: Context, d: A.Decl) -> None:
    """What a declaration names must be declared, and of the right kind; counts in range;
    an invariant or a cover is a bool expression."""
    if isinstance(d, A.ModuleDecl):
        if d.exit is not None:
            ctx.expect_kind(d.exit, "fn", d.exit_span, f"the exit function of module '{d.name}'")
            check_memory.check_no_params(ctx, d.exit, d.exit_span, "the exit function")
        if d.init is not None:
            check_memory.check_no_params(ctx, d.init, d.init_span, "the init function")
        if d.refs < 0:
            ctx.error(d.span, "a module refcount cannot be negative")
        _check_init_and_depends(ctx, d)
    elif isinstance(d, A.ObjectDecl):
        if d.release is not None:
            ctx.expect_kind(d.release, "fn", d.release_span,
                            f"the release function of object '{d.name}'")
            check_memory.check_no_params(ctx, d.release, d.release_span, "the release function")
        if d.storage is not None:
            ctx.expect_kind(d.storage, "module", d.storage_span, f"the storage of object '{d.name}'")
    elif isinstance(d, A.CompletionDecl):
        if d.storage is not None:
            ctx.expect_kind(d.storage, "module", d.storage_span,
                            f"the storage of completion '{d.name}'")
    elif isinstance(d, (A.WorkDecl, A.DelayedWorkDecl)):
        what = "work item" if isinstance(d, A.WorkDecl) else "delayed work item"
        ctx.expect_kind(d.fn, "fn", d.fn_span, f"the function of {what} '{d.name}'")
        check_memory.check_no_params(ctx, d.fn, d.fn_span, f"the function of {what}")
        if d.queue is not None:
            ctx.expect_kind(d.queue, "workqueue", d.queue_span,
                            f"the workqueue of {what} '{d.name}'")
    elif isinstance(d, A.TimerDecl):
        ctx.expect_kind(d.fn, "fn", d.fn_span, f"the function of timer '{d.name}'")
        check_memory.check_no_params(ctx, d.fn, d.fn_span, "the function of timer")
    elif isinstance(d, A.IrqDecl):
        ctx.expect_kind(d.fn, "fn", d.fn_span, f"the handler of irq '{d.name}'")
    elif isinstance(d, A.FnDecl):
        _check_owner(ctx, d.owner, d.owner_span, f"function '{d.name}'")
        check_memory.check_returns(ctx, d)
    elif isinstance(d, A.ThreadDecl):
        if d.owner is not None:
            _check_owner(ctx, d.owner, d.owner_span, f"thread '{d.name}'")
        if d.count is not None and d.count < 1:
            ctx.error(d.count_span, f"thread '{d.name}[{d.count}]' needs at least one copy "
                      "(K must be 1 or more)")
        elif d.count is not None and d.count > MAX_COPIES:
            k = str(d.count) if d.count < 10 ** 20 else f"<{len(str(d.count))}-digit number>"
            ctx.error(d.count_span, f"thread '{d.name}[{k}]' has too many copies "
                      f"(at most {MAX_COPIES})")
    elif isinstance(d, A.ExpectDecl):
        if d.bound is not None and d.bound < 1:
            ctx.error(d.bound_span, "'expect proved up to N' needs N of 1 or more: a bound of 0 "
                      "checks only the initial state, which proves nothing")
    elif isinstance(d, (A.InvariantDecl, A.CoverDecl)):
        check_memory.check_prop(ctx, d)
        what = "invariant" if isinstance(d, A.InvariantDecl) else "cover"
        check_expr(ctx, d.expr, Scope(PROPERTY, {}), "bool", what, top=None)


def _check_init_and_depends(ctx: Context, d: A.ModuleDecl) -> None:
    """v3 (NOTE(module-init)): the init function is the module's own code and only
    insmod runs it; the modules it depends on are other modules, each named once,
    and no module depends on itself through others."""
    if d.init is not None and ctx.expect_kind(d.init, "fn", d.init_span,
                                              f"the init function of module '{d.name}'"):
        fn = ctx.sym.fns[d.init]
        if fn.owner != d.name:
            ctx.error(d.init_span, f"the init function of module '{d.name}' must be its own code "
                      f"(fn {d.init} in {d.name}), as module_init() names a function of the "
                      f"module, but '{d.init}' is in {fn.owner}", Note(fn.owner_span, "owner here"))
        for other in ctx.sym.modules:
            if other is not d and other.init == d.init:
                ctx.error(d.init_span, f"'{d.init}' is already the init function of module "
                          f"'{other.name}'", Note(other.init_span, "named here"))
                break
        users = [(o.name, o.release_span, "the release function of object")
                 for o in ctx.sym.objects if o.release == d.init]
        users += [(m.name, m.exit_span, "the exit function of module")
                  for m in ctx.sym.modules if m.exit == d.init]
        users += [(w.name, w.fn_span, "the function of")
                  for w in ctx.sym.works + ctx.sym.delayed_works + ctx.sym.timers + ctx.sym.irqs
                  if w.fn == d.init]
        for name, span, what in users:
            ctx.error(span, f"'{d.init}' is the init function of module '{d.name}': only insmod "
                      f"runs it, so it cannot also be {what} '{name}'", Note(d.init_span, "named here"))
    seen: dict[str, A.Span] = {}
    for dep, span in zip(d.depends, d.depends_spans):
        if dep == d.name:
            ctx.error(span, f"module '{d.name}' cannot depend on itself")
        elif dep in seen:
            ctx.error(span, f"module '{d.name}' depends on '{dep}' twice", Note(seen[dep], "first here"))
        elif ctx.expect_kind(dep, "module", span, f"what module '{d.name}' depends on"):
            seen[dep] = span
            path = _dependency_path(ctx, dep, d.name)
            order = [m.name for m in ctx.sym.modules]
            if path is not None and min([d.name] + path, key=order.index) == d.name:
                ctx.error(span, f"circular dependency: {' -> '.join([d.name] + path)} (the kernel "
                          "refuses to load modules that use each other's symbols)")


def _dependency_path(ctx: Context, start: str, goal: str) -> Optional[list[str]]:
    """The modules from `start` along `depends` to `goal`, if `start` depends on it."""
    decls = {m.name: m for m in ctx.sym.modules}
    stack, seen = [(start, [start])], set()
    while stack:
        n, path = stack.pop()
        if n == goal:
            return path
        if n in seen or n not in decls:
            continue
        seen.add(n)
        stack.extend((x, path + [x]) for x in decls[n].depends)
    return None


def _check_owner(ctx: Context, owner: str, span: A.Span, what: str) -> None:
    """The owner of a fn or thread is a module or 'core'."""
    got = ctx.sym.kind(owner)
    if got in ("core", "module"):
        return
    if got is None:
        mods = [m.name for m in ctx.sym.modules] + ["core"]
        ctx.error(span, f"the owner of {what} must be a module or 'core', "
                  f"but '{owner}' is not declared{suggest(owner, mods)}")
    else:
        ctx.error(span, f"the owner of {what} must be a module or 'core', "
                  f"but '{owner}' is {ARTICLE.get(got, got)}", *ctx.decl_note(owner))
