"""The registry of engines, and the kind every `Unknown` carries.

Each place that makes an `Unknown` says why in its `kind`; nobody reads the
reason (which is for people) to find out.
"""
from __future__ import annotations

import pytest

from modproof.encoder.bmc import prove_bmc
from modproof.encoder.kinduction import prove_kinduction
from modproof.engines import ENGINES, NAMES, run_engine
from modproof.explicit import prove_explicit
from modproof.options import Options
from modproof.result import Unknown, UnknownKind
from modproof.spec.lower import load_text

COUNTER = "var x = 0\nthread t { while true { x = x + 1 } }\ninvariant pos: x >= 0\n"
ATOMIC = "var x = 0\nthread t { atomic { while x >= 0 { x = x + 1 } } }\n"
NESTED = ("var a = 0\nthread t { atomic { while a < 1 { while a < 1 { while a < 1 "
          "{ a = a + 1 } } } } }\n")


def kind(r) -> UnknownKind:
    assert isinstance(r, Unknown), r
    assert isinstance(r.kind, UnknownKind)
    return r.kind


def test_every_engine_is_named_once_with_what_it_reads():
    assert NAMES == tuple(ENGINES) == ("auto", "bmc", "explicit", "all-sizes")
    fields = set(Options.__dataclass_fields__) - {"engine"}
    for name, e in ENGINES.items():
        assert e.name == name and e.description and "\n" not in e.description
        assert set(e.options) <= fields, name
        assert all(m in ENGINES and not ENGINES[m].members for m in e.members)


STAR = "module m refs 1\nthread t[*] { if module_refs(m) > 0 { module_put(m) } }\n"


@pytest.mark.parametrize("engine", ["explicit", "bmc", "auto", "all-sizes"])
def test_a_template_runs_the_all_sizes_engine_whatever_the_name(engine):
    """NOTE(template-engine): the engines of one size never answer for thread NAME[*]."""
    r = run_engine(load_text(STAR), Options(engine=engine))
    assert r.verdict == "violated" and r.stats.engine == "all-sizes" and r.sizes == (("t", 2),)
    safe = run_engine(load_text(STAR.replace("refs 1", "refs 1\nvar x = 0").replace(
        "if module_refs(m) > 0 { module_put(m) }", "x = x + 1")), Options(engine=engine))
    assert safe.verdict == "proved" and safe.scope == "all-sizes" and safe.certified


def test_the_all_sizes_engine_runs_the_portfolio_without_a_template():
    r = run_engine(load_text("var x = 0\nthread t { x = 1 }\n"), Options(engine="all-sizes"))
    assert r.verdict == "proved" and r.scope == "all-executions"


def test_all_sizes_unknown_kinds():
    refused = "var v = 0\nthread w[*] { local x = 0; v = v + 1; x = v }\n"
    assert kind(run_engine(load_text(refused), Options())) is UnknownKind.UNSUPPORTED
    loops = "var stop = false\nthread w[*] { while not stop { } }\nthread boss { stop = true }\n"
    assert kind(run_engine(load_text(loops), Options())) is UnknownKind.UNDECIDED


def test_an_unknown_engine_name_is_a_value_error():
    with pytest.raises(ValueError, match="unknown engine 'spin'"):
        run_engine(load_text(COUNTER), Options(engine="spin"))


@pytest.mark.parametrize("engine", ["explicit", "bmc", "auto"])
def test_the_registry_runs_each_engine(engine):
    r = run_engine(load_text("var x = 0\nthread t { x = 1 }\ninvariant i: x <= 1\n"),
                   Options(engine=engine))
    assert r.verdict == "proved"


def test_explicit_kinds():
    p = load_text(COUNTER)
    assert kind(prove_explicit(p, max_states=20)) is UnknownKind.STATE_BUDGET
    assert kind(prove_explicit(p, max_states=20, reduce=True)) is UnknownKind.STATE_BUDGET
    assert kind(prove_explicit(p, timeout=1e-9)) is UnknownKind.TIMEOUT
    for reduce in (False, True):
        assert kind(prove_explicit(load_text(ATOMIC), reduce=reduce)) is UnknownKind.ATOMIC_LIMIT


def test_z3_kinds():
    p = load_text(COUNTER)
    assert kind(prove_bmc(p, bound=10, timeout=1e-9)) is UnknownKind.TIMEOUT
    assert kind(prove_kinduction(p, max_k=10, timeout=1e-9)) is UnknownKind.TIMEOUT
    assert kind(prove_bmc(p, bound=40, rlimit=100)) is UnknownKind.RESOURCE_LIMIT
    assert kind(prove_bmc(p, bound=0)) is UnknownKind.BOUND
    assert kind(run_engine(p, Options(engine="bmc", bound=0))) is UnknownKind.BOUND
    evens = "var x = 0\nthread t { while true { x = x + 2 } }\ninvariant odd: x != 1\n"
    assert kind(prove_kinduction(load_text(evens), max_k=3)) is UnknownKind.BOUND
    src = "var n = 0\nthread t { atomic { while n < 20 { n = n + 1 } } }\n"
    assert kind(prove_bmc(load_text(src), bound=10, atomic_unroll=8)) is UnknownKind.ATOMIC_LIMIT
    assert kind(prove_kinduction(load_text(src), max_k=10, atomic_unroll=8)) \
        is UnknownKind.ATOMIC_LIMIT
    for r in (prove_bmc(load_text(NESTED), bound=5), prove_kinduction(load_text(NESTED), max_k=5)):
        assert kind(r) is UnknownKind.ENCODING_LIMIT


def test_the_portfolio_passes_the_kind_on():
    # The first try meets the loop, and bmc's unrolling does too.
    r = run_engine(load_text(ATOMIC), Options())
    assert kind(r) in (UnknownKind.ATOMIC_LIMIT, UnknownKind.ENCODING_LIMIT)
    assert kind(run_engine(load_text(COUNTER), Options(timeout=0.5))) is UnknownKind.TIMEOUT
