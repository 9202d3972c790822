"""Lowering: a checked AST becomes the `Program` of `modproof.spec.model`.

Each thread (and each copy of `thread NAME[K]`) becomes a control-flow graph of
atomic steps.  Calls are inlined at their call sites, so a return step knows
statically where it returns to; a function's locals get one slot per thread
(calls do not recurse, so at most one frame of a function is live in a thread).

NOTE(return-step): per LANGUAGE.md a call is one step owned by the caller, the
body runs as the callee owner's code, and the callee ends with one more step,
its return, owned by the callee's owner.  A `put` that reaches zero is itself the
call of the release function (no separate call step), and likewise the unloading
step of `unload` is the call of the module's exit function; the free step that
follows is owned by the code that called `unload`.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Optional

from modproof.spec import ast as A
from modproof.spec import model as M
from modproof.spec.check import Symbols, check
from modproof.spec.diagnostics import source_lines
from modproof.spec.printer import expr_to_source, stmt_header

PRIM_STEP = {
    A.Prim.GET: M.StepKind.GET, A.Prim.PUT: M.StepKind.PUT,
    A.Prim.COMPLETE: M.StepKind.COMPLETE, A.Prim.COMPLETE_ALL: M.StepKind.COMPLETE_ALL,
    A.Prim.WAIT: M.StepKind.WAIT, A.Prim.REINIT: M.StepKind.REINIT,
    A.Prim.LOCK: M.StepKind.LOCK, A.Prim.UNLOCK: M.StepKind.UNLOCK,
    A.Prim.MODULE_GET: M.StepKind.MODULE_GET, A.Prim.MODULE_PUT: M.StepKind.MODULE_PUT,
    A.Prim.UNLOAD: M.StepKind.UNLOAD,
    A.Prim.MODULE_PUT_AND_EXIT: M.StepKind.MODULE_PUT_AND_EXIT,
    A.Prim.COMPLETE_AND_EXIT: M.StepKind.COMPLETE_AND_EXIT,
}
PRIM_TABLE = {  # which table a primitive's operand indexes
    "object": (A.Prim.GET, A.Prim.PUT),
    "completion": (A.Prim.COMPLETE, A.Prim.COMPLETE_ALL, A.Prim.WAIT, A.Prim.REINIT,
                   A.Prim.COMPLETE_AND_EXIT),
    "mutex": (A.Prim.LOCK, A.Prim.UNLOCK),
    "module": (A.Prim.MODULE_GET, A.Prim.MODULE_PUT, A.Prim.UNLOAD, A.Prim.MODULE_PUT_AND_EXIT),
}
PRIM_KIND = {p: k for k, ps in PRIM_TABLE.items() for p in ps}
QUERY_TABLE = {
    A.QueryKind.REFS: "object", A.QueryKind.TRY_GET: "object",
    A.QueryKind.MODULE_REFS: "module", A.QueryKind.LOADED: "module",
    A.QueryKind.TRY_MODULE_GET: "module", A.QueryKind.DONE: "completion",
    A.QueryKind.LOCKED: "mutex",
}


def closing_span(span: A.Span) -> A.Span:
    """The span of the `}` that ends a block whose construct spans `span`."""
    col = max(span.end_col - 1, 1)
    return A.Span(span.file, span.end_line, col, span.end_line, col + 1)


def _lit(lit: A.Literal):
    return lit.value


@dataclass
class _Ctx:
    owner: int
    ret_next: int           # where a `return` in this body goes
    fn: Optional[str]       # None in a thread body
    frame: tuple[str, ...]
    slots: dict[str, int]   # local name -> slot


class _ThreadBuilder:
    def __init__(self, lowerer: "_Lowerer", decl: Optional[A.ThreadDecl], name: str,
                 copy: Optional[int], index: int):
        self.lw = lowerer
        self.decl = decl
        self.name = name
        self.copy = copy
        self.index = index
        self.nodes: list[dict] = []
        self.slots: list[M.LocalSlot] = []
        self.fn_slots: dict[str, dict[str, int]] = {}

    def node(self, kind: M.StepKind, owner: int, span: A.Span, text: str, **kw) -> int:
        self.nodes.append(dict(kind=kind, owner=owner, span=span, text=text, **kw))
        return len(self.nodes) - 1

    def text(self, s) -> str:
        return self.lw.text_of(s)

    def build(self) -> M.Thread:
        d = self.decl
        owner = self.lw.owner_index(d.owner or "core")
        own = {}
        for s in d.body:
            if isinstance(s, A.Local):
                own[s.name] = len(self.slots)
                self.slots.append(M.LocalSlot(s.name, None, _lit(s.value)))
        ctx = _Ctx(owner=owner, ret_next=M.DONE, fn=None, frame=(), slots=own)
        final = self.node(M.StepKind.RETURN, owner, closing_span(d.span),
                          f"end of thread {d.name}", next=M.DONE, frame=(), synthetic=True)
        entry = self.block(d.body, final, ctx)
        return self.freeze(entry, owner)

    def build_worker(self, trigger: tuple, fn: str, done: Optional[str], span: A.Span,
                     group: str) -> M.Thread:
        """A core worker thread (v2): see modproof.spec.deferred.worker."""
        from modproof.spec.deferred import worker
        entry = worker(self, trigger, fn, done, span, self.name)
        return self.freeze(entry, M.CORE, group=group, span=span)

    def freeze(self, entry: int, owner: int, group: Optional[str] = None,
               span: Optional[A.Span] = None) -> M.Thread:
        # Renumber in reading order: depth-first from the entry, taken branches first.
        order: list[int] = []
        seen: set[int] = set()
        stack = [entry]
        while stack:
            n = stack.pop()
            if n == M.DONE or n in seen:
                continue
            seen.add(n)
            order.append(n)
            stack.extend(reversed(self.succ(n)))
        # Steps no path reaches (after a `return`, say) stay, so vacuity reports can name them.
        order += sorted((n for n in range(len(self.nodes)) if n not in seen),
                        key=lambda n: (self.nodes[n]["span"].line, self.nodes[n]["span"].col, n))
        new = {old: i for i, old in enumerate(order)}
        new[M.DONE] = M.DONE

        steps = []
        for old in order:
            nd = dict(self.nodes[old])
            for key in ("next", "alt"):
                if key in nd:
                    nd[key] = new[nd[key]]
            if "branches" in nd:
                nd["branches"] = tuple(new[b] for b in nd["branches"])
            nd["uses"] = _uses(nd)
            steps.append(M.Step(id=new[old], **nd))
        return M.Thread(name=self.name, group=group or self.decl.name, copy=self.copy, owner=owner,
                        entry=0, steps=tuple(steps), locals=tuple(self.slots),
                        span=span or self.decl.span)

    def succ(self, n: int) -> list[int]:
        nd = self.nodes[n]
        if "branches" in nd:
            return list(nd["branches"])
        out = []
        if nd["kind"] is M.StepKind.PUT and nd.get("fn"):
            out.append(nd["alt"])
        if nd["kind"] is M.StepKind.UNLOAD:
            return [nd["next"], nd["alt"]]
        if "next" in nd:
            out.append(nd["next"])
        if nd["kind"] is M.StepKind.BRANCH:
            out.append(nd["alt"])
        return out

    # ------------------------------------------------------------------ statements

    def block(self, stmts, cont: int, ctx: _Ctx) -> int:
        entry = cont
        for s in reversed(stmts):
            if isinstance(s, A.Local):
                continue
            entry = self.stmt(s, entry, ctx)
        return entry

    def inline(self, fname: str, cont: int, ctx: _Ctx) -> tuple[int, tuple]:
        """Inline `fname`'s body returning to `cont`; its entry and the locals its call sets."""
        fn = self.lw.sym.fns[fname]
        slots = self.fn_slots.get(fname)
        if slots is None:
            slots = {}
            for s in fn.body:
                if isinstance(s, A.Local):
                    slots[s.name] = len(self.slots)
                    self.slots.append(M.LocalSlot(s.name, fname, _lit(s.value)))
            self.fn_slots[fname] = slots
        inits = tuple((slots[s.name], _lit(s.value)) for s in fn.body if isinstance(s, A.Local))
        owner = self.lw.owner_index(fn.owner)
        frame = ctx.frame + (fname,)
        ret = self.node(M.StepKind.RETURN, owner, closing_span(fn.span), f"return from {fname}",
                        next=cont, fn=fname, frame=frame, synthetic=True)
        fctx = _Ctx(owner=owner, ret_next=cont, fn=fname, frame=frame, slots=slots)
        return self.block(fn.body, ret, fctx), inits

    def stmt(self, s: A.Stmt, cont: int, ctx: _Ctx) -> int:
        lw = self.lw
        common = dict(frame=ctx.frame)
        if isinstance(s, A.CallStmt) and lw.sym.builtin(s):
            from modproof.spec.deferred import V2
            return V2(lw, self).stmt(s, cont, ctx)
        if isinstance(s, A.PrimStmt):
            kind = PRIM_STEP[s.kind]
            operand = lw.sym.index(PRIM_KIND[s.kind], s.arg)
            if kind is M.StepKind.PUT:
                release = lw.sym.objects[operand].release
                if release is not None and lw.deferred:
                    from modproof.spec.deferred import V2
                    return V2(lw, self).deferred_put(s, operand, cont, ctx)
                if release is not None:
                    entry, inits = self.inline(release, cont, ctx)
                    return self.node(kind, ctx.owner, s.span, self.text(s), next=cont, alt=entry,
                                     operand=operand, fn=release, inits=inits, **common)
            if kind is M.StepKind.UNLOAD:
                free = self.node(M.StepKind.UNLOAD_FREE, ctx.owner, s.span, self.text(s),
                                 next=cont, operand=operand, **common)
                exit_fn = lw.sym.modules[operand].exit
                if exit_fn is not None:
                    entry, inits = self.inline(exit_fn, free, ctx)
                    return self.node(kind, ctx.owner, s.span, self.text(s), next=entry, alt=cont,
                                     operand=operand, fn=exit_fn, inits=inits, **common)
                return self.node(kind, ctx.owner, s.span, self.text(s), next=free, alt=cont,
                                 operand=operand, **common)
            if kind in (M.StepKind.MODULE_PUT_AND_EXIT, M.StepKind.COMPLETE_AND_EXIT):
                return self.node(kind, ctx.owner, s.span, self.text(s), next=M.DONE,
                                 operand=operand, **common)
            return self.node(kind, ctx.owner, s.span, self.text(s), next=cont, operand=operand, **common)
        if isinstance(s, A.CallStmt):
            entry, inits = self.inline(s.fn, cont, ctx)
            return self.node(M.StepKind.CALL, ctx.owner, s.span, self.text(s), next=entry,
                             fn=s.fn, inits=inits, **common)
        if isinstance(s, A.Assign):
            return self.node(M.StepKind.ASSIGN, ctx.owner, s.span, self.text(s), next=cont,
                             target=self.lvalue(s.target, ctx), expr=self.expr(s.value, ctx), **common)
        if isinstance(s, A.Assert):
            return self.node(M.StepKind.ASSERT, ctx.owner, s.span, self.text(s), next=cont,
                             expr=self.expr(s.cond, ctx), **common)
        if isinstance(s, A.Await):
            return self.node(M.StepKind.AWAIT, ctx.owner, s.span, self.text(s), next=cont,
                             expr=self.expr(s.cond, ctx), **common)
        if isinstance(s, A.Return):
            text = f"return from {ctx.fn}" if ctx.fn else "return"
            return self.node(M.StepKind.RETURN, ctx.owner, s.span, text if ctx.fn else "return",
                             next=ctx.ret_next, fn=ctx.fn, **common)
        if isinstance(s, A.If):
            then = self.block(s.then, cont, ctx)
            orelse = self.block(s.orelse, cont, ctx) if s.orelse is not None else cont
            return self.node(M.StepKind.BRANCH, ctx.owner, s.span, self.text(s), next=then, alt=orelse,
                             expr=self.expr(s.cond, ctx), **common)
        if isinstance(s, A.While):
            test = self.node(M.StepKind.BRANCH, ctx.owner, s.span, self.text(s), next=M.DONE, alt=cont,
                             expr=self.expr(s.cond, ctx), **common)
            self.nodes[test]["next"] = self.block(s.body, test, ctx)
            return test
        if isinstance(s, A.Choose):
            branches = tuple(self.block(b, cont, ctx) for b in s.branches)
            return self.node(M.StepKind.CHOOSE, ctx.owner, s.span, self.text(s), branches=branches,
                             **common)
        if isinstance(s, A.Atomic):
            return self.node(M.StepKind.ATOMIC, ctx.owner, s.span, self.text(s), next=cont,
                             body=self.atomic(s.body, ctx), **common)
        raise AssertionError(f"cannot lower {s!r}")

    def atomic(self, stmts, ctx: _Ctx) -> tuple[M.AStmt, ...]:
        out = []
        for s in stmts:
            if isinstance(s, A.PrimStmt):
                kind = PRIM_STEP[s.kind]
                out.append(M.AOp(kind, self.lw.sym.index(PRIM_KIND[s.kind], s.arg), s.span))
            elif isinstance(s, A.Assign):
                out.append(M.AAssign(self.lvalue(s.target, ctx), self.expr(s.value, ctx), s.span))
            elif isinstance(s, A.Assert):
                out.append(M.AAssert(self.expr(s.cond, ctx), s.span))
            elif isinstance(s, A.Await):
                out.append(M.AAwait(self.expr(s.cond, ctx), s.span))
            elif isinstance(s, A.If):
                out.append(M.AIf(self.expr(s.cond, ctx), self.atomic(s.then, ctx),
                                 self.atomic(s.orelse or (), ctx), s.span))
            elif isinstance(s, A.While):
                out.append(M.AWhile(self.expr(s.cond, ctx), self.atomic(s.body, ctx), s.span))
            elif isinstance(s, A.Choose):
                out.append(M.AChoose(tuple(self.atomic(b, ctx) for b in s.branches), s.span))
            elif isinstance(s, A.Atomic):
                out.extend(self.atomic(s.body, ctx))
            else:
                raise AssertionError(f"not allowed in atomic (the checker should have said so): {s!r}")
        return tuple(out)

    # ------------------------------------------------------------------ expressions

    def lvalue(self, name: str, ctx: _Ctx) -> M.LValue:
        if name in ctx.slots:
            return M.LocalRef(ctx.slots[name])
        return M.VarRef(self.lw.sym.index("var", name))

    def expr(self, e: A.Expr, ctx: Optional[_Ctx]) -> M.Expr:
        return self.lw.expr(e, ctx.slots if ctx else {})


