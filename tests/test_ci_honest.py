"""Issue 16: cover traces, `expect proved up to N` and the `bounded` status, deferred
release per object, `ci --shard`, SARIF rule names.

Every expected number is derived by hand in the comment next to it, from the
model in the test and docs/language.md's step rules.
"""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from conftest import PROOFS, ROOT
from modproof.ci import CiOptions, check_file, shard
from modproof.ci_result import BOUNDED, OK
from modproof.cli import main
from modproof.exports import render_export, witness_schema
from modproof.exports.sarif import RULE_IDS, RULE_NAMES, ci_to_sarif, rules
from modproof.grammar import parse
from modproof.prove import (
    BOUNDED as EXPECT_BOUNDED, MET, MISMATCH, NoCoverTrace, Options, cover_witness, expectation,
    prove,
)
from modproof.spec.diagnostics import SpecError
from modproof.spec.lower import load_text
from modproof.spec.printer import to_source
from modproof.spec import semantics as S

DM_OK = str(PROOFS / "dm_builtin.mproof")
DM_BAD = str(PROOFS / "dm_in_module.mproof")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# A model with infinitely many states whose k-induction never closes: from a state
# with n = -2 (not bad) one increment reaches n = -1 (bad), for every k.  So the
# Z3 engine proves it only up to its bound, and the explicit engine never ends.
COUNTER = """\
var n = 0
thread t {
    while true {
        n = n + 1
    }
}
invariant never_minus_one: n != 0 - 1
cover three: n == 3
expect proved up to 10
"""


def counter(tmp_path: Path, expect: str = "expect proved up to 10", name="counter") -> Path:
    f = tmp_path / f"{name}.mproof"
    f.write_text(COUNTER.replace("expect proved up to 10", expect))
    return f


# --------------------------------------------------------------------------- the language


def test_expect_proved_up_to_parses_prints_and_keeps_up_to_deferred_as_names():
    spec = parse("var up = 1\nvar to = 2\nvar deferred = 3\nexpect proved up to 40\n")
    exp = spec.decls[-1]
    assert (exp.verdict, exp.check, exp.bound) == ("proved", None, 40)
    assert (exp.bound_span.line, exp.bound_span.col) == (4, 21)
    assert to_source(spec).endswith("expect proved up to 40\n")
    assert to_source(parse(to_source(spec))) == to_source(spec)
    assert parse("expect proved\n").decls[0].bound is None


def test_release_deferred_parses_in_either_order_and_prints():
    spec = parse("fn f in core { }\nobject a release f deferred refs 2\n"
                 "object b refs 3 release f\nmodule m\nobject c release f deferred in m\n")
    a, b, c = (d for d in spec.decls if type(d).__name__ == "ObjectDecl")
    assert (a.refs, a.release, a.deferred) == (2, "f", True)
    assert (b.refs, b.deferred) == (3, False)
    assert (c.deferred, c.storage) == (True, "m")
    text = to_source(spec)
    assert "object a refs 2 release f deferred\n" in text
    assert "object c release f deferred in m\n" in text
    assert to_source(parse(text)) == text


@pytest.mark.parametrize("text, where, message", [
    ("expect proved 40\n", (1, 15), "unexpected '40'; expected 'up' or end of declaration "
                                    "(newline or ;)"),
    ("expect proved up 40\n", (1, 18), "unexpected '40'; expected 'to'"),
    ("expect proved up to x\n", (1, 21), "unexpected 'x'; expected a number"),
    ("expect violated deadlock up to 3\n", (1, 26), "unexpected 'up'"),
    ("fn f in core { }\nobject o deferred release f\n", (2, 10), "unexpected 'deferred'"),
    ("object o refs 1 deferred\n", (1, 17), "unexpected 'deferred'"),
])
def test_misplaced_bound_or_deferred_is_a_syntax_error(text, where, message):
    with pytest.raises(SpecError) as e:
        parse(text, "x.mproof")
    d = e.value.diagnostics[0]
    assert (d.span.line, d.span.col) == where and d.message.startswith(message), d.message


