"""The default portfolio: which engine's answer wins.

The engines are replaced by stand-ins with fixed answers and delays (the
portfolio forks, so the stand-ins reach the engine processes), which makes the
races deterministic enough to test: the delays are far apart.
"""
from __future__ import annotations

import time

import pytest

import modproof.explicit
import modproof.prove
from modproof.portfolio import prove_portfolio
from modproof.prove import Options
from modproof.result import Proved, RawTrace, Stats, Unknown, Violated
from modproof.spec.lower import load_text

PROGRAM = load_text("var x = 0\nthread t { x = 1 }\n")


def answer(kind: str, engine: str):
    stats = Stats(engine=engine, method=f"stand-in {engine}")
    if kind == "violated":
        return Violated(RawTrace((), "invariant"), stats)
    if kind == "all":
        return Proved(scope="all-executions", bound=3, stats=stats)
    if kind == "bounded":
        return Proved(scope="bounded", bound=40, stats=stats)
    return Unknown("stand-in gave up", stats)


@pytest.fixture
def engines(monkeypatch):
    """Set what each engine answers and after how many seconds."""
    plan: dict[str, tuple[str, float]] = {}

    def first_slice(program, max_states, timeout, reduce):
        return Unknown("timeout after 0.5 s with 10 states explored and more to go",
                       Stats(engine="explicit", method="stand-in"))

    def run_engine(program, opts):
        kind, delay = plan[opts.engine]
        time.sleep(delay)
        return answer(kind, opts.engine)

    monkeypatch.setattr(modproof.explicit, "prove_explicit", first_slice)
    monkeypatch.setattr(modproof.prove, "run_engine", run_engine)
    return plan


def test_a_bounded_proof_waits_for_the_engine_still_running(engines):
    engines.update(bmc=("bounded", 0.0), explicit=("violated", 1.0))
    r = prove_portfolio(PROGRAM, Options())
    assert isinstance(r, Violated) and r.stats.engine == "explicit"


def test_a_bounded_proof_waits_for_a_proof_for_all_executions(engines):
    engines.update(bmc=("bounded", 0.0), explicit=("all", 1.0))
    r = prove_portfolio(PROGRAM, Options())
    assert isinstance(r, Proved) and r.scope == "all-executions"


def test_a_bounded_proof_is_the_answer_when_nothing_decides(engines):
    engines.update(bmc=("bounded", 0.0), explicit=("unknown", 0.5))
    r = prove_portfolio(PROGRAM, Options())
    assert isinstance(r, Proved) and r.scope == "bounded" and r.bound == 40
    assert "answered first in the portfolio" in r.stats.method


def test_a_violation_wins_at_once(engines):
    engines.update(bmc=("violated", 0.0), explicit=("all", 30.0))
    start = time.monotonic()
    r = prove_portfolio(PROGRAM, Options())
    assert isinstance(r, Violated) and r.stats.engine == "bmc"
    assert time.monotonic() - start < 20   # the slow engine was stopped, not awaited


def test_the_time_limit_leaves_the_bounded_proof(engines):
    engines.update(bmc=("bounded", 0.0), explicit=("violated", 30.0))
    r = prove_portfolio(PROGRAM, Options(timeout=2.0))
    assert isinstance(r, Proved) and r.scope == "bounded"


def test_unknown_when_every_engine_gives_up(engines):
    engines.update(bmc=("unknown", 0.0), explicit=("unknown", 0.0))
    r = prove_portfolio(PROGRAM, Options())
    assert isinstance(r, Unknown) and "stand-in gave up" in r.reason
