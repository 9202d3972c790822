"""The default portfolio: which engine's answer wins.

The engines are replaced by stand-ins with fixed answers and delays (the
portfolio forks, so the stand-ins reach the engine processes), which makes the
races deterministic enough to test: the delays are far apart.  The first try
(NOTE(first-try)) is the first call of the first member, counted across the
processes.
"""
from __future__ import annotations

import multiprocessing
import time

import pytest

from modproof.engines import ENGINES, run_engine
from modproof.portfolio import prove_portfolio
from modproof.prove import Options
from modproof.result import Proved, RawTrace, Stats, Unknown, UnknownKind, Violated
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
    return Unknown("stand-in gave up", stats, kind=UnknownKind.SOLVER)


def stand_ins(first, plan):
    """The portfolio's members: for the first try `first`, in the race what `plan`
    says, after its delay."""
    calls = multiprocessing.Value("i", 0)   # shared with the forked engine processes

    def member(name):
        def run(program, opts):
            assert opts.engine == name
            if name == "explicit":
                with calls.get_lock():
                    calls.value += 1
                    first_try = calls.value == 1
                if first_try:
                    return first
            kind, delay = plan[name]
            time.sleep(delay)
            if isinstance(kind, Exception):
                raise kind
            return answer(kind, name) if isinstance(kind, str) else kind
        return run
    return {"explicit": member("explicit"), "bmc": member("bmc")}


@pytest.fixture
def engines():
    """Set what each engine answers and after how many seconds; the first try gives up."""
    plan: dict[str, tuple[object, float]] = {}
    gave_up = Unknown("state budget exhausted: more than 50000 states (raise --max-states)",
                      Stats(engine="explicit", method="stand-in"), kind=UnknownKind.STATE_BUDGET)
    return plan, stand_ins(gave_up, plan)


def test_a_bounded_proof_waits_for_the_engine_still_running(engines):
    plan, members = engines
    plan.update(bmc=("bounded", 0.0), explicit=("violated", 1.0))
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Violated) and r.stats.engine == "explicit"


def test_a_bounded_proof_waits_for_a_proof_for_all_executions(engines):
    plan, members = engines
    plan.update(bmc=("bounded", 0.0), explicit=("all", 1.0))
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Proved) and r.scope == "all-executions"


def test_a_bounded_proof_is_the_answer_when_nothing_decides(engines):
    plan, members = engines
    plan.update(bmc=("bounded", 0.0), explicit=("unknown", 0.5))
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Proved) and r.scope == "bounded" and r.bound == 40
    assert "answered first in the portfolio" in r.stats.method


def test_a_violation_wins_at_once(engines):
    plan, members = engines
    plan.update(bmc=("violated", 0.0), explicit=("all", 30.0))
    start = time.monotonic()
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Violated) and r.stats.engine == "bmc"
    assert time.monotonic() - start < 20   # the slow engine was stopped, not awaited


def test_the_time_limit_leaves_the_bounded_proof(engines):
    plan, members = engines
    plan.update(bmc=("bounded", 0.0), explicit=("violated", 30.0))
    r = prove_portfolio(PROGRAM, Options(timeout=2.0), members)
    assert isinstance(r, Proved) and r.scope == "bounded"


def test_unknown_when_every_engine_gives_up(engines):
    plan, members = engines
    plan.update(bmc=("unknown", 0.0), explicit=("unknown", 0.0))
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Unknown) and "stand-in gave up" in r.reason
    assert r.kind is UnknownKind.SOLVER


def test_the_kind_of_a_portfolio_unknown_is_that_of_its_first_reason():
    atomic = Unknown("an atomic loop", Stats(engine="explicit", method="stand-in"),
                     kind=UnknownKind.ATOMIC_LIMIT)
    plan = {"explicit": (answer("violated", "explicit"), 0.0),
            "bmc": (Unknown("no bound", Stats(engine="bmc", method="stand-in"),
                            kind=UnknownKind.BOUND), 0.0)}
    # An atomic loop would stop the explicit engine again: only bmc races.
    r = prove_portfolio(PROGRAM, Options(), stand_ins(atomic, plan))
    assert isinstance(r, Unknown) and r.reason == "bmc: no bound; explicit: an atomic loop"
    assert r.kind is UnknownKind.BOUND
    # The first try's budget of states was the user's: nothing to race it for either.
    budget = Unknown("state budget", Stats(engine="explicit", method="stand-in"),
                     kind=UnknownKind.STATE_BUDGET)
    r = prove_portfolio(PROGRAM, Options(max_states=10), stand_ins(budget, plan))
    assert r.kind is UnknownKind.BOUND and r.reason == "bmc: no bound; explicit: state budget"


def test_engines_that_fail_make_an_unknown_that_says_so(engines):
    plan, members = engines
    plan.update(bmc=(RuntimeError("boom"), 0.0), explicit=(RuntimeError("bang"), 0.0))
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Unknown) and r.kind is UnknownKind.ENGINE_FAILED
    assert r.reason == ("bmc: internal error: RuntimeError: boom; "
                        "explicit: internal error: RuntimeError: bang")


def test_a_portfolio_out_of_time_is_a_timeout(engines):
    plan, members = engines
    plan.update(bmc=("unknown", 0.0), explicit=("violated", 30.0))
    r = prove_portfolio(PROGRAM, Options(timeout=1.0), members)
    assert isinstance(r, Unknown) and r.kind is UnknownKind.TIMEOUT
    assert r.reason.startswith("timeout after 1 s; bmc: stand-in gave up")


def test_a_violation_without_its_shortest_witness_is_raced_for_one():
    """The first budget found a violation but not a shortest witness: the whole
    budget is spent on it (the explicit engine races again), not the short one."""
    plan = {"explicit": (answer("violated", "explicit"), 0.0), "bmc": ("unknown", 0.0)}
    short_cut = Violated(RawTrace((), "invariant"), Stats(engine="explicit", method="first"),
                         shortest=False)
    members = stand_ins(short_cut, plan)
    r = prove_portfolio(PROGRAM, Options(), members)
    assert isinstance(r, Violated) and r.shortest and r.stats.method.startswith("stand-in explicit")
    # When the race brings nothing conclusive, the first answer (a violation) stands.
    plan["explicit"] = ("unknown", 0.0)
    r = prove_portfolio(PROGRAM, Options(), stand_ins(short_cut, plan))
    assert isinstance(r, Violated) and r.stats.method.startswith("first")


@pytest.mark.parametrize("first_states", [3, 50_000])
def test_the_answer_does_not_depend_on_the_first_budget(monkeypatch, first_states):
    """Whether the explicit engine decides in-process or the engines race, a real
    model gets the same verdict, check and witness length; in-process only a budget
    of states decides, never the time the machine takes."""
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "bench"))
    from dm_family import dm_model
    import modproof.portfolio
    monkeypatch.setattr(modproof.portfolio, "FIRST_STATES", first_states)
    r = run_engine(load_text(dm_model(2, False), "dm2.mproof"), Options())
    assert isinstance(r, Violated) and r.check == "code-after-unload"
    assert len(r.trace.steps) == 14 and r.shortest
    safe = run_engine(load_text(dm_model(2, True), "dm2.mproof"), Options())
    assert isinstance(safe, Proved) and [c.step for c in safe.covers] == [11]


def test_the_portfolio_is_an_entry_of_the_registry():
    auto = ENGINES["auto"]
    assert auto.members == ("explicit", "bmc")   # the explicit engine is tried first
    assert set(auto.options) == {o for m in auto.members for o in ENGINES[m].options}
    assert Options().engine == "auto"