def test_a_bound_of_zero_is_refused_where_it_is_written():
    with pytest.raises(SpecError) as e:
        load_text("thread t { }\nexpect proved up to 0\n", "x.mproof")
    (d,) = e.value.diagnostics
    assert (d.span.line, d.span.col) == (2, 21)
    assert d.message.startswith("'expect proved up to N' needs N of 1 or more")


def test_check_summarises_the_expect_line(tmp_path):
    r = invoke("check", counter(tmp_path))
    assert r.exit_code == 0 and r.output.rstrip().endswith("expect proved up to 10"), r.output


# --------------------------------------------------------------------------- bounded


def test_a_bounded_proof_meets_only_an_expect_line_that_accepts_its_bound():
    p = load_text(COUNTER, "counter.mproof")
    r = prove(p, Options(engine="bmc", bound=10))
    assert (r.verdict, r.scope, r.bound) == ("proved", "bounded", 10)

    def with_expect(line):
        return load_text(COUNTER.replace("expect proved up to 10", line), "counter.mproof")
    assert expectation(with_expect("expect proved up to 10"), r) == MET
    assert expectation(with_expect("expect proved up to 9"), r) == MET     # 10 >= 9
    assert expectation(with_expect("expect proved up to 11"), r) == EXPECT_BOUNDED
    assert expectation(with_expect("expect proved"), r) == EXPECT_BOUNDED
    assert expectation(with_expect("expect violated invariant"), r) == MISMATCH
    # The cover needs 6 steps (three rounds of test and increment): at bound 5 it is
    # not reached, and a bounded proof that never reaches its cover may be vacuous.
    r5 = prove(p, Options(engine="bmc", bound=5))
    assert (r5.scope, r5.bound, r5.covers[0].reached) == ("bounded", 5, False)
    assert expectation(with_expect("expect proved up to 5"), r5) == MISMATCH
    # A proof for all executions meets `expect proved up to N` whatever N.
    dm = load_text(Path(DM_OK).read_text().replace("expect proved", "expect proved up to 1000"),
                   "dm.mproof")
    assert expectation(dm, prove(dm, Options(engine="explicit"))) == MET


def test_prove_says_why_a_bounded_proof_does_not_match(tmp_path):
    r = invoke("prove", "--engine", "bmc", "--bound", "10", "--check-expect",
               counter(tmp_path, "expect proved"))
    assert r.exit_code == 1
    assert ("expect proved: NOT matched (bounded: proved only up to 10 steps; "
            "'expect proved up to 10' accepts that)") in r.output
    r = invoke("prove", "--engine", "bmc", "--bound", "10", "--check-expect", counter(tmp_path))
    assert r.exit_code == 0 and "expect proved up to 10: matched" in r.output
    data = json.loads(invoke("prove", "--engine", "bmc", "--bound", "10", "--json",
                             counter(tmp_path)).output)
    assert data["expect"] == {"verdict": "proved", "check": None, "bound": 10, "matched": True}


