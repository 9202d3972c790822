"""Language v3, contexts and locks: spinlocks, rw_semaphores, irq handlers,
preemption and interrupts, lowered to steps (issue 17, part 4).

As in spec/v2.py, nothing here adds a kind of step.  Every construct becomes
v1 steps over hidden state:

- A spinlock and the write side of a rw_semaphore are mutexes of the program
  (`Program.mutexes`, after the declared ones, with the declaration's name), so
  `unlock-not-held`, deadlocks and the counter abstraction's "mutexes held"
  treat them as any mutex.  The readers of a rw_semaphore are a hidden var
  `rwsem_readers(S)`, the writers waiting for it `rwsem_wwait(S)`.
- Each thread's context is hidden *locals* of that thread (a thread's own
  state, so the copies of `thread NAME[*]` stay interchangeable):
  `preempt_count` (spinlocks held, `preempt_disable`, `local_bh_disable`: the
  kernel's preempt count, one counter for all three as in the kernel) and
  `irqs_off` (`local_irq_disable`, `local_irq_save`), and `read_held_S`, how
  many read holds of rw_semaphore S the thread has.
- An irq handler runs on a core worker `irq(I)`, like a v2 timer's: one idle
  step that waits until I is requested and not disabled and marks it running,
  the call of the handler, a step that marks it not running.  Hidden vars
  `irq_requested(I)`, `irq_running(I)`, `irq_disabled(I)` (disable_irq depth),
  `irq_devm(I)` (requested with devm_request_irq and not freed yet).

NOTE(sleeps): every word that may sleep has `sleeps` in its entry of
spec/vocabulary.py (`SLEEPING_WORDS`).  In front of each statement that uses
one the lowering puts a step of its own, `might_sleep()` as the kernel puts
at the top of every sleeping function: an atomic step whose only statement is
`AAssert(preempt_count == 0 and irqs_off == 0, check="sleep-in-atomic")`.
Checking one step early is exact: the asserted condition reads only the
thread's own locals, which no other thread's step can change, so it has the
same value when the sleeping step runs.  In the worker of an irq handler
(hardirq context) and of a timer or RCU callback (softirq context) the
condition is `false`: sleeping there is always a bug.  The step is made only
where it can fail: in a file that uses contexts (declares a spinlock, or calls
preempt_disable, local_bh_disable, local_irq_disable or local_irq_save), and in
every irq, timer and RCU callback worker.  So a version 1 or 2 file without
a sleeping statement in a timer or RCU callback keeps its steps and meaning.

NOTE(irq-cpu): a handler runs as on another CPU: its steps interleave with
every thread's.  An interrupt on the CPU of a thread stops that thread while
the handler runs, an interleaving too, except that a handler that spins on a
spinlock the interrupted thread holds never gets it (the deadlock lockdep
reports as inconsistent lock state).  That execution is not modelled; where it
can happen (a spinlock taken in interrupt code and, elsewhere, with a variant
that leaves that interrupt enabled) the program has a proof gap: no proof.

NOTE(preempt-rcu): a `preempt_disable()` section is an RCU read-side section,
as in the kernel since the RCU flavours were consolidated (Linux 4.20):
`preempt_disable()` does what `rcu_read_lock()` does to the hidden RCU state
(spec/v2.py, `V2.read_lock_body`) and `preempt_enable()` what
`rcu_read_unlock()` does; both count in the same depth, `rcu_depth(T)`.  The
RCU state exists when the file waits for grace periods (synchronize_rcu, or
call_rcu with preempt_disable).  Spinlock sections, disabled interrupts and
irq handlers are readers too in kernels without PREEMPT_RT; modproof does not
count them, which lets grace periods end earlier: more executions.

NOTE(devm): the devm resources a thread requests (devm_request_irq) are
released when that thread's body ends, after its last statement or a
`return`, in the reverse order of the requests in its code: a thread models
a device bound to its driver, probe then remove, and the driver core releases
the devres list after ->remove() returned (drivers/base/dd.c
device_unbind_cleanup(), devres_release_all()).
"""
from __future__ import annotations

from typing import Optional

from modproof.spec import ast as A
from modproof.spec import model as M
from modproof.spec import vocabulary as V
from modproof.spec.ast import BinOp
from modproof.spec.check_stmts import operation_of

