"""SARIF 2.1.0: every log validates against the official schema, violations carry
their interleaving as thread flows, CI runs report every failing file."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from conftest import PROOFS, ROOT
from modproof.ci import CiOptions, check_file, find_files, run_ci
from modproof.cli import main
from modproof.exports import sarif
from modproof.exports.sarif import RULE_IDS, ci_to_sarif, step_kinds, witness_to_sarif
from modproof.exports.jsonfmt import witness_to_json
from modproof.replayfile import replay_file
from modproof.spec.model import CHECKS
from modproof.witness import Site

SCHEMA = ROOT / "modproof" / "schemas" / "sarif-2.1.0.schema.json"
EXPLICIT = CiOptions(engine="explicit")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(SCHEMA.read_text())
    assert sarif.schema() == schema                       # what the package ships
    jsonschema.Draft4Validator.check_schema(schema)
    assert schema["id"].endswith("sarif-schema-2.1.0.json")
    return jsonschema.Draft4Validator(schema,
                                      format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def valid(validator, log: dict) -> dict:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    json.dumps(log)                                   # plain JSON all the way down
    return log


def violation(path: Path):
    fr = check_file(str(path), EXPLICIT)
    assert fr.result is not None and fr.result.verdict == "violated", fr.detail
    return fr


# --------------------------------------------------------------------------- one witness


def test_the_schema_rejects_what_it_should(validator):
    assert list(validator.iter_errors({"version": "2.1.0", "runs": [{"tool": {}}]}))
    assert list(validator.iter_errors({"version": "2.0.0", "runs": []}))


def test_witness_to_sarif_structure(validator):
    fr = violation(PROOFS / "dm_in_module.mproof")
    w = fr.result.witness
    log = valid(validator, witness_to_sarif(w, fr.program, root=str(ROOT)))
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "modproof"
    assert len(run["results"]) == 1
    res = run["results"][0]
    assert (res["ruleId"], res["level"]) == ("code-after-unload", "error")
    assert run["tool"]["driver"]["rules"][res["ruleIndex"]]["id"] == "code-after-unload"
    assert res["message"]["text"] == w.message
    last = w.steps[-1]
    phys = res["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": "proofs/dm_in_module.mproof",
                                        "uriBaseId": "%SRCROOT%"}
    assert (phys["region"]["startLine"], phys["region"]["startColumn"]) == (last.line, last.col)
    assert w.site == Site(last.file, last.line, last.col, last.statement)
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.resolve().as_uri() + "/"

    flows = res["codeFlows"][0]["threadFlows"]
    moved = [t for t in w.threads if any(s.thread == t for s in w.steps)]
    assert [f["id"] for f in flows] == moved + ["all"]
    merged = flows[-1]
    assert merged["message"]["text"] == "all threads in execution order"
    assert [loc["executionOrder"] for loc in merged["locations"]] == list(range(1, w.length + 1))
    for f in flows[:-1]:
        orders = [loc["executionOrder"] for loc in f["locations"]]
        assert orders == sorted(orders)
        assert orders == [s.index for s in w.steps if s.thread == f["id"]]
        assert all(loc["properties"]["thread"] == f["id"] for loc in f["locations"])
    assert sum(len(f["locations"]) for f in flows[:-1]) == w.length

    by_order = {loc["executionOrder"]: loc for loc in merged["locations"]}
    for s in w.steps:
        loc = by_order[s.index]
        assert loc["module"] == s.owner
        region = loc["location"]["physicalLocation"]["region"]
        assert (region["startLine"], region["startColumn"]) == (s.line, s.col)
        assert loc["location"]["message"]["text"].startswith(f"step {s.index}: {s.thread} ")
        assert loc["kinds"] == step_kinds(s)
        if s.changes:
            assert set(loc["state"]) == {k for k, _, _ in s.changes}
            assert all(set(v) == {"text"} and isinstance(v["text"], str)
                       for v in loc["state"].values())
        else:
            assert "state" not in loc
    importance = [by_order[s.index]["importance"] for s in w.steps]
    assert importance[-1] == "essential" and importance.count("essential") == 1
    # dm is unloaded in this witness: every step of dm's code matters, core's branches do not
    for s in w.steps[:-1]:
        want = "important" if s.owner == "dm" or any(
            k.startswith(("state(", "module_refs(")) for k, _, _ in s.changes) else "unimportant"
        assert by_order[s.index]["importance"] == want, s
    assert "unimportant" in importance


def test_step_kinds_follow_the_step(validator):
    fr = violation(PROOFS / "dm_in_module.mproof")
    kinds = {s.kind: step_kinds(s) for s in fr.result.witness.steps}
    assert kinds["call"] == ["call"]
    assert "return" in kinds["return"] and "danger" in kinds["return"]   # the violating return
    assert kinds["put"][0] == "release"
    assert kinds["module_put"][:1] == ["release"]
    assert kinds["unload"][0] == "unload"
    mutex = violation(PROOFS / "checks" / "unlock_not_held.mproof").result.witness
    assert {tuple(step_kinds(s)) for s in mutex.steps if s.kind == "lock"} <= {("acquire", "lock")}
    last = mutex.steps[-1]
    assert step_kinds(last)[:2] == ["release", "lock"] and "danger" in step_kinds(last)


def test_fingerprints_do_not_move_with_lines(tmp_path, validator):
    src = (PROOFS / "dm_in_module.mproof").read_text()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "dm.mproof").write_text(src)
    (b / "dm.mproof").write_text("# a comment\n\n\n" + src)
    res = []
    for folder in (a, b):
        fr = violation(folder / "dm.mproof")
        log = valid(validator, witness_to_sarif(fr.result.witness, fr.program, root=str(folder)))
        res.append(log["runs"][0]["results"][0])
    line = [r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in res]
    assert line[1] == line[0] + 3
    assert res[0]["partialFingerprints"] == res[1]["partialFingerprints"]
    other = violation(PROOFS / "checks" / "kthread_returns_into_module.mproof")
    log = witness_to_sarif(other.result.witness, other.program, root=str(ROOT))
    assert log["runs"][0]["results"][0]["partialFingerprints"] != res[0]["partialFingerprints"]


def test_every_check_has_a_rule_with_help():
    fr = violation(PROOFS / "checks" / "double_put.mproof")
    rules = witness_to_sarif(fr.result.witness, fr.program)["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == list(RULE_IDS)
    assert set(CHECKS) <= set(ids)
    assert {"input-error", "expectation-mismatch"} <= set(ids)
    for r in rules:
        for key in ("shortDescription", "fullDescription", "help"):
            assert len(r[key]["text"]) > 20, (r["id"], key)
    cau = next(r for r in rules if r["id"] == "code-after-unload")["help"]["text"]
    assert "module_put_and_kthread_exit" in cau and "flush" in cau


def test_an_invariant_broken_in_the_initial_state_points_at_the_invariant(tmp_path, validator):
    f = tmp_path / "init.mproof"
    f.write_text("var x = 0\nthread t {\n    x = 1\n}\ninvariant one: x == 1\n"
                 "expect violated invariant\n")
    fr = violation(f)
    assert fr.result.witness.length == 0
    res = valid(validator, witness_to_sarif(fr.result.witness, fr.program,
                                            root=str(tmp_path)))["runs"][0]["results"][0]
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert "codeFlows" not in res                     # a thread flow needs at least one step
    # Replay recorded where it is: the witness alone places the result.
    site = Site(str(f), 5, 1, "invariant one: x == 1")
    assert fr.result.witness.site == site
    alone = witness_to_sarif(fr.result.witness, None, root=str(tmp_path))["runs"][0]["results"][0]
    assert alone == res
    assert replay_file(fr.program, witness_to_json(fr.result.witness)).site == site


def test_a_deadlock_in_the_initial_state_points_at_the_blocked_statement(tmp_path, validator):
    # No step to point at: the result is positioned where the first thread is blocked,
    # not at the bare file (GitHub needs a region to annotate a line).
    f = tmp_path / "dl.mproof"
    f.write_text("completion c\nmutex m\nthread t {\n    wait(c)\n}\n"
                 "expect violated deadlock\n")
    fr = violation(f)
    assert (fr.result.check, fr.result.witness.length) == ("deadlock", 0)
    assert fr.result.witness.site == Site(str(f), 4, 5, "wait(c)")
    w = fr.result.witness
    assert replay_file(fr.program, witness_to_json(w)).site == w.site
    for log in (witness_to_sarif(fr.result.witness, fr.program, root=str(tmp_path)),
                ci_to_sarif([fr], root=str(tmp_path))):
        res = valid(validator, log)["runs"][0]["results"][0]
        region = res["locations"][0]["physicalLocation"]["region"]
        assert (region["startLine"], region["startColumn"]) == (4, 5)


def test_thread_flow_ids_are_unique_when_a_thread_is_named_all(tmp_path, validator):
    f = tmp_path / "all.mproof"
    f.write_text("object o\nthread all { put(o) }\nthread other { put(o) }\n"
                 "expect violated put-after-release\n")
    fr = violation(f)
    log = valid(validator, witness_to_sarif(fr.result.witness, fr.program, root=str(tmp_path)))
    flows = log["runs"][0]["results"][0]["codeFlows"][0]["threadFlows"]
    ids = [t["id"] for t in flows]
    assert len(set(ids)) == len(ids), ids
    assert ids[:2] == ["all", "other"]                 # the threads keep their names
    assert [loc["properties"]["thread"] for loc in flows[0]["locations"]] == ["all"]
    merged = flows[-1]
    assert merged["message"]["text"] == "all threads in execution order"
    assert [loc["executionOrder"] for loc in merged["locations"]] == [1, 2]


# --------------------------------------------------------------------------- CI runs


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "expected.mproof").write_text((PROOFS / "checks" / "double_put.mproof").read_text())
    (tmp_path / "clean.mproof").write_text((PROOFS / "dm_builtin.mproof").read_text())
    (tmp_path / "wrong.mproof").write_text((PROOFS / "dm_in_module.mproof").read_text().replace(
        "expect violated code-after-unload", "expect proved"))
    (tmp_path / "fixed.mproof").write_text((PROOFS / "dm_builtin.mproof").read_text().replace(
        "expect proved", "expect violated code-after-unload"))
    (tmp_path / "sub" / "broken.mproof").write_text(
        "object o\nthread t {\n    wait(o)\n}\nexpect proved\n")
    return tmp_path


def test_ci_to_sarif_reports_every_failing_file(corpus, validator):
    run = run_ci(find_files([str(corpus)]), EXPLICIT, jobs=2)
    log = valid(validator, ci_to_sarif(run, root=str(corpus)))
    results = log["runs"][0]["results"]
    by_file = {}
    for r in results:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        by_file.setdefault(uri, []).append(r)
    assert "clean.mproof" not in by_file                      # a clean proof: nothing to say
    # a violation the file expects: reported, suppressed in source
    (exp,) = by_file["expected.mproof"]
    assert exp["ruleId"] == "put-after-release"
    assert exp["suppressions"][0]["kind"] == "inSource"
    assert "codeFlows" in exp
    # a violation the file says cannot happen: reported, not suppressed
    (wrong,) = by_file["wrong.mproof"]
    assert wrong["ruleId"] == "code-after-unload" and "suppressions" not in wrong
    # an expected violation that is not there: an expectation mismatch at the expect line
    (fixed,) = by_file["fixed.mproof"]
    assert fixed["ruleId"] == "expectation-mismatch"
    src = (corpus / "fixed.mproof").read_text().splitlines()
    line = fixed["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert src[line - 1].startswith("expect violated")
    assert "but it was proved for all executions" in fixed["message"]["text"]
    # a file that does not check: an input error where the diagnostic points, with its note
    (broken,) = by_file["sub/broken.mproof"]
    assert broken["ruleId"] == "input-error"
    region = broken["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (3, 10)
    assert broken["relatedLocations"][0]["message"]["text"] == "'o' is declared here"
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_ci_to_sarif_missing_expect_unknown_and_unreached_cover(tmp_path, validator):
    (tmp_path / "noexpect.mproof").write_text("var x = 0\nthread t {\n    x = 1\n}\n")
    (tmp_path / "vacuous.mproof").write_text(
        "var x = 0\nthread t {\n    x = 1\n}\ncover two: x == 2\nexpect proved\n")
    (tmp_path / "counter.mproof").write_text(
        "var x = 0\nthread t { while true { x = x + 1 } }\ninvariant pos: x >= 0\nexpect proved\n")
    opts = CiOptions(engine="explicit", max_states=50)
    run = run_ci(find_files([str(tmp_path)]), opts, jobs=1)
    results = valid(validator, ci_to_sarif(run, root=str(tmp_path)))["runs"][0]["results"]
    got = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in results}
    assert {r["ruleId"] for r in results} == {"expectation-mismatch"}
    assert "has no expect line" in got["noexpect.mproof"]["message"]["text"]
    assert got["vacuous.mproof"]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert "unknown" in got["counter.mproof"]["message"]["text"]


def test_files_outside_the_root_get_absolute_uris(tmp_path, validator):
    (tmp_path / "d.mproof").write_text((PROOFS / "checks" / "double_put.mproof").read_text())
    fr = check_file(str(tmp_path / "d.mproof"), EXPLICIT)
    log = valid(validator, ci_to_sarif([fr], root=str(ROOT)))
    loc = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": (tmp_path / "d.mproof").resolve().as_uri()}


def test_ci_command_writes_valid_sarif(corpus, tmp_path, validator, monkeypatch):
    monkeypatch.chdir(corpus)
    out = tmp_path / "out" / "modproof.sarif"
    r = CliRunner().invoke(main, ["ci", "--engine", "explicit", "--sarif", str(out), "."],
                           catch_exceptions=False)
    assert r.exit_code == 1
    log = valid(validator, json.loads(out.read_text()))
    uris = {res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for res in log["runs"][0]["results"]}
    assert uris == {"expected.mproof", "wrong.mproof", "fixed.mproof", "sub/broken.mproof"}


def test_the_whole_corpus_as_sarif(validator, monkeypatch):
    monkeypatch.chdir(ROOT)
    run = run_ci(find_files(["proofs"]), EXPLICIT, jobs=2)
    assert run.passed
    log = valid(validator, ci_to_sarif(run))
    results = log["runs"][0]["results"]
    violated = [r for r in run.results if r.got.startswith("violated")]
    assert len(results) == len(violated)
    assert all(r.get("suppressions") for r in results)       # every one is expected
    assert len({json.dumps(r["partialFingerprints"]) for r in results}) == len(results)