def test_ci_shows_a_bounded_proof_as_its_own_status(tmp_path):
    counter(tmp_path, "expect proved up to 10", "a_accepts")
    counter(tmp_path, "expect proved", "b_all")
    counter(tmp_path, "expect proved up to 12", "c_more")
    junit, sarif_path = tmp_path / "out" / "j.xml", tmp_path / "out" / "s.sarif"
    r = invoke("ci", "--engine", "bmc", "--bound", "10", "-j", "1", tmp_path,
               "--junit", junit, "--sarif", sarif_path)
    assert r.exit_code == 1, r.output
    rows = {Path(line.split()[1]).name: line.split() for line in r.output.splitlines()
            if line.split()[:1] in (["ok"], ["BOUNDED"]) and ".mproof" in line}
    assert rows["a_accepts.mproof"][:1] + rows["a_accepts.mproof"][-4:-1] == \
        ["ok", "bound", "10", "-"]
    assert rows["b_all.mproof"][0] == "BOUNDED" and rows["c_more.mproof"][0] == "BOUNDED"
    assert "3 files: 1 ok, 2 bounded (not proved for all executions), 0 failed, 0 errors" \
        in r.output
    assert ("BOUNDED " + str(tmp_path / "b_all.mproof") + ": expected proved (for all "
            "executions), but it was proved only for executions of up to 10 steps") in r.output
    assert ("expected proved up to 12 steps, but it was proved only up to 10 (give --bound 12 "
            "or more)") in r.output
    # JUnit: failures of their own type.
    cases = {tc.get("name"): tc for tc in ET.parse(junit).getroot().iter("testcase")}
    assert cases["a_accepts"].find("failure") is None
    assert cases["b_all"].find("failure").get("type") == "bounded-proof"
    assert cases["c_more"].find("failure").get("type") == "bounded-proof"
    # SARIF: a result of rule bounded-proof at the expect line (line 9, column 1).
    log = json.loads(sarif_path.read_text())
    results = log["runs"][0]["results"]
    assert [res["ruleId"] for res in results] == ["bounded-proof", "bounded-proof"]
    region = results[0]["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (9, 1)
    assert results[0]["properties"] == {"expected": "proved", "got": "proved", "bound": 10}
    jsonschema.validate(log, json.loads(
        (ROOT / "modproof" / "schemas" / "sarif-2.1.0.schema.json").read_text()))
    # With the bound the file asks for, it passes.
    r = invoke("ci", "--engine", "bmc", "--bound", "12", "-j", "1", tmp_path / "c_more.mproof")
    assert r.exit_code == 0, r.output


def test_check_file_status_for_bounded(tmp_path):
    opts = CiOptions(engine="bmc", bound=10)
    assert check_file(str(counter(tmp_path)), opts).status == OK
    fr = check_file(str(counter(tmp_path, "expect proved", "all")), opts)
    assert fr.status == BOUNDED and not fr.passed and fr.scope == "bound 10"


# --------------------------------------------------------------------------- shards


def test_shards_split_the_sorted_files_whatever_their_order():
    files = [f"p/{c}.mproof" for c in "gfedcba"]
    parts = [shard(files, i, 3) for i in (1, 2, 3)]
    assert parts == [["p/a.mproof", "p/d.mproof", "p/g.mproof"],
                     ["p/b.mproof", "p/e.mproof"], ["p/c.mproof", "p/f.mproof"]]
    assert [shard(list(reversed(files)), i, 3) for i in (1, 2, 3)] == parts
    assert shard(files, 1, 1) == sorted(files)
    assert shard(files[:2], 3, 3) == []
    with pytest.raises(ValueError):
        shard(files, 4, 3)


def test_ci_shard_checks_its_share(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    checks = sorted(Path("proofs/checks").glob("*.mproof"))
    seen = []
    for i in (1, 2):
        r = invoke("ci", "--engine", "explicit", "-j", "1", "--shard", f"{i}/2", "proofs/checks")
        assert r.exit_code == 0, r.output
        seen += [line.split()[1] for line in r.output.splitlines()
                 if line.startswith("ok ") and line.split()[1].endswith(".mproof")]
    assert sorted(seen) == [str(p) for p in checks] and len(set(seen)) == len(checks)
    r = invoke("ci", "--shard", "3/3", DM_OK)
    assert r.exit_code == 0 and "shard 3/3 is empty (1 file in 3 shards)" in r.output
    for bad in ("0/2", "3/2", "1", "a/b"):
        r = invoke("ci", "--shard", bad, DM_OK)
        assert r.exit_code == 2 and "is not I/N with 1 <= I <= N" in r.output


# --------------------------------------------------------------------------- deferred release

# A struct file whose ->release runs in the final fput, synchronously, and a kobject
# whose release the kernel may run later (CONFIG_DEBUG_KOBJECT_RELEASE).
FILE_AND_KOBJ = """\
module m refs 1
object f refs 1 release f_release
object k refs 1 release k_release deferred
completion k_gone
var f_released = false

fn f_release in m {
    f_released = true
}

fn k_release in KOWNER {
    complete(k_gone)
}

thread closer {
    put(f)
    put(k)
    wait(k_gone)
    module_put(m)
    unload(m)
}
"""


@pytest.mark.parametrize("engine", ["explicit", "bmc"])
def test_deferred_per_object_and_globally(engine):
    opts = Options(engine=engine)
    # k_release in core, deferred: the file's release runs in closer before its module
    # reference goes, so nothing runs in m after unload: proved.
    p = load_text(FILE_AND_KOBJ.replace("KOWNER", "core"), "fk.mproof")
    assert [o.deferred for o in p.objects] == [False, True]
    assert [t.name for t in p.threads] == ["closer", "release(k)"]
    assert prove(p, opts).verdict == "proved"
    # --deferred-release defers the file's release too: f_release may run after
    # unload.  Shortest: closer put(f), put(k) (2); release(k) takes it, calls
    # k_release, completes (5); closer wait, module_put, unload, free (9);
    # release(f) takes it, calls f_release (11), whose first statement runs in m,
    # gone: code-after-unload at step 12.
    g = load_text(FILE_AND_KOBJ.replace("KOWNER", "core"), "fk.mproof", deferred_release=True)
    assert [o.deferred for o in g.objects] == [True, True]
    r = prove(g, opts)
    assert (r.verdict, r.check, r.witness.length) == ("violated", "code-after-unload", 12)
    assert r.witness.steps[-1].thread == "release(f)"
    assert r.witness.steps[-1].statement == "f_released = true"
    # k_release in m, deferred: its return runs in m after unload.  closer put(f),
    # f_released = true, return from f_release, put(k) (4); release(k) takes, calls,
    # completes (7); closer wait, module_put, unload, free (11); release(k) returns
    # from k_release into m, gone (12).
    b = load_text(FILE_AND_KOBJ.replace("KOWNER", "m"), "fk.mproof")
    r = prove(b, opts)
    assert (r.verdict, r.check, r.witness.length) == ("violated", "code-after-unload", 12)
    assert r.witness.message == ("release(k) returns from k_release into module m, which was "
                                 "unloaded at step 11")
    # Without `deferred`, k_release (in m) runs in closer before the wait: proved.
    s = load_text(FILE_AND_KOBJ.replace("KOWNER", "m").replace(" deferred\n", "\n"), "fk.mproof")
    assert s.threads[-1].name == "closer" and prove(s, opts).verdict == "proved"


def test_a_deferred_witness_replays_and_a_deferred_put_may_stand_in_atomic(tmp_path):
    f = tmp_path / "fk.mproof"
    f.write_text(FILE_AND_KOBJ.replace("KOWNER", "m") + "expect violated code-after-unload\n")
    w = tmp_path / "w.json"
    r = invoke("prove", "--engine", "explicit", "--witness-out", w, f)
    assert r.exit_code == 1 and "deferred_release" not in json.loads(w.read_text())
    r = invoke("replay", f, w)
    assert r.exit_code == 0 and "replays: 12 steps reproduce code-after-unload" in r.output
    # A put of a deferred object only queues the release: allowed inside atomic, one
    # step (refs 1 -> 0, release_pending true), then the worker runs the release.
    text = ("object k refs 1 release k_release deferred\ncompletion gone\n"
            "fn k_release in core {\n    complete(gone)\n}\n"
            "thread t {\n    atomic { put(k) }\n    wait(gone)\n}\n")
    p = load_text(text, "a.mproof")
    first = S.successors(p, S.initial(p), 0)[0].state
    names = [v.name for v in p.vars]
    assert first.refs == (0,) and first.vars[names.index("release_pending(k)")] is True
    assert prove(p, Options(engine="explicit")).verdict == "proved"
    with pytest.raises(SpecError) as e:
        load_text(text.replace(" deferred", ""), "a.mproof")
    assert "'put(k)' is not allowed inside 'atomic'" in e.value.diagnostics[0].message


# --------------------------------------------------------------------------- cover traces


@pytest.mark.parametrize("engine, reduce", [("explicit", True), ("explicit", False),
                                            ("bmc", True)])
def test_every_engine_gives_the_fewest_steps_to_a_cover_as_an_execution(engine, reduce):
    # dm_builtin's cover dm_unloaded: admin alone calls dm_ioctl_remove (1), published =
    # false (2), put(md_kobj) calls the release (3), complete (4), return from it (5),
    # wait (6), module_put (7), return from dm_ioctl_remove (8), module_put (9),
    # unload (10), free (11).  The reader need not move.
    p = load_text(Path(DM_OK).read_text(), "dm.mproof")
    r = prove(p, Options(engine=engine, reduce=reduce))
    assert r.covers[0].step == 11
    w = cover_witness(p, r, "dm_unloaded")
    assert (w.cover, w.check, w.length) == ("dm_unloaded", "", 11)
    assert {s.thread for s in w.steps} == {"admin"}
    assert dict(w.steps[-1].state)["state(dm)"] == "gone"
    assert not any(s.violation for s in w.steps)
    assert w.message == "cover dm_unloaded (not loaded(dm)) holds after step 11"
    assert w.headline == "reaches cover dm_unloaded"


def test_a_violation_and_a_cover_are_two_executions(tmp_path):
    r = invoke("prove", "--engine", "explicit", "--cover", "dm_unloaded", DM_BAD)
    assert r.exit_code == 1
    out = r.stdout
    assert "violated code-after-unload in 14 steps" in out
    assert "  cover dm_unloaded: reachable in 11 steps\n" in out
    assert "reached at step" not in out
    head, cover = out.split("\ncover dm_unloaded: reachable in 11 steps (the fewest); an "
                            "execution that reaches it:\n")
    assert "witness:" in head
    assert cover.startswith("  cover dm_unloaded (not loaded(dm)) holds after step 11\n")
    assert len(re.findall(r"^\s+\d+\s+admin\s", cover, re.M)) == 11


def test_bmc_cover_trace_of_an_infinite_model(tmp_path):
    # three rounds of `while true` (a step) and `n = n + 1` (a step): 6 steps.
    r = invoke("prove", "--engine", "bmc", "--bound", "10", "--cover", "three", counter(tmp_path))
    assert r.exit_code == 0
    assert "cover three: reachable in 6 steps (the fewest)" in r.output
    assert "cover three (n == 3) holds after step 6" in r.output


def test_cover_witness_files_replay_and_export(tmp_path):
    w = tmp_path / "cover.json"
    html, mmd, itf, txt = (tmp_path / n for n in ("c.html", "c.mmd", "c.itf.json", "c.txt"))
    r = invoke("prove", "--engine", "explicit", "--cover", "dm_unloaded", "--witness-out", w,
               "--export", f"html:{html}", "--export", f"mermaid:{mmd}", "--export", f"itf:{itf}",
               "--export", f"text:{txt}", DM_OK)
    assert r.exit_code == 0, r.output
    data = json.loads(w.read_text())
    jsonschema.validate(data, witness_schema())
    assert data["cover"] == "dm_unloaded" and "check" not in data and data["length"] == 11
    assert all(s["violation"] is None for s in data["steps"])
    assert "reaches cover dm_unloaded" in html.read_text()
    assert "title " in mmd.read_text() and "reaches cover dm_unloaded" in mmd.read_text()
    assert json.loads(itf.read_text())["#meta"]["cover"] == "dm_unloaded"
    assert txt.read_text().startswith(f"{DM_OK}: reaches cover dm_unloaded\n")
    r = invoke("replay", DM_OK, w)
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == f"{w}: replays: 11 steps reach cover dm_unloaded"
    r = invoke("export", w, "--format", "mermaid")
    assert r.exit_code == 0 and "reaches cover dm_unloaded" in r.output
    r = invoke("export", w, "--format", "sarif")
    assert r.exit_code == 2 and "SARIF writes findings" in r.output
    # Ten steps do not reach it: the module is unloading, not gone.
    data["steps"] = data["steps"][:10]
    data["length"] = 10
    w.write_text(json.dumps(data))
    r = invoke("replay", DM_OK, w)
    assert r.exit_code == 1
    assert "diverges at step 10: cover dm_unloaded (not loaded(dm)) does not hold after step 10" \
        in r.output
    # A witness is of a violation or of a cover, not both; and a cover must be a name.
    for edit, message in ((lambda d: d.update(check="deadlock"), "not both"),
                          (lambda d: d.update(cover=3), "must be the name of a cover"),
                          (lambda d: d.update(cover="nope"), "no cover 'nope'")):
        d = json.loads(json.dumps(data))
        edit(d)
        w.write_text(json.dumps(d))
        r = invoke("replay", DM_OK, w)
        assert r.exit_code in (1, 2) and message in r.output, r.output


def test_cover_json_and_what_there_is_not(tmp_path):
    data = json.loads(invoke("prove", "--engine", "explicit", "--json", "--cover", "dm_unloaded",
                             DM_OK).stdout)
    assert data["cover_witness"]["cover"] == "dm_unloaded"
    assert data["cover_witness"]["length"] == 11
    r = invoke("prove", "--cover", "nope", DM_OK)
    assert r.exit_code == 2 and "has no cover 'nope' (its covers: dm_unloaded)" in r.output
    r = invoke("prove", "--cover", "dm_unloaded", "--export", f"sarif:{tmp_path / 's'}", DM_OK)
    assert r.exit_code == 2 and "an execution that reaches a cover is not one" in r.output
    f = tmp_path / "c.mproof"
    f.write_text("var n = 0\nthread t {\n    n = 1\n}\ncover never: n == 2\ncover init: n == 0\n")
    out = tmp_path / "w.json"
    r = invoke("prove", "--engine", "explicit", "--cover", "never", "--witness-out", out, f)
    assert r.exit_code == 0 and not out.exists()
    assert ("note: cover never is not reached: no execution reaches it: there is no execution "
            "to show") in r.stderr
    assert "no execution to cover never, so nothing was written" in r.stderr
    r = invoke("prove", "--engine", "bmc", "--cover", "init", f)
    assert "cover init: reachable in 0 steps (the fewest)" in r.output
    assert "(the initial state already satisfies cover init)" in r.output


def test_no_trace_under_reduction_says_why():
    p = load_text(Path(DM_OK).read_text(), "dm.mproof")
    from dataclasses import replace
    r = prove(p, Options(engine="explicit"))
    bare = replace(r, covers=tuple(replace(c, step=None, trace=None) for c in r.covers))
    with pytest.raises(NoCoverTrace) as e:
        cover_witness(p, bare, "dm_unloaded")
    assert "found it under partial-order reduction" in e.value.reason


# --------------------------------------------------------------------------- SARIF rules


def test_sarif_rules_have_distinct_names_that_are_not_their_ids():
    names = [r["name"] for r in rules()]
    assert len(set(names)) == len(names) == len(RULE_IDS) == len(RULE_NAMES)
    for r in rules():
        assert re.fullmatch(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+", r["name"]), r["name"]
        assert r["name"].lower() != r["id"].lower()
        assert r["name"].lower() != r["id"].replace("-", "").lower()
    driver = ci_to_sarif([])["runs"][0]["tool"]["driver"]
    assert re.fullmatch(r"https://[^\s]+", driver["informationUri"])
