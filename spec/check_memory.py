"""v3 checks of struct memory, parameters, paths and `self` (NOTE(memory) in spec/memory.py).

A body is checked once, with each parameter standing for a representative of
what may be passed (the first memory of its struct, the first object, ...) and
`self` for copy 0: every path then names a declaration of the layout, and the
checks of v1 and v2 apply unchanged.  What depends on the binding (an index in
range for every copy) is checked here.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Union

from modproof.spec import ast as A
from modproof.spec import memory as MEM
from modproof.spec.check_exprs import lit_type
from modproof.spec.diagnostics import Note
from modproof.spec.symbols import Context, suggest
from modproof.spec import vocabulary as V
from modproof.spec.vocabulary import ARTICLE

_TABLE = {"object": "objects", "completion": "completions", "mutex": "mutexes"}


def check_structs(ctx: Context) -> None:
    """The fields of each struct type: what kzalloc can set anew (NOTE(memory))."""
    sym = ctx.sym
    check_inits(ctx)
    for d in sym.instances:   # NOTE(per-copy): each copy's own memory is its locals
        st = sym.structs.get(d.struct)
        if d.per_copy and st is not None:
            for f in st.fields:
                if not isinstance(f, A.VarDecl):
                    ctx.error(d.span, f"'{d.name}[*]' is each copy's own memory, kept with the "
                              f"copy: its struct may hold only vars ('{f.name}' of struct "
                              f"'{st.name}' is not one)", Note(f.name_span, "declared here"))
    for st in sym.structs.values():
        for f in st.fields:
            if isinstance(f, A.ObjectDecl):
                if f.refs != 1:
                    ctx.error(f.span, f"an object in struct memory starts with count 1 (kzalloc "
                              f"then kref_init): leave out 'refs {f.refs}'")
                if f.release is not None:
                    _check_release(ctx, st, f)
            elif isinstance(f, A.CompletionDecl) and f.done != 0:
                ctx.error(f.span, "a completion in struct memory starts not done "
                          "(init_completion): leave out 'done'")


def check_inits(ctx: Context) -> None:
    """An initializer `= { .open = drv_open, .owner = drv }` sets fn and module fields."""
    sym = ctx.sym
    for d in sym.instances:
        st = sym.structs.get(d.struct)
        if st is None:
            continue
        fields = {f.name: f for f in st.fields}
        if d.element_inits and (d.count is None or len(d.element_inits) > d.count):
            ctx.error(d.span, f"'{d.name}' has {d.count or 'no'} element"
                      f"{'s' if d.count != 1 else ''} but {len(d.element_inits)} initializers")
        groups = d.element_inits or (d.inits,)
        for group in groups:
            _check_init_group(ctx, d, st, fields, group)


def _check_init_group(ctx: Context, d, st, fields: dict, group) -> None:
    seen: set = set()
    for name, value, span in group:
        f = fields.get(name)
        if name in seen:
            ctx.error(span, f"field '{name}' is initialized twice")
        seen.add(name)
        if f is None:
            ctx.error(span, f"struct '{st.name}' has no field '{name}'{suggest(name, fields)}")
        elif isinstance(f, A.FnField):
            ctx.expect_kind(value, "fn", span, f"'.{name}' of '{d.name}' names a function")
        elif isinstance(f, A.ModuleField):
            if value == "THIS_MODULE":
                ctx.error(span, f"'.{name} = THIS_MODULE': a declaration belongs to no module's "
                          f"code here; name the module, as in .{name} = drv")
            else:
                ctx.expect_kind(value, "module", span, f"'.{name}' of '{d.name}' names a module")
        else:
            ctx.error(span, f"only the fn and module fields of an ops table are initialized "
                      f"here ('{name}' is {ARTICLE[FIELD_KIND_OF(f)]}: it takes its declared "
                      "value)")


def FIELD_KIND_OF(f) -> str:
    return MEM.FIELD_KIND[type(f)]


def _check_release(ctx: Context, st: A.StructDecl, f: A.ObjectDecl) -> None:
    fn = ctx.sym.fns.get(f.release)
    if fn is None:
        ctx.expect_kind(f.release, "fn", f.release_span,
                        f"the release function of field '{f.name}' of struct '{st.name}'")
        return
    ps = fn.params
    if not ps:
        return
    if len(ps) != 1 or ps[0].type != "struct" or ps[0].struct != st.name:
        ctx.error(f.release_span, f"the release function of field '{f.name}' of struct "
                  f"'{st.name}' takes no parameter or one 'struct {st.name} *' (the memory the "
                  "kref lives in, as container_of gives it)",
                  Note(fn.name_span, f"'{fn.name}' is declared here"))


def check_params(ctx: Context, d: A.FnDecl) -> None:
    seen: dict[str, A.Span] = {}
    locals_ = {s.name for s in d.body if isinstance(s, A.Local)}
    for p in d.params:
        if p.name in seen:
            ctx.error(p.name_span, f"function '{d.name}' has two parameters named '{p.name}'")
        seen[p.name] = p.name_span
        # a pointer or object parameter may shadow a declaration of the file (in the
        # body, the name is the parameter); an int or bool one is a local and may not
        if (p.name in ctx.sym.decls and p.type in ("int", "bool")) or p.name == MEM.SELF:
            ctx.error(p.name_span, f"parameter '{p.name}' of '{d.name}' has the name of "
                      + ("the copy's index" if p.name == MEM.SELF else
                         f"{ARTICLE.get(ctx.sym.kind(p.name), 'a declaration')} of the file")
                      + ": give it another name", *ctx.decl_note(p.name))
        if p.name in locals_:
            ctx.error(p.name_span, f"'{p.name}' is a parameter and a local of '{d.name}'")
        if p.type == "struct":
            if p.struct not in ctx.sym.structs:
                ctx.error(p.span, f"unknown struct type '{p.struct}'{suggest(p.struct, ctx.sym.structs)}")
        elif p.type not in MEM.PARAM_TYPES:
            ctx.error(p.span, f"unknown parameter type '{p.type}': a parameter is "
                      "'struct S *NAME' or 'T NAME' with T one of " + ", ".join(MEM.PARAM_TYPES))


def check_returns(ctx: Context, d: A.FnDecl) -> None:
    """NOTE(results): a function declared `-> T` gives a value on every path."""
    if d.returns is None:
        return
    if d.returns not in ("int", "bool"):
        ctx.error(d.returns_span, f"a function returns int or bool, not '{d.returns}'")
    elif not _always_returns(d.body):
        ctx.error(d.name_span, f"function '{d.name}' returns {d.returns}: every path must end "
                  "with 'return VALUE' (modproof does not follow a path that falls off the end)")


def _always_returns(stmts: tuple) -> bool:
    for s in stmts:
        if isinstance(s, A.Return):
            return True
        if isinstance(s, A.If) and s.orelse is not None:
            if _always_returns(s.then) and _always_returns(s.orelse):
                return True
        if isinstance(s, A.Choose) and all(_always_returns(b) for b in s.branches):
            return True
    return False


def check_no_params(ctx: Context, fn: str, span: A.Span, what: str) -> None:
    """`fn` is run by the kernel with nothing to bind its parameters to."""
    d = ctx.sym.fns.get(fn)
    if d is not None and d.params:
        ctx.error(span, f"{what} '{fn}' is called by the kernel without arguments: it can take "
                  "no parameter", Note(d.name_span, f"'{fn}' is declared here"))


def representative(ctx: Context, p: A.Param) -> Optional[str]:
    """What a parameter stands for when its body is checked."""
    sym = ctx.sym
    if p.type == "struct":
        for elem, d in sym.elements.items():
            if d.struct == p.struct:
                return elem
        return None
    if p.type in _TABLE:
        table = getattr(sym, _TABLE[p.type])
        return table[0].name if table else None
    if p.type == "fn":   # a callback: a function without parameters
        return next((f.name for f in sym.fns.values() if not f.params), None)
    return p.name


def for_checking(ctx: Context, d: Union[A.FnDecl, A.ThreadDecl]):
    """`d` as the checks of bodies see it: parameters bound to representatives,
    int and bool parameters as locals, `self` as copy 0; each path checked."""
    binds: dict = {}
    prefix: list = []
    if isinstance(d, A.FnDecl):
        check_params(ctx, d)
        for p in d.params:
            rep = representative(ctx, p)
            if p.type in ("int", "bool"):
                prefix.append(A.Local(p.name, A.IntLit(0) if p.type == "int" else A.BoolLit(False),
                                      name_span=p.name_span, span=p.span))
            elif rep is None:
                what = ("memory of struct " + str(p.struct) if p.struct else
                        "function without parameters (a callback is called without arguments)"
                        if p.type == "fn" else p.type)
                ctx.error(p.span, f"nothing can be passed to parameter '{p.name}': the file "
                          f"declares no {what}")
                ctx.refused.add(p.name)
            else:
                binds[p.name] = rep
    copies = d.count if isinstance(d, A.ThreadDecl) else None
    unbounded = isinstance(d, A.ThreadDecl) and d.unbounded
    declared_self = MEM.SELF in ctx.sym.decls or any(
        isinstance(s, A.Local) and s.name == MEM.SELF for s in d.body)

    def f(name: str, span: A.Span):
        if name == MEM.SELF and not declared_self:
            if copies is not None:
                return A.IntLit(0, span=span)
            ctx.error(span, _self_where(d, unbounded))
            ctx.refused.add(name)
            return name
        if name in binds:
            return binds[name]
        if not MEM.is_path(name):
            return name
        got = _path(ctx, d, name, span, binds, copies, unbounded, declared_self)
        if got is None:
            ctx.refused.add(name)
            return name
        return got

    if MEM.has_for(d.body):
        _check_fors(ctx, d.body, False)
        d = dataclasses.replace(d, body=MEM.unroll(d.body, array_sizes(ctx.sym)))
    body = MEM.rewrite(d.body, f)
    _null_calls(ctx, d.body, body)
    return dataclasses.replace(d, body=tuple(prefix) + body)


def check_prop(ctx: Context, d) -> None:
    """NOTE(per-copy): an invariant or a cover sees shared state, not a copy's own memory."""
    names: list = []
    MEM.expr_names(d.expr, names)
    for n in names:
        parts = MEM.split(n)
        decl = ctx.sym.decls.get(parts[0]) if parts else None
        if isinstance(decl, A.InstanceDecl) and decl.per_copy:
            ctx.error(d.expr.span, f"'{n}': '{parts[0]}[*]' is each copy's own memory; an "
                      "invariant or a cover sees only shared state")
            return


