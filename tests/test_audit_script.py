"""The short version of the fault audit (tests/tools/audit.py, issue 18): mutated models,
damaged witnesses, output faults and signals, each held to the README's exit codes.
The full audit is the same script without --short."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_the_short_audit_finds_nothing():
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "tools" / "audit.py"), "--short"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    for cls in ("models", "witnesses", "outputs", "signals"):
        assert f"{cls}: " in r.stdout and ", 0 findings" in r.stdout