TRUE, FALSE, ZERO, ONE = M.Const(True), M.Const(False), M.Const(0), M.Const(1)
SLEEP = "sleep-in-atomic"
CTX_WORDS = frozenset(b.name for b in V.CTX_BUILTINS)
# The calls that change a thread's context (besides the spinlocks).
CONTEXT_CALLS = frozenset({"preempt_disable", "preempt_enable", "local_bh_disable",
                           "local_bh_enable", "local_irq_disable", "local_irq_enable",
                           "local_irq_save", "local_irq_restore"})
PREEMPT, IRQS = "preempt_count", "irqs_off"
# Where a spinlock variant leaves interrupts on: which interrupt code may take the
# lock on the same CPU while it is held (NOTE(irq-cpu)).
_SAFE_FROM = {"spin_lock": (), "spin_lock_bh": ("softirq",),
              "spin_lock_irq": ("softirq", "hardirq"), "spin_lock_irqsave": ("softirq", "hardirq")}


def uses_contexts(sym, calls) -> bool:
    """Whether a process thread's context can change: the file declares a spinlock or
    calls a word that changes it (NOTE(sleeps))."""
    return bool(sym.spinlocks) or any(f in CONTEXT_CALLS for f, _ in calls)


def var_names(sym, calls) -> list[tuple[str, object]]:
    """The hidden vars of rw_semaphores and irqs, with their initial values, in a fixed
    order (after every v2 one, so that a file without them keeps its numbering)."""
    out: list[tuple[str, object]] = []
    for s in sym.rwsems:
        out += [(f"rwsem_readers({s.name})", 0), (f"rwsem_wwait({s.name})", 0)]
    devm = {a for f, a in calls if f in ("devm_request_irq", "devm_free_irq")}
    for i in sym.irqs:
        out += [(f"irq_requested({i.name})", False), (f"irq_running({i.name})", False),
                (f"irq_disabled({i.name})", 0)]
        if i.name in devm:
            out.append((f"irq_devm({i.name})", False))
    return out


def mutex_names(sym) -> list[tuple[str, A.Span]]:
    """The mutexes of the program after the declared ones: each spinlock, then the write
    side of each rw_semaphore (name, span)."""
    return [(d.name, d.span) for d in sym.spinlocks] + [(d.name, d.span) for d in sym.rwsems]


def mutex_index(lw, name: str) -> int:
    """The index in Program.mutexes of spinlock or rw_semaphore `name`."""
    sym = lw.sym
    if sym.kind(name) == "spinlock":
        return len(sym.mutexes) + sym.index("spinlock", name)
    return len(sym.mutexes) + len(sym.spinlocks) + sym.index("rwsem", name)


# --------------------------------------------------------------------------- thread locals


def slot(tb, name: str) -> M.LocalRef:
    """The hidden local `name` of the thread being built (made, 0, on first use)."""
    slots = tb.ctx_slots
    if name not in slots:
        slots[name] = len(tb.slots)
        tb.slots.append(M.LocalSlot(name, None, 0))
    return M.LocalRef(slots[name])


def _add(ref, k: int, span) -> M.AAssign:
    return M.AAssign(ref, M.Bin(BinOp.ADD if k > 0 else BinOp.SUB, ref, M.Const(abs(k))), span)


def _down(ref, span) -> M.AIf:
    """ref - 1, not below 0."""
    return M.AIf(M.Bin(BinOp.GT, ref, ZERO), (_add(ref, -1, span),), (), span)


def sleeps(lw, s: A.Stmt) -> bool:
    """Whether statement `s` (its own step, not a block inside it) may sleep (NOTE(sleeps))."""
    if isinstance(s, A.PrimStmt):
        return V.primitive(s.kind).sleeps
    if isinstance(s, A.CallStmt):
        if lw.sym.builtin(s):
            return V.builtin(s.fn).sleeps and s.fn != "might_sleep"   # that one is the check itself
        return lw.sym.operation(s) and V.operation(s.fn).sleeps
    cond = s.value if isinstance(s, A.Assign) else s.cond if isinstance(s, (A.If, A.While)) else None
    if cond is None:
        return False
    op, _ = operation_of(cond)
    return op is not None and op.name not in lw.sym.decls and V.operation(op.name).sleeps


def atomic_now(tb) -> M.Expr:
    """The thread is in atomic context now (NOTE(sleeps))."""
    if tb.context is not None:
        return TRUE
    return M.Bin(BinOp.OR, M.Bin(BinOp.GT, slot(tb, PREEMPT), ZERO),
                 M.Bin(BinOp.GT, slot(tb, IRQS), ZERO))


def checks(tb) -> bool:
    """Whether sleeping statements of this thread get a `might_sleep()` step."""
    return tb.context is not None or tb.lw.ctx_on


