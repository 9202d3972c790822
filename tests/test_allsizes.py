"""`thread NAME[*]`: the language, the counter abstraction, and the answer for every size.

The answers for every K are pinned on hand-derived models (tests/allsizes/),
and compared with the explicit engine at fixed K = 1..6 on random programs
with one thread made `[*]` (tests/strategies.py): a proof for every K while
some K <= 6 is violated fails, and so does a violation whose smallest K is not
the first K the explicit engine finds violated.  tests/tools/star_every_thread.py
does the same for every thread of every .mproof file in proofs/ and tests/; a
sample of it runs here.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies import programs, programs_v2
from modproof.allsizes import prove_all_sizes, size_vectors
from modproof.encoder.counters import certify
from modproof.explicit import counters as C
from modproof.explicit import prove_explicit
from modproof.grammar.parser import parse
from modproof.result import Proved, Unknown, Violated
from modproof.spec.lower import load, load_text
from modproof.spec.printer import to_source
from modproof.spec.sizes import describe, instantiate
from modproof.witness import replay

HERE = Path(__file__).parent
MODELS = HERE / "allsizes"
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "tools"))

# --------------------------------------------------------------------------- the language


def test_star_parses_prints_and_lowers_to_a_template():
    text = "thread reader[*] in core service {\n    return\n}\n"
    spec = parse(text, "t.mproof")
    (d,) = spec.decls
    assert d.unbounded and d.count is None and d.service
    assert to_source(spec) == "thread reader[*] service {\n    return\n}\n" or \
        to_source(spec) == "thread reader[*] in core service {\n    return\n}\n"
    p = load_text("thread a[*] { return }\nthread b { return }\nthread c[2] { return }\n")
    assert p.unbounded == ("a",)
    assert [t.name for t in p.threads] == ["a[0]", "b", "c[0]", "c[1]"]
    q = instantiate(p, {"a": 3})
    assert [t.name for t in q.threads] == ["a[0]", "a[1]", "a[2]", "b", "c[0]", "c[1]"]
    assert q.unbounded == () and q.threads[2].steps == p.threads[0].steps
    with pytest.raises(KeyError):
        instantiate(p, {})
    with pytest.raises(ValueError):
        instantiate(p, {"a": 0})


def test_size_vectors_fewest_copies_first():
    assert list(size_vectors(("a",), 3)) == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert list(size_vectors(("a", "b"), 4)) == [
        {"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 1},
        {"a": 1, "b": 3}, {"a": 2, "b": 2}, {"a": 3, "b": 1}]
    assert describe({"caller": 3}) == "3 caller threads"
    assert describe({"a": 1, "b": 2}) == "1 a thread and 2 b threads"


# --------------------------------------------------------------------------- Lin


def test_lin_answers_only_what_every_count_answers():
    dom = C.Domain(2, {0: "n"})
    n = C.Lin.of(1, {0: 1}, dom)          # 1 + n, n >= 2: at least 3
    assert (n > 2) is True and (n == 1) is False and (n != 0) is True
    assert (n - n) == 0 and isinstance(n - n, int)
    with pytest.raises(C.Undetermined) as e:
        n == 5                             # n = 4 says yes, n = 2 says no
    assert e.value.need == 5
    with pytest.raises(C.Undetermined) as e:
        n < 4
    assert e.value.need == 3
    two = C.Lin.of(0, {0: 2}, dom)         # 2n is even: never 5
    assert (two == 5) is False
    with pytest.raises(C.Undetermined) as e:
        C.Lin.of(0, {0: 1}, dom) == 4294967295   # saturation needs that many copies
    assert e.value.need is None
    with pytest.raises(TypeError):
        bool(n)


# --------------------------------------------------------------------------- pinned models

# file -> (verdict, check, smallest sizes, covers reached: name -> sizes)
PINNED = {
    "dm_builtin.mproof": ("proved", None, None, {"dm_unloaded": {"reader": 1}}),
    "dm_in_module.mproof": ("violated", "code-after-unload", {"reader": 1}, None),
    "10_lookup_final_put_bug.mproof": ("violated", "get-after-release", {"lookup": 1}, None),
    "10_lookup_final_put_fixed.mproof": ("proved", None, None, {"lookup_won": {"lookup": 1}}),
    "09_active_refs_drain_bug.mproof": ("violated", "code-after-unload", {"reader": 1}, None),
    "09_active_refs_drain_fixed.mproof": ("proved", None, None,
                                          {"unloaded": {"reader": 1},
                                           "read_then_unloaded": {"reader": 1}}),
    "guard_two.mproof": ("violated", "module-refcount-underflow", {"caller": 2}, None),
    "guard_three.mproof": ("violated", "module-refcount-underflow", {"caller": 3}, None),
    "kthread_exit.mproof": ("violated", "code-after-unload", {"heavy_init": 2}, None),
    "admins_unload.mproof": ("proved", None, None, {"unloaded": {"admin": 1},
                                                    "work_ran_then_unload": {"admin": 1}}),
}


def test_every_pinned_model_is_listed():
    assert {p.name for p in MODELS.glob("*.mproof")} == set(PINNED)


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_models(name):
    verdict, check, sizes, covers = PINNED[name]
    p = load(str(MODELS / name))
    r = prove_all_sizes(p, timeout=120)
    assert r.result.verdict == verdict, getattr(r.result, "reason", "")
    if verdict == "proved":
        assert r.result.scope == "all-sizes" and r.certified
        assert {cv.name: cv.sizes for cv in r.covers if cv.reached} == covers
        return
    assert r.result.check == check and r.sizes == sizes and r.smallest
    assert r.result.witness is not None and r.instance is not None
    # the witness is a real execution of the program with that many copies, shortest there
    exp = prove_explicit(instantiate(p, sizes), reduce=False)
    assert isinstance(exp, Violated) and exp.check == check
    assert len(r.result.trace.steps) == len(exp.trace.steps)
    replay(instantiate(p, sizes), r.result.trace)
    for k in range(1, sizes[p.unbounded[0]]):
        assert isinstance(prove_explicit(instantiate(p, {p.unbounded[0]: k}), reduce=True), Proved)


def test_the_certificate_refutes_an_invariant_with_a_state_missing():
    p = load(str(MODELS / "dm_builtin.mproof"))
    ex = C.explore(p, 2)
    states = list(ex.states)
    lay = C.Layout(p)
    assert certify(lay, states, 2, edges=ex.edges).checked
    for drop in (0, len(states) // 3, len(states) // 2, len(states) - 1):
        gone = states[drop]
        cert = certify(lay, states[:drop] + states[drop + 1:], 2,
                       edges=[e for e in ex.edges if e[1] != gone])
        assert not cert.checked and "refutes" in cert.reason


def test_an_abstract_violation_is_no_certificate():
    p = load(str(MODELS / "dm_in_module.mproof"))
    ex = C.explore(p, 2)
    assert ex.violation is not None
    assert not certify(C.Layout(p), list(ex.states), 2, edges=ex.edges).checked


# --------------------------------------------------------------------------- unknown, with the reason

UNSUPPORTED = {
    "a local takes a count-dependent value": ("""
