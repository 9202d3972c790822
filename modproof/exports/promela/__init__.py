"""Promela export: the lowered `Program` as a Promela model for Spin.

The translation works on the Step CFGs of `modproof.spec.model` (never on the
AST) and is meant to have exactly the reference semantics of
`modproof.spec.semantics`, so that `spin -a` + `pan` is an independent third
opinion next to the explicit engine and the Z3 encoding.  docs/promela.md
describes the design; in short:

* Every thread is one `proctype`, started by `init` in one atomic step after the
  invariants were asserted on the initial state.  Every `Step` is one labelled
  `atomic { ... }` (label `S<id>`) whose first statement is the step's
  enabledness guard, so a blocked step does nothing, and whose body never blocks
  after the guard: Spin's interleaving points are modproof's steps.  The body
  ends in `goto S<successor>`, or `goto end_done` (a valid end state where the
  finished thread sits for ever; a thread blocked anywhere else is an invalid
  end state, i.e. `deadlock`).
* Every check is an `assert` on a line of its own, with a comment
  `/* CHECK: what */`; the line that `spin -t` names maps back to the check.
  `code-after-unload` is the first statement after the guard; then
  `use-after-unload` where the step touches storage that lives in a module
  (a primitive on it, a query of it that evaluation reaches, with C's short
  circuit), and inside `atomic` before each statement that touches
  (NOTE(touch)).
* A `service` thread is at a valid end state (label `end_S<id>`) at every step, as
  an idle worker is at its wait for work: neither is part of a deadlock.
* `atomic` blocks without `await` are translated statement by statement; blocks
  with `await` (enabled only when some path through them passes all its awaits)
  become one guarded option per path, with the path condition computed by
  symbolic execution over the state before the step.
* A path through an `atomic` block may run at most
  vocabulary.ATOMIC_LOOP_LIMIT loop iterations in one step; past it modproof
  says unknown, and so must Spin's answer: a block written statement by
  statement counts its iterations and asserts the limit with the pseudo-check
  `atomic-loop-limit` (vocabulary.ATOMIC_LIMIT_CHECK; a violation of it means
  unknown), and the paths of a block with `await` are refused
  (`PromelaUnsupported`) when one may run more (NOTE(atomic-loop-limit)).
* The liveness check `hang` is not carried (NOTE(hang) in generate.py): the
  model is for the safety checks (`CARRIED`), and a model whose only
  violation is a hang passes in Spin.
* `done` after `complete_all` (UINT_MAX) is stored as -1; comparisons that may
  see it are split on `done == -1` and decided with the mathematical value.

Promela's `int` is 32 bits; modproof's integers are mathematical.  Constants
that do not fit and `done(C)` of a saturable completion used as a number (not
compared) raise `PromelaUnsupported`; arithmetic that overflows at run time
wraps silently in Spin (docs/promela.md).

The modules, bottom up: `terms.py` (the term algebra, its simplifier and
emitter), `state.py` (the Promela variables of the program's state, its
expressions as terms, what each primitive checks and does), `paths.py` (the
paths through an atomic block with `await`), `generate.py` (the model).
"""
from modproof.exports.promela.generate import (
    CARRIED, CHECK_COMMENT, LOOP_LIMIT, check_of_line, program_to_promela,
)
from modproof.exports.promela.paths import MAX_PATHS, MAX_UNROLL
from modproof.exports.promela.terms import PromelaUnsupported, Term, emit, simplify

__all__ = ["CARRIED", "CHECK_COMMENT", "LOOP_LIMIT", "MAX_PATHS", "MAX_UNROLL", "PromelaUnsupported", "Term",
           "check_of_line", "emit", "program_to_promela", "simplify"]