class _Lowerer:
    def __init__(self, spec: A.SpecFile, sym: Symbols, deferred: bool = False):
        self.spec = spec
        self.sym = sym
        self.deferred = deferred
        self.lines = source_lines(spec.source)
        self.hidden: dict[str, int] = {}   # v2 hidden var name -> index into Program.vars
        self.thread_names: list[str] = []
        self.rcu_fns: list[str] = []
        self.rcu_readers: list[int] = []
        self.rcu_syncers: list[int] = []

    def storage(self, module: Optional[str]) -> int:
        return M.CORE if module is None else self.sym.index("module", module)

    def owner_index(self, owner: str) -> int:
        return M.CORE if owner == "core" else self.sym.index("module", owner)

    def text_of(self, s) -> str:
        """The statement as the user wrote it, on one line."""
        sp = s.span
        simple = not isinstance(s, (A.If, A.While, A.Choose, A.Atomic))
        if simple and sp.line == sp.end_line and 0 < sp.line <= len(self.lines):
            text = self.lines[sp.line - 1][sp.col - 1:sp.end_col - 1].strip()
            if text:
                return text
        return stmt_header(s)

    def expr(self, e: A.Expr, slots: dict[str, int]) -> M.Expr:
        if isinstance(e, (A.IntLit, A.BoolLit)):
            return M.Const(e.value)
        if isinstance(e, A.Name):
            if e.id in slots:
                return M.LocalRef(slots[e.id])
            return M.VarRef(self.sym.index("var", e.id))
        if isinstance(e, A.Not):
            return M.Neg(self.expr(e.operand, slots))
        if isinstance(e, A.Binary):
            return M.Bin(e.op, self.expr(e.left, slots), self.expr(e.right, slots))
        if isinstance(e, A.Query):
            return M.Q(e.kind, self.sym.index(QUERY_TABLE[e.kind], e.arg))
        raise AssertionError(f"cannot lower {e!r}")

    def program(self) -> M.Program:
        from modproof.spec.deferred import and_all, cb_wait, var_names
        sym = self.sym
        user = []
        for d in sym.threads:
            for c in ([None] if d.count is None else list(range(d.count))):
                user.append((d, d.name if c is None else f"{d.name}[{c}]", c))
        calls = _builtin_calls(self.spec, sym)
        self.rcu_fns = list(dict.fromkeys(a for f, a in calls if f == "call_rcu"))
        releasers = [o for o in sym.objects if o.release is not None] if self.deferred else []
        workers = ([f"kworker({w.name})" for w in sym.works] + [f"timer({t.name})" for t in sym.timers]
                   + [f"rcu({f})" for f in self.rcu_fns] + [f"release({o.name})" for o in releasers])
        self.thread_names = [n for _, n, _ in user] + workers
        everyone = list(range(len(self.thread_names)))
        if any(f in ("rcu_read_lock", "rcu_read_unlock", "synchronize_rcu") for f, _ in calls):
            self.rcu_readers = everyone
            self.rcu_syncers = everyone
        hidden = var_names(sym, self.rcu_fns, self.rcu_readers, self.rcu_syncers,
                           self.thread_names, self.deferred)
        self.hidden = {name: len(sym.vars) + i for i, (name, _) in enumerate(hidden)}

        threads = [_ThreadBuilder(self, d, name, c, i).build() for i, (d, name, c) in enumerate(user)]
        idx = len(threads)

        def var(name):
            return M.VarRef(self.hidden[name])

        for group, items in (("kworker", sym.works), ("timer", sym.timers)):
            for d in items:
                trig = (M.AAwait(var(f"pending({d.name})"), d.span),
                        M.AAssign(var(f"pending({d.name})"), M.Const(False), d.span),
                        M.AAssign(var(f"running({d.name})"), M.Const(True), d.span))
                threads.append(_ThreadBuilder(self, None, f"{group}({d.name})", None, idx)
                               .build_worker(trig, d.fn, f"running({d.name})", d.span, group))
                idx += 1
        for f in self.rcu_fns:
            span = sym.fns[f].span
            pend = var(f"rcu_pending({f})")
            grace = [M.Neg(var(cb_wait(f, self.thread_names[r]))) for r in self.rcu_readers]
            ready = and_all([M.Bin(A.BinOp.GT, pend, M.Const(0))] + grace)   # NOTE(rcu-grace-period)
            trig = (M.AAwait(ready, span),
                    M.AAssign(pend, M.Bin(A.BinOp.SUB, pend, M.Const(1)), span),
                    M.AAssign(var(f"rcu_running({f})"), M.Const(True), span))
            threads.append(_ThreadBuilder(self, None, f"rcu({f})", None, idx)
                           .build_worker(trig, f, f"rcu_running({f})", span, "rcu"))
            idx += 1
        for o in releasers:
            trig = (M.AAwait(var(f"release_pending({o.name})"), o.span),
                    M.AAssign(var(f"release_pending({o.name})"), M.Const(False), o.span))
            threads.append(_ThreadBuilder(self, None, f"release({o.name})", None, idx)
                           .build_worker(trig, o.release, None, o.span, "release"))
            idx += 1

        def prop(d) -> M.Prop:
            return M.Prop(d.name, self.expr(d.expr, {}), expr_to_source(d.expr), d.span)

        exp = sym.expect
        return M.Program(
            never_run=_never_run(sym, threads),
            modules=tuple(M.Module(m.name, m.refs, m.exit, m.span) for m in sym.modules),
            objects=tuple(M.Obj(o.name, o.refs, o.release, o.span, self.storage(o.storage))
                          for o in sym.objects),
            completions=tuple(M.Completion(c.name, c.done, c.span, self.storage(c.storage))
                              for c in sym.completions),
            mutexes=tuple(M.Mutex(m.name, m.span) for m in sym.mutexes),
            vars=tuple(M.Var(v.name, _lit(v.value), v.span) for v in sym.vars)
            + tuple(M.Var(name, init, A.NO_SPAN) for name, init in hidden),
            threads=tuple(threads),
            invariants=tuple(prop(d) for d in sym.invariants),
            covers=tuple(prop(d) for d in sym.covers),
            expect=M.Expect(exp.verdict, exp.check, exp.span) if exp else None,
            path=self.spec.path,
            source=self.spec.source,
            deferred_release=self.deferred,
            keyed_by_thread=bool(self.rcu_readers),
        )


