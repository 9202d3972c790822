"""Language v2: deferred work, RCU, timers, timed waits and deferred release, lowered to steps.

Nothing here adds a kind of step.  Every v2 construct becomes v1 steps over
hidden state (vars named like `pending(w)`, which no user can declare) plus
worker threads owned by core:

- `kworker(W)` runs W's function each time W is queued (W a work item or a
  delayed work item), `dtimer(DW)` queues DW's work when its timer fires,
  `timer(T)` runs T's function when T fires, `rcu(FN)` (and `rcu(FN)[2]`, ...:
  NOTE(rcu-pool)) run queued `call_rcu(FN)` callbacks, and with `--deferred-release`,
  `release(O)` runs O's release function after the put that dropped the count
  to zero.
- A worker loops: one *idle* step that waits for its trigger and takes it, a
  call of the function (the function's body runs as its owner's code), and a
  step that marks it not running.  A worker waiting at its idle step is not
  part of a deadlock (`Step.idle`).

NOTE(v2-approximations): docs/language.md lists every place where these
semantics differ from the kernel's, with its direction ("Approximations and
their direction").  In short: a `call_rcu` callback waits for the read-side
sections in progress when it was queued (NOTE(rcu-grace-period)), except one
queued while another callback of the same function was still waiting, which
may run right after that one; the callbacks of one function run one at a time
(fewer executions than the kernel's: a known gap); `synchronize_rcu` waits
for the read-side sections in progress when it starts; `cancel_work_sync` is
two steps (take the item, then wait for a running instance), `del_timer_sync`
one (wait until the handler is not running, and disarm).

NOTE(flush-instances): a flush waits for the instances of a work item pending
or running when it is called, not for later ones (kernel/workqueue.c
flush_work(), __flush_workqueue()).  Per flushing thread T and item W the var
`flush_wait(T,W)` says what T waits for: 2 the pending instance (until it has
been taken and has finished), 1 the running one, 0 nothing.  The flush's first
step notes it, its second waits for 0; the worker's take step moves 2 to 1 and
its finish step 1 to 0; taking a pending instance back (cancel_work_sync,
cancel_delayed_work[_sync], mod_delayed_work) moves 2 to 0, since the kernel's
barrier behind it still runs.  Every thread may flush, so the state belongs to
threads (NOTE(keyed-vars)).

NOTE(drain): drain_workqueue and destroy_workqueue count the drains of a queue
(`draining(WQ)`, as wq->nr_drainers); while it is above 0 only chained
queueing, by the worker of an item on the same queue, is accepted, as
__queue_work() does with __WQ_DRAINING and __WQ_DESTROYING.  A queue stays
`destroyed(WQ)`: using it after destroy_workqueue returned is a failed
assertion (a use-after-free in the kernel).

NOTE(rejected-queue): a refused queueing either leaves the item idle (Linux
7.1 on, commit a7488f089bdf) or leaks its PENDING bit (`lost(W)`, before):
then queueing it again is a no-op for good and grabbing it (cancel_*,
mod_delayed_work) spins for ever, a step that is never enabled.

NOTE(rcu-barrier): rcu_barrier() waits for the callbacks queued or running
when it is called: per barrier thread T and function F, `barrier_wait(T,F)`
counts those still to finish; each callback of F that finishes counts it down.
"""
from __future__ import annotations

from typing import Optional

from modproof.spec import ast as A
from modproof.spec import model as M
from modproof.spec.builder import Ctx
from modproof.spec.ast import BinOp, QueryKind

TRUE = M.Const(True)


def cb_wait(fn: str, reader: str) -> str:
    """The hidden var: the oldest queued `call_rcu(fn)` callback waits for `reader`."""
    return f"cb_wait({fn},{reader})"


def rcu_workers(fn: str, n: int) -> list[str]:
    """The names of the `n` workers that run `call_rcu(fn)` callbacks (NOTE(rcu-pool))."""
    return [f"rcu({fn})"] + [f"rcu({fn})[{i + 1}]" for i in range(1, n)]


def rcu_running(worker: str) -> str:
    """The hidden var: worker `rcu(FN)` (or `rcu(FN)[K]`) is running a callback."""
    return "rcu_running" + worker[len("rcu"):]


