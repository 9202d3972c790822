"""Differential tests on random programs: every engine and reduction agrees.

The number of examples is MODPROOF_EXAMPLES (default 300, derandomized so CI is
stable); `MODPROOF_EXAMPLES=5000 pytest tests/test_differential.py` runs more.
A disagreement is a bug to find and fix, never an example to filter out.

Some examples cannot be compared: the plain search runs out of its state budget
(a counter that grows in a loop), or BMC runs out of time (MODPROOF_BMC_SECONDS,
on a loaded machine).  They are checked for what can be checked, and counted: a
test fails when fewer than MIN_COMPARED of its examples were compared, for then
it would pass while comparing next to nothing.
"""
from __future__ import annotations

import math
import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, event, given, seed, settings

from modproof.explicit import prove_explicit
from modproof.result import Proved, Unknown, Violated
from modproof.spec.lower import load_text
from modproof.witness import replay
from strategies import programs, programs_kthread, programs_memory, programs_v3

EXAMPLES = int(os.environ.get("MODPROOF_EXAMPLES", "300"))
# The version-3 programs (strategies.programs_v3) are bigger: a third as many.
EXAMPLES_V3 = max(1, EXAMPLES // 3)
BMC_SECONDS = float(os.environ.get("MODPROOF_BMC_SECONDS", "10"))
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# At least this fraction of the examples run must be compared.  Measured with the
# defaults (300 examples, 10 s): about 1.5 % run out of states, under 1 % of BMC
# runs out of time; 10 % leaves room for a loaded machine, not for a broken engine.
MIN_COMPARED = 0.9
PARTS = 3


def summary(r):
    if isinstance(r, Violated):
        return ("violated", r.check, len(r.trace.steps))
    return (r.verdict, None, None)


class Tally:
    """The examples a test ran, and why those it could not compare were not."""

    def __init__(self):
        self.ran = 0
        self.not_compared: Counter[str] = Counter()

    def skip(self, why: str) -> None:
        self.not_compared[why] += 1
        event(why)

    def assert_enough_compared(self) -> None:
        missed = sum(self.not_compared.values())
        allowed = max(1, math.floor((1 - MIN_COMPARED) * self.ran))   # one, in a tiny run
        assert self.ran > 0, "no example ran"
        assert missed <= allowed, (
            f"only {self.ran - missed} of {self.ran} examples were compared (at least "
            f"{MIN_COMPARED:.0%} must be): {dict(self.not_compared)}")


def reductions_agree(p, src: str, tally: Tally):
    """The explicit engine with and without its reductions agrees on program `p`:
    the verdict, the check, the shortest witness and the fewest steps to each cover.
    Returns the unreduced answer, or None when it ran out of states."""
    tally.ran += 1
    plain = prove_explicit(p, max_states=200_000)
    reduced = prove_explicit(p, max_states=200_000, reduce=True)
    if isinstance(plain, Unknown):
        # Rare (unbounded counters in loops): the plain search ran out of states.
        # Nothing to compare with, but what the reduced search claims must hold up.
        assert "state budget" in plain.reason, (plain.reason, src)
        tally.skip("plain search ran out of states")
        if isinstance(reduced, Violated):
            assert replay(p, reduced.trace).check == reduced.check
        return None
    assert summary(plain) == summary(reduced), src
    # The fewest steps to each cover, also under reduction (modproof.shortest).
    assert [(c.reached, c.step) for c in plain.covers] == \
        [(c.reached, c.step) for c in reduced.covers], src
    if isinstance(plain, Violated):
        assert replay(p, plain.trace).length == len(plain.trace.steps)
        assert replay(p, reduced.trace).check == plain.check
    return plain


def test_reductions_preserve_verdicts_and_shortest_witnesses():
    tally = Tally()

    @SETTINGS
    @given(programs())
    def example(src):
        reductions_agree(load_text(src, "random.mproof"), src, tally)

    example()
    tally.assert_enough_compared()


def bmc_agrees(p, src: str, tally: Tally) -> None:
    """Z3's BMC, to just past the explicit engine's depth, agrees with it on program
    `p`: the verdict, the check and the length of the shortest witness."""
    from modproof.encoder.bmc import prove_bmc
    tally.ran += 1
    ex = prove_explicit(p, max_states=200_000)
    bound = (ex.stats.depth or 0) + 2
    bm = prove_bmc(p, bound=bound, timeout=BMC_SECONDS)
    if isinstance(bm, Unknown):
        # A budget that ran out is an honest answer, never a disagreement; anything
        # else that made Z3 give up is a finding.
        assert any(w in bm.reason for w in ("timeout", "resource limit", "canceled")), (bm.reason, src)
        tally.skip("bmc ran out of time")
        return
    if isinstance(ex, Unknown):
        # The explicit search ran out of states: no verdict to compare with, but a
        # violation BMC claims must replay.
        assert "state budget" in ex.reason, (ex.reason, src)
        tally.skip("explicit search ran out of states")
        if isinstance(bm, Violated):
            assert replay(p, bm.trace).check == bm.check, src
        return
    if isinstance(ex, Violated):
        assert summary(bm) == summary(ex), src
        assert replay(p, bm.trace).length == len(ex.trace.steps)
    else:
        assert isinstance(bm, Proved), src


@pytest.mark.parametrize("part", range(PARTS))
def test_z3_bmc_agrees_with_the_explicit_engine(part):
    """In PARTS parts with seeds of their own (pytest-xdist spreads them over the
    cores): each reproducible, each on programs of its own."""
    tally = Tally()

    @seed(part)
    @settings(SETTINGS, max_examples=max(1, EXAMPLES // PARTS), derandomize=False)
    @given(programs())
    def example(src):
        bmc_agrees(load_text(src, "random.mproof"), src, tally)

    example()
    tally.assert_enough_compared()


# --------------------------------------------------------------------------- version 3
# The constructs of issue 17, part A (strategies.programs_v3): the reductions keep
# verdicts and shortest witnesses, and BMC agrees with the explicit engine, as above.

SETTINGS_V3 = settings(SETTINGS, max_examples=EXAMPLES_V3)


def test_v3_reductions_preserve_verdicts_and_shortest_witnesses():
    tally = Tally()
    seen: Counter[str] = Counter()

    @SETTINGS_V3
    @given(programs_v3())
    def example(src):
        plain = reductions_agree(load_text(src, "random_v3.mproof"), src, tally)
        if plain is not None:
            seen[summary(plain)[1] or plain.verdict] += 1

    example()
    tally.assert_enough_compared()
    # the programs are not all one answer: proofs and several checks are compared
    assert seen["proved"] > 0 and len(seen) >= 3, dict(seen)


def test_v3_z3_bmc_agrees_with_the_explicit_engine():
    tally = Tally()

    @SETTINGS_V3
    @given(programs_v3())
    def example(src):
        bmc_agrees(load_text(src, "random_v3.mproof"), src, tally)

    example()
    tally.assert_enough_compared()


# --------------------------------------------------------------------------- struct memory
# Issue 17, constructs 1 and 2 (strategies.programs_memory): kzalloc, kfree, fields,
# parameters and `self`, lowered to steps over hidden state: the reductions keep
# verdicts and shortest witnesses, and BMC agrees with the explicit engine.

SETTINGS_MEMORY = settings(SETTINGS, max_examples=max(1, EXAMPLES // 6))


def test_memory_reductions_preserve_verdicts_and_shortest_witnesses():
    tally = Tally()
    seen: Counter[str] = Counter()

    @SETTINGS_MEMORY
    @given(programs_memory())
    def example(src):
        plain = reductions_agree(load_text(src, "random_memory.mproof"), src, tally)
        if plain is not None:
            seen[summary(plain)[1] or plain.verdict] += 1

    example()
    tally.assert_enough_compared()
    # the programs are not all one answer: the memory checks come up, and proofs
    assert {"use-after-free", "null-deref", "proved"} <= set(seen), dict(seen)


def test_memory_z3_bmc_agrees_with_the_explicit_engine():
    tally = Tally()

    @SETTINGS_MEMORY
    @given(programs_memory())
    def example(src):
        bmc_agrees(load_text(src, "random_memory.mproof"), src, tally)

    example()
    tally.assert_enough_compared()

# --------------------------------------------------------------------------- kthreads
# Threads started at run time (strategies.programs_kthread, docs/language.md
# "Threads started at run time"): lowered to steps over hidden vars, so the
# reductions and BMC must agree with the plain explicit engine on them too.
# Small programs: a fifteenth as many examples as the v1 tests (CI time).

SETTINGS_KTHREAD = settings(SETTINGS, max_examples=max(1, EXAMPLES // 15))


def test_kthread_reductions_and_bmc_agree_with_the_explicit_engine():
    tally = Tally()
    seen: Counter[str] = Counter()

    @SETTINGS_KTHREAD
    @given(programs_kthread())
    def example(src):
        p = load_text(src, "random_kthread.mproof")
        plain = reductions_agree(p, src, tally)
        if plain is not None:
            seen[summary(plain)[1] or plain.verdict] += 1
            bmc_agrees(p, src, tally)

    example()
    tally.assert_enough_compared()
    # the programs are not all one answer: a proof, a use-after-free and others
    assert seen["proved"] > 0 and seen["use-after-free"] > 0 and len(seen) >= 3, dict(seen)
