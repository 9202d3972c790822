"""Static checks on a parsed file: names, kinds, types, placement rules, call cycles.

`check(spec)` returns a `Symbols` table for the lowering, or raises `SpecError`
with every mistake it found (not just the first).  The rules are LANGUAGE.md's;
each message says what is wrong in the user's terms and, where another place in
the file is involved, adds a `note:` pointing at it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from modproof.spec import ast as A
from modproof.spec import vocabulary as V
from modproof.spec.diagnostics import Diagnostic, Note, SpecError
from modproof.spec.vocabulary import CHECKS

PRIMITIVES = frozenset(p.name for p in V.PRIMITIVES)
QUERIES = frozenset(q.name for q in V.QUERIES)
RESERVED = V.KEYWORDS | V.OPTION_WORDS | {"core"} | PRIMITIVES | QUERIES

KIND_OF = {
    A.ModuleDecl: "module", A.ObjectDecl: "object", A.CompletionDecl: "completion",
    A.MutexDecl: "mutex", A.VarDecl: "var", A.FnDecl: "fn", A.ThreadDecl: "thread",
    A.InvariantDecl: "invariant", A.CoverDecl: "cover",
    A.WorkqueueDecl: "workqueue", A.WorkDecl: "work", A.TimerDecl: "timer",
}
# Where collect() files each kind of declaration in Symbols (functions go by name).
_TABLE_OF = {
    A.ModuleDecl: "modules", A.ObjectDecl: "objects", A.CompletionDecl: "completions",
    A.MutexDecl: "mutexes", A.VarDecl: "vars", A.ThreadDecl: "threads",
    A.InvariantDecl: "invariants", A.CoverDecl: "covers", A.WorkqueueDecl: "workqueues",
    A.WorkDecl: "works", A.TimerDecl: "timers",
}
ARTICLE = V.ARTICLE


def _suggest(name: str, candidates) -> str:
    """"; did you mean 'x'?" for a close spelling among `candidates`, else ""."""
    import difflib
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""


def _lit_type(lit: A.Literal) -> str:
    return "bool" if isinstance(lit, A.BoolLit) else "int"


@dataclass
class Symbols:
    """Everything the lowering needs to know about names, after checking."""

    decls: dict[str, A.Decl] = field(default_factory=dict)
    modules: list[A.ModuleDecl] = field(default_factory=list)
    objects: list[A.ObjectDecl] = field(default_factory=list)
    completions: list[A.CompletionDecl] = field(default_factory=list)
    mutexes: list[A.MutexDecl] = field(default_factory=list)
    vars: list[A.VarDecl] = field(default_factory=list)
    fns: dict[str, A.FnDecl] = field(default_factory=dict)
    threads: list[A.ThreadDecl] = field(default_factory=list)
    invariants: list[A.InvariantDecl] = field(default_factory=list)
    covers: list[A.CoverDecl] = field(default_factory=list)
    expect: Optional[A.ExpectDecl] = None
    workqueues: list[A.WorkqueueDecl] = field(default_factory=list)
    works: list[A.WorkDecl] = field(default_factory=list)
    timers: list[A.TimerDecl] = field(default_factory=list)

    def builtin(self, call: A.CallStmt) -> bool:
        """Whether `call` is a v2 built-in (not shadowed by a declared function)."""
        return V.is_builtin(call.fn) and call.fn not in self.decls

    def kind(self, name: str) -> Optional[str]:
        if name == "core":
            return "core"
        decl = self.decls.get(name)
        return KIND_OF[type(decl)] if decl is not None else None

    def index(self, kind: str, name: str) -> int:
        table = {"module": self.modules, "object": self.objects, "completion": self.completions,
                 "mutex": self.mutexes, "var": self.vars, "workqueue": self.workqueues,
                 "work": self.works, "timer": self.timers}[kind]
        for i, d in enumerate(table):
            if d.name == name:
                return i
        raise KeyError(name)


class _Scope:
    """The names visible in one fn or thread body: its locals, then the file's."""

    def __init__(self, owner_kind: str, locals_: dict[str, A.Local]):
        self.owner_kind = owner_kind  # "fn", "thread" or "property"
        self.locals = locals_