def might_sleep(tb, s, entry: int, ctx, text: Optional[str] = None, at: Optional[int] = None) -> int:
    """NOTE(sleeps): the step in front of sleeping statement `s`, whose steps start at
    `entry`: sleep-in-atomic when the thread is in atomic context."""
    what = tb.lw.text_of(s)
    where = {"hardirq": "in an irq handler", "softirq": "in a timer or RCU callback (softirq)"}
    why = where.get(tb.context, "in atomic context (a spinlock held, preemption, softirqs or "
                                "interrupts disabled)")
    cond = M.Neg(atomic_now(tb))
    body = (M.AAssert(cond, s.span, f"{what} may sleep, {why}", check=SLEEP),)
    return tb.make(M.StepKind.ATOMIC, ctx.owner, s.span, text or f"{what}: might_sleep()",
                   next=entry, body=body, frame=ctx.frame, at=at)


# --------------------------------------------------------------------------- statements


def held_by_someone(tb, m: int, text: str, arg: str, span) -> M.AAssert:
    """unlock-not-held, in the words of a spinlock or rw_semaphore, when nobody holds
    mutex `m`; held by another thread, the unlock's own check says by whom."""
    return M.AAssert(tb.lw.query(A.QueryKind.LOCKED, m), span,
                     f"{text}, but {arg} is not held", check="unlock-not-held")


def stmt(tb, s: A.CallStmt, cont: int, ctx) -> int:
    """Lower a contexts-and-locks built-in call `s` in thread builder `tb`."""
    lw, fn, arg, sp = tb.lw, s.fn, s.arg, s.span
    text = lw.text_of(s)

    def node(body, nxt):
        return tb.make(M.StepKind.ATOMIC, ctx.owner, sp, text, next=nxt, body=tuple(body),
                       frame=ctx.frame)

    def var(name):
        return M.VarRef(lw.hidden[name])

    def assign(name, value):
        return M.AAssign(var(name), value, sp)

    pc, irqs = (slot(tb, PREEMPT), slot(tb, IRQS)) if fn not in _CONTEXT_FREE else (None, None)
    if fn == "might_sleep":
        return might_sleep(tb, s, cont, ctx, text=text) if checks(tb) else node((), cont)
    if fn.startswith("spin_lock"):
        m = mutex_index(lw, arg)
        before = {"spin_lock_irq": [_add(irqs, 1, sp)], "spin_lock_irqsave": [_add(irqs, 1, sp)]}
        return node(before.get(fn, []) + [M.AOp(M.StepKind.LOCK, m, sp), _add(pc, 1, sp)], cont)
    if fn.startswith("spin_unlock"):
        m = mutex_index(lw, arg)
        after = {"spin_unlock_irq": [M.AAssign(irqs, ZERO, sp)],
                 "spin_unlock_irqrestore": [_down(irqs, sp)]}
        return node([held_by_someone(tb, m, text, arg, sp), M.AOp(M.StepKind.UNLOCK, m, sp),
                     _down(pc, sp)] + after.get(fn, []), cont)
    if fn in ("preempt_disable", "local_bh_disable"):
        body = [_add(pc, 1, sp)]
        if fn == "preempt_disable" and lw.rcu_readers:
            body += tb.v2().read_lock_body(sp)     # NOTE(preempt-rcu)
        return node(body, cont)
    if fn in ("preempt_enable", "local_bh_enable"):
        body = [M.AAssert(M.Bin(BinOp.GT, pc, ZERO), sp,
                          f"{text} with a preempt count of 0: it underflows (CONFIG_DEBUG_PREEMPT "
                          "warns)"), _add(pc, -1, sp)]
        if fn == "preempt_enable" and lw.rcu_readers:
            body += tb.v2().read_unlock_body(sp)
        return node(body, cont)
    if fn in ("local_irq_disable", "local_irq_save"):
        return node([_add(irqs, 1, sp)], cont)
    if fn == "local_irq_enable":
        return node([M.AAssign(irqs, ZERO, sp)], cont)
    if fn == "local_irq_restore":
        return node([_down(irqs, sp)], cont)
    if fn in ("down_read", "down_write", "up_read", "up_write"):
        return _rwsem(tb, s, cont, ctx, node, var)
    # irqs
    req, run, dis = f"irq_requested({arg})", f"irq_running({arg})", f"irq_disabled({arg})"
    idle = M.Neg(var(run))

    def wait(nxt):
        return tb.make(M.StepKind.AWAIT, ctx.owner, sp, text, next=nxt, expr=idle, frame=ctx.frame)

    if fn in ("request_irq", "devm_request_irq"):
        body = [assign(req, TRUE)]
        if fn == "devm_request_irq":
            body.append(assign(f"irq_devm({arg})", TRUE))
        return node(body, cont)
    if fn in ("free_irq", "devm_free_irq"):
        # kernel/irq/manage.c __free_irq(): the action is removed, then the handler
        # still running on another CPU is waited for (synchronize_hardirq()).
        body = [M.AAssert(var(req), sp, f"{text} of an irq that is not requested (the kernel "
                          "warns: Trying to free already-free IRQ)", check="double-free"),
                assign(req, FALSE)]
        if f"irq_devm({arg})" in lw.hidden:
            body.append(assign(f"irq_devm({arg})", FALSE) if fn == "devm_free_irq" else None)
        return node([b for b in body if b is not None], wait(cont))
    if fn == "synchronize_irq":
        return wait(cont)
    if fn in ("disable_irq", "disable_irq_nosync"):
        body = [M.AAssign(var(dis), M.Bin(BinOp.ADD, var(dis), ONE), sp)]
        return node(body, wait(cont) if fn == "disable_irq" else cont)
    if fn == "enable_irq":
        return node([M.AAssert(M.Bin(BinOp.GT, var(dis), ZERO), sp,
                               f"{text}: unbalanced enable for IRQ {arg} (the kernel warns)"),
                     M.AAssign(var(dis), M.Bin(BinOp.SUB, var(dis), ONE), sp)], cont)
    raise AssertionError(f"not a contexts-and-locks built-in: {fn}")


