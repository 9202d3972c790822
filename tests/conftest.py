"""Shared test helpers: where the corpora are, and golden-file comparison."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PROOFS = ROOT / "proofs"
# The calibration examples, vendored from the shared design folder: the tests read
# nothing outside the repository (tests/tools/calibration_sync.py compares the copy
# with the shared folder, and updates it).
EXAMPLES = TESTS / "calibration"

REGEN = bool(os.environ.get("MODPROOF_REGEN"))


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
