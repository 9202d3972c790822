"""Differential tests on random version-2 programs (tests/strategies.py: programs_v2).

The programs use every primitive and v2 construct, storage `in MOD` touched
from plain steps and from inside `atomic` blocks (NOTE(touch)), loops and
workers that can run for ever (the hang check, NOTE(hang)), and are proved
with and without `--deferred-release`.  The explicit engine, with and without
its reductions, and the Z3 engine must agree on the verdict, the check and the
length of the shortest witness, and every witness must replay.  A BMC run cut
short by its time budget compares nothing, so the test also insists that most
examples were compared.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

from modproof.encoder.bmc import Budget, OutOfBudget, prove_bmc
from modproof.encoder.lasso import decide_hang
from modproof.explicit import prove_explicit
from modproof.result import Unknown, Violated
from modproof.spec.lower import load_text
from modproof.witness import replay
from strategies import programs_v2

EXAMPLES = int(os.environ.get("MODPROOF_EXAMPLES", "300")) // 3
BMC_SECONDS = float(os.environ.get("MODPROOF_BMC_SECONDS", "10"))
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
COUNTS = {"examples": 0, "compared": 0, "hang examples": 0, "hang compared": 0}


def summary(r):
    if isinstance(r, Violated):
        return ("violated", r.check, len(r.trace.steps))
    return (r.verdict, None, None)


def agree(src: str, deferred: bool) -> None:
    p = load_text(src, "random.mproof", deferred_release=deferred)
    COUNTS["examples"] += 1
    plain = prove_explicit(p, max_states=100_000)
    if isinstance(plain, Unknown):
        return      # an unbounded counter: the state budget is the honest answer
    reduced = prove_explicit(p, max_states=100_000, reduce=True)
    assert summary(reduced) == summary(plain), src
    if isinstance(plain, Violated):
        assert replay(p, plain.trace).length == len(plain.trace.steps)
        assert replay(p, reduced.trace).check == plain.check
    hang = isinstance(plain, Violated) and plain.check == "hang"
    bm = prove_bmc(p, bound=(plain.stats.depth or 0) + 2, timeout=BMC_SECONDS)
    if isinstance(bm, Unknown):
        assert "timeout" in bm.reason or "resource" in bm.reason, (bm.reason, src)
        return
    if isinstance(plain, Violated) and not hang:
        assert summary(bm) == summary(plain), src
        assert replay(p, bm.trace).length == len(plain.trace.steps)
    else:
        assert bm.verdict == "proved", src     # BMC checks safety: none violated
    COUNTS["compared"] += 1
    if isinstance(plain, Violated) and not hang:
        return
    # NOTE(hang): the Z3 engine's liveness-to-safety search agrees with the explicit
    # engine's fair cycles: it finds a lasso exactly when one exists (within its
    # bound), never longer than the explicit engine's, and says none otherwise.
    COUNTS["hang examples"] += 1
    try:
        outcome, trace, _ = decide_hang(p, 25, Budget(BMC_SECONDS, None))
    except OutOfBudget:
        return
    COUNTS["hang compared"] += 1
    if hang:
        assert outcome in ("hang", "open"), (outcome, src)
        if trace is not None:
            assert replay(p, trace).loop == trace.loop
            assert len(trace.steps) <= len(plain.trace.steps), src
    else:
        assert outcome != "hang", src


@SETTINGS
@given(programs_v2())
def test_engines_agree_on_v2_programs(src):
    agree(src, deferred=False)


@SETTINGS
@given(programs_v2())
def test_engines_agree_on_v2_programs_with_deferred_release(src):
    agree(src, deferred=True)


def test_most_examples_were_compared():
    """Runs after the two above (pytest keeps the file's order)."""
    if COUNTS["examples"] == 0:
        pytest.skip("run with the tests above")
    assert COUNTS["compared"] >= 0.8 * COUNTS["examples"], COUNTS
    # The liveness-to-safety search is slower: most, not all, are decided in time.
    assert COUNTS["hang compared"] >= 0.5 * COUNTS["hang examples"], COUNTS
