"""The paths through an `atomic` block with `await`, by symbolic execution.

Such a block is enabled only when some path through it passes all its awaits
(and every primitive on it that blocks, the v2 `wait_timeout`'s `wait`, is
enabled), and then it runs whole, with no partial effects.  Promela cannot undo the
effects of an `atomic` that blocks halfway, so the generator (`generate.py`)
writes one guarded option per path: the guard is the path's condition over the
state before the step (its tests, awaits and `try_` outcomes, and for a path
that ends in a violation the failing check), the option runs the path's
effects and ends in its check or its jump.

`atomic_paths` finds those paths.  Loops are unrolled; it refuses
(`PromelaUnsupported`) a loop that one path would run more than MAX_UNROLL
times (its trip count is not fixed by the block itself), and more than
MAX_PATHS paths.  Both are limits of this translation, not of the language.

NOTE(touch): the statements are judged in order as the block runs.  Before
each statement, for each place it may touch storage that lives in a module
(a primitive's operand, a query its expression reaches under C's evaluation
order), a path ends there in use-after-unload when that module is gone, and
the others go on with the module not gone.  A blocking primitive that is not
enabled and an `await` that does not hold touch nothing: their touches are
judged only on the paths where they pass.

NOTE(atomic-loop-limit): the language's limit is vocabulary.ATOMIC_LOOP_LIMIT
loop iterations on one path through an atomic step (a `choose` branch counts
on from the count where it starts), as the reference semantics counts them.
The enumeration counts each symbolic path's iterations the same way, and
every execution of the step follows one of its paths, so when no path counts
more than the limit, the reference never gives up on this step; when one
does (and its condition is not false), the export refuses rather than answer
where modproof says unknown.  (The reference's budget ATOMIC_WORK, statements
over all the paths of one step, is an engine's budget, not the language's:
the export does not follow it.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from modproof.exports.promela.state import Layout, Touch
from modproof.exports.promela.terms import FALSE, TRUE, PromelaUnsupported, Term, emit, simplify
from modproof.spec.model import (
    PRIMITIVE_OF, AAssert, AAssign, AAwait, AChoose, AIf, AOp, AWhile, Thread, atomic_reads,
    atomic_statements, has_await,
)
from modproof.spec.vocabulary import ATOMIC_LOOP_LIMIT, USE_AFTER_UNLOAD

MAX_PATHS = 4096    # paths through one atomic block with `await`
MAX_UNROLL = 64     # iterations of one loop on one such path


@dataclass(frozen=True)
class Path:
    """One way through an atomic block: taken when `cond` (over the state before the
    step) holds; runs `code` (Promela statements), then either completes
    (`violation` None) or fails the assertion `violation` = (check, the Promela
    condition that fails, what it says)."""

    cond: Term
    code: tuple[str, ...]
    violation: Optional[tuple[str, str, str]]


def needs_paths(body) -> bool:
    """Can atomic body `body` block: has it an `await`, or a primitive that blocks
    (the v2 wait_timeout's wait)?  Then it is written as its paths."""
    return has_await(body) or any(isinstance(a, AOp) and PRIMITIVE_OF[a.kind].blocks
                                  for a in atomic_statements(body))


def atomic_paths(lay: Layout, t: int, th: Thread, body, judge: bool = True,
                 text: str = "") -> list[Path]:
    """Every path through atomic body `body` of thread `th` (index `t`), in the
    order their options are written (any order would do: the options whose
    conditions hold are the ways the step can go).  `judge`: are touches of
    storage in a module judged (the step uses such storage, `Step.uses`);
    `text`: the step as written, for the messages."""
    out: list[Path] = []
    _Walk(lay, t, th, out, judge, text).run(list(body), lay.env(th), TRUE, [], {}, 0, {})
    return out


class _Walk:
    def __init__(self, lay: Layout, t: int, th: Thread, out: list[Path], judge: bool, text: str):
        self.lay, self.t, self.th, self.out = lay, t, th, out
        self.judge, self.text = judge, text

    def touches_of(self, a, env) -> list[Touch]:
        """NOTE(touch): where statement `a` may touch storage in a module, in order."""
        lay, th = self.lay, self.th
        if not self.judge:
            return []
        if isinstance(a, AOp):
            touch = lay.prim_touch(a.kind, a.operand)
            return [touch] if touch else []
        return [x for e in atomic_reads(a) for x in lay.touches(e, env, th)]

    def touch(self, touches: list[Touch], known: dict, cond, code, line: int):
        """NOTE(touch): the paths that end in use-after-unload at these touches, in
        order, are appended; the path condition of the rest (no touch of a module
        that is gone is reached) is returned.  Whether each module is gone is
        decided on the path (`known`, see run): it does not change inside atomic."""
        lay = self.lay
        for touch in touches:
            if not known[touch.home]:
                continue
            bad = simplify(("and", cond, touch.reach))
            if bad != FALSE:
                # The module is gone on this path: the assertion fails.
                self.out.append(Path(bad, tuple(code), (
                    USE_AFTER_UNLOAD, f"{lay.mstate(touch.home)} != GONE",
                    f"{self.th.name} uses {lay.touch_what(touch)} in '{self.text}' "
                    f"(line {line})")))
            cond = ("and", cond, ("not", touch.reach))
        return cond

    def acts_fail(self, act, test, cond, code, line: int):
        """NOTE(acting-condition): the path on which a query that acts fails ends in
        its check (asserted over the state the path's code has reached: the query's
        parts over the identity environment); the condition of the others is returned."""
        bad = simplify(("and", cond, act.fails))
        if bad != FALSE:
            here = self.lay.act_parts(test, self.lay.env(self.th))
            self.out.append(Path(bad, tuple(code), (act.check, emit(("not", here.fails)),
                                                    f"{self.th.name}: {act.what} (in atomic, "
                                                    f"line {line})")))
        return ("and", cond, ("not", act.fails))

    def run(self, pending, env, cond, code, unroll, iters, known) -> None:
        """Symbolic execution of `pending` from `env` under path condition `cond`,
        the path having run `iters` loop iterations and decided for the modules of
        `known` whether they are gone; appends a Path to `self.out` for every way
        it can end.  Iterative (a worklist of the ways not taken yet, explored in
        the order a recursive walk would), so a long path cannot exhaust Python's
        stack."""
        later = [(pending, env, cond, code, unroll, iters, known)]
        while later:
            pending, env, cond, code, unroll, iters, known = later.pop()
            self.walk(later, pending, env, cond, code, unroll, iters, known)

    def walk(self, later, pending, env, cond, code, unroll, iters, known) -> None:
        """One way from `pending` on, until it ends; the ways it leaves for later
        (the other side of a split) are pushed on `later`, to be taken before
        the ones already there."""
        lay, t, th, out = self.lay, self.t, self.th, self.out
        while True:
            cond = simplify(cond)
            if cond == FALSE:
                return
            if len(out) > MAX_PATHS:
                raise PromelaUnsupported(f"more than {MAX_PATHS} paths through an atomic block")
            if not pending:
                out.append(Path(cond, tuple(code), None))
                return
            a, pending = pending[0], pending[1:]
            touches = self.touches_of(a, env)
            home = next((x.home for x in touches if x.home not in known), None)
            if home is not None:
                # The first touch of a module this path has not decided: split the
                # path on whether it is gone (it stays so through the block) and
                # take the statement again on each side: not gone first.
                gone = lay.gone(home, env)
                later.append(([a] + pending, env, ("and", cond, gone), code, unroll, iters,
                              {**known, home: True}))
                cond, known, pending = ("and", cond, ("not", gone)), {**known, home: False}, \
                    [a] + pending
                continue
            if isinstance(a, AOp):
                prim = lay.in_atomic(a)
                if "mstate" in prim.writes:
                    raise AssertionError(f"{a.kind.value} inside atomic changes a module's state")
                if prim.blocks:    # where it is not enabled, this path is not
                    cond = ("and", cond, lay.effect(a.kind, a.operand, t, env).enabled)
                cond = self.touch(touches, known, cond, code, a.span.line)
                chk = lay.check(a.kind, a.operand, t, env)
                if chk:
                    name, ok, what = chk
                    live_ok = emit(lay.check_of(a.kind, a.operand, t)[1])
                    bad = simplify(("and", cond, ("not", ok)))
                    if bad != FALSE:
                        out.append(Path(bad, tuple(code), (name, live_ok, f"{th.name}: {what} "
                                                           f"(in atomic, line {a.span.line})")))
                    cond = ("and", cond, ok)
                env = {**env, **lay.effect(a.kind, a.operand, t, env).writes}
                code = code + lay.effect_text(a.kind, a.operand, t)
            elif isinstance(a, AAssign):
                cond = self.touch(touches, known, cond, code, a.span.line)
                v = lay.term(a.value, env, th)
                code = code + [f"{lay.lvalue(th, a.target)} = {lay.live(a.value, th)}"]
                env = dict(env)
                env[lay.lvalue(th, a.target)] = v
            elif isinstance(a, AAssert):
                cond = self.touch(touches, known, cond, code, a.span.line)
                ok = lay.term(a.cond, env, th)
                bad = simplify(("and", cond, ("not", ok)))
                if bad != FALSE:
                    out.append(Path(bad, tuple(code), (a.check, lay.live(a.cond, th),
                                                       f"{th.name}: assert at line {a.span.line} "
                                                       "(in atomic)")))
                cond = ("and", cond, ok)
            elif isinstance(a, AAwait):
                # Only an await that holds is taken, and touches what its test read.
                act = lay.act_parts(a.cond, env)
                if act:
                    cond = self.acts_fail(act, a.cond, cond, code, a.span.line)
                cond = ("and", cond, act.cond if act else lay.term(a.cond, env, th))
                cond = self.touch(touches, known, cond, code, a.span.line)
                if act:
                    env = {**env, **act.true_writes}
                    code = code + list(act.true_text)
            elif isinstance(a, (AIf, AWhile)):
                cond = self.touch(touches, known, cond, code, a.span.line)
                act = lay.act_parts(a.cond, env)
                if act:
                    cond = self.acts_fail(act, a.cond, cond, code, a.span.line)
                if simplify(cond) == FALSE:
                    return
                if isinstance(a, AIf):
                    yes, no = list(a.then) + pending, list(a.orelse) + pending
                else:
                    n = unroll.get(id(a), 0) + 1
                    if n > MAX_UNROLL:
                        raise PromelaUnsupported(
                            f"a loop at line {a.span.line} inside an atomic block with await "
                            f"may run more than {MAX_UNROLL} times; only loops with a trip "
                            "count known from the block itself are translated")
                    yes, no = list(a.body) + [a] + pending, pending
                    unroll = dict(unroll)
                    unroll[id(a)] = n
                no_env, no_code = env, code
                if act:
                    yes_env, test, yes_code = {**env, **act.true_writes}, act.cond, \
                        code + list(act.true_text)
                    no_env, no_code = {**env, **act.false_writes}, code + list(act.false_text)
                else:
                    yes_env, test, yes_code = env, lay.term(a.cond, env, th), code
                yes_cond = simplify(("and", cond, test))
                yes_iters = iters
                if isinstance(a, AWhile) and yes_cond != FALSE:
                    yes_iters += 1
                    if yes_iters > ATOMIC_LOOP_LIMIT:
                        raise PromelaUnsupported(
                            f"a path through an atomic block with await may run its loops (here "
                            f"the one at line {a.span.line}) more than {ATOMIC_LOOP_LIMIT} times "
                            "in one step, where modproof gives up (unknown)")
                # The true side first, the false side later.
                later.append((no, no_env, ("and", cond, ("not", test)), no_code, unroll, iters, known))
                pending, env, cond, code, iters = yes, yes_env, yes_cond, yes_code, yes_iters
            elif isinstance(a, AChoose):
                # Branches 1, 2, ... first, then branch 0 (the order of the options
                # does not matter); each counts on from here.
                ways = [list(b) + pending for b in a.branches]
                for way in [ways[0]] + ways[:0:-1]:
                    later.append((way, env, cond, code, unroll, iters, known))
                pending, env, cond, code, unroll, iters, known = later.pop()
            else:
                raise AssertionError(a)
