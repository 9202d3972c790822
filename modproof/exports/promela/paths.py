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

NOTE(atomic-loop-limit): the language's limit is vocabulary.ATOMIC_LOOP_LIMIT
iterations in one atomic step, counted as the reference semantics runs the
step: over all the ways through the block (every branch of every `choose`),
up to where each stops.  The enumeration meets every iteration that any state
before the step can run (and more: it follows both sides of a test it cannot
decide, and goes on past awaits and checks), so when it counts no more than the
limit, the reference never gives up on this step; when it counts more, the
export refuses rather than answer where modproof says unknown.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from modproof.exports.promela.state import Layout
from modproof.exports.promela.terms import FALSE, TRUE, PromelaUnsupported, Term, emit, simplify
from modproof.spec.model import (
    PRIMITIVE_OF, AAssert, AAssign, AAwait, AChoose, AIf, AOp, AWhile, Thread, atomic_statements,
    has_await,
)
from modproof.spec.vocabulary import ATOMIC_LOOP_LIMIT

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


def atomic_paths(lay: Layout, t: int, th: Thread, body) -> list[Path]:
    """Every path through atomic body `body` of thread `th` (index `t`), in the
    order their options are written (any order would do: the options whose
    conditions hold are the ways the step can go)."""
    out: list[Path] = []
    _Walk(lay, t, th, out).run(list(body), lay.env(th), TRUE, [], {})
    return out


class _Walk:
    def __init__(self, lay: Layout, t: int, th: Thread, out: list[Path]):
        self.lay, self.t, self.th, self.out = lay, t, th, out
        self.iterations = 0     # loop iterations on all paths so far (NOTE(atomic-loop-limit))

    def run(self, pending, env, cond, code, unroll) -> None:
        """Symbolic execution of `pending` from `env` under path condition `cond`;
        appends a Path to `self.out` for every way it can end."""
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
            if isinstance(a, AOp):
                if lay.in_atomic(a).blocks:    # where it is not enabled, this path is not
                    cond = ("and", cond, lay.effect(a.kind, a.operand, t, env).enabled)
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
                v = lay.term(a.value, env, th)
                code = code + [f"{lay.lvalue(th, a.target)} = {lay.live(a.value, th)}"]
                env = dict(env)
                env[lay.lvalue(th, a.target)] = v
            elif isinstance(a, AAssert):
                ok = lay.term(a.cond, env, th)
                bad = simplify(("and", cond, ("not", ok)))
                if bad != FALSE:
                    out.append(Path(bad, tuple(code), ("assertion", lay.live(a.cond, th),
                                                       f"{th.name}: assert at line {a.span.line} "
                                                       "(in atomic)")))
                cond = ("and", cond, ok)
            elif isinstance(a, AAwait):
                tp = lay.try_parts(a.cond, env)
                if tp:
                    cond = ("and", cond, tp.cond)
                    env = {**env, **tp.writes}
                    code = code + [tp.text]
                else:
                    cond = ("and", cond, lay.term(a.cond, env, th))
            elif isinstance(a, (AIf, AWhile)):
                tp = lay.try_parts(a.cond, env)
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
                if tp:
                    yes_env, test, yes_code = {**env, **tp.writes}, tp.cond, code + [tp.text]
                else:
                    yes_env, test, yes_code = env, lay.term(a.cond, env, th), code
                yes_cond = simplify(("and", cond, test))
                if isinstance(a, AWhile) and yes_cond != FALSE:
                    self.iterations += 1
                    if self.iterations > ATOMIC_LOOP_LIMIT:
                        raise PromelaUnsupported(
                            f"the loops of an atomic block with await (here the one at line "
                            f"{a.span.line}) may run more than {ATOMIC_LOOP_LIMIT} iterations in "
                            "one step, counted over all the ways through the block, where "
                            "modproof gives up (unknown)")
                self.run(yes, yes_env, yes_cond, yes_code, unroll)
                cond = ("and", cond, ("not", test))
                pending = no
            elif isinstance(a, AChoose):
                for b in a.branches[1:]:
                    self.run(list(b) + pending, env, cond, code, unroll)
                pending = list(a.branches[0]) + pending
                # branch 0 continues in this loop; order of options does not matter
            else:
                raise AssertionError(a)
