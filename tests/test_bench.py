"""The benchmark's reading of Spin's output: a table that calls an incomplete
search "proved" would compare modproof with a verdict Spin never reached."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, missing_tool

sys.path.insert(0, str(ROOT / "bench"))
from run import spin_verdict  # noqa: E402


@pytest.fixture(autouse=True)
def _spin_and_cc() -> None:
    """Skipped without Spin and a C compiler, failed when MODPROOF_REQUIRE_TOOLS=1."""
    if not (shutil.which("spin") and shutil.which("cc")):
        missing_tool("spin and a C compiler are needed")


def pan_output(tmp_path, *defines: str, memlim: int = 8192) -> str:
    shutil.copy(ROOT / "bench" / "promela" / "dm_family.pml", tmp_path / "dm.pml")
    spin_defs = [d for d in defines if d.startswith(("-DK=", "-DCRASH"))]
    cc_defs = [d for d in defines if d not in spin_defs]
    subprocess.run(["spin", *spin_defs, "-a", "dm.pml"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(["cc", "-O2", "-DSAFETY", f"-DMEMLIM={memlim}", *cc_defs, "-o", "pan", "pan.c"],
                   cwd=tmp_path, check=True, capture_output=True)
    run = subprocess.run(["./pan", "-m100000"], cwd=tmp_path, capture_output=True, text=True)
    return run.stdout + run.stderr


def test_a_complete_search_without_errors_is_proved(tmp_path):
    assert spin_verdict(pan_output(tmp_path, "-DK=2")) == "proved"


def test_a_violation_found_by_bfs_is_violated(tmp_path):
    # pan stops at the first error and says "Search not completed": still a violation.
    out = pan_output(tmp_path, "-DK=2", "-DCRASH", "-DBFS")
    assert "Search not completed" in out
    assert spin_verdict(out) == "violated"


def test_a_search_stopped_by_the_memory_limit_is_not_a_proof(tmp_path):
    out = pan_output(tmp_path, "-DK=8", memlim=64)
    assert "errors: 0" in out
    assert spin_verdict(out) == "out of memory"