class Checker:
    def __init__(self, spec: A.SpecFile):
        self.spec = spec
        self.diags: list[Diagnostic] = []
        self.sym = Symbols()
        self.all_locals: dict[str, A.Local] = {}
        # Per fn or thread: (callee, span, how, block depth of the call) for every
        # call, and every put and unload that runs a release or exit function; `how`
        # says it in words, with {f} for the caller and {g} for the callee.
        self.calls: dict[str, list[tuple[str, A.Span, str, int]]] = {}
        self.block_depth = 0                      # of the statement being checked
        self.body_depth: dict[str, int] = {}      # deepest block of each body
        # Names whose declaration was refused (a keyword, 'core'): their uses are not
        # reported again as undeclared.
        self.refused: set[str] = set()

    def error(self, span: A.Span, message: str, *notes: Note) -> None:
        self.diags.append(Diagnostic(span, message, tuple(notes)))

    def decl_note(self, name: str, what: str = "declared here") -> tuple[Note, ...]:
        decl = self.sym.decls.get(name)
        if decl is None:
            return ()
        return (Note(getattr(decl, "name_span", decl.span), f"'{name}' is {what}"),)

    # ------------------------------------------------------------------ declarations

    def run(self) -> Symbols:
        self.collect()
        for d in self.spec.decls:
            if isinstance(d, A.ModuleDecl):
                if d.exit is not None:
                    self.expect_kind(d.exit, "fn", d.exit_span, f"the exit function of module '{d.name}'")
                if d.refs < 0:
                    self.error(d.span, "a module refcount cannot be negative")
            elif isinstance(d, A.ObjectDecl):
                if d.release is not None:
                    self.expect_kind(d.release, "fn", d.release_span,
                                     f"the release function of object '{d.name}'")
                if d.storage is not None:
                    self.expect_kind(d.storage, "module", d.storage_span,
                                     f"the storage of object '{d.name}'")
            elif isinstance(d, A.CompletionDecl):
                if d.storage is not None:
                    self.expect_kind(d.storage, "module", d.storage_span,
                                     f"the storage of completion '{d.name}'")
            elif isinstance(d, A.WorkDecl):
                self.expect_kind(d.fn, "fn", d.fn_span, f"the function of work item '{d.name}'")
                if d.queue is not None:
                    self.expect_kind(d.queue, "workqueue", d.queue_span,
                                     f"the workqueue of work item '{d.name}'")
            elif isinstance(d, A.TimerDecl):
                self.expect_kind(d.fn, "fn", d.fn_span, f"the function of timer '{d.name}'")
            elif isinstance(d, A.FnDecl):
                self.check_owner(d.owner, d.owner_span, f"function '{d.name}'")
                self.check_body(d.name, d.body, "fn", d)
            elif isinstance(d, A.ThreadDecl):
                if d.owner is not None:
                    self.check_owner(d.owner, d.owner_span, f"thread '{d.name}'")
                if d.count is not None and d.count < 1:
                    self.error(d.count_span, f"thread '{d.name}[{d.count}]' needs at least one copy "
                               "(K must be 1 or more)")
                elif d.count is not None and d.count > MAX_COPIES:
                    k = str(d.count) if d.count < 10 ** 20 else f"<{len(str(d.count))}-digit number>"
                    self.error(d.count_span, f"thread '{d.name}[{k}]' has too many copies "
                               f"(at most {MAX_COPIES})")
                self.check_body(d.name, d.body, "thread", d)
            elif isinstance(d, (A.InvariantDecl, A.CoverDecl)):
                what = "invariant" if isinstance(d, A.InvariantDecl) else "cover"
                self.check_expr(d.expr, _Scope("property", {}), "bool", what, top=False)
        if not self.check_cycles():
            self.check_inlined_depth()
        if self.diags:
            raise SpecError(self.diags)
        return self.sym

    def collect(self) -> None:
        for d in self.spec.decls:
            if isinstance(d, A.ExpectDecl):
                if self.sym.expect is not None:
                    self.error(d.span, "a file has at most one 'expect' line",
                               Note(self.sym.expect.span, "the first 'expect' is here"))
                    continue
                self.sym.expect = d
                if d.verdict == "violated" and d.check not in CHECKS:
                    spelt = d.check.lower().replace("_", "-")
                    if spelt in CHECKS:   # Code-After-Unload, code_after_unload
                        self.error(d.check_span, f"unknown check '{d.check}'; did you mean "
                                   f"'{spelt}'? (check names are lower case, with hyphens)")
                    else:
                        self.error(d.check_span, f"unknown check '{d.check}'; the checks are "
                                   + ", ".join(CHECKS))
                continue
            name = d.name
            span = d.name_span
            if name == "core":
                self.error(span, "'core' is predeclared: it is the built-in kernel and cannot be declared")
                continue
            if name in RESERVED:
                self.error(span, f"'{name}' is a keyword or built-in name and cannot be declared")
                self.refused.add(name)
                continue
            prev = self.sym.decls.get(name)
            if prev is not None:
                self.error(span, f"'{name}' is already declared as {ARTICLE[KIND_OF[type(prev)]]}; "
                           "names are unique across the file",
                           Note(prev.name_span, f"first declaration of '{name}'"))
                continue
            self.sym.decls[name] = d
            if isinstance(d, A.FnDecl):
                self.sym.fns[name] = d
            else:
                getattr(self.sym, _TABLE_OF[type(d)]).append(d)
            if isinstance(d, A.ObjectDecl) and d.refs < 0:
                self.error(d.span, "an object's count cannot be negative")
        # Locals of every body, to tell "a local is not allowed here" from "undeclared".
        for d in self.spec.decls:
            if isinstance(d, (A.FnDecl, A.ThreadDecl)):
                for s in d.body:
                    if isinstance(s, A.Local):
                        self.all_locals.setdefault(s.name, s)

    def expect_kind(self, name: str, kind: str, span: A.Span, what: str) -> bool:
        """Report unless `name` is declared as `kind`."""
        got = self.sym.kind(name)
        if got == kind:
            return True
        if got is None:
            if name in self.refused:
                return False
            names = [n for n in self.sym.decls if self.sym.kind(n) == kind]
            self.error(span, f"{what}: '{name}' is not declared{_suggest(name, names)}")
        else:
            self.error(span, f"{what}: '{name}' is {ARTICLE.get(got, got)}, not {ARTICLE[kind]}",
                       *self.decl_note(name))
        return False

    def check_owner(self, owner: str, span: A.Span, what: str) -> None:
        got = self.sym.kind(owner)
        if got in ("core", "module"):
            return
        if got is None:
            mods = [m.name for m in self.sym.modules] + ["core"]
            self.error(span, f"the owner of {what} must be a module or 'core', "
                       f"but '{owner}' is not declared{_suggest(owner, mods)}")
        else:
            self.error(span, f"the owner of {what} must be a module or 'core', "
                       f"but '{owner}' is {ARTICLE.get(got, got)}", *self.decl_note(owner))

    # ------------------------------------------------------------------ bodies

    def check_body(self, name: str, body: tuple[A.Stmt, ...], kind: str, decl) -> None:
        self.calls[name] = []
        locals_: dict[str, A.Local] = {}
        seen_other = False
        for s in body:
            if isinstance(s, A.Local):
                if seen_other:
                    self.error(s.span, f"'local {s.name}' must come before the other statements "
                               f"of the {'function' if kind == 'fn' else 'thread'} body")
                self.check_local(s, locals_)
            else:
                seen_other = True
        scope = _Scope(kind, locals_)
        self.check_block(name, body, scope, in_atomic=None, top=True)

    def check_local(self, s: A.Local, locals_: dict[str, A.Local]) -> None:
        if s.name in RESERVED or s.name == "core":
            self.error(s.name_span, f"'{s.name}' is a keyword or built-in name and cannot be declared")
            self.refused.add(s.name)
            return
        if s.name in self.sym.decls:
            self.error(s.name_span, f"local '{s.name}' reuses the name of a top-level declaration",
                       Note(self.sym.decls[s.name].name_span, f"'{s.name}' is declared here"))
            return
        if s.name in locals_:
            self.error(s.name_span, f"local '{s.name}' is already declared in this body",
                       Note(locals_[s.name].name_span, "first declaration"))
            return
        locals_[s.name] = s

    def check_block(self, owner_name: str, body, scope: _Scope, in_atomic: Optional[A.Atomic],
                    top: bool = False) -> None:
        self.block_depth += 1
        self.body_depth[owner_name] = max(self.body_depth.get(owner_name, 0), self.block_depth)
        for s in body:
            self.check_stmt(owner_name, s, scope, in_atomic, top)
        self.block_depth -= 1

    def atomic_forbidden(self, span: A.Span, what: str, atomic: A.Atomic) -> None:
        self.error(span, f"{what} is not allowed inside 'atomic'",
                   Note(atomic.span, "the atomic block starts here"))

    def check_stmt(self, owner_name: str, s: A.Stmt, scope: _Scope,
                   in_atomic: Optional[A.Atomic], top: bool) -> None:
        if isinstance(s, A.Local):
            if not top:
                self.error(s.span, f"'local {s.name}' may only stand at the start of a fn or thread body")
            return
        if isinstance(s, A.PrimStmt):
            prim = V.primitive(s.kind)
            need = prim.operand
            if s.arg is None:
                self.error(s.span, f"'{s.kind.value}' needs one argument, {ARTICLE[need]}")
                return
            ok = self.expect_kind(s.arg, need, s.arg_span, f"'{s.kind.value}' needs {ARTICLE[need]}")
            if in_atomic is not None:
                if prim.not_in_atomic is not None:
                    self.atomic_forbidden(s.span, f"'{s.kind.value}' ({prim.not_in_atomic})",
                                          in_atomic)
                elif prim.calls == "release" and ok:
                    obj = self.sym.decls[s.arg]
                    if obj.release is not None:
                        self.error(s.span, f"'put({s.arg})' is not allowed inside 'atomic': "
                                   f"it may call the release function '{obj.release}'",
                                   Note(in_atomic.span, "the atomic block starts here"),
                                   Note(obj.span, f"'{s.arg}' has release function '{obj.release}'"))
            if ok:
                if prim.calls == "release":
                    obj = self.sym.decls[s.arg]
                    if obj.release is not None:
                        self.calls[owner_name].append((obj.release, s.span,
                                                       f"put({s.arg}) in '{{f}}' runs release function '{{g}}'",
                                                       self.block_depth))
                elif prim.calls == "exit":
                    mod = self.sym.decls[s.arg]
                    if mod.exit is not None:
                        self.calls[owner_name].append((mod.exit, s.span,
                                                       f"unload({s.arg}) in '{{f}}' runs exit function '{{g}}'",
                                                       self.block_depth))
            return
        if isinstance(s, A.CallStmt) and self.sym.builtin(s):
            need = V.builtin(s.fn).operand
            if in_atomic is not None:
                self.atomic_forbidden(s.span, f"'{s.fn}'", in_atomic)
            if need is None:
                if s.arg is not None:
                    self.error(s.span, f"'{s.fn}' takes no argument")
            elif s.arg is None:
                self.error(s.span, f"'{s.fn}' needs one argument, {ARTICLE[need]}")
            else:
                self.expect_kind(s.arg, need, s.span,
                                 f"'{s.fn}' needs {ARTICLE[need]}")
            return
        if isinstance(s, A.CallStmt):
            if in_atomic is not None:
                self.atomic_forbidden(s.span, f"the call '{s.fn}()'", in_atomic)
            got = self.sym.kind(s.fn)
            if got is None and s.fn in QUERIES:
                if V.query(s.fn).takes is not None:
                    self.error(s.fn_span, f"'{s.fn}' is a query, not a statement: it stands as the "
                               "whole condition of an 'if', 'while' or 'await', as in "
                               f"'if {s.fn}({s.arg or 'x'}) {{ ... }}'")
                else:
                    use = f"{s.fn}({s.arg or 'x'})"
                    if V.query(s.fn).type == "int":
                        use += " > 0"
                    self.error(s.fn_span, f"'{s.fn}' is a query, not a statement: use it in an "
                               f"expression, as in 'assert {use}'")
                return
            if got is None and V.kernel_primitive(s.fn) is not None:
                prim = V.kernel_primitive(s.fn)
                self.error(s.fn_span, f"call of undeclared function '{s.fn}'; the primitive for it "
                           f"is '{prim}', as in {prim}({s.arg or 'x'})")
                return
            if got is None:
                hint = ""
                if s.arg is not None:
                    hint = " (the primitives are " + ", ".join(sorted(PRIMITIVES)) + ")"
                hint = _suggest(s.fn, list(self.sym.fns) + sorted(PRIMITIVES)) or hint
                self.error(s.fn_span, f"call of undeclared function '{s.fn}'{hint}")
                return
            if got != "fn":
                self.error(s.fn_span, f"'{s.fn}' is {ARTICLE.get(got, got)}, not a function, "
                           "and cannot be called", *self.decl_note(s.fn))
                return
            if s.arg is not None:
                self.error(s.span, f"function '{s.fn}' takes no arguments")
            self.calls[owner_name].append((s.fn, s.span, "'{f}' calls '{g}'", self.block_depth))
            return
        if isinstance(s, A.Assign):
            ty = self.lvalue_type(s.target, s.target_span, scope)
            self.check_expr(s.value, scope, ty, "the assigned value", top=False)
            return
        if isinstance(s, A.Assert):
            self.check_expr(s.cond, scope, "bool", "an assert", top=False)
            return
        if isinstance(s, A.Await):
            self.check_expr(s.cond, scope, "bool", "an await", top=True)
            return
        if isinstance(s, A.Return):
            if in_atomic is not None:
                self.atomic_forbidden(s.span, "'return'", in_atomic)
            return
        if isinstance(s, A.If):
            self.check_expr(s.cond, scope, "bool", "an if condition", top=True)
            self.check_block(owner_name, s.then, scope, in_atomic)
            if s.orelse is not None:
                self.check_block(owner_name, s.orelse, scope, in_atomic)
            return
        if isinstance(s, A.While):
            self.check_expr(s.cond, scope, "bool", "a while condition", top=True)
            self.check_block(owner_name, s.body, scope, in_atomic)
            return
        if isinstance(s, A.Choose):
            for b in s.branches:
                self.check_block(owner_name, b, scope, in_atomic)
            return
        if isinstance(s, A.Atomic):
            self.check_block(owner_name, s.body, scope, in_atomic or s)
            return
        raise AssertionError(f"unknown statement {s!r}")

    def lvalue_type(self, name: str, span: A.Span, scope: _Scope) -> Optional[str]:
        if name in scope.locals:
            return _lit_type(scope.locals[name].value)
        got = self.sym.kind(name)
        if got == "var":
            return _lit_type(self.sym.decls[name].value)
        if got is None:
            if name in self.refused:
                return None
            if name in self.all_locals:
                self.error(span, f"'{name}' is a local of another body, not visible here")
            else:
                names = [n for n in self.sym.decls if self.sym.kind(n) == "var"] + list(scope.locals)
                self.error(span, f"assignment to undeclared variable '{name}'{_suggest(name, names)}")
        else:
            self.error(span, f"cannot assign to '{name}': it is {ARTICLE.get(got, got)}, "
                       "not a var or local", *self.decl_note(name))
        return None

    # ------------------------------------------------------------------ expressions

    def check_expr(self, e: A.Expr, scope: _Scope, want: Optional[str], what: str, top: bool) -> None:
        got = self.expr_type(e, scope, top)
        if want is not None and got is not None and got != want:
            self.error(e.span, f"{what} must be {want}, but this expression is {got}")

    def expr_type(self, e: A.Expr, scope: _Scope, top: bool = False) -> Optional[str]:
        """The type of `e` ("int"/"bool"), or None after reporting an error in it."""
        if isinstance(e, A.IntLit):
            return "int"
        if isinstance(e, A.BoolLit):
            return "bool"
        if isinstance(e, A.Name):
            if e.id in scope.locals:
                return _lit_type(scope.locals[e.id].value)
            got = self.sym.kind(e.id)
            if got == "var":
                return _lit_type(self.sym.decls[e.id].value)
            if got is None:
                if e.id in self.refused:
                    return None
                if scope.owner_kind == "property" and e.id in self.all_locals:
                    self.error(e.span, f"invariants and covers may not use locals ('{e.id}' is a local)",
                               Note(self.all_locals[e.id].name_span, "the local is declared here"))
                elif e.id in self.all_locals:
                    self.error(e.span, f"'{e.id}' is a local of another body, not visible here")
                else:
                    names = [n for n in self.sym.decls if self.sym.kind(n) == "var"]
                    names += list(scope.locals)
                    self.error(e.span, f"undeclared name '{e.id}'{_suggest(e.id, names)}")
            else:
                hint = {"object": f"; did you mean refs({e.id})?", "module": f"; did you mean loaded({e.id})?",
                        "completion": f"; did you mean done({e.id})?",
                        "mutex": f"; did you mean locked({e.id})?"}.get(got, "")
                self.error(e.span, f"'{e.id}' is {ARTICLE.get(got, got)}, not a value{hint}",
                           *self.decl_note(e.id))
            return None
        if isinstance(e, A.Not):
            self.check_expr(e.operand, scope, "bool", "the operand of 'not'", top=False)
            return "bool"
        if isinstance(e, A.Binary):
            op = e.op
            if op in (A.BinOp.AND, A.BinOp.OR):
                self.check_expr(e.left, scope, "bool", f"an operand of '{op.value}'", top=False)
                self.check_expr(e.right, scope, "bool", f"an operand of '{op.value}'", top=False)
                return "bool"
            if op in (A.BinOp.ADD, A.BinOp.SUB):
                self.check_expr(e.left, scope, "int", f"an operand of '{op.value}'", top=False)
                self.check_expr(e.right, scope, "int", f"an operand of '{op.value}'", top=False)
                return "int"
            if op in (A.BinOp.EQ, A.BinOp.NE):
                lt = self.expr_type(e.left, scope)
                rt = self.expr_type(e.right, scope)
                if lt is not None and rt is not None and lt != rt:
                    self.error(e.span, f"'{op.value}' compares values of one type, but the left side is "
                               f"{lt} and the right side is {rt}")
                return "bool"
            self.check_expr(e.left, scope, "int", f"an operand of '{op.value}'", top=False)
            self.check_expr(e.right, scope, "int", f"an operand of '{op.value}'", top=False)
            return "bool"
        if isinstance(e, A.Query):
            if e.kind is None:
                queries = ", ".join(q.value for q in A.QueryKind)
                if e.name in self.sym.fns:
                    self.error(e.span, f"'{e.name}' is a function: a call is a statement of its own, "
                               f"not part of an expression (the queries are {queries})")
                elif e.name in PRIMITIVES or V.is_builtin(e.name):
                    self.error(e.span, f"'{e.name}' is a statement, not a query: it cannot stand in "
                               f"an expression (the queries are {queries})")
                elif V.kernel_query_form(e.name) is not None:
                    self.error(e.span, f"unknown query '{e.name}'; modproof writes it "
                               + V.kernel_query_form(e.name).format(e.arg))
                else:
                    close = _suggest(e.name, QUERIES)
                    self.error(e.span, f"unknown query '{e.name}'{close or '; the queries are ' + queries}")
                return None
            query = V.query(e.kind)
            if query.takes is not None:
                if scope.owner_kind == "property":
                    self.error(e.span, f"'{e.kind.value}' takes a reference and may not appear in "
                               "invariants or covers")
                elif not top:
                    self.error(e.span, f"'{e.kind.value}' may only stand as the whole condition of an "
                               "'if', 'while' or 'await'")
            need = query.operand
            self.expect_kind(e.arg, need, e.arg_span, f"'{e.kind.value}' needs {ARTICLE[need]}")
            return query.type
        raise AssertionError(f"unknown expression {e!r}")

    # ------------------------------------------------------------------ call cycles

    def call_graph(self) -> dict[str, list[tuple[str, A.Span, str, int]]]:
        """The edges of `calls` that lead to declared functions."""
        return {n: [c for c in edges if c[0] in self.sym.fns] for n, edges in self.calls.items()}

    def check_cycles(self) -> bool:
        """Report each cycle of calls among functions once, naming it; True if any."""
        graph = self.call_graph()
        state: dict[str, int] = {}  # 1 on the stack, 2 finished
        stack: list[tuple[str, tuple[str, A.Span, str, int]]] = []
        reported: set[frozenset[str]] = set()

        def report(cyc: list, callee: str) -> None:
            key = frozenset(f for f, _ in cyc)
            if key in reported:
                return
            reported.add(key)
            path = " -> ".join([f for f, _ in cyc] + [callee])
            caller, first = cyc[0]
            here = ("" if first[2].startswith("'{f}' calls")
                    else ": " + first[2].format(f=caller, g=first[0]) + " here")
            notes = tuple(Note(e[1], e[2].format(f=f, g=e[0]) + " here") for f, e in cyc[1:])
            self.error(first[1], f"call cycle: {path}{here} (calls do not recurse; release and "
                       "exit functions count as calls)", *notes)

        # Depth-first, with an explicit stack: a chain of calls can be long.
        for root in sorted(self.sym.fns, key=lambda f: (self.sym.fns[f].span.line, f)):
            if state.get(root) is not None:
                continue
            state[root] = 1
            work = [(root, iter(graph.get(root, [])))]
            while work:
                n, edges = work[-1]
                edge = next(edges, None)
                if edge is None:
                    state[n] = 2
                    work.pop()
                    if work:
                        stack.pop()   # the edge that led to n
                    continue
                callee = edge[0]
                if state.get(callee) == 1:
                    names = [f for f, _ in stack] + [n]
                    cyc = (stack + [(n, edge)])[names.index(callee):]
                    report(cyc, callee)
                elif state.get(callee) is None:
                    stack.append((n, edge))
                    state[callee] = 1
                    work.append((callee, iter(graph.get(callee, []))))
        return bool(reported)

    def check_inlined_depth(self) -> None:
        """NOTE(nesting-limits): calls are inlined, so blocks nest across them.
        Report each thread (or function nobody calls, such as a work handler)
        whose body, with every call inlined, nests blocks and calls more than
        MAX_INLINED_DEPTH deep.  Calls form no cycle here."""
        graph = self.call_graph()
        depth: dict[str, int] = {}     # inlined nesting of each body
        via: dict[str, Optional[tuple]] = {}   # the call edge that reaches it
        for root in sorted(graph):
            work = [root]
            while work:
                n = work[-1]
                if n in depth:
                    work.pop()
                    continue
                todo = [c[0] for c in graph.get(n, []) if c[0] not in depth]
                if todo:
                    work.extend(todo)
                    continue
                work.pop()
                best, edge = self.body_depth.get(n, 1), None
                for c in graph.get(n, []):
                    if c[3] + depth[c[0]] > best:
                        best, edge = c[3] + depth[c[0]], c
                depth[n], via[n] = best, edge
        called = {c[0] for edges in graph.values() for c in edges}
        for d in self.spec.decls:
            if not isinstance(d, (A.ThreadDecl, A.FnDecl)) or d.name in called:
                continue   # a function is reported where its callers start
            if depth.get(d.name, 0) <= MAX_INLINED_DEPTH or via.get(d.name) is None:
                continue
            chain, n = [d.name], d.name
            while via.get(n) is not None and len(chain) < 6:
                n = via[n][0]
                chain.append(n)
            more = " -> ..." if via.get(n) is not None else ""
            what = "thread" if isinstance(d, A.ThreadDecl) else "function"
            self.error(via[d.name][1], f"with its calls inlined, {what} '{d.name}' nests blocks "
                       f"and calls {depth[d.name]} deep (at most {MAX_INLINED_DEPTH}): "
                       f"{' -> '.join(chain)}{more}; modproof inlines every call, so "
                       "flatten the code or the call chain")


