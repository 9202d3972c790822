"""Differential tests on random programs: every engine and reduction agrees.

The number of examples is MODPROOF_EXAMPLES (default 300, derandomized so CI is
stable); `MODPROOF_EXAMPLES=5000 pytest tests/test_differential.py` runs more.
A disagreement is a bug to find and fix, never an example to filter out.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, event, given, settings

from modproof.explicit import prove_explicit
from modproof.result import Proved, Unknown, Violated
from modproof.spec.lower import load_text
from modproof.witness import replay
from strategies import programs

EXAMPLES = int(os.environ.get("MODPROOF_EXAMPLES", "300"))
BMC_SECONDS = float(os.environ.get("MODPROOF_BMC_SECONDS", "10"))
SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def summary(r):
    if isinstance(r, Violated):
        return ("violated", r.check, len(r.trace.steps))
    return (r.verdict, None, None)


@SETTINGS
@given(programs())
def test_reductions_preserve_verdicts_and_shortest_witnesses(src):
    p = load_text(src, "random.mproof")
    plain = prove_explicit(p, max_states=200_000)
    reduced = prove_explicit(p, max_states=200_000, reduce=True)
    if isinstance(plain, Unknown):
        # Rare (unbounded counters in loops): the plain search ran out of states.
        # Nothing to compare with, but what the reduced search claims must hold up.
        assert "state budget" in plain.reason, (plain.reason, src)
        event("plain search ran out of states")
        if isinstance(reduced, Violated):
            assert replay(p, reduced.trace).check == reduced.check
        return
    assert summary(plain) == summary(reduced), src
    # The fewest steps to each cover, also under reduction (modproof.shortest).
    assert [(c.reached, c.step) for c in plain.covers] == \
        [(c.reached, c.step) for c in reduced.covers], src
    if isinstance(plain, Violated):
        assert replay(p, plain.trace).length == len(plain.trace.steps)
        assert replay(p, reduced.trace).check == plain.check


@SETTINGS
@given(programs())
def test_z3_bmc_agrees_with_the_explicit_engine(src):
    from modproof.encoder.bmc import prove_bmc
    p = load_text(src, "random.mproof")
    ex = prove_explicit(p, max_states=200_000)
    bound = (ex.stats.depth or 0) + 2
    bm = prove_bmc(p, bound=bound, timeout=BMC_SECONDS)
    if isinstance(bm, Unknown):
        # A budget that ran out is an honest answer, never a disagreement; anything
        # else that made Z3 give up is a finding.
        assert any(w in bm.reason for w in ("timeout", "resource limit", "canceled")), (bm.reason, src)
        event("bmc ran out of time")
        return
    if isinstance(ex, Violated):
        assert summary(bm) == summary(ex), src
        w = replay(p, bm.trace)
        assert w.length == len(ex.trace.steps)
    else:
        assert isinstance(bm, Proved), src
