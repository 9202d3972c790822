"""Language v3: threads started at run time (kthreads), lowered to steps.

Nothing here adds a kind of step.  `kthread NAME [in OWNER] { ... }` is a
thread of the program that exists from the start but does not run until it is
created and woken; its task and its task_struct live in hidden vars (named like
`started(NAME)`, which no user can declare), and every built-in on it is an
`atomic` step over them, so that every engine (explicit, Z3, Promela, the
counter abstraction) follows it with no code of its own.

NOTE(kthread): the kernel's kthreads (kernel/kthread.c), modelled per declared
kthread K with the hidden vars

- `created(K)`: kthread_create() has made K's task.  It is asleep: its
  function does not run until it is woken.
- `started(K)`: it has been woken (wake_up_process(), kthread_run(), or
  kthread_stop(), which wakes it too).
- `should_stop(K)`: kthread_stop() has begun (KTHREAD_SHOULD_STOP); what
  `kthread_should_stop()` reads in K's code.
- `exited(K)`: 0 while K runs, 1 once it has exited (do_exit() completes
  `kthread->exited`, the task's vfork_done), 2 once a kthread_stop() has waited
  for that completion.  It is completed once: a second kthread_stop() of the
  same task waits for ever, as in the kernel.
- `task_refs(K)`: the references to K's task_struct.  kthread_create() makes it
  1, the reference that kthreadd, K's parent, drops when it reaps K;
  get_task_struct() and kthread_stop() (for its duration) take one.  Once K is
  created and the count is 0, the task_struct is freed: kthread_stop(),
  wake_up_process(), get_task_struct() or put_task_struct() of K is then a
  `use-after-free` (put_task_struct() at 0 too: the refcount is in the freed
  memory; Choice, pinned by tests/test_v3_kthread.py).

K's thread is: one step that waits, idle (never part of a deadlock, so a kthread
never created or never woken is no deadlock and no hang), until K is started;
kthread()'s test of KTHREAD_SHOULD_STOP (a kthread stopped before it ever ran
never runs its function); K's function (the declared body, K's owner's code,
ending with its return step, also owner's code: a module kthread returns into
the module's text); then, in core code, the exit (`exited(K)` = 1) and, one
step later, kthreadd's reap, which drops the task's own reference (the window
between the two is real: the exit wakes kthread_stop() before the parent reaps).
A kthread is a `service` thread: one that waits for ever (for
kthread_should_stop(), or for work that never comes) is how kthreads live, so
it is never counted in a deadlock and never has to finish; whoever waits for it
(kthread_stop()) is, and does.
A `module_put_and_exit(M)` (module_put_and_kthread_exit()) or
`complete_and_exit(C)` (kthread_complete_and_exit()) in K's code is the put or
complete, owned by the code that calls it, and then the same exit in core code:
K never returns into its owner's text.

NOTE(kthread-checks): each built-in checks its task in the same atomic step that
uses it, so the check is exact (it reads the state the use sees); a task used
before kthread_create() is a failed `assertion` (in the kernel, a pointer never
set), and kthread_create() of a kthread created before is a failed `assertion`
too: modproof models one task per declaration (declare one kthread per task).

NOTE(kthread-approximations): kthread_run() is one step (kthread_create() then
wake_up_process(): nobody else holds the task in between).  kthreadd's reap is
one step at any time after the exit (the kernel's release_task() and the
RCU-delayed put_task_struct() happen later still: more executions).  A kthread
never created or woken simply never runs (the kernel leaks the task).  Parking
(kthread_park()), kthread workers (kthread_create_worker()), signals and the
kthread's result are not modelled.
"""
from __future__ import annotations

from modproof.spec import ast as A
from modproof.spec import model as M
from modproof.spec.ast import BinOp

TRUE = M.Const(True)
FALSE = M.Const(False)

# The hidden vars of each kthread, with their initial values, in this order.
HIDDEN = (("created", False), ("started", False), ("should_stop", False), ("exited", 0),
          ("task_refs", 0))

# The primitives that end a thread, inside a kthread: the step they stand for
# before kthread_exit() (module_put_and_kthread_exit, kthread_complete_and_exit).
BEFORE_EXIT = {M.StepKind.MODULE_PUT_AND_EXIT: M.StepKind.MODULE_PUT,
               M.StepKind.COMPLETE_AND_EXIT: M.StepKind.COMPLETE}


def var_names(sym) -> list[tuple[str, object]]:
    """The hidden vars of the file's kthreads, in declaration order."""
    return [(f"{v}({d.name})", init) for d in sym.threads if d.kthread for v, init in HIDDEN]


def _add(e: M.Expr, n: int) -> M.Expr:
    return M.Bin(BinOp.ADD if n > 0 else BinOp.SUB, e, M.Const(abs(n)))


