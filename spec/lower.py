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

NOTE(local-inits) (v3): a local's initial value is an expression.  A thread's
locals are set when it starts, which is the initial state: their values are
computed here, once.  A function's locals are set by each call, as part of the
call step (the put that calls a release function, the unloading step that
calls an exit function), in order and after the step's own effect: `Step.inits`
holds each slot with its expression.

NOTE(jumps) (v3): `break` and `continue` are jumps: no step, as the end of a
branch is none; they lead to the step after the loop, or to its test.

NOTE(returning-put) (v3): `kref_put(O)` whose result is used is a put whose
`release` edge, taken at zero, runs the release function and then goes where a
true result goes (`next` where a false one does); its result may be stored in a
local (`Step.target`).  `kref_put_mutex(O, M)` and `kref_put_lock(O, M)` are
refcount_dec_and_mutex_lock() and the release call: a test that decrements
unless the count is 1 (refcount_dec_not_one), and at 1 a `lock(M)`, a put that
calls the release function with M held (the release unlocks it) and, when the
count was raised meanwhile, an `unlock(M)`.

NOTE(module-init) (v3): a module declared `init FN`, or that depends on such a
module, is loaded by a core thread `insmod(M)`: M is coming at the start; the
loader pins each module M depends on (waiting while one is coming, failing the
load when one is going or gone), calls FN, and then M is live, or, when FN
returned a negative result, M goes away: its pins are dropped and its code is
freed, and its exit function never runs.  A module that depends on others and
is loaded at the start pins them from the start; every module drops its pins
when its code is freed.
"""
from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Optional

from modproof.spec import ast as A
from modproof.spec import check_memory
from modproof.spec import memory as MEM
from modproof.spec import model as M
from modproof.spec import semantics as S
from modproof.spec import v2
from modproof.spec import v3_kthread
from modproof.spec import v3_ctx
from modproof.spec import vocabulary as V
from modproof.spec.builder import Ctx, StepGraph
from modproof.spec.check import Symbols, check
from modproof.spec.check_stmts import acts, operation_of
from modproof.spec.diagnostics import Diagnostic, SpecError, source_lines
from modproof.spec.printer import expr_to_source, stmt_header

def closing_span(span: A.Span) -> A.Span:
    """The span of the `}` that ends a block whose construct spans `span`."""
    col = max(span.end_col - 1, 1)
    return A.Span(span.file, span.end_line, col, span.end_line, col + 1)


def _lit(lit: A.Literal):
    return lit.value


def _default(e: M.Expr, p_vars, slots) -> object:
    """The value a local slot holds before its first initialisation: 0 or false,
    as the type of its initial value `e` says (`p_vars`: the vars' initial values,
    `slots`: the LocalSlots so far)."""
    if isinstance(e, M.Const):
        return e.value
    if isinstance(e, M.VarRef):
        return False if isinstance(p_vars[e.index], bool) else 0
    if isinstance(e, M.LocalRef):
        return False if isinstance(slots[e.slot].init, bool) else 0
    if isinstance(e, M.Neg):
        return False
    if isinstance(e, M.Bin):
        return False if V.binary(e.op).result == "bool" else 0
    if isinstance(e, M.Q):
        return False if V.query(e.kind).type == "bool" else 0
    raise AssertionError(e)


def can_end(steps: tuple[M.Step, ...]) -> bool:
    """Some path of the control flow from the entry reaches the thread's end (a
    test that is a constant goes one way only: `while true` never ends)."""
    seen, stack = set(), [0] if steps else []
    while stack:
        n = stack.pop()
        if n == M.DONE:
            return True
        if n in seen:
            continue
        seen.add(n)
        st = steps[n]
        targets = st.successors()
        if st.kind is M.StepKind.BRANCH and isinstance(st.expr, M.Const):
            targets = (st.next,) if st.expr.value else (st.on_false,)
        stack.extend(targets)
    return not steps


def step_kind(prim: A.Prim) -> M.StepKind:
    """The kind of step a primitive statement becomes."""
    return M.StepKind(V.primitive(prim).name)


class _ThreadBuilder(StepGraph):
    def __init__(self, lowerer: "_Lowerer", decl: Optional[A.ThreadDecl], name: str,
                 copy: Optional[int], index: int):
        super().__init__()
        self.lw = lowerer
        self.decl = decl
        self.name = name
        self.copy = copy
        self.index = index
        self.slots: list[M.LocalSlot] = []
        self.fn_slots: dict[str, dict[str, int]] = {}
        self.work_of: Optional[str] = None   # the (delayed) work item this kworker runs
        self.copy_slots: dict[str, int] = {}   # NOTE(per-copy): `files[self].n` -> its slot
        self.kthread_exit: Optional[int] = None   # v3: a kthread's exit path (NOTE(kthread))
        # v3 (spec/v3_ctx.py): "hardirq" for an irq handler's worker, "softirq" for a
        # timer's or RCU callback's, None for process context; the hidden locals made
        self.context: Optional[str] = None
        self.ctx_slots: dict[str, int] = {}

    def v2(self) -> "v2.V2":
        return v2.V2(self.lw, self)

    def text(self, s) -> str:
        return self.lw.text_of(s)

    def build(self) -> M.Thread:
        d = self.decl
        # NOTE(memory): `self` is this copy's index; ops tables' members are constants
        d = replace(d, body=MEM.rewrite(MEM.unroll(d.body, self.lw.array_sizes),
                                        MEM.substitute({}, self.copy, self.lw.sym.constants,
                                                       self.lw.per_copy)))
        owner = self.lw.owner_index(d.owner or "core")
        own: dict[str, int] = {}
        # NOTE(per-copy): the memory `NAME[*]` this thread's copies own is their locals
        for array, user in self.lw.sym.copy_user.items():
            if user == d.name:
                inst = self.lw.sym.decls[array]
                elem = f"{array}[self]"
                self.copy_slots[MEM.memory_var(elem)] = len(self.slots)
                self.slots.append(M.LocalSlot(MEM.memory_var(elem), None,
                                              MEM.NOT_ALLOCATED if inst.pointer else MEM.LIVE))
                for flat, f in self.lw.sym.copy_fields.items():
                    if flat.startswith(elem + "."):
                        self.copy_slots[flat] = len(self.slots)
                        self.slots.append(M.LocalSlot(flat, None, f.value.value))
        own.update(self.copy_slots)
        for s in d.body:
            if isinstance(s, A.Local):
                # NOTE(local-inits): the thread starts with the system, in the initial state.
                value = S.evaluate(self.lw.expr(s.value, own, owner, self), self.lw.initial_state(),
                                   tuple(sl.init for sl in self.slots))
                own[s.name] = len(self.slots)
                self.slots.append(M.LocalSlot(s.name, None, value))
        if d.kthread:
            return self.build_kthread(d, owner, own)
        done = v3_ctx.devm_release(self, d, M.DONE)   # NOTE(devm)
        ctx = Ctx(owner=owner, ret_next=done, fn=None, frame=(), slots=own)
        final = self.make(M.StepKind.RETURN, owner, closing_span(d.span),
                          f"end of thread {d.name}", next=done, frame=(), synthetic=True)
        entry = self.block(d.body, final, ctx)
        return self.thread(entry, owner)

    def build_kthread(self, d: A.ThreadDecl, owner: int, own: dict[str, int]) -> M.Thread:
        """NOTE(kthread): wait to be woken, kthread()'s test, the function (owner's
        code, its return step too), then exit and reap in core code."""
        end = closing_span(d.span)
        self.kthread_exit = v3_kthread.exit_path(self, d.name, end)
        ctx = Ctx(owner=owner, ret_next=self.kthread_exit, fn=None, frame=(), slots=own)
        final = self.make(M.StepKind.RETURN, owner, end, f"end of kthread {d.name}: its function "
                          "returns", next=self.kthread_exit, frame=(), synthetic=True)
        body = self.block(d.body, final, ctx)
        return self.thread(v3_kthread.start(self, d.name, body, self.kthread_exit, d.name_span),
                           owner)

    def build_worker(self, trigger: tuple, fn: str, done: Optional[str], span: A.Span,
                     group: str, finish: tuple = (), idle_text: str = "wait for work") -> M.Thread:
        """A core worker thread (v2): see modproof.spec.v2.worker."""
        entry = v2.worker(self, trigger, fn, done, span, self.name, finish, idle_text)
        return self.thread(entry, M.CORE, group=group, span=span)

    def build_timer_loop(self, body: tuple, span: A.Span, text: str, group: str) -> M.Thread:
        """A core thread of one idle step (v2): see modproof.spec.v2.timer_loop."""
        return self.thread(v2.timer_loop(self, body, span, text), M.CORE, group=group, span=span)

    def thread(self, entry: int, owner: int, group: Optional[str] = None,
               span: Optional[A.Span] = None) -> M.Thread:
        steps = self.freeze(entry)
        worker = group is not None
        return M.Thread(name=self.name, group=group or self.decl.name, copy=self.copy, owner=owner,
                        entry=0, steps=steps, locals=tuple(self.slots),
                        span=span or self.decl.span,
                        must_finish=(not worker and not self.decl.service and not self.decl.kthread
                                     and can_end(steps)),
                        # NOTE(kthread): a kthread sleeps until it is stopped, by design
                        service=not worker and (self.decl.service or self.decl.kthread))

    # ------------------------------------------------------------------ statements

    def block(self, stmts, cont: int, ctx: Ctx) -> int:
        entry = cont
        for s in reversed(stmts):
            if isinstance(s, A.Local):
                continue
            entry = self.stmt(s, entry, ctx)
        return entry

    def inline(self, fname: str, cont: int, ctx: Ctx, fail: Optional[int] = None,
               args: tuple = (), binds: Optional[dict] = None,
               ret_target: Optional[M.LValue] = None) -> tuple[int, tuple]:
        """Inline `fname`'s body returning to `cont`; its entry and the locals its call
        sets (NOTE(local-inits)).  `fail`: where it returns to with a negative result
        (an init function, NOTE(module-init)).  v3 (NOTE(memory)): `args`, the
        arguments of the call, bind its parameters; or `binds` does."""
        fn = self.lw.sym.fns[fname]
        owner = self.lw.owner_index(fn.owner)
        binds = dict(binds or {})
        values = []   # (int or bool parameter, its value in the caller's terms)
        for p, a in zip(fn.params, args):
            if p.type in ("int", "bool"):
                lit = check_memory.literal_expr(a)
                values.append((p, lit if lit is not None else A.Name(a)))
            else:
                binds[p.name] = a
        fn = replace(fn, body=MEM.rewrite(MEM.unroll(fn.body, self.lw.array_sizes),
                                          MEM.substitute(binds, None, self.lw.sym.constants,
                                                         self.lw.per_copy)))
        slots = self.fn_slots.get(fname)
        if slots is None:
            slots = {}
            for p in fn.params:
                if p.type in ("int", "bool"):
                    slots[p.name] = len(self.slots)
                    self.slots.append(M.LocalSlot(p.name, fname, 0 if p.type == "int" else False))
            for s in fn.body:
                if isinstance(s, A.Local):
                    e = self.lw.expr(s.value, slots, owner, self)
                    slots[s.name] = len(self.slots)
                    inits_now = self.lw.var_inits + self.lw.hidden_inits
                    self.slots.append(M.LocalSlot(s.name, fname, _default(e, inits_now,
                                                                          self.slots)))
            self.fn_slots[fname] = slots
        inits = tuple((slots[p.name], self.lw.expr(v, ctx.slots, ctx.owner, self)) for p, v in values)
        inits += tuple((slots[s.name], self.lw.expr(s.value, slots, owner, self))
                       for s in fn.body if isinstance(s, A.Local))
        frame = ctx.frame + (fname,)
        ret = self.make(M.StepKind.RETURN, owner, closing_span(fn.span), f"return from {fname}",
                        next=cont, fn=fname, frame=frame, synthetic=True)
        fctx = Ctx(owner=owner, ret_next=cont, fn=fname, frame=frame,
                   slots={**self.copy_slots, **slots}, ret_fail=fail, ret_target=ret_target)
        return self.block(fn.body, ret, fctx), inits

    def call(self, fname: str, args: tuple, s, cont: int, ctx: Ctx,
             ret_target: Optional[M.LValue] = None) -> int:
        """The call step of statement `s`, calling `fname` inlined with `args`."""
        if fname in ctx.frame:   # only a function reference can make one (the checker)
            raise SpecError([Diagnostic(s.span, f"'{fname}' calls itself through a function "
                                        f"reference ({' -> '.join(ctx.frame + (fname,))}): "
                                        "calls are inlined, so they cannot recurse")])
        entry, inits = self.inline(fname, cont, ctx, args=args, ret_target=ret_target)
        return self.make(M.StepKind.CALL, ctx.owner, s.span, self.text(s), next=entry, fn=fname,
                         inits=inits, frame=ctx.frame)

    def release_binds(self, release: str, obj: int) -> dict:
        """NOTE(memory): the release function of a kref in struct memory gets the memory
        it lives in (container_of), when it takes a parameter."""
        fn = self.lw.sym.fns[release]
        elem = self.lw.sym.container.get(self.lw.sym.objects[obj].name)
        return {fn.params[0].name: elem} if fn.params and elem is not None else {}

    def touches(self, s) -> tuple[str, ...]:
        """NOTE(touch-memory): the memory `s` touches that can be other than live: memory
        of a pointer (`struct S *p`), or of a struct type that some kfree() frees."""
        user = isinstance(s, A.CallStmt) and s.fn in self.lw.sym.fns
        sym = self.lw.sym
        return tuple(e for e in MEM.touched(MEM.stmt_names(s, user), sym.container)
                     if sym.elements[e].pointer or sym.elements[e].struct in self.lw.freeable)

    def memory_state(self, elem: str) -> M.LValue:
        """Where the state of memory `elem` is: a hidden var, or (NOTE(per-copy)) a local
        of the copy that owns it."""
        name = MEM.memory_var(elem)
        if name in self.copy_slots:
            return M.LocalRef(self.copy_slots[name])
        return M.VarRef(self.lw.hidden[name])

    def memory_checks(self, elems, span: A.Span, text: str) -> tuple:
        """NOTE(touch-memory): the memory must be live."""
        out = []
        for e in elems:
            state = self.memory_state(e)
            out.append(M.AAssert(M.Bin(A.BinOp.NE, state, M.Const(MEM.NOT_ALLOCATED)), span,
                                 message=f"{text}: {e} is not allocated (a NULL pointer)",
                                 check="null-deref"))
            out.append(M.AAssert(M.Bin(A.BinOp.NE, state, M.Const(MEM.FREED)), span,
                                 message=f"{text}: {e} was freed", check="use-after-free"))
        return tuple(out)

    def stmt(self, s: A.Stmt, cont: int, ctx: Ctx) -> int:
        if not isinstance(s, A.While) and v3_ctx.checks(self) and v3_ctx.sleeps(self.lw, s):
            # NOTE(sleeps): might_sleep() in front of a statement that may sleep
            return v3_ctx.might_sleep(self, s, self.memory_stmt(s, cont, ctx), ctx)
        return self.memory_stmt(s, cont, ctx)

    def memory_stmt(self, s: A.Stmt, cont: int, ctx: Ctx) -> int:
        """NOTE(touch-memory): `s` after the checks of the memory it touches."""
        if isinstance(s, A.CallStmt) and s.fn == MEM.NULL:
            # a method of an ops table that its initializer leaves NULL, reached through a
            # parameter (the checker rejects a direct call)
            text = self.text(s)
            oops = M.AAssert(M.Const(False), s.span, message=f"{text}: the method is NULL",
                             check="null-deref")
            return self.make(M.StepKind.ATOMIC, ctx.owner, s.span, text, next=cont, body=(oops,),
                             frame=ctx.frame)
        elems = self.touches(s)
        if not elems:
            return self.plain_stmt(s, cont, ctx)
        text = self.text(s)
        checks = self.memory_checks(elems, s.span, text)
        if isinstance(s, A.Assign) and operation_of(s.value)[0] is None and not acts(s.value):
            # one step: the checks, then the assignment
            body = checks + (M.AAssign(self.lvalue(s.target, ctx), self.expr(s.value, ctx), s.span),)
            return self.make(M.StepKind.ATOMIC, ctx.owner, s.span, text, next=cont, body=body,
                             frame=ctx.frame)
        entry = self.plain_stmt(s, cont, ctx)
        return self.make(M.StepKind.ATOMIC, ctx.owner, s.span, f"{text} (touches {', '.join(elems)})",
                         next=entry, body=checks, frame=ctx.frame)

    def memory_builtin(self, s: A.CallStmt, cont: int, ctx: Ctx) -> int:
        """NOTE(memory): kzalloc(X) and kfree(X), one step each."""
        lw = self.lw
        x = s.arg
        state = self.memory_state(x)
        text = self.text(s)
        if s.fn == "kfree":
            body = (M.AAssert(M.Bin(A.BinOp.NE, state, M.Const(MEM.FREED)), s.span,
                              message=f"{text}: {x} was freed already", check="double-free"),
                    M.AIf(M.Bin(A.BinOp.EQ, state, M.Const(MEM.LIVE)),
                          (M.AAssign(state, M.Const(MEM.FREED), s.span),), (), s.span))
        else:
            body = [M.AAssert(M.Bin(A.BinOp.NE, state, M.Const(MEM.LIVE)), s.span,
                              message=f"{text}: {x} is allocated already (its memory would leak; "
                              "modproof keeps one allocation per struct memory)"),
                    M.AAssign(state, M.Const(MEM.LIVE), s.span)]
            for f in lw.sym.structs[lw.sym.struct_of(x)].fields:
                flat = f"{x}.{f.name}"
                if isinstance(f, A.VarDecl):
                    target = (M.LocalRef(self.copy_slots[flat]) if flat in self.copy_slots
                              else M.VarRef(lw.sym.index("var", flat)))
                    body.append(M.AAssign(target, M.Const(f.value.value), s.span))
                elif isinstance(f, A.ObjectDecl):
                    body.append(M.AOp(M.StepKind.KREF_INIT, lw.sym.index("object", flat), s.span))
                elif isinstance(f, A.CompletionDecl):
                    body.append(M.AOp(M.StepKind.REINIT, lw.sym.index("completion", flat), s.span))
                elif isinstance(f, A.MutexDecl):
                    body.append(M.AOp(M.StepKind.MUTEX_INIT, lw.sym.index("mutex", flat), s.span))
            body = tuple(body)
        return self.make(M.StepKind.ATOMIC, ctx.owner, s.span, text, next=cont, body=body,
                         frame=ctx.frame)

    def plain_stmt(self, s: A.Stmt, cont: int, ctx: Ctx) -> int:
        lw = self.lw
        here = dict(owner=ctx.owner, span=s.span, text=self.text(s))
        frame = ctx.frame
        if isinstance(s, A.CallStmt) and lw.sym.builtin(s) and s.fn in V.MEMORY_BUILTINS:
            return self.memory_builtin(s, cont, ctx)
        if isinstance(s, A.CallStmt) and lw.sym.builtin(s) and s.fn in V.KTHREAD_BUILTINS:
            return v3_kthread.stmt(self, s, cont, ctx)
        if isinstance(s, A.CallStmt) and lw.sym.builtin(s) and s.fn in v3_ctx.CTX_WORDS:
            return v3_ctx.stmt(self, s, cont, ctx)
        if isinstance(s, A.CallStmt) and lw.sym.builtin(s):
            return v2.V2(lw, self).stmt(s, cont, ctx)
        if isinstance(s, A.CallStmt) and lw.sym.operation(s):
            return self.operation(s.fn, (s.arg,) + s.extra, s, cont, cont, ctx)
        if isinstance(s, A.PrimStmt):
            kind = step_kind(s.kind)
            prim = V.primitive(s.kind)
            operand = lw.operand(prim.operand, s.arg, ctx.owner)
            if kind is M.StepKind.PUT:
                release = lw.sym.objects[operand].release
                if lw.defers(lw.sym.objects[operand]):
                    return v2.V2(lw, self).deferred_put(s, operand, cont, ctx)
                if release is not None:
                    entry, inits = self.inline(release, cont, ctx,
                                               binds=self.release_binds(release, operand))
                    return self.make(kind, **here, next=cont, release=entry, operand=operand,
                                     fn=release, inits=inits, frame=frame)
            if kind is M.StepKind.UNLOAD:
                free = self.make(M.StepKind.UNLOAD_FREE, **here, next=cont, operand=operand,
                                 frame=frame)
                free = self.unpin(operand, free, ctx.owner, s.span, here["text"], frame)
                exit_fn = lw.sym.modules[operand].exit
                if exit_fn is not None:
                    entry, inits = self.inline(exit_fn, free, ctx)
                    return self.make(kind, **here, next=entry, not_loaded=cont, operand=operand,
                                     fn=exit_fn, inits=inits, frame=frame)
                return self.make(kind, **here, next=free, not_loaded=cont, operand=operand,
                                 frame=frame)
            if prim.ends_thread and self.kthread_exit is not None:
                # NOTE(kthread): module_put_and_kthread_exit(), kthread_complete_and_exit()
                return self.make(v3_kthread.BEFORE_EXIT[kind], **here, next=self.kthread_exit,
                                 operand=operand, frame=frame)
            nxt = M.DONE if prim.ends_thread else cont
            return self.make(kind, **here, next=nxt, operand=operand, frame=frame)
        if isinstance(s, A.CallStmt):
            args = () if s.arg is None else (s.arg,) + s.extra
            return self.call(s.fn, args, s, cont, ctx)
        if (isinstance(s, A.Assign) and isinstance(s.value, A.Query) and s.value.kind is None
                and s.value.name in lw.sym.fns):
            # NOTE(results): `x = f(...)`: the call, whose `return E` stores E in x
            e = s.value
            args = tuple(a for a in (e.arg,) + e.extra if a)
            return self.call(e.name, args, s, cont, ctx, ret_target=self.lvalue(s.target, ctx))
        if isinstance(s, A.Assign):
            op, neg = operation_of(s.value)
            if op is not None and op.name not in lw.sym.decls:
                return self.operation(op.name, (op.arg,) + op.extra, s, cont, cont, ctx,
                                      target=self.lvalue(s.target, ctx), negated=neg)
            if acts(s.value):
                # NOTE(acting-condition): `x = try_get(o)` is a test that stores its value.
                return self.make(M.StepKind.BRANCH, **here, next=cont, on_false=cont,
                                 expr=self.expr(s.value, ctx), target=self.lvalue(s.target, ctx),
                                 frame=frame)
            return self.make(M.StepKind.ASSIGN, **here, next=cont, frame=frame,
                             target=self.lvalue(s.target, ctx), expr=self.expr(s.value, ctx))
        if isinstance(s, A.Assert):
            return self.make(M.StepKind.ASSERT, **here, next=cont, expr=self.expr(s.cond, ctx),
                             frame=frame)
        if isinstance(s, A.Await):
            return self.make(M.StepKind.AWAIT, **here, next=cont, expr=self.expr(s.cond, ctx),
                             frame=frame)
        if isinstance(s, A.Return):
            if ctx.ret_fail is not None and s.value is not None:
                # NOTE(module-init): the init function's result decides where insmod goes.
                value = self.expr(s.value, ctx)
                if isinstance(value, M.Const):
                    return self.make(M.StepKind.RETURN, **here, fn=ctx.fn, frame=frame,
                                     next=ctx.ret_next if value.value >= 0 else ctx.ret_fail)
                return self.make(M.StepKind.BRANCH, **here, fn=ctx.fn, frame=frame,
                                 expr=M.Bin(A.BinOp.GE, value, M.Const(0)),
                                 next=ctx.ret_next, on_false=ctx.ret_fail)
            if s.value is not None and ctx.ret_target is not None:
                # NOTE(results): the value goes to the caller's target, then the return
                back = self.make(M.StepKind.RETURN, **{**here, "text": f"return from {ctx.fn}"},
                                 next=ctx.ret_next, fn=ctx.fn, frame=frame)
                return self.make(M.StepKind.ASSIGN, **here, next=back, target=ctx.ret_target,
                                 expr=self.expr(s.value, ctx), frame=frame)
            here["text"] = f"return from {ctx.fn}" if ctx.fn else "return"
            return self.make(M.StepKind.RETURN, **here, next=ctx.ret_next, fn=ctx.fn, frame=frame)
        if isinstance(s, A.Break):
            return ctx.loop[1]       # NOTE(jumps): no step
        if isinstance(s, A.Continue):
            return ctx.loop[0]
        if isinstance(s, A.If):
            then = self.block(s.then, cont, ctx)
            orelse = self.block(s.orelse, cont, ctx) if s.orelse is not None else cont
            op, neg = operation_of(s.cond)
            if op is not None and op.name not in lw.sym.decls:
                yes, no = (orelse, then) if neg else (then, orelse)
                return self.operation(op.name, (op.arg,) + op.extra, s, yes, no, ctx)
            return self.make(M.StepKind.BRANCH, **here, next=then, on_false=orelse,
                             expr=self.expr(s.cond, ctx), frame=frame)
        if isinstance(s, A.While):
            test = self.reserve()
            body = self.block(s.body, test, replace(ctx, loop=(test, cont)))
            op, neg = operation_of(s.cond)
            if op is not None and op.name not in lw.sym.decls:
                yes, no = (cont, body) if neg else (body, cont)
                if v3_ctx.checks(self) and v3_ctx.sleeps(lw, s):
                    # NOTE(sleeps): each test of the loop is checked first
                    first = self.reserve()
                    self.operation(op.name, (op.arg,) + op.extra, s, yes, no, ctx, at=first)
                    return v3_ctx.might_sleep(self, s, first, ctx, at=test)
                return self.operation(op.name, (op.arg,) + op.extra, s, yes, no, ctx, at=test)
            return self.make(M.StepKind.BRANCH, **here, at=test, next=body, on_false=cont,
                             expr=self.expr(s.cond, ctx), frame=frame)
        if isinstance(s, A.Choose):
            branches = tuple(self.block(b, cont, ctx) for b in s.branches)
            return self.make(M.StepKind.CHOOSE, **here, branches=branches, frame=frame)
        if isinstance(s, A.Atomic):
            return self.make(M.StepKind.ATOMIC, **here, next=cont, body=self.atomic(s.body, ctx),
                             frame=frame)
        raise AssertionError(f"cannot lower {s!r}")

    def unpin(self, module: int, free: int, owner: int, span: A.Span, text: str,
              frame: tuple) -> int:
        """NOTE(module-init): before module `module`'s code is freed, it drops the pin
        it holds on each module it depends on (module_unload_free()); the entry of
        those steps, which lead to `free`."""
        m = self.lw.sym.modules[module]
        nxt = free
        for dep in reversed(m.depends):
            nxt = self.make(M.StepKind.MODULE_PUT, owner, span,
                            f"{text}: {m.name} no longer uses {dep} (module_put({dep}))",
                            next=nxt, operand=self.lw.sym.index("module", dep), frame=frame)
        return nxt

    def operation(self, name: str, args: tuple, s, yes: int, no: int, ctx: Ctx,
                  target: Optional[M.LValue] = None, negated: bool = False,
                  at: Optional[int] = None) -> int:
        """NOTE(returning-put): `name(args)` going to `yes` when it released and to `no`
        when it did not (the same for a statement), storing that in `target` (negated
        with `negated`: then the stored value is the opposite).  `at`: a reserved id
        for its first step (the test of a `while`)."""
        lw = self.lw
        text = self.text(s)
        call = f"{name}({', '.join(args)})"   # the sub-steps are named after the call itself
        frame = ctx.frame
        obj = lw.operand("object", args[0], ctx.owner)
        o = lw.sym.objects[obj]
        if negated:
            yes, no = no, yes
        if not V.operation(name).locks:
            # kref_put(O): a put; at zero it calls the release function and yields true.
            if lw.defers(o):
                if yes == no and target is None:
                    return v2.V2(lw, self).deferred_put(s, obj, yes, ctx, at=at)
                # the put, then at zero a step that queues the release (any time after
                # the final put, as a deferred release may run)
                queue = self.make(M.StepKind.ASSIGN, M.CORE, s.span,
                                  f"{call}: queues the release of {o.name}", next=yes, frame=frame,
                                  target=v2.V2(lw, self).var(f"release_pending({o.name})"),
                                  expr=M.Const(True))
                return self.make(M.StepKind.PUT, ctx.owner, s.span, text, at=at, next=no,
                                 release=queue, operand=obj, target=self._flip(target, negated),
                                 frame=frame)
            if o.release is not None:
                entry, inits = self.inline(o.release, yes, ctx,
                                           binds=self.release_binds(o.release, obj))
                return self.make(M.StepKind.PUT, ctx.owner, s.span, text, at=at, next=no,
                                 release=entry, operand=obj, fn=o.release, inits=inits,
                                 target=self._flip(target, negated), frame=frame)
            if yes == no and target is None:
                return self.make(M.StepKind.PUT, ctx.owner, s.span, text, at=at, next=yes,
                                 operand=obj, frame=frame)
            return self.make(M.StepKind.PUT, ctx.owner, s.span, text, at=at, next=no, release=yes,
                             operand=obj, target=self._flip(target, negated), frame=frame)
        # kref_put_mutex(O, M) / kref_put_lock(O, M): refcount_dec_and_mutex_lock(), then
        # the release function with the lock held (it unlocks it).
        mutex = lw.sym.index("mutex", args[1])
        flipped = self._flip(target, negated)
        unlock = self.make(M.StepKind.UNLOCK, M.CORE, s.span, f"{call}: mutex_unlock({args[1]})",
                           next=no, operand=mutex, frame=frame)
        if o.release is not None:
            entry, inits = self.inline(o.release, yes, ctx, binds=self.release_binds(o.release, obj))
            put = self.make(M.StepKind.PUT, M.CORE, s.span, f"{call}: put({o.name}) under {args[1]}",
                            next=unlock, release=entry, operand=obj, fn=o.release, inits=inits,
                            target=flipped, frame=frame)
        else:
            put = self.make(M.StepKind.PUT, M.CORE, s.span, f"{call}: put({o.name}) under {args[1]}",
                            next=unlock, release=yes, operand=obj, target=flipped, frame=frame)
        lock = self.make(M.StepKind.LOCK, M.CORE, s.span, f"{call}: mutex_lock({args[1]})",
                         next=put, operand=mutex, frame=frame)
        # refcount_dec_not_one(): true when it decremented a count above 1 (the result is
        # false then); false at 1 (go and lock).
        last = M.Neg(lw.query(A.QueryKind.REFCOUNT_DEC_NOT_ONE, obj))
        return self.make(M.StepKind.BRANCH, ctx.owner, s.span, text, at=at, next=lock, on_false=no,
                         expr=last, target=flipped, frame=frame)

    def _flip(self, target: Optional[M.LValue], negated: bool) -> Optional[M.LValue]:
        """`x = not kref_put(o)` is lowered with its edges swapped; storing the opposite
        value is not a step's to do, so the checker allows no `not` there for a stored
        result (see operation)."""
        if target is not None and negated:
            raise AssertionError("a negated operation result is not stored")
        return target

    def atomic(self, stmts, ctx: Ctx) -> tuple[M.AStmt, ...]:
        out = []
        for s in stmts:
            elems = self.touches(s)
            if elems:   # NOTE(touch-memory)
                out.extend(self.memory_checks(elems, s.span, self.text(s)))
            if isinstance(s, A.PrimStmt):
                prim = V.primitive(s.kind)
                operand = self.lw.operand(prim.operand, s.arg, ctx.owner)
                if prim.calls == "release" and self.lw.defers(self.lw.sym.objects[operand]):
                    out.extend(v2.V2(self.lw, self).put_and_queue(operand, s.span))
                    continue
                out.append(M.AOp(step_kind(s.kind), operand, s.span))
            elif isinstance(s, A.Assign) and acts(s.value):
                # NOTE(acting-condition): `x = try_get(o)` inside atomic
                lv = self.lvalue(s.target, ctx)
                out.append(M.AIf(self.expr(s.value, ctx), (M.AAssign(lv, M.Const(True), s.span),),
                                 (M.AAssign(lv, M.Const(False), s.span),), s.span))
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

    def lvalue(self, name: str, ctx: Ctx) -> M.LValue:
        if name in ctx.slots:
            return M.LocalRef(ctx.slots[name])
        return M.VarRef(self.lw.sym.index("var", name))

    def expr(self, e: A.Expr, ctx: Optional[Ctx]) -> M.Expr:
        return self.lw.expr(e, ctx.slots if ctx else {}, ctx.owner if ctx else None,
                            thread=self)

    def build_loader(self, module: int) -> M.Thread:
        """NOTE(module-init): the core thread insmod(M) that loads module `module`."""
        lw = self.lw
        m = lw.sym.modules[module]
        span = m.span
        deps = [lw.sym.index("module", d) for d in m.depends]
        name = self.name

        def step(kind, x, text, nxt, **kw):
            return self.make(kind, M.CORE, span, text, next=nxt, operand=x, **kw)

        def unpinned(upto: int, nxt: int) -> int:
            # drop the pins taken on the first `upto` dependencies, then go to `nxt`
            for d in reversed(deps[:upto]):
                nxt = step(M.StepKind.MODULE_PUT, d,
                           f"{name}: {m.name} no longer uses {lw.sym.modules[d].name}", nxt)
            return nxt

        free = step(M.StepKind.UNLOAD_FREE, module, f"{name}: frees {m.name}", M.DONE)
        going = step(M.StepKind.MODULE_GOING, module, f"{name}: {m.init} failed", unpinned(len(deps), free))
        live = step(M.StepKind.MODULE_LIVE, module, f"{name}: {m.name} is live", M.DONE)
        entry = live
        if m.init is not None:
            ctx = Ctx(owner=M.CORE, ret_next=M.DONE, fn=None, frame=(), slots={})
            body, inits = self.inline(m.init, live, ctx, fail=going)
            entry = self.make(M.StepKind.CALL, M.CORE, span, f"{name}: calls {m.init}", next=body,
                              fn=m.init, inits=inits)
        for k in range(len(deps) - 1, -1, -1):
            # resolve_symbol_wait(): wait while the dependency is coming; pin it when it is
            # live; a dependency going or gone fails the load (its code is freed at once).
            failed = unpinned(k, free)
            entry = step(M.StepKind.REF_MODULE, deps[k],
                         f"{name}: uses {lw.sym.modules[deps[k]].name}'s symbols", entry,
                         not_loaded=failed)
        steps = self.freeze(entry)
        return M.Thread(name=name, group="insmod", copy=None, owner=M.CORE, entry=0, steps=steps,
                        locals=tuple(self.slots), span=span, must_finish=True)


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
        self.items: list[str] = []                     # work and delayed work items
        self.queue_of: dict[str, Optional[str]] = {}   # item -> its workqueue (None: the system's)
        self.drainable: set[str] = set()               # workqueues a drain or destroy may close
        self.destroyable: set[str] = set()
        self.flushers: list[int] = []                  # threads whose flushes note instances
        self.barriers: list[int] = []                  # threads whose rcu_barrier() counts callbacks
        self.rcu_pool: dict[str, int] = {}             # NOTE(rcu-pool): workers per callback function
        self.proof_gaps: list[str] = []                # why a proof would not cover every execution
        self.freeable = MEM.freed_structs(spec, sym)   # NOTE(touch-memory)
        self.per_copy = frozenset(d.name for d in sym.instances if d.per_copy)   # NOTE(per-copy)
        self.array_sizes = check_memory.array_sizes(sym)   # NOTE(for): what a `for` walks
        self.hidden_inits: list = []                   # the hidden vars' initial values
        self.ctx_on = False                            # v3: a thread's context can change (v3_ctx)

    def operand(self, kind: str, name: str, owner: int) -> int:
        """The index of the `kind` that `name` names; THIS_MODULE (v3, unless declared) is
        the module that owns the code (`owner`), which the checker made sure is one."""
        if name == V.THIS_MODULE and kind == "module" and name not in self.sym.decls:
            assert owner >= 0, "THIS_MODULE in core code passed the checker"
            return owner
        return self.sym.index(kind, name)

    @property
    def var_inits(self) -> list:
        return [_lit(v.value) for v in self.sym.vars]

    def has_loader(self, m: A.ModuleDecl, seen: frozenset = frozenset()) -> bool:
        """NOTE(module-init): module `m` is loaded by insmod(M), not there at the start: it
        has an init function, or depends on a module that is loaded so."""
        if m.init is not None:
            return True
        mods = {x.name: x for x in self.sym.modules}
        return any(d not in seen and self.has_loader(mods[d], seen | {m.name}) for d in m.depends)

    def module_starts(self) -> list[tuple[int, int]]:
        """(refcount, state) of each module at the start: a module with a loader is
        coming; a module loaded at the start pins those it depends on."""
        out = [[m.refs, M.COMING if self.has_loader(m) else M.LOADED] for m in self.sym.modules]
        for i, m in enumerate(self.sym.modules):
            if out[i][1] == M.LOADED:
                for d in m.depends:
                    out[self.sym.index("module", d)][0] += 1
        return [tuple(x) for x in out]

    def initial_state(self) -> S.State:
        """The shared state at the start (for a thread's locals, NOTE(local-inits))."""
        starts = self.module_starts()
        return S.State(pcs=(), locs=(), refs=tuple(o.refs for o in self.sym.objects),
                       done=tuple(c.done for c in self.sym.completions),
                       mrefs=tuple(r for r, _ in starts), mstate=tuple(st for _, st in starts),
                       holders=tuple(V.FREE for _ in self.sym.mutexes),
                       vars=tuple(self.var_inits) + tuple(self.hidden_inits))

    def defers(self, o: A.ObjectDecl) -> bool:
        """Whether O's release function runs on a worker of its own, `release(O)`:
        declared `release FN deferred`, or every one with --deferred-release."""
        return o.release is not None and (self.deferred or o.deferred)

    def storage(self, module: Optional[str]) -> int:
        return M.CORE if module is None else self.sym.index("module", module)

    def owner_index(self, owner: str) -> int:
        return M.CORE if owner == "core" else self.sym.index("module", owner)

    def query(self, kind: A.QueryKind, index: int) -> M.Q:
        """Query `kind` of thing `index`, with the module whose memory holds it."""
        operand = V.query(kind).operand
        home = M.CORE
        if operand in V.STORAGE_KINDS:
            decls = self.sym.objects if operand == "object" else self.sym.completions
            home = self.storage(decls[index].storage)
        return M.Q(kind, index, home)

    def text_of(self, s) -> str:
        """The statement as the user wrote it, on one line."""
        sp = s.span
        simple = not isinstance(s, (A.If, A.While, A.Choose, A.Atomic))
        if simple and sp.line == sp.end_line and 0 < sp.line <= len(self.lines):
            text = self.lines[sp.line - 1][sp.col - 1:sp.end_col - 1].strip()
            if text:
                return text
        if isinstance(s, (A.If, A.While)) and 0 < sp.line <= len(self.lines):
            # v3: the header as written (a condition the lowering rewrote, fops_get(F)
            # of a table without .owner, reads as the user wrote it)
            line = self.lines[sp.line - 1][sp.col - 1:]
            for stop in ("{", "//", "/*", "#"):
                line = line.split(stop, 1)[0]
            head = " ".join(line.split())
            if head and self._rewritten(s):
                return head
        return stmt_header(s)

    @staticmethod
    def _rewritten(s) -> bool:
        """Whether the condition of `s` mentions what the lowering rewrites (a path, a
        fops_get)."""
        text = stmt_header(s)
        return "true" in text.split() or "." in text or "[" in text

    def expr(self, e: A.Expr, slots: dict[str, int], owner: Optional[int] = None,
             thread: Optional[_ThreadBuilder] = None) -> M.Expr:
        """`e` lowered; `owner` is whose code it stands in (THIS_MODULE), `thread` the
        builder of the thread that runs it (kthread_should_stop())."""
        if isinstance(e, (A.IntLit, A.BoolLit)):
            return M.Const(e.value)
        if isinstance(e, A.Name):
            if e.id in slots:
                return M.LocalRef(slots[e.id])
            return M.VarRef(self.sym.index("var", e.id))
        if isinstance(e, A.Not):
            return M.Neg(self.expr(e.operand, slots, owner, thread))
        if isinstance(e, A.Minus):   # v3: unary minus is 0 - x
            inner = self.expr(e.operand, slots, owner, thread)
            if isinstance(inner, M.Const):
                return M.Const(-inner.value)
            return M.Bin(A.BinOp.SUB, M.Const(0), inner)
        if isinstance(e, A.Binary):
            return M.Bin(e.op, self.expr(e.left, slots, owner, thread),
                         self.expr(e.right, slots, owner, thread))
        if isinstance(e, A.Query) and e.kind is None and e.name == V.KTHREAD_SHOULD_STOP:
            return self.should_stop(e, thread)
        if isinstance(e, A.Query):
            return self.query(e.kind, self.operand(V.query(e.kind).operand, e.arg,
                                                   M.CORE if owner is None else owner))
        raise AssertionError(f"cannot lower {e!r}")

    def should_stop(self, e: A.Query, thread: Optional[_ThreadBuilder]) -> M.Expr:
        """NOTE(kthread): `kthread_should_stop()` in the code of `thread`: its hidden
        var should_stop(K); an error in any thread that is not a kthread (the checker
        cannot know who calls a function)."""
        d = thread.decl if thread is not None else None
        if d is None or not d.kthread:
            who = f"thread {thread.name}" if thread is not None else "code no kthread runs"
            raise SpecError([Diagnostic(e.span, f"'{e.name}()' runs in {who}, which is not a "
                                        "kthread: it asks about the kthread that runs it "
                                        "(declare 'kthread NAME { ... }')")])
        return M.VarRef(self.hidden[f"should_stop({d.name})"])

    def program(self) -> M.Program:
        sym = self.sym
        user = []
        for d in sym.threads:
            # NOTE(unbounded): a `thread NAME[*]` is lowered once, as its copy NAME[0]:
            # the template spec/sizes.py instantiates for each K.
            copies = [0] if d.unbounded else [None] if d.count is None else list(range(d.count))
            for c in copies:
                user.append((d, d.name if c is None else f"{d.name}[{c}]", c))
        calls = _builtin_calls(self.spec, sym)
        self.rcu_fns = list(dict.fromkeys(a for f, a in calls if f == "call_rcu"))
        releasers = [o for o in sym.objects if self.defers(o)]
        works = sym.works + sym.delayed_works
        self.items = [w.name for w in works]
        self.queue_of = {w.name: w.queue for w in works}
        self.drainable = {a for f, a in calls if f in V.DRAINS}
        self.destroyable = {a for f, a in calls if f == "destroy_workqueue"}
        delayed = [n for d in sym.delayed_works for n in (f"kworker({d.name})", f"dtimer({d.name})")]
        workers = ([f"kworker({w.name})" for w in sym.works] + delayed
                   + [f"timer({t.name})" for t in sym.timers]
                   + [w for f in self.rcu_fns for w in v2.rcu_workers(f, self.rcu_pool.get(f, 1))]
                   + [f"release({o.name})" for o in releasers])
        loaded = [i for i, m in enumerate(sym.modules) if self.has_loader(m)]   # NOTE(module-init)
        workers += [f"insmod({sym.modules[i].name})" for i in loaded]
        workers += [f"irq({d.name})" for d in sym.irqs]      # v3 (spec/v3_ctx.py)
        self.ctx_on = v3_ctx.uses_contexts(sym, calls)
        self.thread_names = [n for _, n, _ in user] + workers
        everyone = list(range(len(self.thread_names)))
        names = {f for f, _ in calls}
        if (names & {"rcu_read_lock", "rcu_read_unlock", "synchronize_rcu"}
                or {"preempt_disable", "call_rcu"} <= names):    # NOTE(preempt-rcu) in v3_ctx
            self.rcu_readers = everyone
            self.rcu_syncers = everyone
        if any(f in V.FLUSHES for f, _ in calls):
            self.flushers = everyone      # NOTE(flush-instances), NOTE(keyed-vars)
        if any(f == "rcu_barrier" for f, _ in calls):
            self.barriers = everyone      # NOTE(rcu-barrier)
        hidden = v2.var_names(sym, self.rcu_fns, self.rcu_readers, self.rcu_syncers,
                              self.thread_names, releasers, self.rcu_pool)
        hidden += v2.work_var_names(self)
        # NOTE(memory): the state of each struct memory
        hidden += [(MEM.memory_var(e), MEM.NOT_ALLOCATED if d.pointer else MEM.LIVE)
                   for e, d in sym.elements.items() if not d.per_copy]
        hidden += v3_kthread.var_names(sym)
        hidden += v3_ctx.var_names(sym, calls)
        self.hidden = {name: len(sym.vars) + i for i, (name, _) in enumerate(hidden)}
        self.hidden_inits = [init for _, init in hidden]

        threads = [_ThreadBuilder(self, d, name, c, i).build() for i, (d, name, c) in enumerate(user)]
        idx = len(threads)

        def var(name):
            return M.VarRef(self.hidden[name])

        def take(d) -> tuple:
            return (M.AAwait(var(f"pending({d.name})"), d.span),
                    M.AAssign(var(f"pending({d.name})"), M.Const(False), d.span),
                    M.AAssign(var(f"running({d.name})"), M.Const(True), d.span))

        def kworker(d) -> M.Thread:
            # NOTE(flush-instances): taking the pending instance, and finishing the
            # running one, moves the flushes waiting for them on.
            tb = _ThreadBuilder(self, None, f"kworker({d.name})", None, idx)
            tb.work_of = d.name
            flush = v2.V2(self, tb)
            return tb.build_worker(take(d) + flush.released(d.name, 2, 1, d.span), d.fn,
                                   f"running({d.name})", d.span, "kworker",
                                   finish=flush.released(d.name, 1, 0, d.span))

        for d in sym.works:
            threads.append(kworker(d))
            idx += 1
        for d in sym.delayed_works:
            threads.append(kworker(d))
            idx += 1
            # kernel/workqueue.c delayed_work_timer_fn(): the timer queues the work, in
            # softirq context (never chained: NOTE(drain)).
            tb = _ThreadBuilder(self, None, f"dtimer({d.name})", None, idx)
            fire = v2.V2(self, tb).enqueue(d.name, d.span, f"the timer of {d.name} queues it",
                                           softirq=True)
            body = ((M.AAwait(var(f"armed({d.name})"), d.span),
                     M.AAssign(var(f"armed({d.name})"), M.Const(False), d.span)) + fire)
            threads.append(tb.build_timer_loop(body, d.span, f"dtimer({d.name}): fires, queues {d.name}",
                                               "dtimer"))
            idx += 1
        for d in sym.timers:
            tb = _ThreadBuilder(self, None, f"timer({d.name})", None, idx)
            tb.context = "softirq"     # NOTE(sleeps)
            threads.append(tb.build_worker(take(d), d.fn, f"running({d.name})", d.span, "timer"))
            idx += 1
        for f in self.rcu_fns:
            span = sym.fns[f].span
            pend = var(f"rcu_pending({f})")
            grace = [M.Neg(var(v2.cb_wait(f, self.thread_names[r]))) for r in self.rcu_readers]
            ready = v2.and_all([M.Bin(A.BinOp.GT, pend, M.Const(0))] + grace)   # NOTE(rcu-grace-period)
            # NOTE(rcu-pool): a pool of workers per function, as many as callbacks of it
            # can be queued in one execution, so that they can run at once, as on
            # different CPUs.
            for name in v2.rcu_workers(f, self.rcu_pool.get(f, 1)):
                running = v2.rcu_running(name)
                trig = (M.AAwait(ready, span),
                        M.AAssign(pend, M.Bin(A.BinOp.SUB, pend, M.Const(1)), span),
                        M.AAssign(var(running), M.Const(True), span))
                # NOTE(rcu-barrier): each callback that finishes counts down the barriers.
                down = []
                for t in self.barriers:
                    c = var(v2.barrier_wait(self.thread_names[t], f))
                    down.append(M.AIf(M.Bin(A.BinOp.GT, c, M.Const(0)),
                                      (M.AAssign(c, M.Bin(A.BinOp.SUB, c, M.Const(1)), span),), (),
                                      span))
                tb = _ThreadBuilder(self, None, name, None, idx)
                tb.context = "softirq"     # NOTE(sleeps)
                threads.append(tb.build_worker(trig, f, running, span, "rcu", finish=tuple(down)))
                idx += 1
        for o in releasers:
            trig = (M.AAwait(var(f"release_pending({o.name})"), o.span),
                    M.AAssign(var(f"release_pending({o.name})"), M.Const(False), o.span),
                    M.AAssign(var(f"release_running({o.name})"), M.Const(True), o.span))
            threads.append(_ThreadBuilder(self, None, f"release({o.name})", None, idx)
                           .build_worker(trig, o.release, f"release_running({o.name})", o.span,
                                         "release"))
            idx += 1
        for i in loaded:
            threads.append(_ThreadBuilder(self, None, f"insmod({sym.modules[i].name})", None, idx)
                           .build_loader(i))
            idx += 1
        for d in sym.irqs:     # v3: the worker of an irq handler (spec/v3_ctx.py)
            tb = _ThreadBuilder(self, None, f"irq({d.name})", None, idx)
            tb.context = "hardirq"
            threads.append(tb.build_worker(v3_ctx.irq_trigger(self, d), d.fn,
                                           f"irq_running({d.name})", d.span, "irq",
                                           idle_text="the interrupt fires"))
            idx += 1

        def prop(d) -> M.Prop:
            return M.Prop(d.name, self.expr(d.expr, {}), expr_to_source(d.expr), d.span)

        exp = sym.expect
        starts = self.module_starts()
        return M.Program(
            never_run=_never_run(sym, threads),
            modules=tuple(M.Module(m.name, starts[i][0], m.exit, m.span, init=m.init,
                                   depends=tuple(sym.index("module", d) for d in m.depends),
                                   start=starts[i][1])
                          for i, m in enumerate(sym.modules)),
            objects=tuple(M.Obj(o.name, o.refs, o.release, o.span, self.storage(o.storage),
                                self.defers(o))
                          for o in sym.objects),
            completions=tuple(M.Completion(c.name, c.done, c.span, self.storage(c.storage))
                              for c in sym.completions),
            mutexes=tuple(M.Mutex(m.name, m.span) for m in sym.mutexes)
            + tuple(M.Mutex(n, sp) for n, sp in v3_ctx.mutex_names(sym)),
            vars=tuple(M.Var(v.name, _lit(v.value), v.span) for v in sym.vars)
            + tuple(M.Var(name, init, A.NO_SPAN) for name, init in hidden),
            threads=tuple(threads),
            invariants=tuple(prop(d) for d in sym.invariants),
            covers=tuple(prop(d) for d in sym.covers),
            expect=M.Expect(exp.verdict, exp.check, exp.span, exp.bound) if exp else None,
            path=self.spec.path,
            source=self.spec.source,
            deferred_release=self.deferred,
            keyed_by_thread=bool(self.rcu_readers or self.flushers or self.barriers),
            unbounded=tuple(d.name for d in sym.threads if d.unbounded),
            proof_gaps=tuple(self.proof_gaps) + tuple(v3_ctx.cpu_gaps(sym)),
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
    after the put that drops the count to zero (CONFIG_DEBUG_KOBJECT_RELEASE), as
    `release FN deferred` does for one object whatever the flag."""
    if sym is None:
        sym = check(spec)
    program = _Lowerer(spec, sym, deferred_release).program()
    pool, gaps = v2.rcu_pool_sizes(program)
    if any(n > 1 for n in pool.values()) or gaps:
        # NOTE(rcu-pool): lowered again with a worker per callback that can be in flight.
        lw = _Lowerer(spec, sym, deferred_release)
        lw.rcu_pool = pool
        lw.proof_gaps = gaps
        program = lw.program()
    return program


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