# The words that neither read nor change the thread's context (no hidden locals made).
_CONTEXT_FREE = frozenset({"request_irq", "devm_request_irq", "free_irq", "devm_free_irq",
                        "synchronize_irq", "disable_irq", "disable_irq_nosync", "enable_irq",
                        "down_read", "down_write", "up_read", "up_write"})


def _rwsem(tb, s, cont, ctx, node, var) -> int:
    """NOTE(rwsem): readers count in `rwsem_readers(S)`, the write side is a mutex.  A
    writer announces itself (`rwsem_wwait(S)`) before it waits; a reader that comes
    while a writer waits may pass it (the kernel's optimistic reader lock stealing)
    or queue behind it until no writer waits (the rwsem hand-off): a choice, so that
    the deadlock of a recursive down_read behind a waiting writer is an execution."""
    lw, fn, arg, sp = tb.lw, s.fn, s.arg, s.span
    text = lw.text_of(s)
    w = mutex_index(lw, arg)
    readers, wwait = var(f"rwsem_readers({arg})"), var(f"rwsem_wwait({arg})")
    held = slot(tb, f"read_held_{arg}")
    free = M.Neg(lw.query(A.QueryKind.LOCKED, w))
    if fn == "down_read":
        take = [_add(readers, 1, sp), _add(held, 1, sp)]
        steal = node([M.AAwait(free, sp)] + take, cont)
        queue = node([M.AAwait(M.Bin(BinOp.AND, free, M.Bin(BinOp.EQ, wwait, ZERO)), sp)] + take,
                     cont)
        return tb.make(M.StepKind.CHOOSE, ctx.owner, sp, text, branches=(steal, queue),
                       frame=ctx.frame)
    if fn == "up_read":
        return node([M.AAssert(M.Bin(BinOp.GT, held, ZERO), sp,
                               f"{text}: the thread holds no read lock of {arg}",
                               check="unlock-not-held"),
                     _add(readers, -1, sp), _add(held, -1, sp)], cont)
    if fn == "down_write":
        got = node([M.AAwait(M.Bin(BinOp.EQ, readers, ZERO), sp), M.AOp(M.StepKind.LOCK, w, sp),
                    _add(wwait, -1, sp)], cont)
        return node([_add(wwait, 1, sp)], got)
    return node([held_by_someone(tb, w, text, arg, sp), M.AOp(M.StepKind.UNLOCK, w, sp)],
                cont)   # up_write


# --------------------------------------------------------------------------- irq workers


def irq_trigger(lw, d: A.IrqDecl) -> tuple:
    """The idle step of worker irq(I): I is requested and enabled; it runs now."""
    def var(name):
        return M.VarRef(lw.hidden[name])
    ready = M.Bin(BinOp.AND, var(f"irq_requested({d.name})"),
                  M.Bin(BinOp.EQ, var(f"irq_disabled({d.name})"), ZERO))
    return (M.AAwait(ready, d.span), M.AAssign(var(f"irq_running({d.name})"), TRUE, d.span))