def check(spec: A.SpecFile) -> Symbols:
    """Check `spec`; return its symbol table or raise SpecError with every mistake found."""
    too_deep = nesting_errors(spec)
    if too_deep:   # the later passes recurse along the nesting: stop here
        raise SpecError(too_deep)
    return Checker(spec).run()


# NOTE(nesting-limits): every later stage (these checks, the lowering, the
# reference semantics, the Z3 encoding) walks expressions and blocks
# recursively, so nesting is bounded here, by a walk that does not recurse.  The
# limits are far beyond hand-written models (a sum of 150 terms, 100 nested
# blocks) and keep every stage well inside Python's default recursion limit.
# Calls are inlined into their callers, so blocks nest across calls too: a call
# counts as one more level of the caller's block, and a thread with its calls
# inlined may nest MAX_INLINED_DEPTH deep (Checker.check_inlined_depth).
MAX_EXPR_DEPTH = 150
MAX_BLOCK_DEPTH = 100
MAX_INLINED_DEPTH = 100  # blocks and calls of a thread with every call inlined
MAX_COPIES = 10_000     # of one `thread NAME[K]`: every copy is a thread of the model


def nesting_errors(spec: A.SpecFile) -> list[Diagnostic]:
    """One diagnostic for each top-level expression or body nested too deeply."""
    errors: list[Diagnostic] = []
    bodies: list[tuple] = []
    exprs: list = []
    for d in spec.decls:
        if isinstance(d, (A.FnDecl, A.ThreadDecl)):
            bodies.append(d.body)
        elif isinstance(d, (A.InvariantDecl, A.CoverDecl)):
            exprs.append(d.expr)
    # Blocks: (statements, depth) pairs, depth-first.
    stack = [(b, 1) for b in reversed(bodies)]
    while stack:
        block, depth = stack.pop()
        for st in block:
            if isinstance(st, (A.If, A.While, A.Assert, A.Await)):
                exprs.append(st.cond)
            elif isinstance(st, A.Assign):
                exprs.append(st.value)
            inner = A.blocks_of(st)
            if inner and depth + 1 > MAX_BLOCK_DEPTH:
                errors.append(Diagnostic(st.span, f"blocks nested more than {MAX_BLOCK_DEPTH} "
                                         "deep; flatten the code (calls are inlined, so moving "
                                         "it into functions does not help)"))
                continue
            stack.extend((b, depth + 1) for b in reversed(inner))
    operators = (A.Not, A.Binary)
    for top in exprs:
        work = [(top, 1)] if isinstance(top, operators) else []   # (operator, operators above + 1)
        while work:
            e, depth = work.pop()
            if depth > MAX_EXPR_DEPTH:
                errors.append(Diagnostic(top.span, f"expression nested more than {MAX_EXPR_DEPTH} "
                                         "operators deep; split it with a local or a var"))
                break
            kids = (e.operand,) if isinstance(e, A.Not) else (e.right, e.left)
            work += [(k, depth + 1) for k in kids if isinstance(k, operators)]
    return errors
