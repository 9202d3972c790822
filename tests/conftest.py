"""Shared test helpers: where the corpora are, and golden-file comparison."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import NoReturn

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PROOFS = ROOT / "proofs"
# The calibration examples, vendored from the shared design folder: the tests read
# nothing outside the repository (tests/tools/calibration_sync.py compares the copy
# with the shared folder, and updates it).
EXAMPLES = TESTS / "calibration"

REGEN = bool(os.environ.get("MODPROOF_REGEN"))
# CI installs every external tool the tests use (Spin, a C compiler, Chromium) and
# sets MODPROOF_REQUIRE_TOOLS=1: there a missing tool fails the tests that need it.
REQUIRE_TOOLS = os.environ.get("MODPROOF_REQUIRE_TOOLS", "") not in ("", "0")


def missing_tool(reason: str) -> NoReturn:
    """Skip the running test for `reason` (a tool it needs is not installed), or fail
    it when MODPROOF_REQUIRE_TOOLS is set."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{reason} (MODPROOF_REQUIRE_TOOLS is set: the tool must be there)",
                    pytrace=False)
    pytest.skip(f"{reason} (set MODPROOF_REQUIRE_TOOLS=1 to fail instead)")


def expected_rows() -> list[dict]:
    with open(EXAMPLES / "expected.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def expected_of(row: dict) -> tuple[str, str, str]:
    """A calibration row as (verdict, check, shortest witness length), as in expected.tsv."""
    return (row["verdict"], row["check"], row["shortest_witness_steps"])


def table_verdict(result) -> tuple[str, str, str]:
    """An engine's result in the terms of expected.tsv."""
    from modproof.result import Violated
    if isinstance(result, Violated):
        return ("violated", result.check, str(len(result.trace.steps)))
    return (result.verdict, "-", "-")


# Corpus files the bmc engine takes minutes on (proofs/kernel/README.md, Times):
# the tests give it a short time limit there and accept unknown, never another answer.
BMC_SLOW = {
    "kernel/14_flush_under_rtnl_bug.mproof": "a hang with a 23-step lasso, six threads",
    "kernel/14_flush_under_rtnl_fixed.mproof": "a self-re-arming watchdog, six threads",
    "kernel/16_init_error_path_fixed.mproof": "34 steps deep: insmod, an event and an rmmod retried",
    "kernel/19_fops_without_owner_fixed.mproof": "40 steps deep: two openers, insmod and rmmod",
}


def proof_files() -> list[Path]:
    return sorted(PROOFS.rglob("*.mproof"))


def compare_golden(path: Path, actual: str) -> None:
    """Compare `actual` with the golden file at `path` (MODPROOF_REGEN=1 rewrites it)."""
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(f"golden file {path} is missing; run with MODPROOF_REGEN=1 to create it")
        path.write_text(actual)
        return
    assert actual == path.read_text(), f"output differs from {path.name} (MODPROOF_REGEN=1 rewrites)"