def array_sizes(sym) -> dict:
    return {d.name: d.count for d in sym.instances if d.count is not None}


def _check_fors(ctx: Context, stmts: tuple, in_for: bool) -> None:
    """NOTE(for): the array of a `for` is an array of struct memory; a `break` or
    `continue` cannot leave or restart it (its body is unrolled)."""
    for s in stmts:
        if isinstance(s, A.For):
            kind = ctx.sym.kind(s.array)
            decl = ctx.sym.decls.get(s.array)
            if isinstance(decl, A.InstanceDecl) and decl.per_copy:
                ctx.error(s.array_span, f"'for {s.var} in {s.array}': '{s.array}[*]' is each "
                          "copy's own memory, which no other thread can walk")
            elif kind != "memory array":
                what = "not declared" if kind is None else f"{ARTICLE.get(kind, kind)}"
                ctx.error(s.array_span, f"'for {s.var} in {s.array}' walks an array of struct "
                          f"memory: '{s.array}' is {what}", *ctx.decl_note(s.array))
            _check_fors(ctx, s.body, True)
        elif isinstance(s, (A.Break, A.Continue)) and in_for:
            word = "break" if isinstance(s, A.Break) else "continue"
            ctx.error(s.span, f"'{word}' in the body of a 'for' is not supported yet (the walk "
                      "visits every element: test a condition around the body instead)")
        elif isinstance(s, A.While):
            _check_fors(ctx, s.body, False)
        else:
            for b in A.blocks_of(s):
                _check_fors(ctx, b, in_for)


