"""The language's vocabulary, each word described once.

Every primitive statement, query, built-in call, declaration, operator and
check of LANGUAGE.md (and of modproof's version-2 additions) has one entry
here: what it is spelt as, what its operand must name, what it reads and
writes of the state, how it can fail, whether it can block, end its thread
or stand inside `atomic`, and the kernel's names for it (for error hints).
A primitive's entry also carries its meaning, `Primitive.effect`, written
once over a small value algebra so that the reference semantics
(`spec/semantics.py`, with Python values) and the Z3 encoding
(`encoder/steps.py`, with Z3 terms) run the same definition.

Everything else that needs to know a primitive derives its table from here:
the AST and step enums (`ast.Prim`, `ast.QueryKind`, `model.StepKind`), the
checker's argument and placement rules, the lowering, the footprints behind
partial-order reduction, the blocking kinds, the grammar's keyword lists and
the error hints.  Lookups go through `primitive()`, `query()` and `builtin()`,
which raise `KeyError` for a word they do not know: no table answers "nothing"
for a kind it forgot.  Adding a primitive means adding its entry here and
its handling where a test says it is missing (tests/test_vocabulary.py).

State tables, as the engines key them: `refs` (per object), `done` (per
completion), `mrefs` and `mstate` (per module: refcount and state), `holder`
(per mutex), `var` (per var).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Optional

# --------------------------------------------------------------------------- constants

CORE = -1              # owner index of the built-in kernel
UINT_MAX = 4294967295  # done count after complete_all (LANGUAGE.md, Fine points)
FREE = -1              # holder of an unlocked mutex
LOADED, UNLOADING, GONE = 0, 1, 2     # module states
# v3 (NOTE(module-init)): a module declared with `init FN` is *coming* while
# insmod runs its init function (MODULE_STATE_COMING); "loaded" is the kernel's
# MODULE_STATE_LIVE and "unloading" its MODULE_STATE_GOING.
COMING = 3
MODULE_STATE_NAMES = ("loaded", "unloading", "gone", "coming")
# How a built-in piece of code names the module that owns it (v3): resolved by
# the checker and the lowering to the owner of the code it stands in.
THIS_MODULE = "THIS_MODULE"

# NOTE(atomic-loop-limit): the most loop iterations one execution of an `atomic`
# step may run, over all its loops, along the one path it takes through its
# branches.  An execution that would need more is not explored: the engines
# answer `unknown` (never proved, never a different verdict).  Engines that
# cannot follow that many (the Z3 encoding unrolls each loop a fixed number of
# times, the Promela export's path enumeration too) answer `unknown` where they
# fall short; an engine may also give up on a budget of its own (the explicit
# engine's ATOMIC_WORK statements over all paths), never answering otherwise.
ATOMIC_LOOP_LIMIT = 10_000
# The pseudo-check an engine reports where an atomic step passes that limit (or
# where its own unrolling of the loops falls short): not a check of the
# language, never in CHECKS; whoever reads it answers `unknown`.
ATOMIC_LIMIT_CHECK = "atomic-loop-limit"

STATE_TABLES = ("refs", "done", "mrefs", "mstate", "holder", "var")


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Check:
    name: str
    state: bool          # a property of a state (invariant, deadlock), not of a step
    summary: str
    liveness: bool = False   # a property of an infinite execution (hang)


# In priority order (NOTE(check-priority)): of two violations at the same length,
# the one listed first is reported, by every engine.
CHECK_TABLE = (
    Check("code-after-unload", False, "a thread executes code of a module that is gone"),
    Check("use-after-unload", False, "a thread uses storage that lived in a module that is gone"),
    Check("get-after-release", False, "get of an object whose count is 0"),
    Check("put-after-release", False, "put of an object whose count is 0"),
    Check("module-refcount-underflow", False, "module_put of a module whose refcount is 0"),
    Check("module-get-after-unload", False, "module_get of a module that is gone"),
    Check("use-after-free", False, "a thread uses memory after it was freed (v3: struct memory, a task)"),
    Check("double-free", False, "memory freed a second time"),
    Check("null-deref", False, "a thread uses struct memory that was never allocated (a NULL pointer)"),
    Check("unlock-not-held", False, "unlock of a mutex the thread does not hold"),
    Check("sleep-in-atomic", False,
          "a primitive that may sleep runs in atomic context (spinlock held, preemption or "
          "interrupts disabled, an irq handler, a timer or RCU callback)"),
    Check("assertion", False, "an assert that does not hold"),
    Check("invariant", True, "an invariant false in a reachable state"),
    Check("deadlock", True, "some thread unfinished and no thread can move"),
    Check("hang", False, "along a fair infinite execution some thread that must finish never does",
          liveness=True),
)
CHECKS = tuple(c.name for c in CHECK_TABLE)
STATE_CHECKS = tuple(c.name for c in CHECK_TABLE if c.state)
STEP_CHECKS = tuple(c.name for c in CHECK_TABLE if not c.state and not c.liveness)
LIVENESS_CHECKS = tuple(c.name for c in CHECK_TABLE if c.liveness)
# NOTE(check-order): a step that is taken is judged in this order: is its code
# gone (code-after-unload), is storage it uses gone (use-after-unload), then its
# own check.  A blocked step executes nothing and violates nothing.
CODE_AFTER_UNLOAD, USE_AFTER_UNLOAD = CHECKS[0], CHECKS[1]
JUDGED_FIRST = (CODE_AFTER_UNLOAD, USE_AFTER_UNLOAD)   # before a step's own checks, in this order


def check_rank(check: str) -> int:
    """The priority of `check` (lower wins at equal length); KeyError for an unknown one."""
    return _CHECK_RANK[check]


_CHECK_RANK = {c: i for i, c in enumerate(CHECKS)}


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Declaration:
    keyword: str          # the word that starts it
    kind: Optional[str]   # what a name declared by it is (None: it declares no name)
    article: str          # "an object": the kind in a sentence
    soft: bool = False    # a v2 word: a keyword only at the start of a declaration
    storage: bool = False  # may live in a module's memory (`in MOD`, use-after-unload)


DECLARATIONS = (
    Declaration("module", "module", "a module"),
    Declaration("object", "object", "an object", storage=True),
    Declaration("completion", "completion", "a completion", storage=True),
    Declaration("mutex", "mutex", "a mutex"),
    Declaration("var", "var", "a var"),
    Declaration("fn", "fn", "a function"),
    Declaration("thread", "thread", "a thread"),
    Declaration("invariant", "invariant", "an invariant"),
    Declaration("cover", "cover", "a cover"),
    Declaration("expect", None, "an expect line"),
    Declaration("workqueue", "workqueue", "a workqueue", soft=True),
    Declaration("work", "work", "a work item", soft=True),
    Declaration("timer", "timer", "a timer", soft=True),
    Declaration("delayed_work", "delayed_work", "a delayed work item", soft=True),
    # v3: a struct type and its instances (NOTE(memory) in spec/memory.py); the kind of
    # an instance's memory (`p`, `devs[0]`) is "memory"
    Declaration("struct", "struct", "a struct type", soft=True),
    # v3: a thread started at run time (NOTE(kthread) in spec/v3_kthread.py)
    Declaration("kthread", "kthread", "a kthread", soft=True),
    # v3, contexts and locks (spec/v3_ctx.py)
    Declaration("spinlock", "spinlock", "a spinlock", soft=True),
    Declaration("rwsem", "rwsem", "a rw_semaphore", soft=True),
    Declaration("irq", "irq", "an irq", soft=True),
)
DECL_KEYWORDS = tuple(d.keyword for d in DECLARATIONS if not d.soft)
SOFT_DECL_KEYWORDS = tuple(d.keyword for d in DECLARATIONS if d.soft)
ALL_DECL_KEYWORDS = DECL_KEYWORDS + SOFT_DECL_KEYWORDS
STORAGE_KINDS = frozenset(d.kind for d in DECLARATIONS if d.storage)
STATEMENT_KEYWORDS = ("in", "local", "assert", "await", "return", "if", "else", "while",
                      "choose", "or", "atomic", "and", "not", "true", "false")
# Words that are never names (LANGUAGE.md: keywords cannot be declared).
KEYWORDS = frozenset(DECL_KEYWORDS + STATEMENT_KEYWORDS)
# Keywords only where a declaration's options stand; elsewhere ordinary names.
OPTION_WORDS = frozenset({"refs", "exit", "release", "done", "proved", "violated"})
# v3 words that are keywords only where they stand (soft, so that v1 and v2 files
# keep their names): the module options `init` and `depends`.  (The statements
# `break` and `continue`, a statement of that one word, are the grammar's alone.)
SOFT_OPTION_WORDS = frozenset({"init", "depends"})
ARTICLE = {d.kind: d.article for d in DECLARATIONS if d.kind is not None}
ARTICLE.update({"local": "a local", "core": "the built-in kernel (never unloaded)",
                "memory": "struct memory", "memory array": "an array of struct memory"})


# --------------------------------------------------------------------------- primitives


class Values:
    """The value algebra of the reference semantics: Python ints and bools."""

    @staticmethod
    def ite(c, a, b):
        return a if c else b

    @staticmethod
    def const(v):
        return v


class Effect(NamedTuple):
    """What a primitive does in one state: `enabled` (it can be taken), `fails`
    (taken, it violates the primitive's check) and otherwise `writes`, each
    state table it changes (at the operand) with its new value.  Values are
    those of the algebra the effect ran with: Python values, or Z3 terms."""

    enabled: object
    fails: object
    writes: Mapping[str, object]


Read = Callable[[str, int], object]   # read(table, index) -> value before the step


@dataclass(frozen=True)
class Primitive:
    """A primitive statement `NAME(OPERAND)`."""

    name: str
    operand: str                       # what the operand must name: object, completion, mutex, module
    reads: frozenset                   # state tables read at the operand (guard and check included)
    writes: frozenset                  # state tables written at the operand
    meaning: Callable = field(repr=False)   # (read, x, thread, alg) -> Effect
    check: Optional[str] = None        # the check it can violate
    blocks: bool = False               # it can be disabled (waits)
    ends_thread: bool = False          # the thread is done after it
    not_in_atomic: Optional[str] = None  # why it may not stand inside `atomic` (None: it may)
    calls: Optional[str] = None        # it may call a function of its operand's ("release", "exit")
    kernel: tuple[str, ...] = ()       # the kernel's names for it (error hints)
    summary: str = ""
    message: str = ""                  # its violation, in words: {arg}, {thread}, {holder}
    # (read, x, alg) -> condition under which the kernel call fails at once and does
    # nothing: the step takes its `not_loaded` edge (model.Step), before its guard
    # or check is looked at (rmmod of a module that is not live: -EBUSY).
    refused: Optional[Callable] = field(default=None, repr=False)
    # v3 (NOTE(sleeps) in spec/v3_ctx.py): it may sleep, so it may not run in atomic
    # context (check sleep-in-atomic)
    sleeps: bool = False

    def effect(self, read: Read, x: int, thread: int, alg=Values) -> Effect:
        return self.meaning(read, x, thread, alg)

    def refuses(self, read: Read, x: int, alg=Values):
        """Whether the step fails at once (its `not_loaded` edge); False without `refused`."""
        return False if self.refused is None else self.refused(read, x, alg)


def _get(read, x, t, alg):
    r = read("refs", x)
    return Effect(True, r == 0, {"refs": r + 1})


def _put(read, x, t, alg):
    r = read("refs", x)
    return Effect(True, r == 0, {"refs": r - 1})


def _complete(read, x, t, alg):
    d = read("done", x)
    return Effect(True, False, {"done": alg.ite(d == UINT_MAX, d, d + 1)})


def _complete_all(read, x, t, alg):
    return Effect(True, False, {"done": alg.const(UINT_MAX)})


def _reinit(read, x, t, alg):
    return Effect(True, False, {"done": alg.const(0)})


def _wait(read, x, t, alg):
    d = read("done", x)
    return Effect(d != 0, False, {"done": alg.ite(d == UINT_MAX, d, d - 1)})


def _lock(read, x, t, alg):
    return Effect(read("holder", x) == FREE, False, {"holder": alg.const(t)})


def _unlock(read, x, t, alg):
    return Effect(True, read("holder", x) != t, {"holder": alg.const(FREE)})


def _module_get(read, x, t, alg):
    return Effect(True, read("mstate", x) == GONE, {"mrefs": read("mrefs", x) + 1})


def _module_put(read, x, t, alg):
    r = read("mrefs", x)
    return Effect(True, r == 0, {"mrefs": r - 1})


def _unload(read, x, t, alg):
    # The unloading phase (NOTE(return-step) in spec/lower.py): when the module is
    # loaded it waits for refcount 0 and starts unloading; the step's other way
    # (the module is not loaded: rmmod does nothing) is `_not_live`, its `refused`.
    return Effect(read("mrefs", x) == 0, False, {"mstate": alg.const(UNLOADING)})


def _not_live(read, x, alg):
    # delete_module() fails with -EBUSY for a module that is not live: coming (its
    # init still runs), unloading or gone already.
    return read("mstate", x) != LOADED


_EVERYWHERE_BUT_ATOMIC = "it ends the thread"

PRIMITIVES = (
    Primitive("get", "object", frozenset({"refs"}), frozenset({"refs"}), _get,
              check="get-after-release", kernel=("kobject_get", "kref_get", "refcount_inc"),
              message="get({arg}) on an object whose count is 0",
              summary="take a reference"),
    Primitive("put", "object", frozenset({"refs"}), frozenset({"refs"}), _put,
              check="put-after-release", calls="release",
              message="put({arg}) on an object whose count is 0",
              kernel=("kobject_put", "refcount_dec"),
              summary="drop a reference; the put that reaches 0 calls the release function"),
    Primitive("complete", "completion", frozenset({"done"}), frozenset({"done"}), _complete,
              summary="done + 1 (saturating at UINT_MAX)"),
    Primitive("complete_all", "completion", frozenset(), frozenset({"done"}), _complete_all,
              summary="done = UINT_MAX: every waiter passes"),
    Primitive("wait", "completion", frozenset({"done"}), frozenset({"done"}), _wait,
              blocks=True, not_in_atomic="wait blocks", sleeps=True,
              kernel=("wait_for_completion", "wait_for_completion_interruptible",
                      "wait_for_completion_killable"),
              summary="block until done > 0, then done - 1"),
    Primitive("reinit", "completion", frozenset(), frozenset({"done"}), _reinit,
              kernel=("reinit_completion", "init_completion"), summary="done = 0"),
    Primitive("lock", "mutex", frozenset({"holder"}), frozenset({"holder"}), _lock,
              blocks=True, not_in_atomic="lock blocks", sleeps=True,
              kernel=("mutex_lock", "mutex_lock_interruptible", "mutex_lock_killable"),
              summary="block until the mutex is free, then hold it"),
    Primitive("unlock", "mutex", frozenset({"holder"}), frozenset({"holder"}), _unlock,
              check="unlock-not-held", kernel=("mutex_unlock",), summary="release a held mutex",
              message="unlock({arg}) by {thread}, but the mutex is held by {holder}"),
    Primitive("module_get", "module", frozenset({"mrefs", "mstate"}), frozenset({"mrefs"}),
              _module_get, check="module-get-after-unload", kernel=("__module_get",),
              message="module_get({arg}) on a module that is gone",
              summary="module refcount + 1"),
    Primitive("module_put", "module", frozenset({"mrefs"}), frozenset({"mrefs"}), _module_put,
              check="module-refcount-underflow", summary="module refcount - 1",
              message="module_put({arg}) when its refcount is already 0"),
    Primitive("unload", "module", frozenset({"mrefs", "mstate"}), frozenset({"mstate"}), _unload,
              blocks=True, calls="exit", not_in_atomic="unload blocks and calls the exit function",
              sleeps=True,
              kernel=("rmmod", "delete_module"), refused=_not_live,
              summary="wait for refcount 0, run the exit function, free the module's code"),
    Primitive("module_put_and_exit", "module", frozenset({"mrefs"}), frozenset({"mrefs"}),
              _module_put, check="module-refcount-underflow", ends_thread=True,
              message="module_put({arg}) when its refcount is already 0",
              not_in_atomic="module_put_and_exit ends the thread",
              kernel=("module_put_and_kthread_exit", "__module_put_and_kthread_exit"),
              summary="module_put, and the thread ends (in core code)"),
    Primitive("complete_and_exit", "completion", frozenset({"done"}), frozenset({"done"}),
              _complete, ends_thread=True, not_in_atomic="complete_and_exit ends the thread",
              kernel=("kthread_complete_and_exit",),
              summary="complete, and the thread ends (in core code)"),
)
_PRIMITIVE = {p.name: p for p in PRIMITIVES}
PRIMITIVE_NAMES = frozenset(_PRIMITIVE)


def primitive(name) -> Primitive:
    """The primitive spelt `name` (or of an enum member whose value it is); KeyError if none."""
    return _PRIMITIVE[getattr(name, "value", name)]


def _free(read, x, t, alg):
    return Effect(True, False, {"mstate": alg.const(GONE)})


# The last phase of `unload`, a step of its own: the module's code is freed.
UNLOAD_FREE = Primitive("unload_free", "module", frozenset(), frozenset({"mstate"}), _free,
                        summary="the module's code and memory are freed")


# v3, NOTE(module-init): the steps of the loader thread insmod(M) that are not
# statements of the language.
def _live(read, x, t, alg):
    return Effect(True, False, {"mstate": alg.const(LOADED)})


def _going(read, x, t, alg):
    return Effect(True, False, {"mstate": alg.const(UNLOADING)})


def _ref_module(read, x, t, alg):
    # strong_try_module_get(): a coming module makes the loader wait
    # (resolve_symbol_wait()); a live one is pinned by the module being loaded.
    return Effect(read("mstate", x) != COMING, False, {"mrefs": read("mrefs", x) + 1})


def _not_there(read, x, alg):
    # ... and a module going away or gone fails the load (-ENOENT: unknown symbol).
    return alg.ite(read("mstate", x) == UNLOADING, alg.const(True), read("mstate", x) == GONE)


MODULE_LIVE = Primitive("module_live", "module", frozenset(), frozenset({"mstate"}), _live,
                        summary="init returned 0: the module is live (MODULE_STATE_LIVE)")
MODULE_GOING = Primitive("module_going", "module", frozenset(), frozenset({"mstate"}), _going,
                         summary="init failed: the module goes away without its exit function "
                                 "(MODULE_STATE_GOING)")
REF_MODULE = Primitive("ref_module", "module", frozenset({"mrefs", "mstate"}), frozenset({"mrefs"}),
                       _ref_module, blocks=True, refused=_not_there,
                       summary="the module being loaded uses this one's symbols: wait while it is "
                               "coming, pin it when it is live, fail the load when it is not there")


# v3, NOTE(memory) in spec/memory.py: kzalloc of struct memory sets its fields anew;
# an object field by kref_init(), a mutex field by mutex_init() (a completion
# field by reinit, init_completion()).
def _kref_init(read, x, t, alg):
    return Effect(True, False, {"refs": alg.const(1)})


def _mutex_init(read, x, t, alg):
    return Effect(True, False, {"holder": alg.const(FREE)})


KREF_INIT = Primitive("kref_init", "object", frozenset(), frozenset({"refs"}), _kref_init,
                      summary="kzalloc: the count of an object in struct memory is 1 (kref_init)")
MUTEX_INIT = Primitive("mutex_init", "mutex", frozenset(), frozenset({"holder"}), _mutex_init,
                       summary="kzalloc: a mutex in struct memory is free (mutex_init)")
INTERNAL_PRIMITIVES = (UNLOAD_FREE, MODULE_LIVE, MODULE_GOING, REF_MODULE, KREF_INIT, MUTEX_INIT)


# --------------------------------------------------------------------------- queries


class Act(NamedTuple):
    """What a query that acts does as a condition, in one state: its `value`,
    whether it `fails` (taken, it violates the query's check), and the state
    tables it writes when the value is true (`on_true`) and when it is false
    (`on_false`), at the operand, with their new values (in the algebra it ran
    with, as `Effect`)."""

    value: object
    fails: object
    on_true: Mapping[str, object]
    on_false: Mapping[str, object]


@dataclass(frozen=True)
class Query:
    """A query `NAME(OPERAND)` in an expression."""

    name: str
    operand: str
    type: str                          # "int" or "bool"
    reads: frozenset                   # state tables read at the operand
    value: Optional[Callable] = field(default=None, repr=False)   # (read, x) -> value
    # A query that acts (try_get, refcount_dec_and_test, ...): (read, x, alg) -> Act.
    # It stands only as the whole condition of an if, while or await (negated with
    # `not` too) or as the whole value assigned to a var or local (v3).
    act: Optional[Callable] = field(default=None, repr=False)
    writes: frozenset = frozenset()    # state tables an acting query may write
    kernel: tuple[str, ...] = ()       # the kernel's names for it (error hints)
    check: Optional[str] = None        # the check an acting query can violate
    message: str = ""                  # that violation in words: {arg}
    awaitable: bool = True             # may stand in `await` (it does nothing when false)
    soft: bool = False                 # v3: a name that may still be declared (not reserved)
    summary: str = ""

    def acts(self, read: Read, x: int, alg=Values) -> Act:
        return self.act(read, x, alg)


def _try_get(read, x, alg):
    r = read("refs", x)
    return Act(r != 0, False, {"refs": r + 1}, {})


def _try_module_get(read, x, alg):
    # The kernel's module_is_live() is "not going": a module whose init is still
    # running (coming) can be pinned, as try_module_get() does.
    ms = read("mstate", x)
    return Act(alg.ite(ms == LOADED, alg.const(True), ms == COMING), False,
               {"mrefs": read("mrefs", x) + 1}, {})


def _dec_and_test(read, x, alg):
    # refcount_dec_and_test(): decrement, true when the count reached 0; on a count
    # of 0 it is a use after free (refcount_t warns and saturates).
    r = read("refs", x)
    return Act(r == 1, r == 0, {"refs": r - 1}, {"refs": r - 1})


def _dec_not_one(read, x, alg):
    # refcount_dec_not_one(): decrement unless the count is 1; true when it did.
    r = read("refs", x)
    return Act(r != 1, r == 0, {"refs": r - 1}, {})


_DEC_MESSAGE = "{name}({arg}) on an object whose count is 0"

QUERIES = (
    Query("refs", "object", "int", frozenset({"refs"}), lambda read, x: read("refs", x),
          kernel=("kref_read", "kobject_read", "refcount_read")),
    Query("module_refs", "module", "int", frozenset({"mrefs"}), lambda read, x: read("mrefs", x),
          kernel=("module_refcount",)),
    Query("loaded", "module", "bool", frozenset({"mstate"}),
          lambda read, x: read("mstate", x) != GONE, kernel=("module_is_live",)),
    Query("done", "completion", "int", frozenset({"done"}), lambda read, x: read("done", x),
          kernel=("completion_done",)),
    Query("locked", "mutex", "bool", frozenset({"holder"}),
          lambda read, x: read("holder", x) != FREE, kernel=("mutex_is_locked",)),
    Query("try_get", "object", "bool", frozenset({"refs"}), act=_try_get, writes=frozenset({"refs"}),
          kernel=("kref_get_unless_zero", "kobject_get_unless_zero", "refcount_inc_not_zero"),
          summary="take a reference unless the count is 0; true when it did"),
    Query("try_module_get", "module", "bool", frozenset({"mrefs", "mstate"}), act=_try_module_get,
          writes=frozenset({"mrefs"}),
          summary="take a module reference unless the module is going or gone; true when it did"),
    # v3: the decrements that return a result (soft words).
    Query("refcount_dec_and_test", "object", "bool", frozenset({"refs"}), act=_dec_and_test,
          writes=frozenset({"refs"}), check="put-after-release", message=_DEC_MESSAGE,
          awaitable=False, soft=True,
          summary="decrement; true when the count reached 0 (no release function is called)"),
    Query("atomic_dec_and_test", "object", "bool", frozenset({"refs"}), act=_dec_and_test,
          writes=frozenset({"refs"}), check="put-after-release", message=_DEC_MESSAGE,
          awaitable=False, soft=True,
          summary="as refcount_dec_and_test, on an atomic_t"),
    Query("refcount_dec_not_one", "object", "bool", frozenset({"refs"}), act=_dec_not_one,
          writes=frozenset({"refs"}), check="put-after-release", message=_DEC_MESSAGE,
          awaitable=False, soft=True,
          summary="decrement unless the count is 1; true when it did"),
)
_QUERY = {q.name: q for q in QUERIES}
# How a kernel query is written in modproof ("{}": its argument).
KERNEL_QUERY_FORMS = {"completion_done": "done({}) > 0"}
# Queries that cannot be declared (v1 and v2): the v3 ones are soft.
RESERVED_QUERIES = frozenset(q.name for q in QUERIES if not q.soft)


def query(name) -> Query:
    """The query spelt `name` (or of an enum member whose value it is); KeyError if none."""
    return _QUERY[getattr(name, "value", name)]


def kernel_query_form(kernel_name: str) -> Optional[str]:
    """How modproof writes the kernel's query `kernel_name` ("{}" for its argument)."""
    for q in QUERIES:
        if kernel_name in q.kernel:
            return KERNEL_QUERY_FORMS.get(kernel_name, f"{q.name}({{}})")
    return None


def kernel_primitive(kernel_name: str) -> Optional[str]:
    """The primitive the kernel calls `kernel_name`, or None."""
    for p in PRIMITIVES:
        if kernel_name in p.kernel:
            return p.name
    return None


# --------------------------------------------------------------------------- v2 built-in calls


@dataclass(frozen=True)
class Builtin:
    """A version-2 built-in, written as a call `NAME()` or `NAME(ARG)` and lowered to
    steps over hidden state (spec/v2.py).  A file that declares a function of the
    same name calls its own function instead."""

    name: str
    operand: Optional[str]     # what its argument must name (None: no argument)
    summary: str = ""
    also: tuple[str, ...] = ()   # other kinds its argument may name
    steps: int = 1             # how many steps it takes (docs/language.md)
    kernel: tuple[str, ...] = ()   # the kernel's names for it (error hints)
    # The built-in that does this for the other kind of work item (a work item
    # given to a delayed-work built-in, or the reverse): the hint for a wrong argument.
    counterpart: Optional[str] = None
    sleeps: bool = False       # v3 (NOTE(sleeps) in spec/v3_ctx.py): it may sleep


BUILTINS = (
    Builtin("queue_work", "work", "queue a work item (a no-op while it is pending)",
            kernel=("schedule_work", "queue_work_on"), counterpart="queue_delayed_work"),
    Builtin("flush_work", "work", "wait for the instance pending or running when called",
            also=("delayed_work",), steps=2, sleeps=True),
    Builtin("cancel_work_sync", "work", "take the item off the queue and wait for a running instance",
            steps=2, counterpart="cancel_delayed_work_sync", sleeps=True),
    Builtin("flush_workqueue", "workqueue", "wait for the work queued on the queue before the call",
            steps=2, sleeps=True),
    Builtin("drain_workqueue", "workqueue",
            "refuse all but chained queueing and wait until the queue is empty", steps=2,
            sleeps=True),
    Builtin("destroy_workqueue", "workqueue", "drain the queue, which stays closed for good",
            steps=2, sleeps=True),
    Builtin("flush_scheduled_work", None, "flush_workqueue of the system workqueue", steps=2,
            sleeps=True),
    Builtin("queue_delayed_work", "delayed_work",
            "arm the timer of a delayed work item (a no-op while it is pending)",
            kernel=("schedule_delayed_work", "queue_delayed_work_on"), counterpart="queue_work"),
    Builtin("mod_delayed_work", "delayed_work",
            "take back a queued instance and arm the timer again",
            kernel=("mod_delayed_work_on",)),
    Builtin("cancel_delayed_work", "delayed_work",
            "disarm the timer and take back a queued instance, without waiting"),
    Builtin("cancel_delayed_work_sync", "delayed_work",
            "as cancel_work_sync, and disarm the timer", steps=2, counterpart="cancel_work_sync",
            sleeps=True),
    Builtin("flush_delayed_work", "delayed_work",
            "queue the work now if its timer is armed, then flush_work", steps=2, sleeps=True),
    Builtin("call_rcu", "fn", "run the function after a grace period"),
    Builtin("rcu_barrier", None, "wait for the call_rcu callbacks queued before the call",
            steps=2, sleeps=True),
    Builtin("synchronize_rcu", None, "wait for the read-side sections in progress", steps=2,
            sleeps=True),
    Builtin("rcu_read_lock", None, "enter a read-side section"),
    Builtin("rcu_read_unlock", None, "leave a read-side section"),
    Builtin("mod_timer", "timer", "arm the timer (a no-op once it is shut down)"),
    Builtin("del_timer_sync", "timer", "disarm the timer and wait for a running handler",
            kernel=("timer_delete_sync",)),
    Builtin("timer_shutdown_sync", "timer", "disarm the timer for good and wait for its handler",
            steps=2),
    Builtin("wait_timeout", "completion", "wait for the completion, or give up",
            kernel=("wait_for_completion_timeout",), sleeps=True),
    # v3, NOTE(memory) in spec/memory.py
    Builtin("kzalloc", "memory", "allocate struct memory: its fields take their declared values",
            kernel=("kmalloc", "devm_kzalloc", "kvzalloc", "kcalloc", "kmalloc_array")),
    Builtin("kfree", "memory", "free struct memory (nothing for memory never allocated; "
            "freed memory: double-free)", kernel=("kvfree", "kfree_sensitive", "devm_kfree")),
    # v3: threads started at run time (NOTE(kthread) in spec/v3_kthread.py).
    Builtin("kthread_create", "kthread",
            "create the kthread's task, asleep: its function runs after wake_up_process",
            kernel=("kthread_create_on_node", "kthread_create_on_cpu"), sleeps=True),
    Builtin("kthread_run", "kthread", "kthread_create and wake_up_process in one",
            kernel=("kthread_run_on_cpu",), sleeps=True),
    Builtin("wake_up_process", "kthread", "wake the kthread (start it, the first time)",
            kernel=("wake_up_state",)),
    Builtin("kthread_stop", "kthread",
            "set should-stop, wake the kthread and wait until it has exited", steps=2,
            sleeps=True),
    Builtin("kthread_stop_put", "kthread", "kthread_stop, then put_task_struct", steps=2,
            sleeps=True),
    Builtin("get_task_struct", "kthread", "take a reference to the kthread's task_struct"),
    Builtin("put_task_struct", "kthread",
            "drop a reference to the kthread's task_struct (the last one frees it)"),
)
# v3, contexts and locks (spec/v3_ctx.py): spinlocks, rw_semaphores, irq handlers,
# preemption and interrupts.  A table of their own, so that BUILTINS stays the
# version-2 list; lookups (`builtin`, `is_builtin`, `kernel_builtin`) see both.
CTX_BUILTINS = (
    Builtin("spin_lock", "spinlock", "spin until the spinlock is free, then hold it: atomic context",
            kernel=("raw_spin_lock",)),
    Builtin("spin_unlock", "spinlock", "release a held spinlock",
            kernel=("raw_spin_unlock",)),
    Builtin("spin_lock_irq", "spinlock", "local_irq_disable, then spin_lock"),
    Builtin("spin_unlock_irq", "spinlock", "spin_unlock, then local_irq_enable"),
    Builtin("spin_lock_irqsave", "spinlock", "local_irq_save, then spin_lock",
            kernel=("raw_spin_lock_irqsave",)),
    Builtin("spin_unlock_irqrestore", "spinlock", "spin_unlock, then local_irq_restore",
            kernel=("raw_spin_unlock_irqrestore",)),
    Builtin("spin_lock_bh", "spinlock", "local_bh_disable, then spin_lock"),
    Builtin("spin_unlock_bh", "spinlock", "spin_unlock, then local_bh_enable"),
    Builtin("down_read", "rwsem", "sleep until no writer holds the rw_semaphore, then read-hold it",
            kernel=("down_read_killable", "down_read_interruptible"), steps=2, sleeps=True),
    Builtin("up_read", "rwsem", "release a read hold"),
    Builtin("down_write", "rwsem", "sleep until nobody holds the rw_semaphore, then hold it",
            kernel=("down_write_killable",), steps=2, sleeps=True),
    Builtin("up_write", "rwsem", "release the write hold"),
    Builtin("preempt_disable", None, "preempt count + 1: atomic context, an RCU read-side section",
            kernel=("get_cpu", "preempt_disable_notrace")),
    Builtin("preempt_enable", None, "preempt count - 1", kernel=("put_cpu", "preempt_enable_no_resched")),
    Builtin("local_bh_disable", None, "softirqs off on this CPU: atomic context"),
    Builtin("local_bh_enable", None, "softirqs on again"),
    Builtin("local_irq_disable", None, "interrupts off on this CPU: atomic context"),
    Builtin("local_irq_enable", None, "interrupts on on this CPU"),
    Builtin("local_irq_save", None, "save the interrupt state and turn interrupts off"),
    Builtin("local_irq_restore", None, "restore the interrupt state saved by local_irq_save"),
    Builtin("might_sleep", None, "a call that may sleep: msleep(), kmalloc(GFP_KERNEL), "
            "copy_from_user() ...", kernel=("msleep", "ssleep", "usleep_range", "schedule",
                                            "cond_resched", "schedule_timeout"), sleeps=True),
    Builtin("request_irq", "irq", "install the handler: it may run from now on, on any CPU",
            kernel=("request_threaded_irq", "request_any_context_irq"), sleeps=True),
    Builtin("devm_request_irq", "irq", "request_irq, freed after the requesting thread's body "
            "ends (the driver's remove returned)", kernel=("devm_request_threaded_irq",),
            sleeps=True),
    Builtin("free_irq", "irq", "remove the handler and wait for a running one", steps=2,
            sleeps=True),
    Builtin("devm_free_irq", "irq", "free_irq of an irq from devm_request_irq, now", steps=2,
            sleeps=True),
    Builtin("synchronize_irq", "irq", "wait for a running handler", sleeps=True,
            kernel=("synchronize_hardirq",)),
    Builtin("disable_irq", "irq", "keep the handler from starting, then wait for a running one",
            steps=2, sleeps=True),
    Builtin("disable_irq_nosync", "irq", "keep the handler from starting, without waiting"),
    Builtin("enable_irq", "irq", "undo one disable_irq"),
)
ALL_BUILTINS = BUILTINS + CTX_BUILTINS
_BUILTIN = {b.name: b for b in ALL_BUILTINS}
MEMORY_BUILTINS = ("kzalloc", "kfree")


def builtin(name: str) -> Builtin:
    return _BUILTIN[name]


def is_builtin(name: str) -> bool:
    return name in _BUILTIN


def kernel_builtin(kernel_name: str) -> Optional[str]:
    """The built-in the kernel calls `kernel_name`, or None."""
    for b in ALL_BUILTINS:
        if kernel_name in b.kernel:
            return b.name
    return None


# --------------------------------------------------------------------------- v3 operations with results


@dataclass(frozen=True)
class Operation:
    """A version-3 operation that returns whether it released its object: written
    as a statement `NAME(ARGS)`, as the whole condition of an `if` or `while`
    (negated with `not` too), or as the whole value assigned to a local.  Lowered
    to steps (spec/lower.py, NOTE(returning-put)); a file that declares a
    function of the same name calls its own function instead."""

    name: str
    operands: tuple[str, ...]      # what each argument must name
    summary: str = ""
    kernel: tuple[str, ...] = ()   # the kernel's names for it (error hints)
    locks: bool = False            # the release runs with the lock (second argument) held
    sleeps: bool = False           # v3 (NOTE(sleeps) in spec/v3_ctx.py): it may sleep


OPERATIONS = (
    Operation("kref_put", ("object",),
              "put; true when it dropped the count to 0 and called the release function"),
    Operation("kref_put_mutex", ("object", "mutex"),
              "put; at the last reference, lock the mutex first and call the release function "
              "with it held (the release unlocks it); true when it released",
              kernel=("refcount_dec_and_mutex_lock",), locks=True, sleeps=True),
    Operation("kref_put_lock", ("object", "mutex"),
              "as kref_put_mutex, with a spinlock (modelled as a mutex)",
              kernel=("refcount_dec_and_lock",), locks=True),
)
_OPERATION = {o.name: o for o in OPERATIONS}


def operation(name: str) -> Operation:
    return _OPERATION[name]


def is_operation(name: str) -> bool:
    return name in _OPERATION


def kernel_operation(kernel_name: str) -> Optional[str]:
    """The v3 operation the kernel calls `kernel_name`, or None."""
    for o in OPERATIONS:
        if kernel_name in o.kernel:
            return o.name
    return None


# v3: the query without an argument that a kthread's code asks (NOTE(kthread)).
KTHREAD_SHOULD_STOP = "kthread_should_stop"
KTHREAD_BUILTINS = frozenset(b.name for b in BUILTINS if b.operand == "kthread")
# NOTE(sleeps): every word that may sleep, from the entries' `sleeps` (the primitives,
# built-ins and operations): the check sleep-in-atomic guards each (spec/v3_ctx.py).
SLEEPING_WORDS = frozenset([p.name for p in PRIMITIVES if p.sleeps]
                           + [b.name for b in ALL_BUILTINS if b.sleeps]
                           + [o.name for o in OPERATIONS if o.sleeps])


# Kernel words for declarations (v3 hints): a call of one of them says what to declare.
KERNEL_DECLARATIONS = {
    "module_init": "declare the module's init function: module M init FN",
    "module_exit": "declare the module's exit function: module M exit FN",
}


# Built-ins that wait for work items to finish, by how: the flushes note the
# instances to wait for per thread (NOTE(flush-instances) in spec/v2.py); drain
# and destroy close the queue to all but chained queueing (NOTE(drain)).
FLUSHES = frozenset({"flush_work", "flush_workqueue", "flush_scheduled_work",
                     "flush_delayed_work"})
DRAINS = frozenset({"drain_workqueue", "destroy_workqueue"})


# --------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class Operator:
    """A binary operator.  `apply` works on Python values and on Z3 terms alike
    (`&` and `|` are Z3's And and Or, and Python's on bools)."""

    name: str              # the member of ast.BinOp
    symbol: str            # as written
    operands: str          # "bool", "int" or "same" (both sides of one type)
    result: str            # "bool" or "int"
    apply: Callable
    absorbing: Optional[bool] = None   # and/or: the left value that decides alone (short circuit)


OPERATORS = (
    Operator("OR", "or", "bool", "bool", operator.or_, absorbing=True),
    Operator("AND", "and", "bool", "bool", operator.and_, absorbing=False),
    Operator("EQ", "==", "same", "bool", operator.eq),
    Operator("NE", "!=", "same", "bool", operator.ne),
    Operator("LT", "<", "int", "bool", operator.lt),
    Operator("LE", "<=", "int", "bool", operator.le),
    Operator("GT", ">", "int", "bool", operator.gt),
    Operator("GE", ">=", "int", "bool", operator.ge),
    Operator("ADD", "+", "int", "int", operator.add),
    Operator("SUB", "-", "int", "int", operator.sub),
)
_OPERATOR = {o.symbol: o for o in OPERATORS}
NEGATIONS = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}


def binary(symbol) -> Operator:
    """The operator spelt `symbol` (or of a BinOp member); KeyError if none."""
    return _OPERATOR[getattr(symbol, "value", symbol)]


# --------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class StepShape:
    """A kind of step that is not a primitive: what the lowering makes of the
    other statements (and of the phases of calls and unload)."""

    name: str
    blocks: bool = False
    summary: str = ""


STEP_SHAPES = tuple(StepShape(p.name, blocks=p.blocks, summary=p.summary)
                    for p in INTERNAL_PRIMITIVES) + (

    StepShape("assign", summary="an assignment"),
    StepShape("assert", summary="an assert"),
    StepShape("await", blocks=True, summary="block until the condition holds"),
    StepShape("branch", summary="the test of an if or a while"),
    StepShape("choose", summary="pick a branch"),
    StepShape("atomic", blocks=True, summary="a block run as one step (blocked while an await in it fails)"),
    StepShape("call", summary="the call of a function"),
    StepShape("return", summary="the return from a function, in the callee's code"),
)
STEP_KIND_NAMES = tuple(p.name for p in PRIMITIVES) + tuple(s.name for s in STEP_SHAPES)
BLOCKING_STEP_KINDS = frozenset([p.name for p in PRIMITIVES if p.blocks]
                                + [s.name for s in STEP_SHAPES if s.blocks])