def rcu_pool_sizes(program: M.Program) -> tuple[dict[str, int], list[str]]:
    """NOTE(rcu-pool): per callback function, how many of its callbacks one execution
    can have in flight: the `call_rcu(FN)` steps of every thread, each run at most
    once when it lies on no cycle of its thread's control flow.  A site on a cycle
    (a loop, or a callback that queues itself again) can queue any number: the
    pool then has one worker per site, and a proof would not cover more at once
    (a proof gap)."""
    pool: dict[str, int] = {}
    open_ended: set[str] = set()
    names = {i: v.name for i, v in enumerate(program.vars)}
    for th in program.threads:
        cyclic = th.pcs_on_cycles()
        for st in th.steps:
            for a in M.atomic_statements(st.body):
                if (isinstance(a, M.AAssign) and isinstance(a.target, M.VarRef)
                        and names[a.target.index].startswith("rcu_pending(")
                        and isinstance(a.value, M.Bin) and a.value.op is BinOp.ADD):
                    fn = names[a.target.index][len("rcu_pending("):-1]
                    pool[fn] = pool.get(fn, 0) + 1
                    if st.id in cyclic:
                        open_ended.add(fn)
    gaps = [f"call_rcu({fn}) can queue more callbacks than modproof runs at once ({pool[fn]}): "
            "a call_rcu in a loop or in a callback that queues itself again"
            for fn in sorted(open_ended)]
    return pool, gaps


def var_names(sym, rcu_fns: list[str], readers: list[int], syncers: list[int],
              thread_names: list[str], releasers,
              pool: Optional[dict[str, int]] = None) -> list[tuple[str, object]]:
    """The hidden vars of a program, with their initial values, in a fixed order."""
    out: list[tuple[str, object]] = []
    for w in sym.works:
        out += [(f"pending({w.name})", False), (f"running({w.name})", False),
                (f"canceling({w.name})", False)]
    for t in sym.timers:
        out += [(f"pending({t.name})", False), (f"running({t.name})", False),
                (f"shutdown({t.name})", False)]
    for fn in rcu_fns:
        out.append((f"rcu_pending({fn})", 0))
        out += [(rcu_running(w), False) for w in rcu_workers(fn, (pool or {}).get(fn, 1))]
    for r in readers:
        out += [(f"rcu_reader({thread_names[r]})", False), (f"rcu_depth({thread_names[r]})", 0)]
    for s in syncers:
        for r in readers:
            out.append((f"gp_wait({thread_names[s]},{thread_names[r]})", False))
    for fn in rcu_fns:
        for r in readers:
            out.append((cb_wait(fn, thread_names[r]), False))
    for o in releasers:   # the objects whose release is deferred (spec.lower: _Lowerer.defers)
        out += [(f"release_pending({o.name})", False), (f"release_running({o.name})", False)]
    return out


def and_all(parts: list[M.Expr]) -> M.Expr:
    """The conjunction of `parts`, left-nested (true when empty)."""
    if not parts:
        return TRUE
    e = parts[0]
    for p in parts[1:]:
        e = M.Bin(BinOp.AND, e, p)
    return e


def or_all(parts: list[M.Expr]) -> M.Expr:
    """The disjunction of `parts`, left-nested (false when empty)."""
    if not parts:
        return M.Const(False)
    e = parts[0]
    for p in parts[1:]:
        e = M.Bin(BinOp.OR, e, p)
    return e


def flush_wait(thread: str, item: str) -> str:
    """The hidden var: what `thread`'s flush waits for of work item `item` (NOTE(flush-instances))."""
    return f"flush_wait({thread},{item})"