var v = 0
thread w[*] {
    local x = 0
    v = v + 1
    x = v
    assert x > 0
}
""", "a local of w receives a value that depends on the number of copies"),
    "saturation of a completion the copies count": ("""
completion c
thread w[*] { complete(c) }
thread waiter { wait(c) }
""", "depends on the number of copies for every cutoff"),
    "an absolute assignment of a count the copies changed": ("""
var v = 0
thread w[*] { v = v + 1 }
thread reset { v = 0 }
""", "by an amount that depends on the number of copies"),
    "state keyed by thread (RCU)": ("""
thread w[*] { rcu_read_lock(); rcu_read_unlock() }
thread s { synchronize_rcu() }
""", "state that belongs to each thread"),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_what_the_abstraction_refuses_is_unknown_with_its_reason(name):
    text, reason = UNSUPPORTED[name]
    r = prove_all_sizes(load_text(text), timeout=60)
    assert isinstance(r.result, Unknown) and reason in r.result.reason, r.result
    assert "no violation with 1 w thread" in r.result.reason


def test_a_violation_is_found_even_where_the_abstraction_refuses():
    r = prove_all_sizes(load_text("""
var v = 0
thread w[*] {
    local x = 0
    v = v + 1
    x = v
    assert x < 3
}
"""), timeout=60)
    assert isinstance(r.result, Violated) and r.sizes == {"w": 3} and r.smallest
    assert any("not every size was explored" in n for n in r.notes)


def test_hang_is_decided_for_every_size_or_unknown():
    # a copy that loops until a single thread says stop: no hang for any K, but the
    # abstraction has cycles through the loop, so the hang check is not decided ...
    fine = prove_all_sizes(load_text("""