# --------------------------------------------------------------------------- devm (NOTE(devm))


def _reached(sym, body) -> list:
    """The statements of `body` and of every function it calls (release and exit
    functions too), each function once, in source order."""
    out: list = []
    seen: set = set()

    def visit(stmts):
        for s in stmts:
            out.append(s)
            callee = None
            if isinstance(s, A.CallStmt) and s.fn in sym.fns and not sym.builtin(s):
                callee = s.fn
            elif isinstance(s, A.PrimStmt) and s.kind is A.Prim.PUT and sym.kind(s.arg) == "object":
                callee = sym.objects[sym.index("object", s.arg)].release
            if callee is not None and callee not in seen:
                seen.add(callee)
                visit(sym.fns[callee].body)
            for b in A.blocks_of(s):
                visit(b)

    visit(body)
    return out


def devm_release(tb, d: A.ThreadDecl, done: int) -> int:
    """NOTE(devm): the steps after thread `d`'s body that free the irqs it requested
    with devm_request_irq, newest first; their entry (`done` if none)."""
    lw = tb.lw
    irqs = list(dict.fromkeys(s.arg for s in _reached(lw.sym, d.body)
                              if isinstance(s, A.CallStmt) and s.fn == "devm_request_irq"
                              and lw.sym.builtin(s)))
    def var(name):
        return M.VarRef(lw.hidden[name])

    nxt = done
    for i in irqs:    # the last requested is freed first: so the first one is made last
        text = f"devres: free_irq({i}) after {tb.name} ends"
        span = d.span
        wait = tb.make(M.StepKind.AWAIT, M.CORE, span, text, next=nxt,
                       expr=M.Neg(var(f"irq_running({i})")))
        # devm_irq_release() is free_irq(): an irq freed meanwhile with plain free_irq()
        # is freed again (the kernel warns: Trying to free already-free IRQ)
        again = M.AAssert(var(f"irq_requested({i})"), span,
                          f"{text}: {i} was freed already (free_irq() of a devm irq)",
                          check="double-free")
        nxt = tb.make(M.StepKind.ATOMIC, M.CORE, span, text, next=wait, body=(
            M.AIf(var(f"irq_devm({i})"), (again, M.AAssign(var(f"irq_devm({i})"), FALSE, span),
                                          M.AAssign(var(f"irq_requested({i})"), FALSE, span)),
                  (), span),))
    return nxt


# --------------------------------------------------------------------------- proof gaps


def cpu_gaps(sym) -> list[str]:
    """NOTE(irq-cpu): the spinlocks that interrupt code takes and other code takes with
    that interrupt left on: the same-CPU deadlock is not modelled (a proof gap)."""
    def closure(roots) -> set:
        out, stack = set(), [r for r in roots if r in sym.fns]
        while stack:
            f = stack.pop()
            if f in out:
                continue
            out.add(f)
            for s in _reached(sym, sym.fns[f].body):
                if isinstance(s, A.CallStmt) and s.fn in sym.fns and not sym.builtin(s):
                    stack.append(s.fn)
        return out

    def sites(body):
        return [(s.fn, s.arg) for s in _reached(sym, body)
                if isinstance(s, A.CallStmt) and s.fn in _SAFE_FROM and sym.builtin(s)]

    rcu = [s.arg for d in list(sym.fns.values()) + sym.threads for s in _reached(sym, d.body)
           if isinstance(s, A.CallStmt) and s.fn == "call_rcu" and sym.builtin(s)]
    hard = closure([i.fn for i in sym.irqs])
    soft = closure([t.fn for t in sym.timers] + rcu) - hard
    taken = {"hardirq": {a for f in hard for _, a in sites(sym.fns[f].body)},
             "softirq": {a for f in soft for _, a in sites(sym.fns[f].body)}}
    gaps = []
    bodies = [(f"thread {t.name}", t.body) for t in sym.threads]
    bodies += [(f"function {f}", sym.fns[f].body) for f in sorted(sym.fns) if f not in hard]
    for where, body in bodies:
        level_of = "softirq" if where[len("function "):] in soft else None
        for fn, lock in sites(body):
            for level in ("hardirq", "softirq"):
                if level == "softirq" and level_of == "softirq":
                    continue    # softirqs do not interrupt each other on one CPU
                if lock in taken[level] and level not in _SAFE_FROM[fn]:
                    gaps.append(f"spinlock {lock} is taken in {level} code and with {fn}({lock}) "
                                f"in {where}: an interrupt on that CPU while it holds {lock} "
                                "(a deadlock) is not modelled")
    return sorted(set(gaps))
