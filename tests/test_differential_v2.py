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
from hypothesis import HealthCheck, given, seed, settings

from modproof.encoder.bmc import Budget, OutOfBudget, prove_bmc
from modproof.encoder.lasso import decide_hang
from modproof.explicit import prove_explicit
from modproof.result import Unknown, Violated
from modproof.spec.lower import load_text
from modproof.witness import replay
from strategies import programs_v2

EXAMPLES = int(os.environ.get("MODPROOF_EXAMPLES", "300")) // 6
BMC_SECONDS = float(os.environ.get("MODPROOF_BMC_SECONDS", "10"))
# Each test runs in PARTS parts with seeds of their own (pytest-xdist spreads them
# over the cores): every part is reproducible, and the parts see different programs.
PARTS = 3
SETTINGS = settings(max_examples=max(1, EXAMPLES // PARTS), derandomize=False, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


def summary(r):
    if isinstance(r, Violated):
        return ("violated", r.check, len(r.trace.steps))
    return (r.verdict, None, None)


def agree(src: str, deferred: bool, counts: dict[str, int]) -> None:
    p = load_text(src, "random.mproof", deferred_release=deferred)
    counts["examples"] += 1
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
    counts["compared"] += 1
    if isinstance(plain, Violated) and not hang:
        return
    # NOTE(hang): the Z3 engine's liveness-to-safety search agrees with the explicit
    # engine's fair cycles: it finds a lasso exactly when one exists (within its
    # bound), never longer than the explicit engine's, and says none otherwise.
    counts["hang examples"] += 1
    try:
        outcome, trace, _ = decide_hang(p, 25, Budget(BMC_SECONDS, None))
    except OutOfBudget:
        return
    counts["hang compared"] += 1
    if hang:
        assert outcome in ("hang", "open"), (outcome, src)
        if trace is not None:
            assert replay(p, trace).loop == trace.loop
            assert len(trace.steps) <= len(plain.trace.steps), src
    else:
        assert outcome != "hang", src


def engines_agree(deferred: bool, part: int) -> None:
    """Every example agrees; and most were compared: a BMC run cut short by its time
    budget compares nothing."""
    counts = {"examples": 0, "compared": 0, "hang examples": 0, "hang compared": 0}

    @seed(part)
    @SETTINGS
    @given(programs_v2())
    def each(src):
        agree(src, deferred, counts)

    each()
    # Measured with the defaults (25 examples a part, 10 s): as few as 17 compared in a part
    # on a loaded machine, the rest BMC runs out of time (deep random programs) or an
    # unbounded counter; 60 % leaves room for load, not for a broken engine.
    assert counts["compared"] >= 0.6 * counts["examples"], counts
    # The liveness-to-safety search is slower: most, not all, are decided in time.
    assert counts["hang compared"] >= 0.5 * counts["hang examples"], counts


@pytest.mark.parametrize("part", range(PARTS))
def test_engines_agree_on_v2_programs(part):
    engines_agree(deferred=False, part=part)


@pytest.mark.parametrize("part", range(PARTS))
def test_engines_agree_on_v2_programs_with_deferred_release(part):
    engines_agree(deferred=True, part=part)