var stop = false
thread w[*] { while not stop { } }
thread boss { stop = true }
"""), timeout=60)
    assert isinstance(fine.result, Unknown) and "the hang check is not decided" in fine.result.reason
    assert "no hang with at most 4 copies" in fine.result.reason
    # ... and a copy that waits for something only a second copy would do hangs with 1
    hang = prove_all_sizes(load_text("""
var count = 0
thread w[*] {
    count = count + 1
    while count < 2 { }
}
"""), timeout=60)
    assert isinstance(hang.result, Violated) and hang.result.check == "hang"
    assert hang.sizes == {"w": 1}


def test_two_groups_smallest_total():
    r = prove_all_sizes(load_text("""
module m refs 2
thread a[*] { if module_refs(m) > 0 { module_put(m) } }
thread b[*] { if module_refs(m) > 0 { module_put(m) } }
"""), timeout=60)
    assert isinstance(r.result, Violated) and r.result.check == "module-refcount-underflow"
    assert sum(r.sizes.values()) == 3 and r.sizes == {"a": 1, "b": 2}


# --------------------------------------------------------------------------- differential


def starred(text: str, which: int) -> tuple[str, str]:
    """`text` with its thread number `which` (mod the number) made `[*]`."""
    names = re.findall(r"^thread (\w+)", text, re.M)
    name = names[which % len(names)]
    return (re.sub(rf"^thread {name}(\[\d+\])? ", f"thread {name}[*] ", text, count=1, flags=re.M),
            name)


def compare_with_fixed_sizes(p, most: int = 6, budget: float = 20.0):
    """The answer for every size against the explicit engine at K = 1..most of the
    first `[*]` group: None when they agree, else what disagrees.  Raises
    pytest.skip when the explicit engine could not decide a size it needed."""
    group = p.unbounded[0]
    r = prove_all_sizes(p, timeout=budget * 2, max_states=200_000)
    first = None
    for k in range(1, most + 1):
        c = prove_explicit(instantiate(p, {group: k}), max_states=200_000, timeout=budget,
                           reduce=True)
        if isinstance(c, Unknown):
            return "undecided"
        if isinstance(c, Violated):
            first = (k, c.check)
            break
    res = r.result
    if isinstance(res, Proved):
        return None if first is None else f"proved for every K, but K = {first[0]} is violated"
    if isinstance(res, Violated):
        k = r.sizes[group]
        if first is None:
            return None if k > most else f"violated with K = {k}, but the explicit engine proves it"
        if r.smallest and k != first[0]:
            return f"smallest K {k}, but the explicit engine finds K = {first[0]} violated"
        if k == first[0] and res.check != first[1]:
            return f"check {res.check} at K = {k}, the explicit engine {first[1]}"
    return None


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(), st.integers(0, 3))
def test_differential_random_programs(text, which):
    t, _ = starred(text, which)
    assert compare_with_fixed_sizes(load_text(t)) in (None, "undecided")


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs_v2(), st.integers(0, 3))
def test_differential_random_v2_programs(text, which):
    t, _ = starred(text, which)
    assert compare_with_fixed_sizes(load_text(t), most=4, budget=10.0) in (None, "undecided")


def test_every_thread_of_a_sample_of_the_corpus():
    from star_every_thread import check_file
    sample = ["proofs/dm_builtin.mproof", "proofs/kernel/10_lookup_final_put_fixed.mproof",
              "proofs/kernel/11_refcount_guard_bug.mproof",
              "proofs/kernel/05_kthread_complete_fixed.mproof"]
    for path in sample:
        for line in check_file(ROOT / path, most=4):
            assert line.ok, line


# --------------------------------------------------------------------------- what users see


def _cli(*args):
    from click.testing import CliRunner
    from modproof.cli import main
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_text_and_json_of_a_proof_for_every_size():
    path = str(ROOT / "proofs/kernel/01_dm_builtin_readers_fixed.mproof")
    r = _cli("prove", path)
    assert r.exit_code == 0, r.output
    assert "proved for every number of sysfs_reader threads" in r.output
    assert "certificate: checked by Z3" in r.output
    assert "cover readers_hold_removed_kobject: reachable with 2 sysfs_reader threads in " in r.output
    data = __import__("json").loads(_cli("prove", "--json", path).stdout)
    assert data["verdict"] == "proved" and data["scope"] == "all-sizes" and data["certified"] is True
    assert data["engine"] == "all-sizes"
    assert {c["name"]: c["sizes"] for c in data["covers"]} == {
        "dm_unloaded": {"sysfs_reader": 1}, "readers_hold_removed_kobject": {"sysfs_reader": 2}}


def test_text_json_replay_and_exports_of_a_violation_with_its_sizes(tmp_path):
    import json
    path = str(MODELS / "guard_three.mproof")
    r = _cli("prove", path)
    assert r.exit_code == 1
    assert "violated module-refcount-underflow with 3 caller threads, in 6 steps" in r.output
    assert "fewer caller threads violate no check" in r.output
    w = tmp_path / "w.json"
    data = json.loads(_cli("prove", "--json", "--witness-out", str(w), path).stdout)
    assert data["sizes"] == {"caller": 3} and data["fewest"] is True
    assert data["check"] == "module-refcount-underflow" and data["steps"] == 6
    witness = json.loads(w.read_text())
    assert witness["sizes"] == {"caller": 3} and len(witness["threads"]) == 3
    assert "(with 3 caller threads)" in witness["message"]
    ok = _cli("replay", path, str(w))
    assert ok.exit_code == 0 and "replays" in ok.output
    witness["sizes"] = {"caller": 2}
    w.write_text(json.dumps(witness))
    assert _cli("replay", path, str(w)).exit_code == 1      # two callers: other threads
    del witness["sizes"]
    w.write_text(json.dumps(witness))
    bad = _cli("replay", path, str(w))
    assert bad.exit_code == 2 and "needs \"sizes\"" in bad.output
    assert _cli("export", "--format", "promela", path).exit_code == 2
    sarif = _cli("export", "--format", "sarif", path)
    assert sarif.exit_code == 0 and "with 3 caller threads" in sarif.output


def test_ci_junit_and_sarif_take_star_files_like_any_other(tmp_path):
    files = [str(MODELS / "guard_two.mproof"), str(MODELS / "dm_builtin.mproof")]
    junit, sarif = tmp_path / "j.xml", tmp_path / "s.sarif"
    r = _cli("ci", *files, "--junit", str(junit), "--sarif", str(sarif))
    assert r.exit_code == 0, r.output
    assert "all sizes" in r.output and "2 caller threads" in r.output
    assert "failures=\"0\"" in junit.read_text() or 'failures="0"' in junit.read_text()
    assert "module-refcount-underflow" in sarif.read_text()