def work_var_names(lw) -> list[tuple[str, object]]:
    """The hidden vars of delayed work items, closing workqueues and flushes, in a
    fixed order (after those of `var_names`, so that a file without them keeps its
    var numbering)."""
    out: list[tuple[str, object]] = []
    for d in lw.sym.delayed_works:
        out += [(f"armed({d.name})", False), (f"pending({d.name})", False),
                (f"running({d.name})", False), (f"canceling({d.name})", False)]
    for q in lw.sym.workqueues:
        if q.name in lw.drainable:
            out.append((f"draining({q.name})", 0))
        if q.name in lw.destroyable:
            out.append((f"destroyed({q.name})", False))
    for x in lw.items:
        if lw.queue_of[x] in lw.drainable:
            out.append((f"lost({x})", False))
    for t in lw.flushers:
        for x in lw.items:
            out.append((flush_wait(lw.thread_names[t], x), 0))
    for t in lw.barriers:
        for fn in lw.rcu_fns:
            out.append((barrier_wait(lw.thread_names[t], fn), 0))
    return out


def barrier_wait(thread: str, fn: str) -> str:
    """The hidden var: how many `call_rcu(fn)` callbacks `thread`'s rcu_barrier() still
    waits for (NOTE(rcu-barrier))."""
    return f"barrier_wait({thread},{fn})"


