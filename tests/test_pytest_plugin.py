"""The pytest plugin: .mproof files become tests only when a run opts in."""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

from conftest import PROOFS, ROOT, TESTS

pytest_plugins = ["pytester"]

GOOD = (PROOFS / "checks" / "double_put.mproof").read_text()
WRONG = (PROOFS / "dm_in_module.mproof").read_text().replace(
    "expect violated code-after-unload", "expect proved")


def plugin_args() -> list[str]:
    """Load the plugin by hand when the installed metadata lacks the entry point."""
    installed = any(e.name == "modproof" for e in entry_points(group="pytest11"))
    if installed and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return []
    return ["-p", "modproof.pytest_plugin"]


def run(pytester, *args):
    return pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider", *args)


def test_the_entry_point_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nmodproof = "modproof.pytest_plugin"' in text


def test_mproof_files_are_not_collected_by_default(pytester):
    pytester.makefile(".mproof", good=GOOD, wrong=WRONG)
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    r = run(pytester)
    r.assert_outcomes(passed=1)
    assert ".mproof" not in r.stdout.str()


def test_the_flag_collects_one_item_per_file(pytester):
    pytester.makefile(".mproof", good=GOOD)
    pytester.mkdir("sub")
    (pytester.path / "sub" / "also_good.mproof").write_text(GOOD)
    r = run(pytester, "--modproof", "--modproof-engine", "explicit", "--collect-only", "-q")
    out = r.stdout.str()
    assert "good.mproof::good" in out and "sub/also_good.mproof::also_good" in out
    r = run(pytester, "--modproof", "--modproof-engine", "explicit")
    r.assert_outcomes(passed=2)


def test_the_ini_option_opts_in(pytester):
    pytester.makefile(".mproof", good=GOOD)
    pytester.makeini("[pytest]\nmodproof_collect = true\nmodproof_engine = explicit\n")
    run(pytester).assert_outcomes(passed=1)


def test_a_failing_file_shows_the_verdict_and_the_witness(pytester):
    pytester.makefile(".mproof", good=GOOD, wrong=WRONG)
    r = run(pytester, "--modproof", "--modproof-engine", "explicit")
    r.assert_outcomes(passed=1, failed=1)
    r.stdout.fnmatch_lines([
        "*modproof: wrong.mproof*",
        "*wrong.mproof: expected proved, got violated code-after-unload",
        "expected proved, got violated code-after-unload in 14 steps: reader returns from "
        "dm_kobject_release into module dm*",
        "*(explicit engine)*",
        "witness:",
        "*VIOLATION code-after-unload",
    ])
    assert "Traceback" not in r.stdout.str() and "runtest" not in r.stdout.str()


def test_broken_and_expectless_files_fail_with_the_reason(pytester):
    pytester.makefile(".mproof", broken="object o\nthread t {\n    wait(o)\n}\nexpect proved\n",
                      bare="var x = 0\nthread t {\n    x = 1\n}\n")
    r = run(pytester, "--modproof", "--modproof-engine", "explicit")
    r.assert_outcomes(failed=2)
    r.stdout.fnmatch_lines_random([
        "*broken.mproof:3:10: error: 'wait' needs a completion: 'o' is an object, not a completion",
        "*bare.mproof: no expect line*",
    ])
    pytester.makeini("[pytest]\nmodproof_allow_missing_expect = true\n")
    r = run(pytester, "--modproof", "--modproof-engine", "explicit", "bare.mproof")
    r.assert_outcomes(passed=1)


def test_a_bad_engine_is_a_usage_error(pytester):
    pytester.makefile(".mproof", good=GOOD)
    r = run(pytester, "--modproof", "--modproof-engine", "spin")
    assert r.ret == 4                                         # pytest's usage error
    r.stderr.fnmatch_lines(["*modproof_engine = 'spin': the engines are *bmc*explicit*"])


def test_our_own_mproof_test_inputs_are_not_collected():
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "-p", "no:cacheprovider", str(TESTS / "check_errors")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 5, r.stdout + r.stderr            # 5: no tests collected


def test_the_default_engine_is_the_portfolio_and_the_help_says_so(pytester):
    # Like `modproof ci`: without --modproof-engine or ini modproof_engine, auto.
    pytester.makefile(".mproof", wrong=WRONG)
    r = run(pytester, "--modproof")
    r.assert_outcomes(failed=1)
    r.stdout.fnmatch_lines(["*answered first in the portfolio*"])
    h = run(pytester, "--help")
    text = " ".join(h.stdout.str().split())
    assert "engine for .mproof tests: auto, bmc, explicit or all-sizes" in text
    assert "else auto" in text and "else bmc" not in text


def test_a_bounded_proof_fails_expect_proved_and_says_so(pytester):
    # NOTE(bounded-expect): the Z3 engine proves this counter only up to its bound
    # (tests/test_ci_honest.py, COUNTER); `expect proved up to 5` accepts that.
    model = ("var n = 0\nthread t {\n    while true {\n        n = n + 1\n    }\n}\n"
             "invariant never_minus_one: n != 0 - 1\n")
    pytester.makefile(".mproof", all=model + "expect proved\n", five=model + "expect proved up to 5\n")
    r = run(pytester, "--modproof", "--modproof-engine", "bmc", "--modproof-bound", "5")
    r.assert_outcomes(passed=1, failed=1)
    out = r.stdout.str()
    assert "all.mproof: bounded: expected proved (for all executions), but it was proved only " \
           "for executions of up to 5 steps" in out