class Kthread:
    """The hidden state of kthread `name` in the lowering `lw` (spec.lower._Lowerer)."""

    def __init__(self, lw, name: str):
        self.lw = lw
        self.name = name

    def var(self, v: str) -> M.VarRef:
        return M.VarRef(self.lw.hidden[f"{v}({self.name})"])

    def set(self, v: str, value: M.Expr, span: A.Span) -> M.AAssign:
        return M.AAssign(self.var(v), value, span)

    def bump(self, v: str, n: int, span: A.Span) -> M.AAssign:
        return M.AAssign(self.var(v), _add(self.var(v), n), span)

    def live(self, what: str, span: A.Span) -> tuple:
        """NOTE(kthread-checks): `what` uses the task: it must have been created and
        its task_struct not freed."""
        k = self.name
        return (M.AAssert(self.var("created"), span,
                          f"{what}: {k} was never created (kthread_create({k}) or "
                          f"kthread_run({k}) comes first)"),
                M.AAssert(M.Bin(BinOp.GT, self.var("task_refs"), M.Const(0)), span,
                          f"{what}: the task_struct of {k} was freed ({k} returned on its own "
                          f"and kthreadd reaped it, dropping the last reference); hold one: "
                          f"get_task_struct({k}) after creating it and put_task_struct({k}) "
                          f"after kthread_stop({k}) (or kthread_stop_put({k})), or let {k} "
                          "return only once kthread_should_stop() is true",
                          check="use-after-free"))

    def create(self, what: str, span: A.Span) -> tuple:
        k = self.name
        return (M.AAssert(M.Neg(self.var("created")), span,
                          f"{what}: {k} was created before; modproof models one task per "
                          "kthread declaration (declare one kthread for each task)"),
                self.set("created", TRUE, span), self.set("task_refs", M.Const(1), span))


def stmt(tb, s: A.CallStmt, cont: int, ctx) -> int:
    """The steps of the kthread built-in `s` in thread builder `tb`, going on to `cont`."""
    lw, k, sp = tb.lw, Kthread(tb.lw, s.arg), s.span
    text = lw.text_of(s)

    def node(nxt, body):
        return tb.make(M.StepKind.ATOMIC, ctx.owner, sp, text, next=nxt, frame=ctx.frame,
                       body=body)

    fn = s.fn
    if fn == "kthread_create":
        return node(cont, k.create(text, sp))
    if fn == "kthread_run":
        return node(cont, k.create(text, sp) + (k.set("started", TRUE, sp),))
    if fn == "wake_up_process":
        return node(cont, k.live(text, sp) + (k.set("started", TRUE, sp),))
    if fn == "get_task_struct":
        return node(cont, k.live(text, sp) + (k.bump("task_refs", 1, sp),))
    if fn == "put_task_struct":
        return node(cont, k.live(text, sp) + (k.bump("task_refs", -1, sp),))
    if fn in ("kthread_stop", "kthread_stop_put"):
        # kernel/kthread.c kthread_stop(): get_task_struct(k), set KTHREAD_SHOULD_STOP,
        # wake_up_process(k); then wait_for_completion(&kthread->exited) and
        # put_task_struct(k).  kthread_stop_put() puts once more.
        after: tuple = (k.bump("task_refs", -1, sp),)
        if fn == "kthread_stop_put":
            after = (M.AAssert(M.Bin(BinOp.GE, k.var("task_refs"), M.Const(2)), sp,
                               f"{text}: its put_task_struct({s.arg}) drops a reference it does "
                               f"not hold: the task_struct of {s.arg} is freed already "
                               f"(kthread_stop_put() is for a task held by get_task_struct())",
                               check="use-after-free"),
                     k.bump("task_refs", -2, sp))
        wait = node(cont, (M.AAwait(M.Bin(BinOp.EQ, k.var("exited"), M.Const(1)), sp),
                           k.set("exited", M.Const(2), sp)) + after)
        return node(wait, k.live(text, sp) + (k.bump("task_refs", 1, sp),
                                              k.set("should_stop", TRUE, sp),
                                              k.set("started", TRUE, sp)))
    raise AssertionError(f"not a kthread built-in: {fn}")


def exit_path(tb, name: str, span: A.Span) -> int:
    """The core steps after kthread `name`'s function: the exit, then kthreadd's reap
    (NOTE(kthread)); the entry."""
    k = Kthread(tb.lw, name)
    reap = tb.make(M.StepKind.ATOMIC, M.CORE, span,
                   f"kthreadd reaps {name}: put_task_struct (the task_struct is freed unless a "
                   "reference is held)", next=M.DONE,
                   body=(M.AAssert(M.Bin(BinOp.GT, k.var("task_refs"), M.Const(0)), span,
                                   f"kthreadd reaps {name}, whose task_struct was freed already "
                                   "by a put_task_struct too many", check="use-after-free"),
                         k.bump("task_refs", -1, span)))
    return tb.make(M.StepKind.ATOMIC, M.CORE, span,
                   f"{name} exits (kthread_exit: kthread_stop's wait is over)", next=reap,
                   body=(k.set("exited", M.Const(1), span),))


def start(tb, name: str, body: int, exit_entry: int, span: A.Span) -> int:
    """The core steps before kthread `name`'s function: wait, idle, to be woken, then
    kthread()'s test of KTHREAD_SHOULD_STOP; the entry."""
    k = Kthread(tb.lw, name)
    test = tb.make(M.StepKind.BRANCH, M.CORE, span,
                   f"{name} is woken: kthread() tests kthread_should_stop() before its function",
                   next=exit_entry, on_false=body, expr=k.var("should_stop"))
    return tb.make(M.StepKind.AWAIT, M.CORE, span, f"{name}: created and woken?", next=test,
                   expr=k.var("started"), idle=True)