class V2:
    """Lowers v2 statements inside one thread builder (spec.lower._ThreadBuilder)."""

    def __init__(self, lw, tb):
        self.lw = lw      # the _Lowerer: symbols and hidden var indices
        self.tb = tb      # the _ThreadBuilder

    def var(self, name: str) -> M.VarRef:
        return M.VarRef(self.lw.hidden[name])

    def has(self, name: str) -> bool:
        return name in self.lw.hidden

    def idle_of(self, name: str) -> M.Expr:
        return and_all([M.Neg(self.var(f"pending({name})")), M.Neg(self.var(f"running({name})"))])

    # ------------------------------------------------------------------ work items

    def items_on(self, queue: Optional[str]) -> list[str]:
        """The work and delayed work items on `queue` (None: the system workqueue)."""
        return [x for x in self.lw.items if self.lw.queue_of[x] == queue]

    def chained(self, queue: Optional[str]) -> bool:
        """Whether this thread is the worker of an item on `queue`: its queueing on
        `queue` is chained (kernel/workqueue.c is_chained_work())."""
        mine = self.tb.work_of
        return queue is not None and mine is not None and self.lw.queue_of[mine] == queue

    def released(self, item: str, frm: int, to: int, span: A.Span) -> tuple:
        """Every flush waiting in state `frm` for `item` moves to `to` (NOTE(flush-instances))."""
        out = []
        for t in self.lw.flushers:
            fw = self.var(flush_wait(self.lw.thread_names[t], item))
            out.append(M.AIf(M.Bin(BinOp.EQ, fw, M.Const(frm)), (M.AAssign(fw, M.Const(to), span),),
                             (), span))
        return tuple(out)

    def note(self, item: str, span: A.Span) -> tuple:
        """This thread's flush of `item` notes the instance it waits for."""
        fw = self.var(flush_wait(self.lw.thread_names[self.tb.index], item))
        return (M.AIf(self.var(f"pending({item})"), (M.AAssign(fw, M.Const(2), span),),
                      (M.AIf(self.var(f"running({item})"), (M.AAssign(fw, M.Const(1), span),), (),
                             span),), span),)

    def flushed(self, items: list[str]) -> M.Expr:
        me = self.lw.thread_names[self.tb.index]
        return and_all([M.Bin(BinOp.EQ, self.var(flush_wait(me, x)), M.Const(0)) for x in items])

    def not_lost(self, item: str, span: A.Span) -> tuple:
        """NOTE(rejected-queue): a grab of an item whose PENDING bit was leaked spins forever."""
        if not self.has(f"lost({item})"):
            return ()
        return (M.AAwait(M.Neg(self.var(f"lost({item})")), span),)

    def claimable(self, item: str) -> list[M.Expr]:
        """The item's PENDING bit is free: test_and_set_bit(WORK_STRUCT_PENDING_BIT) succeeds."""
        parts = [M.Neg(self.var(f"canceling({item})"))]
        if self.has(f"armed({item})"):
            parts.append(M.Neg(self.var(f"armed({item})")))
        return parts

    def enqueue(self, item: str, span: A.Span, what: str, chained: bool = False,
                softirq: bool = False) -> tuple:
        """NOTE(drain): the item, whose PENDING bit the caller owns, goes on its queue,
        as kernel/workqueue.c __queue_work() does it.  While the queue drains (or is
        being destroyed) only chained queueing, by a worker of an item on the same
        queue, is accepted; any other is rejected (NOTE(rejected-queue)).  Queueing
        on a destroyed workqueue is a use-after-free: a failed assertion."""
        lw = self.lw
        queue = lw.queue_of[item]
        put = (M.AAssign(self.var(f"pending({item})"), TRUE, span),)
        if queue not in lw.drainable:
            return put
        lost = (M.AAssign(self.var(f"lost({item})"), TRUE, span),)
        # NOTE(rejected-queue): since Linux 7.1 (commit a7488f089bdf) the rejected item's
        # PENDING bit is released; before, it stayed set with the item on no queue.
        drop = (M.AChoose(((), lost), span),)
        if chained:
            during = put
        elif softirq:
            # The timer's callback runs in softirq context; where current_wq_worker()
            # does not test in_task(), a softirq that interrupts a worker of the queue
            # counts as chained.
            busy = or_all([self.var(f"running({x})") for x in self.items_on(queue)])
            during = (M.AIf(busy, (M.AChoose((put, (), lost), span),), drop, span),)
        else:
            during = drop
        after = put
        if queue in lw.destroyable:
            after = (M.AIf(self.var(f"destroyed({queue})"),
                           (M.AAssert(M.Const(False), span,
                                      f"{what} on workqueue {queue} after destroy_workqueue("
                                      f"{queue}) returned: the workqueue is freed"),),
                           put, span),)
        return (M.AIf(M.Bin(BinOp.GT, self.var(f"draining({queue})"), M.Const(0)), during, after,
                      span),)

    def alive(self, queue: Optional[str], span: A.Span, what: str) -> tuple:
        """Using a destroyed workqueue is a use-after-free: a failed assertion."""
        if queue not in self.lw.destroyable:
            return ()
        return (M.AAssert(M.Neg(self.var(f"destroyed({queue})")), span,
                          f"{what} after destroy_workqueue({queue}) returned: the workqueue is freed"),)

    def arm(self, item: str, span: A.Span, what: str) -> tuple:
        """Arm a delayed work item's timer.  There is no time in the model: the timer
        may fire at once, which is a delay of 0, except that __queue_delayed_work()
        with delay 0 queues in the caller's context, which may be chained: then
        that is a choice of its own."""
        armed = (M.AAssign(self.var(f"armed({item})"), TRUE, span),)
        queue = self.lw.queue_of[item]
        if self.chained(queue) and queue in self.lw.drainable:
            return (M.AChoose((armed, self.enqueue(item, span, what, chained=True)), span),)
        return armed

    def stmt(self, s: A.CallStmt, cont: int, ctx) -> int:
        tb, lw, fn, arg = self.tb, self.lw, s.fn, s.arg
        text = lw.text_of(s)
        sp = s.span

        def node(kind, nxt, **kw):
            return tb.make(kind, ctx.owner, sp, text, next=nxt, frame=ctx.frame, **kw)

        def assign(name, value):
            return M.AAssign(self.var(name), value, sp)

        if fn == "queue_work":
            # A no-op while pending, and while cancel_work_sync owns the item.
            free = self.claimable(arg)
            if self.has(f"lost({arg})"):
                free += [M.Neg(self.var(f"pending({arg})")), M.Neg(self.var(f"lost({arg})"))]
            body = (M.AIf(and_all(free), self.enqueue(arg, sp, text, self.chained(lw.queue_of[arg])),
                          (), sp),)
            return node(M.StepKind.ATOMIC, cont, body=body)
        if fn in ("flush_work", "flush_delayed_work"):
            # NOTE(flush-instances): one step notes the instance to wait for, a second waits.
            wait = node(M.StepKind.AWAIT, cont, expr=self.flushed([arg]))
            first: tuple = ()
            if fn == "flush_delayed_work":
                # The armed timer is deleted and the work queued now (with the timer's
                # PENDING bit): kernel/workqueue.c flush_delayed_work().
                first = (M.AIf(self.var(f"armed({arg})"),
                               (assign(f"armed({arg})", M.Const(False)),)
                               + self.enqueue(arg, sp, text, self.chained(lw.queue_of[arg])), (), sp),)
            return node(M.StepKind.ATOMIC, wait, body=first + self.note(arg, sp))
        if fn in ("cancel_work_sync", "cancel_delayed_work_sync"):
            # As the kernel's: the canceller owns the item (queueing it, or arming its
            # timer, is a no-op, even from its own handler) until the running instance
            # has finished.  A flush waiting for the instance taken away returns: its
            # barrier work still runs (NOTE(flush-instances)).
            done = node(M.StepKind.ATOMIC, cont, body=(
                M.AAwait(M.Neg(self.var(f"running({arg})")), sp),
                assign(f"pending({arg})", M.Const(False)),
                assign(f"canceling({arg})", M.Const(False))))
            disarm = (assign(f"armed({arg})", M.Const(False)),) if self.has(f"armed({arg})") else ()
            return node(M.StepKind.ATOMIC, done, body=(
                self.not_lost(arg, sp) + disarm
                + (assign(f"pending({arg})", M.Const(False)), assign(f"canceling({arg})", TRUE))
                + self.released(arg, 2, 0, sp)))
        if fn == "queue_delayed_work":
            free = self.claimable(arg) + [M.Neg(self.var(f"pending({arg})"))]
            if self.has(f"lost({arg})"):
                free.append(M.Neg(self.var(f"lost({arg})")))
            return node(M.StepKind.ATOMIC, cont,
                        body=(M.AIf(and_all(free), self.arm(arg, sp, text), (), sp),))
        if fn in ("mod_delayed_work", "cancel_delayed_work"):
            # try_to_grab_pending(): the timer is deleted or the queued instance taken
            # back (a running one goes on); a no-op while cancel_delayed_work_sync owns it.
            grab = (assign(f"armed({arg})", M.Const(False)), assign(f"pending({arg})", M.Const(False)))
            grab += self.released(arg, 2, 0, sp)
            if fn == "mod_delayed_work":
                grab += self.arm(arg, sp, text)
            return node(M.StepKind.ATOMIC, cont, body=self.not_lost(arg, sp) + (
                M.AIf(M.Neg(self.var(f"canceling({arg})")), grab, (), sp),))
        if fn == "del_timer_sync":
            # timer_delete_sync retries until the handler is not running: on return the
            # timer is neither armed nor running (a later re-arm, e.g. by work the
            # handler queued, arms it again).
            return node(M.StepKind.ATOMIC, cont, body=(
                M.AAwait(M.Neg(self.var(f"running({arg})")), sp),
                assign(f"pending({arg})", M.Const(False))))
        if fn in ("flush_workqueue", "flush_scheduled_work"):
            queue = arg if fn == "flush_workqueue" else None
            items = self.items_on(queue)
            wait = node(M.StepKind.AWAIT, cont, expr=self.flushed(items))
            body = self.alive(queue, sp, text) + tuple(a for x in items for a in self.note(x, sp))
            return node(M.StepKind.ATOMIC, wait, body=body)
        if fn in ("drain_workqueue", "destroy_workqueue"):
            # NOTE(drain): the queue accepts only chained work while draining (a count,
            # as wq->nr_drainers); the wait ends when no item on it is pending or running.
            count = self.var(f"draining({arg})")
            idle = and_all([self.idle_of(x) for x in self.items_on(arg)])
            wait = node(M.StepKind.ATOMIC, cont, body=(
                M.AAwait(idle, sp), M.AAssign(count, M.Bin(BinOp.SUB, count, M.Const(1)), sp)))
            mark = self.alive(arg, sp, text)
            if fn == "destroy_workqueue":
                mark += (assign(f"destroyed({arg})", TRUE),)
            mark += (M.AAssign(count, M.Bin(BinOp.ADD, count, M.Const(1)), sp),)
            return node(M.StepKind.ATOMIC, wait, body=mark)
        if fn == "call_rcu":
            v = self.var(f"rcu_pending({arg})")
            bump = M.AAssign(v, M.Bin(BinOp.ADD, v, M.Const(1)), sp)
            if not lw.rcu_readers:
                return node(M.StepKind.ATOMIC, cont, body=(bump,))
            # NOTE(rcu-grace-period): a callback queued when none is waiting notes the
            # read-side sections in progress; the worker runs it only after each has
            # ended.  A callback queued behind another one gets no grace period of
            # its own (more executions than the kernel's: sound for proofs).
            snap = tuple(M.AAssign(self.var(cb_wait(arg, lw.thread_names[r])),
                                   self.var(f"rcu_reader({lw.thread_names[r]})"), sp)
                         for r in lw.rcu_readers)
            first = M.Bin(BinOp.EQ, v, M.Const(0))
            return node(M.StepKind.ATOMIC, cont, body=(M.AIf(first, snap, (), sp), bump))
        if fn == "rcu_barrier":
            # NOTE(rcu-barrier): rcu_barrier() waits for the callbacks queued (or
            # running) when it is called, not for those queued later: one step counts
            # them, per function, and each callback of that function that finishes
            # counts down (a function's callbacks run in order, NOTE(v2-approximations));
            # a second step waits for every count to reach 0.
            me = lw.thread_names[tb.index]
            counts = [self.var(barrier_wait(me, f)) for f in lw.rcu_fns]
            wait = node(M.StepKind.AWAIT, cont,
                        expr=and_all([M.Bin(BinOp.EQ, c, M.Const(0)) for c in counts]))
            note = []
            for f, c in zip(lw.rcu_fns, counts):
                note.append(M.AAssign(c, self.var(f"rcu_pending({f})"), sp))
                for w in rcu_workers(f, lw.rcu_pool.get(f, 1)):
                    note.append(M.AIf(self.var(rcu_running(w)),
                                      (M.AAssign(c, M.Bin(BinOp.ADD, c, M.Const(1)), sp),), (), sp))
            return node(M.StepKind.ATOMIC, wait, body=tuple(note))
        me = lw.thread_names[tb.index]
        # Read-side sections nest, as in the kernel: rcu_depth counts them and the
        # thread is a reader (rcu_reader) while it is above 0.  An unlock with no
        # section open changes nothing.
        if fn == "rcu_read_lock":
            return node(M.StepKind.ATOMIC, cont, body=self.read_lock_body(sp))
        if fn == "rcu_read_unlock":
            return node(M.StepKind.ATOMIC, cont, body=self.read_unlock_body(sp))
        if fn == "synchronize_rcu":
            waits = [f"gp_wait({me},{lw.thread_names[r]})" for r in lw.rcu_readers]
            wait = node(M.StepKind.AWAIT, cont, expr=and_all([M.Neg(self.var(w)) for w in waits]))
            snap = tuple(M.AAssign(self.var(w), self.var(f"rcu_reader({lw.thread_names[r]})"), sp)
                         for w, r in zip(waits, lw.rcu_readers))
            return node(M.StepKind.ATOMIC, wait, body=snap)
        if fn == "mod_timer":
            body = (M.AIf(M.Neg(self.var(f"shutdown({arg})")),
                          (assign(f"pending({arg})", TRUE),), (), sp),)
            return node(M.StepKind.ATOMIC, cont, body=body)
        if fn == "timer_shutdown_sync":
            wait = node(M.StepKind.AWAIT, cont, expr=M.Neg(self.var(f"running({arg})")))
            body = (assign(f"shutdown({arg})", TRUE), assign(f"pending({arg})", M.Const(False)))
            return node(M.StepKind.ATOMIC, wait, body=body)
        if fn == "wait_timeout":
            c = lw.sym.index("completion", arg)
            got = (M.AAwait(M.Bin(BinOp.GT, lw.query(QueryKind.DONE, c), M.Const(0)), sp),
                   M.AOp(M.StepKind.WAIT, c, sp))
            return node(M.StepKind.ATOMIC, cont, body=(M.AChoose((got, ()), sp),))
        raise AssertionError(f"not a v2 built-in: {fn}")

    def read_lock_body(self, sp: A.Span) -> tuple:
        """The atomic body of rcu_read_lock() in this thread (v3: and of preempt_disable(),
        NOTE(preempt-rcu) in spec/v3_ctx.py)."""
        me = self.lw.thread_names[self.tb.index]
        depth = self.var(f"rcu_depth({me})")
        return (M.AAssign(depth, M.Bin(BinOp.ADD, depth, M.Const(1)), sp),
                M.AAssign(self.var(f"rcu_reader({me})"), TRUE, sp))

    def read_unlock_body(self, sp: A.Span) -> tuple:
        """The atomic body of rcu_read_unlock() in this thread (v3: and of preempt_enable())."""
        lw = self.lw
        me = lw.thread_names[self.tb.index]
        depth = self.var(f"rcu_depth({me})")
        leave = [M.AAssign(self.var(f"rcu_reader({me})"), M.Const(False), sp)]
        for sy in lw.rcu_syncers:
            leave.append(M.AAssign(self.var(f"gp_wait({lw.thread_names[sy]},{me})"),
                                   M.Const(False), sp))
        for f in lw.rcu_fns:
            leave.append(M.AAssign(self.var(cb_wait(f, me)), M.Const(False), sp))
        return (M.AIf(M.Bin(BinOp.GT, depth, M.Const(0)),
                      (M.AAssign(depth, M.Bin(BinOp.SUB, depth, M.Const(1)), sp),), (), sp),
                M.AIf(M.Bin(BinOp.EQ, depth, M.Const(0)), tuple(leave), (), sp))

    def deferred_put(self, s, operand: int, cont: int, ctx, at: Optional[int] = None) -> int:
        """`put(O)` of an object whose release is deferred (`release FN deferred`, or
        --deferred-release): the put, and at zero the release is queued."""
        return self.tb.make(M.StepKind.ATOMIC, ctx.owner, s.span, self.lw.text_of(s), next=cont,
                            frame=ctx.frame, body=self.put_and_queue(operand, s.span), at=at)

    def put_and_queue(self, operand: int, span: A.Span) -> tuple:
        """The atomic body of such a put (also inside an `atomic` block, where a put
        of an object declared `release FN deferred` may stand)."""
        o = self.lw.sym.objects[operand]
        return (M.AOp(M.StepKind.PUT, operand, span),
                M.AIf(M.Bin(BinOp.EQ, self.lw.query(QueryKind.REFS, operand), M.Const(0)),
                      (M.AAssign(self.var(f"release_pending({o.name})"), TRUE, span),), (), span))