def _null_calls(ctx: Context, before: tuple, after: tuple) -> None:
    """A call through an ops table whose method is NULL."""
    for s0, s1 in zip(before, after):
        if isinstance(s0, A.CallStmt) and MEM.is_path(s0.fn) and s1.fn == MEM.NULL:
            ctx.error(s0.fn_span, f"'{s0.fn}' is NULL (its table's initializer sets no "
                      f".{s0.fn.rsplit('.', 1)[-1]}): calling it is a NULL pointer dereference")
            ctx.refused.add(MEM.NULL)
        for b0, b1 in zip(A.blocks_of(s0), A.blocks_of(s1)):
            _null_calls(ctx, b0, b1)


def _self_where(d, unbounded: bool) -> str:
    if unbounded:
        return ("'self' in a 'thread NAME[*]' is not supported yet (modproof 3): the copies of "
                "any number are one template")
    if isinstance(d, A.FnDecl):
        return ("'self' stands only in the body of a 'thread NAME[K]': pass what a function "
                "needs as a parameter")
    return f"'self' is the copy's own index: thread '{d.name}' has no copies (thread {d.name}[K])"


def _path(ctx: Context, d, name: str, span: A.Span, binds: dict, copies: Optional[int],
          unbounded: bool, declared_self: bool) -> Optional[str]:
    sym = ctx.sym
    parts = MEM.split(name)
    if parts is None:
        ctx.error(span, f"'{name}': a path is a name, NAME.FIELD, NAME[I] or NAME[I].FIELD "
                  "(one field deep; use a parameter or a local pointer for more)")
        return None
    base, index, field = parts
    if base in binds:
        if index is not None:
            ctx.error(span, f"'{base}' is a parameter: a pointer to one struct, not an array")
            return None
        base = binds[base]
    kind = sym.kind(base)
    if kind is None:
        if base not in ctx.refused:
            names = [n for n, k in ((n, sym.kind(n)) for n in sym.decls) if k in ("memory", "memory array")]
            ctx.error(span, f"undeclared struct memory '{base}'{suggest(base, names)}")
        return None
    if kind not in ("memory", "memory array"):
        hint = " (a field of struct memory is written NAME.FIELD)" if field else ""
        if field is not None and (field in V.PRIMITIVE_NAMES or V.is_builtin(field)):
            hint = (f" (there are no methods: a primitive is written as in "
                    f"{field}({base}))")
        ctx.error(span, f"'{base}' is {ARTICLE.get(kind, kind)}, not struct memory{hint}",
                  *ctx.decl_note(base))
        return None
    decl = sym.elements.get(base) or sym.decls[base]
    if decl.struct not in sym.structs:
        return None        # its unknown struct type is reported at its declaration
    if decl.per_copy and base == decl.name:   # NOTE(per-copy)
        if index != MEM.SELF or declared_self:
            ctx.error(span, f"'{base}' has one element per copy of a thread: name it "
                      f"{base}[self], in the body of a thread NAME[K] or NAME[*]")
            return None
        if copies is None and not unbounded:
            ctx.error(span, _self_where(d, False) if not isinstance(d, A.ThreadDecl)
                      else f"'{base}[self]': thread '{d.name}' has no copies (thread {d.name}[K] "
                      f"or {d.name}[*])")
            return None
        user = sym.copy_user.setdefault(base, d.name)
        if user != d.name:
            ctx.error(span, f"'{base}[*]' already belongs to the copies of thread '{user}': each "
                      "copy's own memory belongs to one thread NAME[K] or NAME[*]")
            return None
        elem = f"{base}[self]"
    elif index is not None:
        if kind != "memory array":
            ctx.error(span, f"'{base}' is not an array: it has no element [{index}]",
                      *ctx.decl_note(base))
            return None
        if index == MEM.SELF and not declared_self:
            if copies is None:
                ctx.error(span, _self_where(d, unbounded))
                return None
            if copies > decl.count:
                ctx.error(span, f"'{base}[self]': thread '{d.name}' has {copies} copies but "
                          f"'{base}' only {decl.count} elements")
                return None
            index = "0"
        elif not index.isdigit():
            ctx.error(span, f"'{base}[{index}]': an index is a number or self (the copy's own "
                      "index in a thread NAME[K])")
            return None
        elif int(index) >= decl.count:
            ctx.error(span, f"'{base}[{index}]' is out of range: '{base}' has {decl.count} "
                      f"element{'s' if decl.count != 1 else ''} (0 to {decl.count - 1})",
                      *ctx.decl_note(base))
            return None
        elem = f"{base}[{int(index)}]"
    else:
        if kind == "memory array":
            ctx.error(span, f"'{base}' is an array of struct memory: name an element, "
                      f"as in {base}[0]" + (f".{field}" if field else ""), *ctx.decl_note(base))
            return None
        elem = base
    if field is None:
        return elem
    st = sym.structs[decl.struct]
    names = [f.name for f in st.fields]
    if field not in names:
        ctx.error(span, f"struct '{st.name}' has no field '{field}'{suggest(field, names)}",
                  Note(st.name_span, f"struct '{st.name}' is declared here"))
        return None
    flat = f"{elem}.{field}"
    if flat in sym.constants:
        value = sym.constants[flat]
        if value is None and parts[0] in binds:
            # through a parameter: any instance that sets it stands for the others
            value = next((v for k, v in sym.constants.items()
                          if v is not None and k.endswith("." + field)
                          and sym.struct_of(sym_container(k)) == decl.struct), None)
        return value or MEM.NULL
    return flat