def _never_run(sym: Symbols, threads) -> tuple[tuple[str, int, int], ...]:
    """The functions no thread can run: no call, put, unload, work item, timer or
    RCU callback brings their code into any thread (name, line, col).  None of
    their code is checked, so a proof says so."""
    fns = sorted(sym.fns.values(), key=lambda d: (d.span.line, d.span.col))
    starts = [(d.span.line, d.span.col) for d in fns]
    run = set()
    for sp in {st.span for t in threads for st in t.steps}:
        i = bisect.bisect_right(starts, (sp.line, sp.col)) - 1   # declarations do not nest
        if i >= 0 and (sp.end_line, sp.end_col) <= (fns[i].span.end_line, fns[i].span.end_col):
            run.add(i)
    return tuple((d.name, d.name_span.line, d.name_span.col)
                 for i, d in enumerate(fns) if i not in run)


def lower(spec: A.SpecFile, sym: Optional[Symbols] = None, deferred_release: bool = False
          ) -> M.Program:
    """Check (unless `sym` is given) and lower `spec`; raises SpecError on a bad file.

    `deferred_release` runs every release function on a worker thread of its own
    after the put that drops the count to zero (CONFIG_DEBUG_KOBJECT_RELEASE)."""
    if sym is None:
        sym = check(spec)
    return _Lowerer(spec, sym, deferred_release).program()