def worker(tb, trigger: tuple, fn: str, done: Optional[str], span: A.Span, what: str,
           finish: tuple = (), idle_text: str = "wait for work") -> int:
    """Build a worker loop in thread builder `tb`: idle step `trigger` (an atomic
    body, shown as `idle_text`), call `fn`, then set var `done` false (if any; with
    the atomic statements `finish` in the same step, if any), and back to idle."""
    lw = tb.lw
    ctx = Ctx(owner=M.CORE, ret_next=M.DONE, fn=None, frame=(), slots={})
    idle = tb.reserve()
    text = f"{what}: {fn} finished"
    if done is not None and finish:
        after = tb.make(M.StepKind.ATOMIC, M.CORE, span, text, next=idle, body=(
            M.AAssign(M.VarRef(lw.hidden[done]), M.Const(False), span),) + finish)
    elif done is not None:
        after = tb.make(M.StepKind.ASSIGN, M.CORE, span, text, next=idle,
                        target=M.VarRef(lw.hidden[done]), expr=M.Const(False))
    else:
        after = idle
    entry, inits = tb.inline(fn, after, ctx)
    call = tb.make(M.StepKind.CALL, M.CORE, span, f"{fn}()", next=entry, fn=fn, inits=inits)
    tb.make(M.StepKind.ATOMIC, M.CORE, span, f"{what}: {idle_text}", at=idle, next=call,
            body=trigger, idle=True)
    return idle


def timer_loop(tb, body: tuple, span: A.Span, text: str) -> int:
    """Build a loop of one idle step in `tb`: a core thread that takes the atomic
    step `body` (which waits for its trigger) whenever it can, for ever."""
    idle = tb.reserve()
    tb.make(M.StepKind.ATOMIC, M.CORE, span, text, at=idle, next=idle, body=body, idle=True)
    return idle
