"""Language v2: deferred work, RCU, timers, timed waits and deferred release, lowered to steps.

Nothing here adds a kind of step.  Every v2 construct becomes v1 steps over
hidden state (vars named like `pending(w)`, which no user can declare) plus
worker threads owned by core:

- `kworker(W)` runs W's function each time W is queued, `timer(T)` runs T's
  function when T fires, `rcu(FN)` runs one queued `call_rcu(FN)` callback at a
  time, and with `--deferred-release`, `release(O)` runs O's release function
  after the put that dropped the count to zero.
- A worker loops: one *idle* step that waits for its trigger and takes it, a
  call of the function (the function's body runs as its owner's code), and a
  step that marks it not running.  A worker waiting at its idle step is not
  part of a deadlock (`Step.idle`).

NOTE(v2-approximations): a `call_rcu` callback waits for the read-side
sections in progress when it was queued (NOTE(rcu-grace-period)), except one
queued while another callback of the same function was still waiting, which
may run right after that one (more executions than the kernel allows, so a
proof still holds); `synchronize_rcu` waits for the read-side sections in
progress when it starts; `cancel_work_sync` is two steps (take the item, then
wait for a running instance), `del_timer_sync` one (wait until the handler is
not running, and disarm).
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


def var_names(sym, rcu_fns: list[str], readers: list[int], syncers: list[int],
              thread_names: list[str], releasers) -> list[tuple[str, object]]:
    """The hidden vars of a program, with their initial values, in a fixed order."""
    out: list[tuple[str, object]] = []
    for w in sym.works:
        out += [(f"pending({w.name})", False), (f"running({w.name})", False),
                (f"canceling({w.name})", False)]
    for t in sym.timers:
        out += [(f"pending({t.name})", False), (f"running({t.name})", False),
                (f"shutdown({t.name})", False)]
    for fn in rcu_fns:
        out += [(f"rcu_pending({fn})", 0), (f"rcu_running({fn})", False)]
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


class V2:
    """Lowers v2 statements inside one thread builder (spec.lower._ThreadBuilder)."""

    def __init__(self, lw, tb):
        self.lw = lw      # the _Lowerer: symbols and hidden var indices
        self.tb = tb      # the _ThreadBuilder

    def var(self, name: str) -> M.VarRef:
        return M.VarRef(self.lw.hidden[name])

    def idle_of(self, name: str) -> M.Expr:
        return and_all([M.Neg(self.var(f"pending({name})")), M.Neg(self.var(f"running({name})"))])

    def stmt(self, s: A.CallStmt, cont: int, ctx) -> int:
        tb, lw, fn, arg = self.tb, self.lw, s.fn, s.arg
        text = lw.text_of(s)

        def node(kind, nxt, **kw):
            return tb.make(kind, ctx.owner, s.span, text, next=nxt, frame=ctx.frame, **kw)

        def assign(name, value, nxt):
            return node(M.StepKind.ASSIGN, nxt, target=self.var(name), expr=value)

        if fn == "queue_work":
            # A no-op while pending, and while cancel_work_sync owns the item.
            body = (M.AIf(M.Neg(self.var(f"canceling({arg})")),
                          (M.AAssign(self.var(f"pending({arg})"), TRUE, s.span),), (), s.span),)
            return node(M.StepKind.ATOMIC, cont, body=body)
        if fn == "flush_work":
            return node(M.StepKind.AWAIT, cont, expr=self.idle_of(arg))
        if fn == "cancel_work_sync":
            # As the kernel's: the canceller owns the item (queueing it is a no-op, even
            # from its own handler) until the running instance has finished.
            done = node(M.StepKind.ATOMIC, cont, body=(
                M.AAwait(M.Neg(self.var(f"running({arg})")), s.span),
                M.AAssign(self.var(f"pending({arg})"), M.Const(False), s.span),
                M.AAssign(self.var(f"canceling({arg})"), M.Const(False), s.span)))
            return node(M.StepKind.ATOMIC, done, body=(
                M.AAssign(self.var(f"pending({arg})"), M.Const(False), s.span),
                M.AAssign(self.var(f"canceling({arg})"), TRUE, s.span)))
        if fn == "del_timer_sync":
            # timer_delete_sync retries until the handler is not running: on return the
            # timer is neither armed nor running (a later re-arm, e.g. by work the
            # handler queued, arms it again).
            return node(M.StepKind.ATOMIC, cont, body=(
                M.AAwait(M.Neg(self.var(f"running({arg})")), s.span),
                M.AAssign(self.var(f"pending({arg})"), M.Const(False), s.span)))
        if fn in ("flush_workqueue", "destroy_workqueue"):
            works = [w.name for w in lw.sym.works if w.queue == arg]
            return node(M.StepKind.AWAIT, cont, expr=and_all([self.idle_of(w) for w in works]))
        if fn == "call_rcu":
            v = self.var(f"rcu_pending({arg})")
            bump = M.AAssign(v, M.Bin(BinOp.ADD, v, M.Const(1)), s.span)
            if not lw.rcu_readers:
                return node(M.StepKind.ATOMIC, cont, body=(bump,))
            # NOTE(rcu-grace-period): a callback queued when none is waiting notes the
            # read-side sections in progress; the worker runs it only after each has
            # ended.  A callback queued behind another one gets no grace period of
            # its own (more executions than the kernel's: sound for proofs).
            snap = tuple(M.AAssign(self.var(cb_wait(arg, lw.thread_names[r])),
                                   self.var(f"rcu_reader({lw.thread_names[r]})"), s.span)
                         for r in lw.rcu_readers)
            first = M.Bin(BinOp.EQ, v, M.Const(0))
            return node(M.StepKind.ATOMIC, cont, body=(M.AIf(first, snap, (), s.span), bump))
        if fn == "rcu_barrier":
            parts = []
            for f in lw.rcu_fns:
                parts += [M.Bin(BinOp.EQ, self.var(f"rcu_pending({f})"), M.Const(0)),
                          M.Neg(self.var(f"rcu_running({f})"))]
            return node(M.StepKind.AWAIT, cont, expr=and_all(parts))
        me = lw.thread_names[tb.index]
        # Read-side sections nest, as in the kernel: rcu_depth counts them and the
        # thread is a reader (rcu_reader) while it is above 0.  An unlock with no
        # section open changes nothing.
        if fn == "rcu_read_lock":
            depth = self.var(f"rcu_depth({me})")
            return node(M.StepKind.ATOMIC, cont, body=(
                M.AAssign(depth, M.Bin(BinOp.ADD, depth, M.Const(1)), s.span),
                M.AAssign(self.var(f"rcu_reader({me})"), TRUE, s.span)))
        if fn == "rcu_read_unlock":
            depth = self.var(f"rcu_depth({me})")
            leave = [M.AAssign(self.var(f"rcu_reader({me})"), M.Const(False), s.span)]
            for sy in lw.rcu_syncers:
                leave.append(M.AAssign(self.var(f"gp_wait({lw.thread_names[sy]},{me})"),
                                       M.Const(False), s.span))
            for f in lw.rcu_fns:
                leave.append(M.AAssign(self.var(cb_wait(f, me)), M.Const(False), s.span))
            body = (M.AIf(M.Bin(BinOp.GT, depth, M.Const(0)),
                          (M.AAssign(depth, M.Bin(BinOp.SUB, depth, M.Const(1)), s.span),), (), s.span),
                    M.AIf(M.Bin(BinOp.EQ, depth, M.Const(0)), tuple(leave), (), s.span))
            return node(M.StepKind.ATOMIC, cont, body=body)
        if fn == "synchronize_rcu":
            waits = [f"gp_wait({me},{lw.thread_names[r]})" for r in lw.rcu_readers]
            wait = node(M.StepKind.AWAIT, cont, expr=and_all([M.Neg(self.var(w)) for w in waits]))
            snap = tuple(M.AAssign(self.var(w), self.var(f"rcu_reader({lw.thread_names[r]})"), s.span)
                         for w, r in zip(waits, lw.rcu_readers))
            return node(M.StepKind.ATOMIC, wait, body=snap)
        if fn == "mod_timer":
            body = (M.AIf(M.Neg(self.var(f"shutdown({arg})")),
                          (M.AAssign(self.var(f"pending({arg})"), TRUE, s.span),), (), s.span),)
            return node(M.StepKind.ATOMIC, cont, body=body)
        if fn == "timer_shutdown_sync":
            wait = node(M.StepKind.AWAIT, cont, expr=M.Neg(self.var(f"running({arg})")))
            body = (M.AAssign(self.var(f"shutdown({arg})"), TRUE, s.span),
                    M.AAssign(self.var(f"pending({arg})"), M.Const(False), s.span))
            return node(M.StepKind.ATOMIC, wait, body=body)
        if fn == "wait_timeout":
            c = lw.sym.index("completion", arg)
            got = (M.AAwait(M.Bin(BinOp.GT, lw.query(QueryKind.DONE, c), M.Const(0)), s.span),
                   M.AOp(M.StepKind.WAIT, c, s.span))
            return node(M.StepKind.ATOMIC, cont, body=(M.AChoose((got, ()), s.span),))
        raise AssertionError(f"not a v2 built-in: {fn}")

    def deferred_put(self, s: A.PrimStmt, operand: int, cont: int, ctx) -> int:
        """`put(O)` of an object whose release is deferred (`release FN deferred`, or
        --deferred-release): the put, and at zero the release is queued."""
        return self.tb.make(M.StepKind.ATOMIC, ctx.owner, s.span, self.lw.text_of(s), next=cont,
                            frame=ctx.frame, body=self.put_and_queue(operand, s.span))

    def put_and_queue(self, operand: int, span: A.Span) -> tuple:
        """The atomic body of such a put (also inside an `atomic` block, where a put
        of an object declared `release FN deferred` may stand)."""
        o = self.lw.sym.objects[operand]
        return (M.AOp(M.StepKind.PUT, operand, span),
                M.AIf(M.Bin(BinOp.EQ, self.lw.query(QueryKind.REFS, operand), M.Const(0)),
                      (M.AAssign(self.var(f"release_pending({o.name})"), TRUE, span),), (), span))


def worker(tb, trigger: tuple, fn: str, done: Optional[str], span: A.Span, what: str) -> int:
    """Build a worker loop in thread builder `tb`: idle step `trigger` (an atomic
    body), call `fn`, then set var `done` false (if any), and back to idle."""
    lw = tb.lw
    ctx = Ctx(owner=M.CORE, ret_next=M.DONE, fn=None, frame=(), slots={})
    idle = tb.reserve()
    if done is not None:
        after = tb.make(M.StepKind.ASSIGN, M.CORE, span, f"{what}: {fn} finished", next=idle,
                        target=M.VarRef(lw.hidden[done]), expr=M.Const(False))
    else:
        after = idle
    entry, inits = tb.inline(fn, after, ctx)
    call = tb.make(M.StepKind.CALL, M.CORE, span, f"{fn}()", next=entry, fn=fn, inits=inits)
    tb.make(M.StepKind.ATOMIC, M.CORE, span, f"{what}: wait for work", at=idle, next=call,
            body=trigger, idle=True)
    return idle
