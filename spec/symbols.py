"""The symbol table, and the context every check reports through.

`collect(spec)` files each declaration of a parsed file under its name
(refusing keywords, 'core' and a second declaration of a name) and returns a
`Context`: the `Symbols` built so far, the diagnostics found so far, and the
name lookups the later checks share (`expect_kind` reports a name that is not
declared, or not of the kind needed, with a close spelling or a note pointing
at the declaration).  The checks themselves are in `modproof.spec.check` and
the modules it names.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Optional

from modproof.spec import ast as A
from modproof.spec import vocabulary as V
from modproof.spec.diagnostics import Diagnostic, Note
from modproof.spec.vocabulary import ARTICLE, CHECKS

PRIMITIVES = frozenset(p.name for p in V.PRIMITIVES)
QUERIES = frozenset(q.name for q in V.QUERIES)
# The v3 queries are soft (vocabulary.Query.soft): a v1 or v2 file may have declared the name.
RESERVED = V.KEYWORDS | V.OPTION_WORDS | {"core"} | PRIMITIVES | V.RESERVED_QUERIES

KIND_OF = {
    A.ModuleDecl: "module", A.ObjectDecl: "object", A.CompletionDecl: "completion",
    A.MutexDecl: "mutex", A.VarDecl: "var", A.FnDecl: "fn", A.ThreadDecl: "thread",
    A.InvariantDecl: "invariant", A.CoverDecl: "cover",
    A.WorkqueueDecl: "workqueue", A.WorkDecl: "work", A.TimerDecl: "timer",
    A.DelayedWorkDecl: "delayed_work", A.StructDecl: "struct",
    A.DelayedWorkDecl: "delayed_work",
    A.SpinlockDecl: "spinlock", A.RwsemDecl: "rwsem", A.IrqDecl: "irq",
}
# Where collect() files each kind of declaration in Symbols (functions go by name).
_TABLE_OF = {
    A.ModuleDecl: "modules", A.ObjectDecl: "objects", A.CompletionDecl: "completions",
    A.MutexDecl: "mutexes", A.VarDecl: "vars", A.ThreadDecl: "threads",
    A.InvariantDecl: "invariants", A.CoverDecl: "covers", A.WorkqueueDecl: "workqueues",
    A.WorkDecl: "works", A.TimerDecl: "timers", A.DelayedWorkDecl: "delayed_works",
    A.SpinlockDecl: "spinlocks", A.RwsemDecl: "rwsems", A.IrqDecl: "irqs",
}


def suggest(name: str, candidates) -> str:
    """"; did you mean 'x'?" for a close spelling among `candidates`, else ""."""
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""


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
    delayed_works: list[A.DelayedWorkDecl] = field(default_factory=list)
    # v3 (NOTE(memory) in spec/memory.py)
    structs: dict[str, A.StructDecl] = field(default_factory=dict)
    instances: list[A.InstanceDecl] = field(default_factory=list)
    elements: dict[str, A.InstanceDecl] = field(default_factory=dict)   # `p`, `devs[0]` -> its decl
    container: dict[str, str] = field(default_factory=dict)   # `p.kref` -> `p`
    # an ops table's fn and module fields: `fops.open` -> `drv_open`, None for NULL
    constants: dict[str, Optional[str]] = field(default_factory=dict)
    # NOTE(per-copy): the fields of `NAME[*]` memory, which are locals of each copy
    copy_fields: dict[str, A.VarDecl] = field(default_factory=dict)   # `files[self].n` -> decl
    copy_user: dict[str, str] = field(default_factory=dict)   # `files` -> the thread whose copies own it
    spinlocks: list[A.SpinlockDecl] = field(default_factory=list)   # v3 (spec/v3_ctx.py)
    rwsems: list[A.RwsemDecl] = field(default_factory=list)
    irqs: list[A.IrqDecl] = field(default_factory=list)

    def builtin(self, call: A.CallStmt) -> bool:
        """Whether `call` is a v2 built-in (not shadowed by a declared function)."""
        return V.is_builtin(call.fn) and call.fn not in self.decls

    def operation(self, call: A.CallStmt) -> bool:
        """Whether `call` is a v3 operation such as kref_put (not shadowed by a declaration)."""
        return V.is_operation(call.fn) and call.fn not in self.decls

    def kind(self, name: str) -> Optional[str]:
        if name == "core":
            return "core"
        decl = self.decls.get(name)
        if isinstance(decl, A.InstanceDecl):
            array = decl.count is not None or decl.per_copy
            return "memory array" if array and name == decl.name else "memory"
        if isinstance(decl, A.ThreadDecl) and decl.kthread:
            return "kthread"   # v3: a thread started at run time (NOTE(kthread))
        return KIND_OF[type(decl)] if decl is not None else None

    def struct_of(self, name: str) -> Optional[str]:
        """The struct type of memory `name` (an element), None if it is none."""
        d = self.elements.get(name)
        return None if d is None else d.struct

    def index(self, kind: str, name: str) -> int:
        table = {"module": self.modules, "object": self.objects, "completion": self.completions,
                 "mutex": self.mutexes, "var": self.vars, "workqueue": self.workqueues,
                 "work": self.works, "timer": self.timers,
                 "delayed_work": self.delayed_works, "spinlock": self.spinlocks,
                 "rwsem": self.rwsems, "irq": self.irqs}[kind]
        for i, d in enumerate(table):
            if d.name == name:
                return i
        raise KeyError(name)


class Context:
    """What the checks of one file share: its symbols, the diagnostics reported so
    far, and the lookups that report through them."""

    def __init__(self, spec: A.SpecFile):
        self.spec = spec
        self.sym = Symbols()
        self.diags: list[Diagnostic] = []
        # Every local of every body, to tell "a local is not allowed here" from "undeclared".
        self.all_locals: dict[str, A.Local] = {}
        # Names whose declaration was refused (a keyword, 'core'): their uses are not
        # reported again as undeclared.
        self.refused: set[str] = set()

    def error(self, span: A.Span, message: str, *notes: Note) -> None:
        self.diags.append(Diagnostic(span, message, tuple(notes)))

    def decl_note(self, name: str, what: str = "declared here") -> tuple[Note, ...]:
        """A note pointing at the declaration of `name`, if it has one."""
        decl = self.sym.decls.get(name)
        if decl is None:
            return ()
        return (Note(getattr(decl, "name_span", decl.span), f"'{name}' is {what}"),)

    def names_of_kind(self, kind: str) -> list[str]:
        return [n for n in self.sym.decls if self.sym.kind(n) == kind]

    def expect_kind(self, name: str, kind: str, span: A.Span, what: str) -> bool:
        """Report unless `name` is declared as `kind`; whether it is."""
        got = self.sym.kind(name)
        if got == kind:
            return True
        if got is None:
            if name in self.refused:
                return False
            self.error(span, f"{what}: '{name}' is not declared{suggest(name, self.names_of_kind(kind))}")
        else:
            self.error(span, f"{what}: '{name}' is {ARTICLE.get(got, got)}, not {ARTICLE[kind]}",
                       *self.decl_note(name))
        return False


def collect(spec: A.SpecFile) -> Context:
    """A context whose symbols hold every declaration of `spec` that may be filed
    under its name, with an error for each that may not (and for a second `expect`
    line, an unknown check in it, or a negative object count)."""
    ctx = Context(spec)
    sym = ctx.sym
    for d in spec.decls:
        if isinstance(d, A.ExpectDecl):
            _collect_expect(ctx, d)
            continue
        name = d.name
        span = d.name_span
        if name == "core":
            ctx.error(span, "'core' is predeclared: it is the built-in kernel and cannot be declared")
            continue
        if name in RESERVED:
            ctx.error(span, f"'{name}' is a keyword or built-in name and cannot be declared")
            ctx.refused.add(name)
            continue
        prev = sym.decls.get(name)
        if prev is not None:
            ctx.error(span, f"'{name}' is already declared as {ARTICLE[sym.kind(name)]}; "
                      "names are unique across the file",
                      Note(prev.name_span, f"first declaration of '{name}'"))
            continue
        sym.decls[name] = d
        if isinstance(d, A.FnDecl):
            sym.fns[name] = d
        elif isinstance(d, A.StructDecl):
            sym.structs[name] = d
        elif isinstance(d, A.InstanceDecl):
            sym.instances.append(d)
        else:
            getattr(sym, _TABLE_OF[type(d)]).append(d)
        if isinstance(d, A.ObjectDecl) and d.refs < 0:
            ctx.error(d.span, "an object's count cannot be negative")
    _lay_out_memory(ctx)
    for d in spec.decls:
        if isinstance(d, (A.FnDecl, A.ThreadDecl)):
            for s in d.body:
                if isinstance(s, A.Local):
                    ctx.all_locals.setdefault(s.name, s)
    return ctx


def _lay_out_memory(ctx: Context) -> None:
    """NOTE(memory): each instance's fields become declarations named by their path
    (`p.kref`, `devs[1].open`), filed in the tables after the file's own."""
    sym = ctx.sym
    for st in sym.structs.values():
        seen: dict[str, A.Span] = {}
        for f in st.fields:
            if f.name in seen:
                ctx.error(f.name_span, f"struct '{st.name}' has two fields named '{f.name}'",
                          Note(seen[f.name], "the first is declared here"))
            seen[f.name] = f.name_span
            if getattr(f, "storage", None) is not None:
                ctx.error(f.storage_span, f"a field of struct '{st.name}' lives in the struct's "
                          "memory: 'in MOD' does not apply to it")
            if getattr(f, "deferred", False):
                ctx.error(f.span, "a deferred release of a field of struct memory is not "
                          "supported yet (modproof 3): leave out 'deferred'")
    for d in sym.instances:
        st = sym.structs.get(d.struct)
        if st is None:
            if sym.kind(d.struct) is None:
                ctx.error(d.struct_span, f"unknown struct type '{d.struct}'"
                          f"{suggest(d.struct, sym.structs)}")
            else:
                ctx.error(d.struct_span, f"'{d.struct}' is {ARTICLE.get(sym.kind(d.struct))}, "
                          "not a struct type", *ctx.decl_note(d.struct))
            continue
        if d.count is not None and d.count < 1:
            ctx.error(d.span, f"an array of struct memory needs at least one element")
            continue
        if d.count is not None and d.count > 1000:
            ctx.error(d.span, "an array of struct memory has at most 1000 elements")
            continue
        for elem in d.elements():
            if elem != d.name:
                sym.decls[elem] = d
            sym.elements[elem] = d
            seen_names: set = set()
            k = None if d.count is None or d.per_copy else int(elem.rsplit("[", 1)[1][:-1])
            inits = {name: value for name, value, _ in d.inits_of(k)}
            for f in st.fields:
                if f.name in seen_names:
                    continue
                seen_names.add(f.name)
                if isinstance(f, (A.FnField, A.ModuleField)):
                    sym.constants[f"{elem}.{f.name}"] = inits.get(f.name)
                    continue
                flat = dataclasses.replace(f, name=f"{elem}.{f.name}")
                sym.decls[flat.name] = flat
                sym.container[flat.name] = elem
                if d.per_copy:
                    if isinstance(f, A.VarDecl):   # NOTE(per-copy): a local of each copy
                        sym.copy_fields[flat.name] = flat
                    continue
                getattr(sym, _TABLE_OF[type(f)]).append(flat)


def _collect_expect(ctx: Context, d: A.ExpectDecl) -> None:
    if ctx.sym.expect is not None:
        ctx.error(d.span, "a file has at most one 'expect' line",
                  Note(ctx.sym.expect.span, "the first 'expect' is here"))
        return
    ctx.sym.expect = d
    if d.verdict == "violated" and d.check not in CHECKS:
        spelt = d.check.lower().replace("_", "-")
        if spelt in CHECKS:   # Code-After-Unload, code_after_unload
            ctx.error(d.check_span, f"unknown check '{d.check}'; did you mean "
                      f"'{spelt}'? (check names are lower case, with hyphens)")
        else:
            ctx.error(d.check_span, f"unknown check '{d.check}'; the checks are "
                      + ", ".join(CHECKS))