def sym_container(flat: str) -> str:
    return flat.rsplit(".", 1)[0]


def call_args(ctx: Context, s: A.CallStmt, fn: A.FnDecl, scope) -> None:
    """The arguments of a call of `fn` match its parameters."""
    args = () if s.arg is None else (s.arg,) + s.extra
    spans = () if s.arg is None else (s.arg_span,) + (s.extra_spans or (s.span,) * len(s.extra))
    ps = fn.params
    if len(args) != len(ps):
        want = "no arguments" if not ps else f"{len(ps)} argument{'s' if len(ps) > 1 else ''} (" + \
            ", ".join(_param_text(p) for p in ps) + ")"
        ctx.error(s.span, f"function '{fn.name}' takes {want}, not {len(args)}",
                  Note(fn.name_span, f"'{fn.name}' is declared here"))
        return
    sym = ctx.sym
    for p, a, sp in zip(ps, args, spans):
        if a in ctx.refused:
            continue
        if p.type == "struct":
            if sym.kind(a) == "memory" and sym.struct_of(a) == p.struct:
                continue
            got = sym.kind(a)
            what = (f"struct {sym.struct_of(a)} memory" if got == "memory"
                    else ARTICLE.get(got, "not declared") if got else "not declared")
            ctx.error(sp, f"parameter '{p.name}' of '{fn.name}' is a 'struct {p.struct} *': "
                      f"'{a}' is {what}")
        elif p.type in _TABLE:
            ctx.expect_kind(a, p.type, sp, f"parameter '{p.name}' of '{fn.name}' needs "
                            f"{ARTICLE[p.type]}")
        elif p.type == "fn":
            if ctx.expect_kind(a, "fn", sp, f"parameter '{p.name}' of '{fn.name}' needs a "
                               "function") and sym.fns[a].params:
                ctx.error(sp, f"parameter '{p.name}' of '{fn.name}' is a callback called without "
                          f"arguments: '{a}' takes parameters", Note(sym.fns[a].name_span,
                                                                     f"'{a}' is declared here"))
        else:
            lit = literal_expr(a)
            got = (lit_type(lit) if lit is not None else scope.types.get(a)
                   or (lit_type(sym.decls[a].value) if sym.kind(a) == "var" else None))
            if got is None:
                ctx.error(sp, f"parameter '{p.name}' of '{fn.name}' is {p.type}: pass a literal, "
                          f"a var or a local, not '{a}'")
            elif got != p.type:
                ctx.error(sp, f"parameter '{p.name}' of '{fn.name}' is {p.type}, but '{a}' is {got}")


def _param_text(p: A.Param) -> str:
    return f"struct {p.struct} *{p.name}" if p.type == "struct" else f"{p.type} {p.name}"



def literal_expr(a: str) -> Optional[A.Expr]:
    if a in ("true", "false"):
        return A.BoolLit(a == "true")
    if a.lstrip("-").isdigit():
        return A.IntLit(int(a))
    return None