def load(path: str, deferred_release: bool = False) -> M.Program:
    """Parse, check and lower the file at `path`."""
    from modproof.grammar.parser import parse_file
    return lower(parse_file(path), deferred_release=deferred_release)


def load_text(text: str, path: str = "<input>", deferred_release: bool = False) -> M.Program:
    from modproof.grammar.parser import parse
    return lower(parse(text, path), deferred_release=deferred_release)


def _builtin_calls(spec: A.SpecFile, sym: Symbols) -> list[tuple[str, Optional[str]]]:
    """Every v2 built-in call in the file, in source order: (name, argument)."""
    out: list[tuple[str, Optional[str]]] = []

    def walk(stmts) -> None:
        for s in stmts:
            if isinstance(s, A.CallStmt) and sym.builtin(s):
                out.append((s.fn, s.arg))
            for b in A.blocks_of(s):
                walk(b)

    for d in spec.decls:
        if isinstance(d, (A.FnDecl, A.ThreadDecl)):
            walk(d.body)
    return out


def _expr_uses(e, out: set) -> None:
    if isinstance(e, M.Q):
        if e.kind in (A.QueryKind.REFS, A.QueryKind.TRY_GET):
            out.add(("object", e.index))
        elif e.kind is A.QueryKind.DONE:
            out.add(("completion", e.index))
    elif isinstance(e, M.Neg):
        _expr_uses(e.operand, out)
    elif isinstance(e, M.Bin):
        _expr_uses(e.left, out)
        _expr_uses(e.right, out)


_OBJ_KINDS = (M.StepKind.GET, M.StepKind.PUT)
_COMP_KINDS = (M.StepKind.COMPLETE, M.StepKind.COMPLETE_ALL, M.StepKind.WAIT, M.StepKind.REINIT,
               M.StepKind.COMPLETE_AND_EXIT)


def _atomic_uses(body, out: set) -> None:
    for a in M.atomic_statements(body):
        if isinstance(a, M.AOp):
            if a.kind in _OBJ_KINDS:
                out.add(("object", a.operand))
            elif a.kind in _COMP_KINDS:
                out.add(("completion", a.operand))
        for e in M.atomic_reads(a):
            _expr_uses(e, out)


def _uses(nd: dict) -> tuple[tuple[str, int], ...]:
    """The objects and completions a step touches (for use-after-unload)."""
    out: set = set()
    k = nd["kind"]
    if k in _OBJ_KINDS:
        out.add(("object", nd["operand"]))
    elif k in _COMP_KINDS:
        out.add(("completion", nd["operand"]))
    if nd.get("expr") is not None:
        _expr_uses(nd["expr"], out)
    if nd.get("body"):
        _atomic_uses(nd["body"], out)
    return tuple(sorted(out))
