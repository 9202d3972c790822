"""Small programs with their verdicts, checked on every engine: the harness the
version-3 test files share (test_v3, test_v3_memory, test_v3_ctx, test_v3_kthread).

A case is (source, verdict, check), written out by hand from docs/language.md.
The explicit engine (reduced, and plainly) must give it; a violation replays on
the reference semantics and Z3's BMC finds one of the same length (both are
shortest); a proof holds for BMC past the explicit engine's depth.  Spin, on
the exported Promela, must agree too (test_spin.agree)."""
from __future__ import annotations

from typing import Optional

from modproof.encoder.bmc import prove_bmc
from modproof.exports.promela import program_to_promela
from modproof.explicit import prove_explicit
from modproof.result import Proved, Violated
from modproof.spec.lower import load_text
from modproof.witness import replay
from test_spin import agree, need_tools, run_all, run_spin


def verdict_of(r) -> tuple:
    return (r.verdict, r.check if isinstance(r, Violated) else None)


def engines_agree(name: str, case: tuple, plain: bool = True, bmc_cap: Optional[int] = None,
                  covers_reached: bool = False) -> None:
    """The explicit engine (and, with `plain`, without its reductions) and BMC give
    `case`'s verdict; `bmc_cap` bounds BMC's depth for a proof (a handler that fires
    for ever keeps every depth reachable); a hang is k-induction's (a lasso)."""
    src, verdict, check = case
    p = load_text(src, f"{name}.mproof")
    ex = prove_explicit(p)
    assert verdict_of(ex) == (verdict, check)
    deepest = ex
    if plain:
        deepest = prove_explicit(p, reduce=False)
        assert verdict_of(deepest) == (verdict, check)
    if check == "hang":
        from modproof.encoder.kinduction import prove_kinduction
        assert verdict_of(prove_kinduction(p)) == (verdict, check)
    elif isinstance(ex, Violated):
        assert replay(p, ex.trace).check == check
        bm = prove_bmc(p, bound=len(ex.trace.steps) + 1)
        assert verdict_of(bm) == (verdict, check)
        assert len(bm.trace.steps) == len(ex.trace.steps)     # both shortest
    else:
        if covers_reached:
            assert all(c.reached for c in ex.covers)
        # every execution is shorter than the explicit engine's depth: BMC past it
        # covers them all (a loop the hang check cannot bound keeps k-induction short)
        bound = deepest.stats.depth + 2
        bm = prove_bmc(p, bound=bound if bmc_cap is None else min(bound, bmc_cap))
        assert isinstance(bm, Proved), bm


def spin_runs(cases: dict, names) -> dict:
    """Spin's verdict on each named case, the pans built in parallel."""
    need_tools()
    return run_all({k: program_to_promela(load_text(cases[k][0], f"{k}.mproof")) for k in names})


def spin_agrees(name: str, case: tuple, runs: dict) -> None:
    src, verdict, check = case
    p = load_text(src, f"{name}.mproof")
    assert agree(p, runs[name],
                 lambda c: run_spin(program_to_promela(p, only=c), only=c)) == (verdict, check)
