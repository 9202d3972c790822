"""`modproof ci`: the corpus passes, every kind of failing file fails as it should,
parallel runs agree with serial ones, the JUnit report counts right, Ctrl-C stops cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import BMC_SLOW, PROOFS, ROOT, proof_files
from modproof import ci
from modproof.ci import CiOptions, check_file, find_files, run_ci
from modproof.cli import main

DM_BAD = PROOFS / "dm_in_module.mproof"
DOUBLE_PUT = PROOFS / "checks" / "double_put.mproof"
EXPLICIT = CiOptions(engine="explicit")


def invoke(*args):
    return CliRunner().invoke(main, ["ci", *map(str, args)], catch_exceptions=False)


def rows(output: str) -> dict[str, list[str]]:
    """The table rows of `modproof ci` output by file: [status, expected..., got..., ...]."""
    out = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] in ("ok", "BOUNDED", "FAIL", "ERROR", "--") and \
                parts[1].endswith(".mproof") and not parts[1].endswith(":"):
            out[Path(parts[1]).name] = parts
    return out


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder with one file of each kind that ci must tell apart."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.mproof").write_text(DOUBLE_PUT.read_text())
    (tmp_path / "wrong.mproof").write_text(
        DM_BAD.read_text().replace("expect violated code-after-unload", "expect proved"))
    (tmp_path / "sub" / "broken.mproof").write_text(
        "object o\nthread t {\n    wait(o)\n}\nexpect proved\n")
    (tmp_path / "sub" / "noexpect.mproof").write_text(
        "\n".join(line for line in DOUBLE_PUT.read_text().splitlines()
                  if not line.startswith("expect")) + "\n")
    return tmp_path


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("engine", ["explicit", "bmc"])
def test_the_corpus_matches_every_expect_line(engine, monkeypatch):
    monkeypatch.chdir(ROOT)
    files = proof_files()
    if engine == "bmc":    # (the files it takes minutes on: conftest.BMC_SLOW)
        files = [p for p in files if str(p.relative_to(ROOT / "proofs")) not in BMC_SLOW]
        r = invoke("--engine", engine, "-j", "2", *(str(p.relative_to(ROOT)) for p in files))
    else:
        r = invoke("--engine", engine, "-j", "2")       # default path: proofs/
    table = rows(r.output)
    assert set(table) == {p.name for p in files}
    n = len(files)
    # The Z3 engine proves 08_timer_rearm_fixed (and the irq files 25, 26 and 27 fixed) only up
    # to its bound (tests/test_proofs.py, BMC_BOUNDED), which `expect proved` does not
    # accept: its own status, and ci fails.
    bounded = {"08_timer_rearm_fixed.mproof", "25_irq_remove_fixed.mproof",
               "26_sleep_under_spinlock_fixed.mproof",
               "27_devm_irq_kfree_fixed.mproof"} if engine == "bmc" else set()
    assert {name for name, parts in table.items() if parts[0] != "ok"} == bounded
    assert all(table[name][0] == "BOUNDED" and table[name][-3:-1] == ["40", "-"]
               for name in bounded)
    if bounded:
        assert r.exit_code == 1, r.output
        k = len(bounded)
        assert (f"modproof ci: {n} files: {n - k} ok, {k} bounded (not proved for all executions), "
                "0 failed, 0 errors") in r.output
        assert ("BOUNDED proofs/kernel/08_timer_rearm_fixed.mproof: expected proved (for all "
                "executions), but it was proved only for executions of up to 40 steps") in r.output
    else:
        assert r.exit_code == 0, r.output
        assert f"modproof ci: {n} files: {n} ok, 0 failed, 0 errors" in r.output
    # the columns: dm_in_module is a 14-step violation, dm_builtin a proof for all executions
    assert table["dm_in_module.mproof"][1:6] == [
        "proofs/dm_in_module.mproof", "violated", "code-after-unload", "violated",
        "code-after-unload"]
    assert table["dm_in_module.mproof"][-2] == "14"
    assert " ".join(table["dm_builtin.mproof"][2:6]) == "proved proved all executions"


def test_find_files_is_recursive_sorted_and_deduplicated(corpus):
    files = find_files([str(corpus)])
    names = [os.path.relpath(f, corpus) for f in files]
    assert names == ["good.mproof", os.path.join("sub", "broken.mproof"),
                     os.path.join("sub", "noexpect.mproof"), "wrong.mproof"]
    again = find_files([str(corpus / "wrong.mproof"), str(corpus)])
    assert again[0] == str(corpus / "wrong.mproof") and len(again) == 4
    with pytest.raises(ci.MissingPathError):
        find_files([str(corpus / "nope")])
    os.mkfifo(corpus / "sub" / "fifo.mproof")   # reading it would wait for a writer forever
    assert find_files([str(corpus)]) == files


# --------------------------------------------------------------------------- failing files


def test_a_wrong_expect_line_fails_with_the_witness(corpus):
    r = invoke("--engine", "explicit", corpus / "wrong.mproof")
    assert r.exit_code == 1, r.output
    row = rows(r.output)["wrong.mproof"]
    assert row[:5] == ["FAIL", str(corpus / "wrong.mproof"), "proved", "violated",
                       "code-after-unload"]
    assert row[-2] == "14"
    assert "expected proved, got violated code-after-unload in 14 steps" in r.output
    assert "reader returns from dm_kobject_release into module dm, which was unloaded" in r.output
    assert "VIOLATION code-after-unload" in r.output          # the witness itself
    assert "1 ok" not in r.output and "0 ok, 1 failed, 0 errors" in r.output


def test_a_file_without_expect_is_an_error_unless_allowed(corpus):
    f = corpus / "sub" / "noexpect.mproof"
    r = invoke("--engine", "explicit", f)
    assert r.exit_code == 1
    assert rows(r.output)["noexpect.mproof"][:3] == ["ERROR", str(f), "(none)"]
    assert "no expect line" in r.output
    r = invoke("--engine", "explicit", "--allow-missing-expect", f)
    assert r.exit_code == 0, r.output
    assert rows(r.output)["noexpect.mproof"][:5] == ["--", str(f), "(none)", "violated",
                                                     "put-after-release"]
    assert "1 without expect line" in r.output


def test_a_broken_file_is_a_failing_row_with_its_diagnostic(corpus):
    f = corpus / "sub" / "broken.mproof"
    r = invoke("--engine", "explicit", corpus / "good.mproof", f)
    assert r.exit_code == 1
    t = rows(r.output)
    assert t["good.mproof"][0] == "ok"
    assert t["broken.mproof"][:4] == ["ERROR", str(f), "?", "error"]
    assert (f"{f}:3:10: error: 'wait' needs a completion: 'o' is an object, not a completion"
            in r.output)
    assert "               ^" in r.output                       # the caret under `o`
    assert f"1 error in {f}" in r.output
    assert r.output.count("'wait' needs a completion") == 1   # not again in the header
    assert "Traceback" not in r.output


def test_an_unreached_cover_fails_expect_proved(tmp_path):
    f = tmp_path / "vacuous.mproof"
    f.write_text("var x = 0\nthread t {\n    x = 1\n}\ncover two: x == 2\nexpect proved\n")
    res = check_file(str(f), EXPLICIT)
    assert (res.status, res.got, res.scope) == (ci.FAIL, "proved", "all executions")
    assert res.reason == "proved, but cover two never reached: the proof may be vacuous"
    f.write_text(f.read_text().replace("x == 2", "x == 1"))
    assert check_file(str(f), EXPLICIT).status == ci.OK


def test_an_expected_violation_that_is_not_found_fails(tmp_path):
    f = tmp_path / "fixed.mproof"
    f.write_text((PROOFS / "dm_builtin.mproof").read_text().replace(
        "expect proved", "expect violated code-after-unload"))
    res = check_file(str(f), EXPLICIT)
    assert (res.status, res.expected, res.got) == (ci.FAIL, "violated code-after-unload", "proved")
    assert res.reason == "expected violated code-after-unload, but it was proved for all executions"


def test_unknown_never_passes(tmp_path):
    f = tmp_path / "counter.mproof"
    f.write_text("var x = 0\nthread t { while true { x = x + 1 } }\n"
                 "invariant pos: x >= 0\nexpect proved\n")
    r = invoke("--engine", "explicit", "--max-states", "20", f)
    assert r.exit_code == 1
    assert rows(r.output)["counter.mproof"][:4] == ["FAIL", str(f), "proved", "unknown"]
    assert "the verdict is unknown: state budget exhausted" in r.output


def test_an_internal_error_is_a_row_and_exit_4(corpus, monkeypatch):
    res = check_file(str(corpus / "good.mproof"), CiOptions(engine="no-such-engine"))
    assert (res.status, res.error) == (ci.ERROR, ci.INTERNAL_ERROR)
    assert res.reason.startswith("internal error: ValueError: unknown engine")
    from modproof import ci_cmd

    def fake_run_ci(files, opts, jobs, progress):
        return ci.CiRun(tuple(files), tuple(check_file(f, CiOptions(engine="no-such-engine"))
                                            for f in files), 0.0)
    monkeypatch.setattr(ci_cmd, "run_ci", fake_run_ci)
    r = invoke(corpus / "good.mproof")
    assert r.exit_code == 4
    assert "This is a bug in modproof" in r.output


# --------------------------------------------------------------------------- usage


def test_usage_errors_are_exit_2(tmp_path):
    assert invoke(tmp_path / "missing").exit_code == 2
    (tmp_path / "empty").mkdir()
    r = invoke(tmp_path / "empty")
    assert r.exit_code == 2 and "no .mproof files" in r.output
    assert invoke("-j", "0", DOUBLE_PUT).exit_code == 2
    assert invoke("--engine", "spin", DOUBLE_PUT).exit_code == 2
    assert invoke("--frobnicate").exit_code == 2
    r = invoke("--junit", tmp_path / "r.xml", "--sarif", tmp_path / "." / "r.xml", DOUBLE_PUT)
    assert r.exit_code == 2 and "one report would overwrite the other" in r.output
    assert not (tmp_path / "r.xml").exists()


# --------------------------------------------------------------------------- parallel runs


def _key(r):
    return (r.path, r.status, r.expected, r.got, r.scope, r.steps, r.reason, r.error)


def test_parallel_runs_give_the_serial_results_in_file_order(corpus):
    files = find_files([str(corpus), str(PROOFS)])
    one = run_ci(files, EXPLICIT, jobs=1)
    two = run_ci(files, EXPLICIT, jobs=2)
    assert [r.path for r in one.results] == files == [r.path for r in two.results]
    assert [_key(r) for r in one.results] == [_key(r) for r in two.results]
    assert not one.interrupted and not two.interrupted
    statuses = {Path(r.path).name: r.status for r in two.results}
    assert (statuses["good.mproof"], statuses["wrong.mproof"], statuses["broken.mproof"],
            statuses["noexpect.mproof"]) == (ci.OK, ci.FAIL, ci.ERROR, ci.ERROR)
    # and through the command line, the same table
    t1 = rows(invoke("--engine", "explicit", "-j", "1", corpus).output)
    t2 = rows(invoke("--engine", "explicit", "-j", "2", corpus).output)
    assert {k: v[:-1] for k, v in t1.items()} == {k: v[:-1] for k, v in t2.items()}


def test_progress_events(corpus):
    events = []
    files = find_files([str(corpus)])
    run_ci(files, EXPLICIT, jobs=2,
           progress=lambda done, total, running, fin: events.append((done, total, running, fin)))
    finished = [e for e in events if e[3] is not None]
    assert [e[0] for e in finished] == [1, 2, 3, 4]
    assert all(e[1] == 4 for e in events)
    assert all(len(e[2]) <= 2 for e in events)
    assert events[0][:3] == (0, 4, (files[0],))


def test_plain_progress_lines_when_piped(corpus):
    r = invoke("--engine", "explicit", "-j", "1", corpus)     # CliRunner output is not a tty
    lines = [line for line in r.output.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and lines[0].startswith("[1/4] ")
    assert "\r" not in r.output and "\x1b" not in r.output


def test_one_updating_line_on_a_terminal(capsys):
    from modproof.ci_cmd import _Progress
    p = _Progress(tty=True)
    p(0, 3, ("a.mproof",), None)
    p(0, 3, ("a.mproof", "b.mproof"), None)
    p(1, 3, ("b.mproof",), check_file(str(DOUBLE_PUT), EXPLICIT))
    p.clear()
    out = capsys.readouterr().out
    assert "\n" not in out
    assert out.count("\r\x1b[K") == 4
    assert "[0/3] running a.mproof (+1 more)" in out and "[1/3] running b.mproof" in out


# --------------------------------------------------------------------------- reports


def test_junit_report(corpus, tmp_path):
    out = tmp_path / "reports" / "junit.xml"
    r = invoke("--engine", "explicit", "--junit", out, corpus)
    assert r.exit_code == 1
    top = ET.parse(out).getroot()
    assert top.tag == "testsuites"
    suite = top.find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == \
        {"tests": "4", "failures": "1", "errors": "2", "skipped": "0"}
    float(suite.get("time"))
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"good", "wrong", "broken", "noexpect"}
    for c in cases.values():
        assert float(c.get("time")) >= 0
    assert cases["broken"].get("classname").endswith(".sub")
    assert cases["good"].get("classname") == cases["wrong"].get("classname")
    fail = cases["wrong"].find("failure")
    assert fail.get("message").startswith("expected proved, got violated code-after-unload")
    assert "witness:" in fail.text and "VIOLATION code-after-unload" in fail.text
    err = cases["broken"].find("error")
    assert err.get("type") == "input-error" and "'wait' needs a completion" in err.text
    assert cases["noexpect"].find("error").get("type") == "missing-expect"
    assert cases["good"].find("failure") is None and cases["good"].find("error") is None
    assert not [f for f in os.listdir(out.parent) if f.startswith(".modproof-")]  # atomic write


def test_junit_classname_is_the_folder(monkeypatch):
    from modproof.exports.junit import classname
    monkeypatch.chdir(ROOT)
    assert classname("proofs/checks/double_put.mproof") == "proofs.checks"
    assert classname("proofs/dm_builtin.mproof") == "proofs"


def test_a_linked_proof_file_keeps_its_folder_in_junit_and_sarif(tmp_path, monkeypatch):
    # A proof in the repository that is a symbolic link to a shared corpus elsewhere is
    # reported under the repository's path: code scanning maps URIs to the checkout.
    from modproof.exports.junit import classname
    from modproof.exports.sarif import artifact_location
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "double_put.mproof").write_text((PROOFS / "checks" / "double_put.mproof").read_text())
    repo = tmp_path / "repo"
    (repo / "proofs").mkdir(parents=True)
    (repo / "proofs" / "linked.mproof").symlink_to(shared / "double_put.mproof")
    monkeypatch.chdir(repo)
    assert classname("proofs/linked.mproof") == "proofs"
    assert artifact_location("proofs/linked.mproof") == {"uri": "proofs/linked.mproof",
                                                         "uriBaseId": "%SRCROOT%"}
    # A file outside the root, link or not, is still named by where it really is.
    assert artifact_location(str(shared / "double_put.mproof"))["uri"].startswith("file:///")
    assert classname(str(shared / "double_put.mproof")) == ".".join(shared.resolve().parts[1:])


def test_junit_survives_control_characters():
    from modproof.exports.junit import ci_to_junit
    bad = ci.FileResult(path="x.mproof", status=ci.ERROR, expected="", got="error", scope="",
                        steps=None, seconds=0.0, reason="NUL \x00 here", detail="line\x00\x07",
                        error=ci.INPUT_ERROR)
    root = ET.fromstring(ci_to_junit([bad]))
    assert root.find("testsuite/testcase/error").text == "line\\x00\\x07"


# --------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_prints_the_results_so_far(tmp_path):
    (tmp_path / "a_quick.mproof").write_text(DOUBLE_PUT.read_text())
    slow = ("var x = 0\nthread t { while x < 50000000 { x = x + 1 } }\n"
            "invariant pos: x >= 0\nexpect proved\n")
    for name in ("b_slow", "c_slow", "d_slow"):
        (tmp_path / f"{name}.mproof").write_text(slow)
    junit = tmp_path / "j.xml"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "modproof", "ci", "--engine", "explicit", "--timeout", "30",
         "--max-states", "100000000", "-j", "1", "--junit", str(junit), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        first = proc.stdout.readline()              # "[1/4] ok ... a_quick.mproof"
        assert first.startswith("[1/4] ok"), first
        time.sleep(0.5)                             # b_slow is running now
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, rest
    assert "interrupted: 3 of 4 files not run" in rest
    assert list(rows(rest)) == ["a_quick.mproof"]
    assert "Traceback" not in rest
    suite = ET.parse(junit).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("skipped")) == ("4", "3")
